"""Linear models on fixed features, fitted to soft labels: the bag-of-words classifier (TF-IDF)
and the linear probe (a frozen transformer's mean-pooled hidden states).

The bag-of-words model is the lowest rung of the cpu ladder: it sees words, not meaning, which
is exactly the kind of supervisor whose blind spots W2S studies. The probe (``finetune: probe``)
reads what a pretrained model already represents without changing it: on long inputs (contract
clauses, reply pairs) a few CPU epochs of fine-tuning leave a model at chance, while a probe on
the same model separates weak from strong (docs/design.md, "Task construction").

On preference pairs (frames with ``reply_a`` / ``reply_b``) both models judge the pair by the
difference of the two replies' features, φ(A) − φ(B): a linear model on one embedding of the whole
"prompt, reply A, reply B" text cannot tell which reply is which. Reading the pair side by side,
[φ(A), φ(B)] with weights per slot, was measured too (the design notes' early screen seems to have
read it so; docs/design.md, "Task construction"): on one 800-pair test set it dropped TF-IDF to
0.564 against MPNet's 0.636, but on 1,600 test pairs with 800-3,000 training pairs TF-IDF
(0.61-0.64) was level with MPNet (0.60-0.63). So it opens no gap, and the difference is the better
judge for every model.

Soft labels are fitted exactly: each example appears twice, as class 1 with weight p and as
class 0 with weight 1 − p, which is cross-entropy on p. The regularisation strength is chosen on
the validation labels (for a student: the weak labels).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.sparse import issparse, vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from ..errors import UserError
from ..eval.metrics import accuracy
from ..models import zoo
from ..precision import resolve as resolve_precision, scoring
from ..store import KEY_SCHEMA
from .interface import write_manifest
from .losses import check_loss

# Part of the cache key of every step that fits one of these linear models: bump it when their
# features change, so cached results of the old features are not reused.
# 3: pairs are judged by phi(A) - phi(B), with no intercept; 4: C chosen by val cross-entropy
FEATURES_VERSION = 4


def is_pairwise(frame) -> bool:
    return "reply_a" in frame.columns and "reply_b" in frame.columns


C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def fit_soft_logistic(features, soft, val_features=None, val_labels=None, seed: int = 0, history=None,
                      intercept: bool = True, weights=None):
    """Logistic regression on soft labels, C chosen on the validation labels when val is given.
    Without ``intercept`` the model is antisymmetric: P(y | −x) = 1 − P(y | x) (for pairs).

    C is chosen by the cross-entropy of the predictions against the (possibly soft) val labels, a
    proper scoring rule, not by accuracy: the fitted probabilities become a student's soft labels,
    and on a small selection set accuracy ties across C (toxicity, 37–51 held-out statements of A:
    most C tie), where taking the first of them chose C = 0.01 and labels of B that were all within
    0.5 ± 0.01.

    ``weights`` (optional, one per example) multiply each example's loss."""
    soft = np.asarray(soft, dtype=float)
    n = features.shape[0]
    doubled = vstack([features, features]) if issparse(features) else np.concatenate([features, features])
    targets = np.concatenate([np.ones(n), np.zeros(n)])
    example = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    sample_weight = np.concatenate([soft * example, (1 - soft) * example])

    def fit(C):
        return LogisticRegression(C=C, max_iter=3000, random_state=seed, fit_intercept=intercept).fit(
            doubled, targets, sample_weight=sample_weight)

    if val_features is None or val_features.shape[0] == 0:
        return fit(1.0)
    target = np.clip(np.asarray(val_labels, dtype=float), 0, 1)
    best = None
    for C in C_GRID:
        model = fit(C)
        p = np.clip(model.predict_proba(val_features)[:, 1], 1e-7, 1 - 1e-7)
        loss = float(-np.mean(target * np.log(p) + (1 - target) * np.log(1 - p)))
        if history is not None:
            history.append({"C": C, "val_loss": round(loss, 4), "val_acc": round(accuracy(target > 0.5, p), 4)})
        if best is None or loss < best[0]:
            best = (loss, model)
    return best[1]


# The linear models fit soft labels by exact cross-entropy (``fit_soft_logistic``), with
# scikit-learn's solver: there is no training loop for logconf's or product's targets, which are
# remade from the student's own predictions at every step, to act in.
LINEAR_LOSSES = ("xent",)


class BowClassifier:
    paradigm = "classify"
    losses = LINEAR_LOSSES
    generates = False
    pretrained_folder = False
    description = "the builtin TF-IDF bag-of-words model"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.model: LogisticRegression | None = None
        self.history: list[dict] = []

    def features(self, frame):
        if is_pairwise(frame):
            return self.vectorizer.transform(frame["reply_a"]) - self.vectorizer.transform(frame["reply_b"])
        return self.vectorizer.transform(frame["text"])

    def configure(self, task):
        """Nothing to take from the task: a probe gets its question when built (``of``)."""
        return self

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir=None, weights=None):
        """``work_dir`` is unused: there is no Trainer whose checkpoints it would hold."""
        check_loss(type(self), loss)
        self.vectorizer.fit(pd.concat([frame["reply_a"], frame["reply_b"]]) if is_pairwise(frame) else frame["text"])
        val_features = self.features(val_frame) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(self.features(frame), soft_labels, val_features, val_labels, self.seed,
                                       self.history, intercept=not is_pairwise(frame), weights=weights)
        return self

    def predict_proba(self, frame) -> np.ndarray:
        return self.model.predict_proba(self.features(frame))[:, 1]

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "bow.pkl", "wb") as handle:
            pickle.dump({"vectorizer": self.vectorizer, "model": self.model}, handle)
        write_manifest(folder, type(self), paradigm=self.paradigm)

    @classmethod
    def load(cls, folder: Path) -> "BowClassifier":
        with open(folder / "bow.pkl", "rb") as handle:
            state = pickle.load(handle)
        out = cls()
        out.vectorizer, out.model = state["vectorizer"], state["model"]
        return out


# How a probe reads a text's last hidden states: ``mean`` over its tokens (an encoder's sentence
# embedding), or ``last``: the state at the final token of the task's prompt (the text, the
# question, the answer cue; sft's prompt), where a causal LM has read everything and is about to
# answer. A decoder's state at a token sees only what came before it, so its mean pools states
# that never saw most of the text; on toxicity the last token read Qwen2.5-Coder-1.5B 0.05 better
# (docs/paradigms.md, "Probes").
POOLINGS = ("mean", "last")


def text_key(text: str) -> str:
    """What identifies a text in the embedding cache: 128 bits of its sha256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def model_fingerprint(location: str, encoder) -> str | None:
    """What identifies the weights at ``location``, or None if nothing reliable does.

    A zoo folder: the sha256 of its weight files, pinned in its manifest (as ``resolve_model``
    fingerprints zoo models). Another local folder: the name, size and modification time of every
    file in it (hashing gigabytes of weights on every run would cost more than it saves). A hub id:
    the commit transformers loaded it from.
    """
    folder = Path(location)
    manifest = folder / zoo.MANIFEST
    if manifest.is_file():
        return "zoo:" + ",".join(sorted(json.loads(manifest.read_text())["sha256"].values()))
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        return f"local:{folder.resolve()}:" + ";".join(
            f"{p.relative_to(folder).as_posix()},{p.stat().st_size},{p.stat().st_mtime_ns}" for p in files)
    commit = getattr(encoder.config, "_commit_hash", None)
    return f"hub:{location}@{commit}" if commit else None


class ShardedCache:
    """Values computed once per key (a text's or a token sequence's hash), in memory and, when a
    folder is given, on disk in shards: each computing pass adds one shard, written under a
    temporary name and moved into place, so readers in other processes see whole shards or none,
    and concurrent writers never touch the same file (a key computed by two processes at once lands
    in two shards; either copy serves). Subclasses say how a shard is stored (``SUFFIX``,
    ``_read_shard``, ``_write_shard``)."""

    SUFFIX = ""
    what = "value"  # names the cache in the error about an unreadable shard

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.values: dict = {}
        self.shards_read: set[str] = set()

    def missing(self, keys) -> list[str]:
        """The keys (first-seen order, no repeats) whose values are neither in memory nor on disk."""
        absent = [k for k in dict.fromkeys(keys) if k not in self.values]
        if absent and self.folder is not None and self.folder.is_dir():
            self._read_new_shards()
            absent = [k for k in absent if k not in self.values]
        return absent

    def _read_new_shards(self):
        for shard in sorted(self.folder.glob(f"*{self.SUFFIX}")):
            if shard.name not in self.shards_read:
                try:
                    read = self._read_shard(shard)
                except Exception as exc:  # each format fails in its own way; all mean "unreadable"
                    raise UserError(f"{self.what} cache: shard {shard} is unreadable ({exc}); delete it "
                                    f"(what it holds is computed again)") from None
                # A value this process already holds stays: the copy another process computed in
                # other batches may differ in its last bits (bf16), and a run must read one value.
                for key, value in read.items():
                    self.values.setdefault(key, value)
                self.shards_read.add(shard.name)

    def add(self, keys: list[str], values):
        for key, value in zip(keys, values):
            self.values.setdefault(key, value)
        if self.folder is None or not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}{self.SUFFIX}"
        partial = self.folder / f".{name}.partial"
        try:
            self._write_shard(partial, keys, values)
            os.replace(partial, self.folder / name)
        finally:
            partial.unlink(missing_ok=True)  # only left if the write failed (disk full, ...)
        self.shards_read.add(name)

    def _read_shard(self, shard: Path) -> dict:
        raise NotImplementedError

    def _write_shard(self, path: Path, keys: list[str], values):
        raise NotImplementedError


class EmbeddingCache(ShardedCache):
    """The embeddings of one (model, max_length, pooling) setting: in memory, and on disk under
    ``<cache_base>/embeddings/<key>-len<max_length>/`` when the model has a fingerprint. A shard is
    ``<random>.npz`` holding ``keys`` (``text_key``) and ``vectors`` (float32)."""

    SUFFIX = ".npz"
    what = "embedding"

    def _read_shard(self, shard: Path) -> dict:
        with np.load(shard, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"]))

    def _write_shard(self, path: Path, keys: list[str], values):
        with open(path, "wb") as handle:  # a handle, so that numpy appends no ".npz"
            np.savez(handle, keys=np.array(keys), vectors=np.asarray(values, dtype=np.float32))

    def get(self, keys) -> np.ndarray:
        return np.stack([self.values[k] for k in keys])


# One cache per setting per process: the student and the ceiling embed the same splits with the
# same frozen model, and a sweep embeds them again for every cell.
_CACHES: dict[str, EmbeddingCache] = {}


# What a probe reads of a preference pair (TrainConfig.pair_context): the replies alone, or each
# reply after its prompt, as the reward paradigm shows it ("Human: P\n\nAssistant: R").
PAIR_CONTEXTS = ("reply", "prompt")


class ProbeClassifier:
    """Logistic regression on a frozen model's pooled last hidden states (``pooling``: their mean, or
    the state at the task prompt's last token).

    On pairs, ``pair_context="prompt"`` embeds each reply after its prompt, φ(P ⊕ A) − φ(P ⊕ B): whether
    a reply is harmless depends on the request, and a contextual model's states of the reply tokens
    (and, for an encoder, of the prompt tokens) depend on both. A bag of words cannot use the prompt
    so: the prompt's words cancel in the difference (up to TF-IDF's length normalisation)."""

    paradigm = "classify"
    losses = LINEAR_LOSSES
    generates = False
    pretrained_folder = False
    description = "a probe (logistic regression on a frozen model's hidden states)"

    def __init__(self, location: str, max_length: int = 128, seed: int = 0, pair_context: str = "reply",
                 precision: str = "fp32", pooling: str = "mean", question: str = ""):
        from transformers import AutoModel

        from .common import load_tokenizer

        if pair_context not in PAIR_CONTEXTS:
            raise UserError(f"pair_context: expected one of {', '.join(PAIR_CONTEXTS)}, got {pair_context!r}")
        if pooling not in POOLINGS:
            raise UserError(f"pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.location, self.max_length, self.seed, self.history = location, max_length, seed, []
        self.pair_context, self.pooling, self.question = pair_context, pooling, question
        self.precision = resolve_precision(precision)  # the embeddings' autocast (precision.scoring)
        self.tokenizer = load_tokenizer(location)
        self.encoder = AutoModel.from_pretrained(location).eval()
        self.model: LogisticRegression | None = None

    @classmethod
    def of(cls, location: str, train_cfg, seed: int, task) -> "ProbeClassifier":
        """The probe of ``location`` that a run's ``train_cfg`` describes, asking ``task``'s question."""
        return cls(location, train_cfg.max_length, seed, train_cfg.pair_context, train_cfg.precision,
                   train_cfg.pooling, task.question)

    @cached_property
    def embedding_cache(self) -> EmbeddingCache:
        """The cache of this model and these settings. Its key holds all the vectors depend on: the
        weights, max_length, pooling, the dtype and autocast they are computed in and the transformers version
        (whose model code computes them). Without a fingerprint it lives in memory only."""
        import transformers

        fingerprint = model_fingerprint(self.location, self.encoder)
        settings = {
            "model": fingerprint or f"unidentified:{self.location}", "max_length": self.max_length,
            "pooling": self.pooling, "dtype": str(self.encoder.dtype), "autocast": self.precision,
            "transformers": transformers.__version__, "key_schema": KEY_SCHEMA,
        }
        identity = json.dumps(settings, sort_keys=True)
        if identity not in _CACHES:
            digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
            folder = zoo.cache_base() / "embeddings" / f"{digest}-len{self.max_length}" if fingerprint else None
            _CACHES[identity] = EmbeddingCache(folder)
        return _CACHES[identity]

    def read_as(self, texts) -> list[str]:
        """What the model reads of each example's text: the text itself (mean pooling), or the
        task's prompt around it (last-token pooling: sft's prompt, so a probe and an sft model read
        alike). A pair's replies are read as they are, or after their prompt (``pair_context``):
        the reward model's input, whose last token is where a reward head reads too."""
        if self.pooling == "mean":
            return list(texts)
        from .sft import sft_prompt

        return [sft_prompt(text, self.question) for text in texts]

    def embed(self, texts) -> np.ndarray:
        """Pooled embeddings; each text is encoded once per model and setting, across runs and
        processes (the disk cache): student and ceiling, and every run after, reuse them."""
        cache = self.embedding_cache
        texts = list(texts)
        keys = [text_key(t) for t in texts]
        missing = set(cache.missing(keys))
        if missing:
            todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k in missing))
            cache.add([text_key(t) for t in todo], self._encode(todo))
        return cache.get(keys)

    @scoring
    def _encode(self, texts, batch_size: int = 32) -> np.ndarray:
        from .common import length_sorted_batches

        if self.pooling == "last":
            # Cut from the left, so the prompt's end (question and answer cue) is always read.
            self.tokenizer.truncation_side = "left"
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        out = np.empty((len(encoded), self.encoder.config.hidden_size), dtype=np.float32)
        batches = length_sorted_batches([len(x) for x in encoded], batch_size)
        for index in tqdm(batches, desc=f"embed {len(encoded)} texts", unit="batch", leave=False):
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"]
            if self.pooling == "last":  # padding is on the right: the last real token ends each row
                pooled = hidden[torch.arange(len(index)), mask.sum(1) - 1]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1)
            out[index] = pooled.float().numpy()
        return out

    def features(self, frame) -> np.ndarray:
        if not is_pairwise(frame):
            return self.embed(self.read_as(frame["text"]))
        if self.pair_context == "reply":
            return self.embed(frame["reply_a"]) - self.embed(frame["reply_b"])
        if "prompt" not in frame.columns:
            raise UserError(f"pair_context: prompt needs a 'prompt' column in the pairs; they have "
                            f"{', '.join(map(str, frame.columns))}")
        from .reward import reward_input

        def in_context(replies):
            return self.embed([reward_input(prompt, reply) for prompt, reply in zip(frame["prompt"], replies)])

        return in_context(frame["reply_a"]) - in_context(frame["reply_b"])

    def configure(self, task):
        """Nothing to take from the task: a probe gets its question when built (``of``)."""
        return self

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir=None, weights=None):
        """``work_dir`` is unused: there is no Trainer whose checkpoints it would hold."""
        check_loss(type(self), loss)
        val_features = self.features(val_frame) if val_frame is not None and len(val_frame) else None
        self.model = fit_soft_logistic(self.features(frame), soft_labels, val_features, val_labels,
                                       self.seed, self.history, intercept=not is_pairwise(frame), weights=weights)
        return self

    def predict_proba(self, frame) -> np.ndarray:
        return self.model.predict_proba(self.features(frame))[:, 1]

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "probe.pkl", "wb") as handle:
            pickle.dump({"base": self.location, "max_length": self.max_length, "pair_context": self.pair_context,
                         "pooling": self.pooling, "question": self.question, "model": self.model}, handle)
        write_manifest(folder, type(self), paradigm=self.paradigm, base=self.location)

    @classmethod
    def load(cls, folder: Path) -> "ProbeClassifier":
        with open(folder / "probe.pkl", "rb") as handle:
            state = pickle.load(handle)
        out = cls(state["base"], state["max_length"], pair_context=state.get("pair_context", "reply"),
                  pooling=state.get("pooling", "mean"), question=state.get("question", ""))
        out.model = state["model"]
        return out
