"""Linear models on fixed features, fitted to soft labels: the bag-of-words classifier (TF-IDF)
and the linear probe (a frozen transformer's mean-pooled hidden states).

The bag-of-words model is the lowest rung of the cpu ladder: it sees words, not meaning, which
is exactly the kind of supervisor whose blind spots W2S studies. The probe (``finetune: probe``)
reads what a pretrained model already represents without changing it: on long inputs (contract
clauses, reply pairs) a few CPU epochs of fine-tuning leave a model at chance, while a probe on
the same model separates weak from strong (DESIGN.md, "Task construction").

On preference pairs (frames with ``reply_a`` / ``reply_b``) both models judge the pair by the
difference of the two replies' features, φ(A) − φ(B): a linear model on one embedding of the whole
"prompt, reply A, reply B" text cannot tell which reply is which. Reading the pair side by side,
[φ(A), φ(B)] with weights per slot, was measured too (DESIGN.md's check seems to have read it so):
on one 800-pair test set it dropped TF-IDF to 0.564 against MPNet's 0.636, but on 1,600 test pairs
with 800-3,000 training pairs TF-IDF (0.61-0.64) was level with MPNet (0.60-0.63). So it opens no
gap, and the difference is the better judge for every model.

Soft labels are fitted exactly: each example appears twice, as class 1 with weight p and as
class 0 with weight 1 − p, which is cross-entropy on p. The regularisation strength is chosen on
the validation labels (for a student: the weak labels).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.sparse import issparse, vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from ..eval.metrics import accuracy

# Part of the cache key of every step that fits one of these linear models: bump it when their
# features change, so cached results of the old features are not reused.
FEATURES_VERSION = 3  # 3: pairs are judged by phi(A) - phi(B), with no intercept


def is_pairwise(frame) -> bool:
    return "reply_a" in frame.columns and "reply_b" in frame.columns


C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def fit_soft_logistic(features, soft, val_features=None, val_labels=None, seed: int = 0, history=None,
                      intercept: bool = True):
    """Logistic regression on soft labels, C chosen on validation accuracy when val is given.
    Without ``intercept`` the model is antisymmetric: P(y | −x) = 1 − P(y | x) (for pairs)."""
    soft = np.asarray(soft, dtype=float)
    n = features.shape[0]
    doubled = vstack([features, features]) if issparse(features) else np.concatenate([features, features])
    targets = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([soft, 1 - soft])

    def fit(C):
        return LogisticRegression(C=C, max_iter=3000, random_state=seed, fit_intercept=intercept).fit(
            doubled, targets, sample_weight=weights)

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

    def features(self, frame):
        if is_pairwise(frame):
            return self.vectorizer.transform(frame["reply_a"]) - self.vectorizer.transform(frame["reply_b"])
        return self.vectorizer.transform(frame["text"])

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, **_):
        self.vectorizer.fit(pd.concat([frame["reply_a"], frame["reply_b"]]) if is_pairwise(frame) else frame["text"])
        val_features = self.features(val_frame) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(self.features(frame), soft_labels, val_features, val_labels, self.seed,
                                       self.history, intercept=not is_pairwise(frame))
        return self

    def predict_proba(self, frame, **_) -> np.ndarray:
        return self.model.predict_proba(self.features(frame))[:, 1]

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


_EMBEDDINGS: dict[tuple[str, int], dict[str, np.ndarray]] = {}


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

    def embed(self, texts) -> np.ndarray:
        """Mean-pooled embeddings; each text is encoded once per process (student and ceiling
        embed the same splits with the same frozen model)."""
        known = _EMBEDDINGS.setdefault((self.location, self.max_length), {})
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self._encode(missing)))
        return np.stack([known[t] for t in texts])

    @torch.inference_mode()
    def _encode(self, texts, batch_size: int = 32) -> np.ndarray:
        from .common import length_sorted_batches

        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        out = np.empty((len(encoded), self.encoder.config.hidden_size), dtype=np.float32)
        for index in tqdm(length_sorted_batches([len(x) for x in encoded], batch_size), desc="embed", leave=False):
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[index] = ((hidden * mask).sum(1) / mask.sum(1)).float().numpy()
        return out

    def features(self, frame) -> np.ndarray:
        if is_pairwise(frame):
            return self.embed(frame["reply_a"]) - self.embed(frame["reply_b"])
        return self.embed(frame["text"])

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, **_):
        val_features = self.features(val_frame) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(self.features(frame), soft_labels, val_features, val_labels,
                                       self.seed, self.history, intercept=not is_pairwise(frame))
        return self

    def predict_proba(self, frame, **_) -> np.ndarray:
        return self.model.predict_proba(self.features(frame))[:, 1]

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
