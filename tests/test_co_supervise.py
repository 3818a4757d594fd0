"""``co-supervise`` (Liu & Alahi 2024, CSL): its rules on hand-built arrays, and real runs.

The runs use tiny real slices (ToxiGen with its target groups as teacher domains; ETHICS
utilitarianism pairs, clustered) with TF-IDF teachers and MiniLM-L6 probes, so they take seconds.
"""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.methods import make_method
from w2s_eval.methods.co_supervise import (
    CoSuperviseConfig, assign_teachers, assigned_labels, cluster_parts, co_supervise_round, inconsistent,
    merge_small_parts, pack_domains, teacher_parts)
from w2s_eval.protocol import prepare, run_experiment
from w2s_eval.resolve import resolve_run

from test_leaks import HELD_OUT, assert_supervisor_side_identical, flipped_task_run
from test_protocol import cached_steps


def test_assignment_picks_the_teacher_most_sure_of_the_students_class():
    teachers = np.array([[0.9, 0.2, 0.60],
                         [0.6, 0.1, 0.80],
                         [0.3, 0.4, 0.55]])
    student = np.array([0.8, 0.3, 0.7])  # classes 1, 0, 1
    # Example 0: P(1) = .9 / .6 / .3 -> teacher 0; example 1: P(0) = .8 / .9 / .6 -> teacher 1;
    # example 2: P(1) = .6 / .8 / .55 -> teacher 1.
    assignment = assign_teachers(teachers, student)
    assert assignment.tolist() == [0, 1, 1]
    assert assigned_labels(teachers, assignment).tolist() == [0.9, 0.1, 0.8]


def test_consistency_rule_rejects_exactly_the_contradicted_labels():
    reference = np.array([0.9, 0.2, 0.45, 0.7, 0.5])
    labels = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    # The reference's probability of each label: .9, .2, .55, .3, .5.
    assert inconsistent(reference, labels, 0.5).tolist() == [False, True, False, True, False]
    # A lower threshold rejects only confident contradiction; 0 rejects nothing.
    assert inconsistent(reference, labels, 0.25).tolist() == [False, True, False, False, False]
    assert not inconsistent(reference, labels, 0.0).any()


def test_a_round_rejects_by_each_rule_the_examples_it_names():
    options = CoSuperviseConfig()
    teachers_B = np.array([[0.9, 0.8, 0.2, 0.3],
                           [0.7, 0.6, 0.4, 0.1]])
    student_B = np.array([0.8, 0.9, 0.9, 0.2])
    generalist_B = np.array([0.6, 0.3, 0.6, 0.4])
    step = co_supervise_round(teachers_B, teachers_B, generalist_B, student_B, student_B, options)
    # Examples 0, 1: teacher 0 agrees most with the student (class 1); example 2: no teacher gives
    # class 1, the most willing (teacher 1, 0.4) is assigned, and the student contradicts it;
    # example 3: teacher 1 is surest of class 0.
    assert step.assignment_B.tolist() == [0, 0, 1, 1]
    assert step.labels_B.tolist() == [0.9, 0.8, 0.4, 0.1]
    assert step.rejected_teacher_student.tolist() == [False, False, True, False]
    # The generalist contradicts the assigned label on example 1 (0.3 for class 1) and example 2
    # (0.6 for class 0).
    assert step.rejected_local_global.tolist() == [False, True, True, False]
    assert step.keep.tolist() == [True, False, False, True]
    # Val is assigned the same way and never filtered.
    assert step.labels_val.tolist() == step.labels_B.tolist()


def test_domains_are_packed_whole_into_parts_of_similar_size():
    domain = pd.Series(["a"] * 10 + ["b"] * 6 + ["c"] * 5 + ["d"] * 3 + ["e"])
    parts = pack_domains(domain, 2)
    by_domain = pd.Series(parts).groupby(domain).nunique()
    assert (by_domain == 1).all()  # no domain is split
    # Largest first into the lighter part: a | b, c -> a (10) | b, c (11) -> a, d | b, c, e.
    assert sorted(np.bincount(parts).tolist()) == [12, 13]
    assert pack_domains(domain, 10).max() == 4  # never more parts than domains


def test_small_or_one_class_parts_join_the_smallest_other_part():
    parts = np.array([0] * 6 + [1] * 5 + [2] * 4 + [3] * 1)
    labels = np.array([0, 1] * 3 + [1] * 5 + [0, 1] * 2 + [0])
    merged = merge_small_parts(parts, labels, min_size=2)
    # Part 3 (one row) joins part 2 (the smallest other), then part 1 (one class only) joins
    # the smallest remaining other part, part 2+3 (5 rows, before part 0 with 6).
    assert merged.tolist() == [0] * 6 + [1] * 10
    assert merge_small_parts(parts[:6], labels[:6], min_size=2).tolist() == [0] * 6


def test_toxigen_teachers_each_take_whole_target_groups_of_both_classes():
    p = prepare(resolve_run(load_config(None, ["threads=1"], {"task": "toxicity"})))
    A = p.split("A")
    # What teacher_parts reads of the context: A's training part, the task and the seed.
    ctx = SimpleNamespace(A_fit=A, task=p.task, seed=0)
    parts, names = teacher_parts(ctx, CoSuperviseConfig(n_teachers=3))
    assert parts.max() + 1 == len(names) == 3
    assert (pd.Series(parts).groupby(A["target_group"].to_numpy()).nunique() == 1).all()
    for part in range(3):
        members = A[parts == part]
        assert len(members) >= 20 and members["label"].nunique() == 2
        assert set(members["target_group"]) == set(names[part].split("+"))
    with pytest.raises(UserError, match="method co-supervise: domains 'topic' is not a column of task 'toxicity'"):
        teacher_parts(ctx, CoSuperviseConfig(domains="topic"))


def test_clusters_are_seeded_and_follow_the_features():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal([5, 0], 0.1, (10, 2)), rng.normal([0, 5], 0.1, (10, 2))])
    parts = cluster_parts(features, 2, seed=3)
    assert len(set(parts[:10])) == 1 and len(set(parts[10:])) == 1 and parts[0] != parts[10]
    assert cluster_parts(features, 2, seed=3).tolist() == parts.tolist()


@pytest.mark.parametrize("option, value, message", [
    ("n_teachers", 1, "n_teachers: expected an integer of at least 2"),
    ("rounds", 0, "rounds: expected an integer of at least 1"),
    ("teacher_student_threshold", 1.0, r"teacher_student_threshold: expected a number in \[0, 1\)"),
    ("local_global_threshold", -0.1, r"local_global_threshold: expected a number in \[0, 1\)"),
    ("global_teacher", "oracle", "global_teacher: expected one of generalist, ensemble"),
    ("soft_labels", "yes", "soft_labels: expected bool, got 'yes'"),
    ("domains", "", "domains: expected auto, clusters or a column name"),
])
def test_bad_options_name_themselves(option, value, message):
    with pytest.raises(UserError, match=f"method 'co-supervise': {message}"):
        make_method("co-supervise", {option: value})


def method_steps(out, name: str) -> list:
    return sorted((out / ".cache").glob(f"{name}-*"))


TOXICITY = ["splits.max_per_split={A: 120, B: 60, val: 20, test: 60}", "strong_train.finetune=probe",
            "strong_train.max_length=48", "method_options.min_teacher_examples=10"]
UTILITY = ["splits.max_per_split={A: 100, B: 60, val: 20, test: 60}", "method_options.n_teachers=2"]


@pytest.mark.slow
@pytest.mark.parametrize("task, sets", [("toxicity", TOXICITY), ("utility", UTILITY)])
def test_co_supervised_run_records_what_it_did_and_reuses_its_steps(tmp_path, task, sets):
    sets = sets + ["eval.n_bootstrap=100", "threads=1"]
    flags = {"task": task, "weak_model": "tfidf", "strong_model": "minilm-l6", "method": "co-supervise"}
    run_dir = run_experiment(load_config(None, sets, flags), tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    info = m["method_info"]
    assert m["method"] == "co-supervise" and m["pgr"] is not None
    teachers = info["teachers"]
    assert len(teachers) >= 2 and all(t["n_train"] >= 10 for t in teachers)
    if task == "toxicity":  # the ToxiGen target groups, each wholly in one teacher
        groups = [g for t in teachers for g in t["name"].split("+")]
        assert len(groups) == len(set(groups)) and "lgbtq" in groups
    else:
        assert all(t["name"].startswith("cluster-") for t in teachers)
    assert info["rounds"] == 2 and len(info["history"]) == 2
    assert sum(info["assigned"].values()) == info["of"] == m["splits"]["B"]["n"]
    rejected = info["rejected_teacher_student"] + info["rejected_local_global"] - info["rejected_by_both"]
    assert info["kept"] == info["n_train"] == info["of"] - rejected
    assert 0 <= info["target_acc"] <= 1
    # One cached step per teacher and per round's student; the same command reuses all of them.
    assert len(method_steps(tmp_path, "co-supervise-teacher")) == len(teachers)
    assert len(method_steps(tmp_path, "co-supervise-student")) == 2
    again = run_experiment(load_config(None, sets, flags), tmp_path, quiet=True)
    assert {"co-supervise-teacher", "co-supervise-student", "student"} <= cached_steps(again)


@pytest.mark.slow
def test_co_supervision_never_reads_the_truth_of_B_val_or_test(tmp_path, monkeypatch):
    """The same ToxiGen run twice, the second with the truth of B, val and test flipped
    (test_leaks.py): teachers, round students, the training set and the student come out identical."""
    sets = TOXICITY + ["eval.n_bootstrap=100", "threads=1"]
    flags = {"weak_model": "tfidf", "strong_model": "minilm-l6", "method": "co-supervise"}
    original = flipped_task_run("toxicity", (), tmp_path / "original", sets, monkeypatch, **flags)
    flipped = flipped_task_run("toxicity", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)
    for step in ("co-supervise-teacher", "co-supervise-student"):
        # Keys differ (split fingerprints hash the labels), so the steps are compared as sets.
        predictions = [sorted(pd.read_parquet(folder / f"predictions-{part}.parquet")["prob"].tolist()
                              for folder in method_steps(run.parent, step) for part in ("B", "val"))
                       for run in (original, flipped)]
        assert predictions[0] == predictions[1], f"{step}: predictions depend on held-out truth"
    infos = [json.loads((run / "metrics.json").read_text())["method_info"] for run in (original, flipped)]
    assert infos[1]["target_acc"] == pytest.approx(1 - infos[0]["target_acc"])  # the flip reached B
    assert {k: v for k, v in infos[0].items() if k != "target_acc"} == \
        {k: v for k, v in infos[1].items() if k != "target_acc"}
