"""``reliability``: Guo & Yang (2024), "Improving Weak-to-Strong Generalization with
Reliability-Aware Alignment" (code: Irenehere/ReliableAlignment).

The paper queries the weak supervisor several times per question (prompt variations), and from
the answers' agreement estimates how reliable each weak label is:

- ``filter`` (their "uncertainty filtering"): the entropy of each question's answer distribution;
  questions above the median entropy (``np.percentile(entropy, 50)``, kept when ``<=``) are dropped,
  and the student trains on every answer of the rest.
- ``reweight`` (their "reliability reweighting"): each (question, answer) row's loss is multiplied
  by the answer's score, the softmax over the distinct answers of their vote shares (temperature 1):
  score(a) = exp(f_a) / Σ_b exp(f_b), f = count / k, the loss being the mean of weighted row losses.

Adaptation: our weak models are classifiers, not prompted LMs, so the k answers come from k weak
models trained on resamples of A (``committee.py``; the run's weak model is one of them); an answer
is a member's hard label. Training on the k answer rows of a question with cross-entropy equals
training once on their vote share as a soft target, and with weights once on the target
m_1 / (m_0 + m_1) with weight (m_0 + m_1) / k, where m_c = count_c · score(c): that is what the
student gets, so every question is one example (the paper's duplicated rows would also be split
apart by the student's batches; this is the same loss). The student chooses its epoch on val
targets made the same way (val is not filtered). ``reweight`` needs a paradigm whose trainer takes
per-example weights (classify).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Settings, setting
from .base import METHODS, Method, MethodContext, TrainingSet, training_set_key
from .committee import committee_labels

VARIANTS = ("filter", "reweight")


@dataclass
class ReliabilityConfig(Settings):
    variant: str = setting("filter", choices=VARIANTS)
    # weak models queried per example (the run's weak model included)
    k: int = setting(4, ge=2, expected="at least 2 weak models")
    # filter: keep examples whose entropy is at most this percentile
    keep_percentile: float = setting(50.0, gt=0, le=100, expected="a percentile in (0, 100]")
    # reweight: softmax temperature of the answer scores
    temperature: float = setting(1.0, gt=0, expected="a positive temperature")


def vote_counts(labels: np.ndarray) -> np.ndarray:
    """Hard answers of k models [k, n] (soft labels) as counts per class [n, 2]."""
    ones = (np.asarray(labels) > 0.5).sum(0)
    return np.stack([labels.shape[0] - ones, ones], axis=1).astype(float)


def answer_entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each example's answer distribution (``scipy.stats.entropy`` of the counts)."""
    p = counts / counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(1)


def answer_scores(counts: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """score(c) = softmax over the answers given (count > 0) of (count / k) / temperature; 0 for an
    answer no model gave. [n, 2]"""
    k = counts.sum(1, keepdims=True)
    logits = np.where(counts > 0, counts / k / temperature, -np.inf)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def reweighted(counts: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(soft target P(1), weight) of each example equal to its k answer rows weighted by their scores."""
    mass = counts * answer_scores(counts, temperature)
    total = mass.sum(1)
    return mass[:, 1] / total, total / counts.sum(1)


@METHODS.register("reliability")
class Reliability(Method):
    summary = "filter or reweight weak labels by the agreement of k weak models (Guo & Yang 2024)"
    Config = ReliabilityConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        o = self.options
        labels_B, labels_val = committee_labels(ctx, o.k)
        counts_B, counts_val = vote_counts(labels_B), vote_counts(labels_val)
        entropy = answer_entropy(counts_B)
        info = {"variant": o.variant, "k": o.k, "mean_entropy_B": float(entropy.mean()),
                "unanimous_share_B": float((entropy == 0).mean())}
        if o.variant == "filter":
            keep = np.flatnonzero(entropy <= np.percentile(entropy, o.keep_percentile))
            frame = ctx.B.iloc[keep].reset_index(drop=True)
            targets = (counts_B[:, 1] / counts_B.sum(1))[keep]
            val_targets = counts_val[:, 1] / counts_val.sum(1)
            weights = None
            info.update(kept=int(len(keep)), of=int(len(ctx.B)))
        else:
            frame = ctx.B
            targets, weights = reweighted(counts_B, o.temperature)
            val_targets, _ = reweighted(counts_val, o.temperature)
            info.update(mean_weight=float(weights.mean()), min_weight=float(weights.min()))
        return TrainingSet(frame, targets, val_targets, weights=weights, info=info,
                           key=training_set_key(self.name, o, frame, targets, val_targets, weights))

    def weighted(self) -> bool:
        return self.options.variant == "reweight"
