"""Accuracy, AUROC, PGR and their bootstrap intervals (DESIGN.md, "Metrics").

PGR = (acc_student − acc_weak) / (acc_ceiling − acc_weak): the share of the weak–ceiling gap that
weak supervision recovers. It is undefined (None, with the reason) when the gap is below
``min_gap``: dividing by a difference that is within noise gives a number that means nothing.
The interval resamples test examples with replacement and recomputes PGR on each resample.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def accuracy(labels, probs) -> float:
    labels, probs = np.asarray(labels), np.asarray(probs)
    return float(np.mean((probs > 0.5) == (labels == 1)))


def auroc(labels, probs) -> float | None:
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return None  # one class only: AUROC is undefined
    return float(roc_auc_score(labels, probs))


def pgr(acc_weak: float, acc_student: float, acc_ceiling: float, min_gap: float) -> tuple[float | None, str | None]:
    gap = acc_ceiling - acc_weak
    if gap < min_gap:
        return None, f"weak-ceiling gap {gap:.3f} is below min_gap {min_gap}: PGR would be noise"
    return (acc_student - acc_weak) / gap, None


def bootstrap_pgr(labels, p_weak, p_student, p_ceiling, *, min_gap: float, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> dict:
    """PGR on the test set with a percentile bootstrap interval over test examples.

    Returns {"value", "ci_low", "ci_high", "n_boot", "undefined_share"} and "reason" when the
    point value is undefined. Resamples whose own gap is below min_gap are left out of the
    interval, and their share is reported so a reader sees how fragile the ratio is.
    """
    labels = np.asarray(labels)
    correct = np.stack([(np.asarray(p) > 0.5) == (labels == 1) for p in (p_weak, p_student, p_ceiling)])
    acc_w, acc_s, acc_c = correct.mean(axis=1)
    value, reason = pgr(acc_w, acc_s, acc_c, min_gap)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(labels), size=(n_boot, len(labels)))
    boot = correct[:, idx].mean(axis=2)  # (3 models, n_boot)
    gaps = boot[2] - boot[0]
    defined = gaps >= min_gap
    ratios = (boot[1][defined] - boot[0][defined]) / gaps[defined]
    out = {"value": value, "ci_low": None, "ci_high": None, "n_boot": n_boot,
           "undefined_share": round(float(1 - defined.mean()), 4)}
    if reason:
        out["reason"] = reason
    elif len(ratios):
        tail = (1 - level) / 2 * 100
        out["ci_low"], out["ci_high"] = (float(x) for x in np.percentile(ratios, [tail, 100 - tail]))
    return out


def model_metrics(labels, probs) -> dict:
    return {"acc": accuracy(labels, probs), "auroc": auroc(labels, probs)}
