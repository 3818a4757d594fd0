"""The bag-of-words classifier: TF-IDF features + logistic regression.

It is the lowest rung of the cpu ladder: it sees words, not meaning, which is exactly the kind of
supervisor whose blind spots W2S studies. Soft labels are fitted exactly: each example appears
twice, as class 1 with weight p and as class 0 with weight 1 − p, which is cross-entropy on p.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..eval.metrics import accuracy

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


class BowClassifier:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.model: LogisticRegression | None = None
        self.history: list[dict] = []

    def _fit_c(self, features, soft, C: float) -> LogisticRegression:
        n = features.shape[0]
        from scipy.sparse import vstack

        doubled = vstack([features, features])
        targets = np.concatenate([np.ones(n), np.zeros(n)])
        weights = np.concatenate([soft, 1 - soft])
        return LogisticRegression(C=C, max_iter=2000, random_state=self.seed).fit(doubled, targets, sample_weight=weights)

    paradigm = "classify"

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, **_):
        soft = np.asarray(soft_labels, dtype=float)
        features = self.vectorizer.fit_transform(frame["text"])
        if val_frame is None or len(val_frame) == 0:
            self.model = self._fit_c(features, soft, 1.0)
            return self
        # Choose the regularisation strength on the validation labels (for a student: weak labels).
        val_features = self.vectorizer.transform(val_frame["text"])
        best = None
        for C in C_GRID:
            model = self._fit_c(features, soft, C)
            score = accuracy(np.asarray(val_labels) > 0.5, model.predict_proba(val_features)[:, 1])
            self.history.append({"C": C, "val_acc": score})
            if best is None or score > best[0]:
                best = (score, model)
        self.model = best[1]
        return self

    def predict_proba(self, frame, **_) -> np.ndarray:
        return self.model.predict_proba(self.vectorizer.transform(frame["text"]))[:, 1]

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "bow.pkl", "wb") as handle:
            pickle.dump({"vectorizer": self.vectorizer, "model": self.model}, handle)

    @classmethod
    def load(cls, folder: Path) -> "BowClassifier":
        with open(folder / "bow.pkl", "rb") as handle:
            state = pickle.load(handle)
        out = cls()
        out.vectorizer, out.model = state["vectorizer"], state["model"]
        return out
