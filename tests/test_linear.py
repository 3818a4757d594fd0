"""The linear judges: the bag-of-words model and the probe on a frozen zoo model, on real data."""

import numpy as np
import pytest

from w2s_eval.models.resolve import resolve_model
from w2s_eval.tasks import get_task
from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier


@pytest.fixture(scope="module")
def pairs(data_dir):
    return get_task("reward").load(data_dir)[0].head(240)


def test_pair_judges_are_antisymmetric(pairs):
    """Pairs are read as phi(A) - phi(B) with no intercept: swapping the replies gives exactly the
    complementary probability, so the A/B position carries no signal."""
    train, test = pairs.iloc[:200], pairs.iloc[200:]
    judge = BowClassifier().fit(train, train["label"].to_numpy(float))
    swapped = test.rename(columns={"reply_a": "reply_b", "reply_b": "reply_a"})
    p, q = judge.predict_proba(test), judge.predict_proba(swapped)
    assert p.std() > 0.01
    assert (p + q) == pytest.approx(1.0, abs=1e-9)


def test_probe_fits_soft_labels_and_round_trips(tmp_path, data_dir):
    frame = get_task("legal").load(data_dir)[0].sample(80, random_state=0)
    train, val = frame.iloc[:60], frame.iloc[60:]
    probe = ProbeClassifier(resolve_model("minilm-l6").location, max_length=64)
    soft = np.where(train["label"] == 1, 0.8, 0.2)  # soft labels, as a weak supervisor gives
    probe.fit(train, soft, val, val["label"].to_numpy(float))
    assert probe.history and {"C", "val_acc"} <= set(probe.history[0])
    before = probe.predict_proba(val)
    probe.save(tmp_path / "probe")
    after = ProbeClassifier.load(tmp_path / "probe").predict_proba(val)
    np.testing.assert_allclose(before, after, atol=1e-6)
    assert ((before > 0.5) == (probe.predict_proba(val) > 0.5)).all() and before.std() > 0
