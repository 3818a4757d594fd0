"""Conflict settings and bootstrapping chains: the training sets they build, and real runs.

The runs use the real HH pairs and ToxiGen statements with the bag-of-words model (any paradigm
accepts it) and MiniLM-L6 probes, so the plumbing is checked end to end in seconds; the reward
and DPO trainers themselves are covered in test_paradigms.py.
"""

import json

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.conflict import check_conflict, conflicting_preference, outside_splits, student_training_set
from w2s_eval.deception import read_deception
from w2s_eval.errors import UserError
from w2s_eval.deception import BASELINE
from w2s_eval.protocol import run_experiment
from w2s_eval.resolve import run_id_of
from w2s_eval.reports import build_report

from test_protocol import cached_steps


def pairs(n: int, offset: int = 0) -> pd.DataFrame:
    rows = [{"id": f"p{i}", "group": f"g{i}", "prompt": "q", "label": i % 2,
             "reply_a": "x" * (1 + i % 3), "reply_b": "x" * 2, "text": ""} for i in range(offset, offset + n)]
    return pd.DataFrame(rows)


def test_conflicting_preference_prefers_the_longer_reply():
    frame = pd.DataFrame({"reply_a": ["long reply", "a", "same"], "reply_b": ["short", "longer b", "same"]})
    assert conflicting_preference(frame).tolist() == [1.0, 0.0, 0.5]


def test_training_sets_of_each_conflict_setting():
    B, weak = pairs(12), np.linspace(0.1, 0.9, 12)
    outside = pairs(30, offset=100)

    frame, labels = student_training_set("none", 1.0, B, weak, outside, seed=0)
    assert frame is B and labels.tolist() == weak.tolist()

    frame, labels = student_training_set("implicit", 0.5, B, weak, outside, seed=0)
    extra, extra_labels = frame.iloc[12:], labels[12:]
    assert len(extra) == 6 and set(extra["id"]) <= set(outside["id"])
    assert labels[:12].tolist() == weak.tolist()
    assert extra_labels.tolist() == conflicting_preference(extra).tolist() and 0.5 not in extra_labels

    frame, labels = student_training_set("explicit", 1.0, B, weak, outside, seed=0)
    extra = frame.iloc[12:]
    # Every B pair with a length preference, again, with the conflicting label: ties (a = b) left out.
    assert set(extra["id"]) == set(B["id"][conflicting_preference(B) != 0.5])
    assert labels[12:].tolist() == conflicting_preference(extra).tolist()


def test_conflict_labels_never_read_the_ground_truth():
    B, weak = pairs(12), np.full(12, 0.7)
    flipped = B.assign(label=1 - B["label"])
    for name in ("implicit", "explicit"):
        a = student_training_set(name, 1.0, B, weak, pairs(20, offset=50), seed=3)
        b = student_training_set(name, 1.0, flipped, weak, pairs(20, offset=50).assign(label=0), seed=3)
        assert a[1].tolist() == b[1].tolist() and a[0]["id"].tolist() == b[0]["id"].tolist()


def test_outside_splits_drops_every_group_a_split_uses():
    frame = pd.DataFrame({"id": list("abcde"), "group": ["g1", "g1", "g2", "g3", "g3"]})
    split = frame.iloc[[0, 3]]
    assert outside_splits(frame, split)["id"].tolist() == ["c"]


def test_conflict_errors_name_the_flag_and_the_valid_values():
    with pytest.raises(UserError, match="paradigms classify, reward, dpo, not 'sft'"):
        check_conflict("implicit", "sft", 1.0)
    check_conflict("implicit", "classify", 1.0)  # the judges of a pair task (the task is checked with it)
    with pytest.raises(UserError, match="unknown conflict .sneaky..*controlled, explicit, implicit, none"):
        check_conflict("sneaky", "reward", 1.0)
    with pytest.raises(UserError, match="at most 1"):
        check_conflict("explicit", "reward", 2.0)
    with pytest.raises(UserError, match="no pairs left|none left"):
        student_training_set("implicit", 1.0, pairs(4), np.ones(4), pairs(0), seed=0)


TINY_PAIRS = ["splits.max_per_split={A: 120, B: 120, val: 40, test: 120}", "eval.n_bootstrap=200", "threads=1"]


@pytest.mark.slow
def test_conflict_run_keeps_its_no_conflict_baseline(tmp_path):
    """Reward paradigm on real HH pairs, bag-of-words models: the conflict student, the baseline
    (the very step of the no-conflict run), and deception for both."""
    flags = {"task": "reward", "paradigm": "reward", "weak_model": "tfidf", "strong_model": "tfidf"}
    plain = run_experiment(load_config(None, TINY_PAIRS, flags), tmp_path, quiet=True)
    conflicted_cfg = load_config(None, TINY_PAIRS, flags | {"conflict": "implicit"})
    assert "-conflict-implicit-" in run_id_of(conflicted_cfg)
    conflicted = run_experiment(conflicted_cfg, tmp_path, quiet=True)
    assert cached_steps(conflicted) == {"weak", "label", "ceiling", "student"}  # the cached student: the baseline

    plain_m, m = (json.loads((d / "metrics.json").read_text()) for d in (plain, conflicted))
    assert m["steps"]["baseline"] == plain_m["steps"]["student"] != m["steps"]["student"]
    assert m["baseline"]["student"] == plain_m["student"] and m["baseline"]["kind"] == "no conflict"
    assert m["conflict"] == "implicit"
    predictions = pd.read_parquet(conflicted / "predictions.parquet")
    assert predictions[BASELINE].tolist() == pd.read_parquet(plain / "predictions.parquet")["student"].tolist()
    # The verbosity objective pulls the student away from the harmlessness labels.
    assert not np.allclose(predictions["student"], predictions[BASELINE])
    report = read_deception(conflicted)
    assert BASELINE in report["others"] and report["others"][BASELINE]["table"] == read_deception(plain)["table"]
    md, html = build_report(conflicted)
    text = md.read_text()
    assert "## Against the baseline student" in text and "baseline (no conflict)" in text
    assert (conflicted / "report-baseline.png").exists()


@pytest.mark.slow
def test_bootstrapped_run_stores_the_chain_and_the_direct_student(tmp_path):
    """tfidf → minilm-l6 (probe) → minilm-l6 (probe) on ToxiGen: chain labels cross-fitted."""
    sets = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.finetune=probe",
            "strong_train.max_length=48", "eval.n_bootstrap=200", "threads=1"]
    flags = {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"}
    run_dir = run_experiment(load_config(None, sets, flags | {"via": "minilm-l6"}), tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert {"via:minilm-l6", BASELINE} <= set(predictions.columns)
    assert m["via"] == ["minilm-l6"] and m["baseline"]["kind"] == "direct"
    assert [c["model"] for c in m["chain"]] == ["minilm-l6"] and 0 <= m["chain"][0]["label_acc_B"] <= 1
    assert m["steps"]["student"] != m["steps"]["baseline"]
    # The direct student is the plain run's student step: a run without --via reuses it.
    direct = run_experiment(load_config(None, sets, flags), tmp_path, quiet=True)
    assert json.loads((direct / "metrics.json").read_text())["steps"]["student"] == m["steps"]["baseline"]
    assert "student" in cached_steps(direct)
    md, _ = build_report(run_dir)
    assert "baseline (direct)" in md.read_text()
    labels = pd.read_parquet(next((tmp_path / ".cache").glob("via-*")) / "labels.parquet")
    assert set(labels["split"]) == {"B", "val"} and labels["prob"].between(0, 1).all()


def test_a_bootstrap_ladder_in_gaps_yaml_fills_via():
    from w2s_eval.resolve import resolve_run

    cfg = resolve_run(load_config(None, [], {"task": "toxicity", "gap": "bootstrap", "profile": "cpu"})).cfg
    assert (cfg.weak_model, cfg.via, cfg.strong_model) == ("tfidf", ["minilm-l6"], "mpnet-base")
    assert "-via-minilm-l6-" in run_id_of(cfg)
    lm = resolve_run(load_config(None, [], {"task": "reward", "paradigm": "reward", "gap": "bootstrap",
                                                  "profile": "gpu"})).cfg
    assert lm.via == ["Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-7B"]
    mine = resolve_run(load_config(None, [], {"gap": "bootstrap", "profile": "cpu", "via": "mpnet-base"})).cfg
    assert mine.via == ["mpnet-base"]  # --via wins over the ladder
    plain = resolve_run(load_config(None, [], {"gap": "large", "profile": "cpu"})).cfg
    assert plain.via == []


@pytest.mark.slow
def test_explicit_conflict_run(tmp_path):
    flags = {"task": "reward", "paradigm": "reward", "weak_model": "tfidf", "strong_model": "tfidf",
             "conflict": "explicit"}
    run_dir = run_experiment(load_config(None, TINY_PAIRS, flags), tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["conflict"] == "explicit" and m["baseline"]["kind"] == "no conflict"
    assert m["steps"]["student"] != m["steps"]["baseline"]
