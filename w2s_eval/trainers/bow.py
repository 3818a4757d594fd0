"""Linear models on fixed features, fitted to soft labels: the bag-of-words classifier (TF-IDF)
and the linear probe (a frozen transformer's mean-pooled hidden states).

The bag-of-words model is the lowest rung of the cpu ladder: it sees words, not meaning, which
is exactly the kind of supervisor whose blind spots W2S studies. The probe (``finetune: probe``)
reads what a pretrained model already represents without changing it: on long inputs (contract
clauses, reply pairs) a few CPU epochs of fine-tuning leave a model at chance, while a probe on
the same model separates weak from strong (DESIGN.md, "Task construction").

Soft labels are fitted exactly: each example appears twice, as class 1 with weight p and as
class 0 with weight 1 − p, which is cross-entropy on p. The regularisation strength is chosen on
the validation labels (for a student: the weak labels).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from scipy.sparse import issparse, vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from ..eval.metrics import accuracy

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def fit_soft_logistic(features, soft, val_features=None, val_labels=None, seed: int = 0, history=None):
    """Logistic regression on soft labels, C chosen on validation accuracy when val is given."""
    soft = np.asarray(soft, dtype=float)
    n = features.shape[0]
    doubled = vstack([features, features]) if issparse(features) else np.concatenate([features, features])
    targets = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([soft, 1 - soft])

    def fit(C):
        return LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(doubled, targets, sample_weight=weights)

    if val_features is None or val_features.shape[0] == 0:
        return fit(1.0)
    best = None
    for C in C_GRID:
        model = fit(C)
        score = accuracy(np.asarray(val_labels) > 0.5, model.predict_proba(val_features)[:, 1])
        if history is not None:
            history.append({"C": C, "val_acc": round(score, 4)})
        if best is None or score > best[0]:
            best = (score, model)
    return best[1]


class BowClassifier:
    paradigm = "classify"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.model: LogisticRegression | None = None
        self.history: list[dict] = []

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, **_):
        features = self.vectorizer.fit_transform(frame["text"])
        val_features = self.vectorizer.transform(val_frame["text"]) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(features, soft_labels, val_features, val_labels, self.seed, self.history)
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


class ProbeClassifier:
    """Logistic regression on a frozen model's mean-pooled last hidden states."""

    paradigm = "classify"

    def __init__(self, location: str, max_length: int = 128, seed: int = 0):
        from transformers import AutoModel

        from .common import load_tokenizer

        self.location, self.max_length, self.seed, self.history = location, max_length, seed, []
        self.tokenizer = load_tokenizer(location)
        self.encoder = AutoModel.from_pretrained(location).eval()
        self.model: LogisticRegression | None = None

    @torch.inference_mode()
    def embed(self, texts, batch_size: int = 32) -> np.ndarray:
        from .common import length_sorted_batches

        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        out = np.empty((len(encoded), self.encoder.config.hidden_size), dtype=np.float32)
        for index in tqdm(length_sorted_batches([len(x) for x in encoded], batch_size), desc="embed", leave=False):
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[index] = ((hidden * mask).sum(1) / mask.sum(1)).float().numpy()
        return out

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, **_):
        val_features = self.embed(val_frame["text"]) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(self.embed(frame["text"]), soft_labels, val_features, val_labels,
                                       self.seed, self.history)
        return self

    def predict_proba(self, frame, **_) -> np.ndarray:
        return self.model.predict_proba(self.embed(frame["text"]))[:, 1]

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "probe.pkl", "wb") as handle:
            pickle.dump({"base": self.location, "max_length": self.max_length, "model": self.model}, handle)

    @classmethod
    def load(cls, folder: Path) -> "ProbeClassifier":
        with open(folder / "probe.pkl", "rb") as handle:
            state = pickle.load(handle)
        out = cls(state["base"], state["max_length"])
        out.model = state["model"]
        return out
