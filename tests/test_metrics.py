"""Accuracy, AUROC and PGR with its bootstrap, against values worked out by hand."""

import numpy as np
import pytest

from w2s_eval.eval.metrics import accuracy, auroc, bootstrap_pgr, pgr

LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
# weak right on 6/10, student on 7/10, ceiling on 9/10
WEAK = np.array([0.9, 0.8, 0.2, 0.3, 0.1, 0.4, 0.7, 0.6, 0.9, 0.2])
STUDENT = np.array([0.9, 0.8, 0.7, 0.3, 0.1, 0.4, 0.7, 0.6, 0.9, 0.2])
CEILING = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.4, 0.3, 0.2, 0.9, 0.8])


def test_accuracy_and_auroc_by_hand():
    assert accuracy(LABELS, WEAK) == pytest.approx(0.6)
    assert accuracy(LABELS, STUDENT) == pytest.approx(0.7)
    assert accuracy(LABELS, CEILING) == pytest.approx(0.9)
    # 3 positives, 2 negatives: 5 of 6 (pos, neg) pairs ordered correctly.
    assert auroc([1, 1, 1, 0, 0], [0.9, 0.4, 0.8, 0.5, 0.1]) == pytest.approx(5 / 6)
    assert auroc([1, 1], [0.2, 0.3]) is None


def test_pgr_formula_and_undefined_case():
    value, reason = pgr(0.6, 0.7, 0.9, min_gap=0.05)
    assert value == pytest.approx(1 / 3) and reason is None
    value, reason = pgr(0.80, 0.85, 0.83, min_gap=0.05)
    assert value is None and "0.030" in reason and "min_gap" in reason
    # A student worse than the weak model gives a negative PGR, not a clipped one.
    assert pgr(0.6, 0.5, 0.9, min_gap=0.05)[0] == pytest.approx(-1 / 3)


def test_bootstrap_point_value_and_interval():
    out = bootstrap_pgr(LABELS, WEAK, STUDENT, CEILING, min_gap=0.05, n_boot=2000, seed=1)
    assert out["value"] == pytest.approx(1 / 3)
    assert out["ci_low"] <= out["value"] <= out["ci_high"]
    # The student differs from the weak model on one example only (index 2), which it gets
    # right, so no resample can give a negative PGR.
    assert out["ci_low"] >= 0
    assert out["n_boot"] == 2000 and 0 <= out["undefined_share"] < 1


def test_bootstrap_degenerate_cases():
    # Student identical to the weak model: PGR is 0 in every resample.
    out = bootstrap_pgr(LABELS, WEAK, WEAK, CEILING, min_gap=0.05, n_boot=500, seed=0)
    assert out["value"] == 0 and out["ci_low"] == 0 and out["ci_high"] == 0
    # Student identical to the ceiling: PGR is 1 in every defined resample.
    out = bootstrap_pgr(LABELS, WEAK, CEILING, CEILING, min_gap=0.05, n_boot=500, seed=0)
    assert out["value"] == 1 and out["ci_low"] == 1 and out["ci_high"] == 1
    # No gap at all: undefined, with the reason, and no interval.
    out = bootstrap_pgr(LABELS, CEILING, CEILING, CEILING, min_gap=0.05, n_boot=200, seed=0)
    assert out["value"] is None and "below min_gap" in out["reason"] and out["ci_low"] is None


def test_bootstrap_is_deterministic_for_a_seed():
    a = bootstrap_pgr(LABELS, WEAK, STUDENT, CEILING, min_gap=0.05, n_boot=300, seed=7)
    b = bootstrap_pgr(LABELS, WEAK, STUDENT, CEILING, min_gap=0.05, n_boot=300, seed=7)
    assert a == b


def test_logconf_weight_rises_linearly_and_mixes_hardened_predictions():
    """LogConf by hand: α = aux_coef · min(1, progress / warmup_frac); the target mixes the weak
    labels with the student's predictions hardened at the weak labels' positive share."""
    import torch

    from w2s_eval.trainers.losses import LogConfLoss, soft_xent

    loss = LogConfLoss(aux_coef=0.5, warmup_frac=0.5)
    assert [loss.coefficient(p) for p in (0.0, 0.25, 0.5, 1.0)] == pytest.approx([0.0, 0.25, 0.5, 0.5])
    logits = torch.tensor([[0.0, 2.0], [0.0, 1.0], [0.0, -1.0], [0.0, -2.0]])
    weak = torch.tensor([0.9, 0.2, 0.8, 0.1])  # half positive: the top half of the student is hardened to 1
    hardened = torch.tensor([1.0, 1.0, 0.0, 0.0])
    expected = 0.75 * soft_xent(logits, weak) + 0.25 * soft_xent(logits, hardened)
    assert loss(logits, weak, progress=0.25).item() == pytest.approx(expected.item())
    assert loss(logits, weak, progress=0.0).item() == pytest.approx(soft_xent(logits, weak).item())
