"""The ``selective`` method (Lang et al. 2025): its pure parts by hand, and one real run."""

import json

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.methods import make_method
from w2s_eval.methods.selective import (FIRST_ROUND_COLUMN, graph_smooth, knn_graph, own_labels, pik_features,
                                        selective_targets)
from w2s_eval.protocol import run_experiment

from test_leaks import HELD_OUT, assert_supervisor_side_identical, flipped_task_run
from test_protocol import cached_steps


def test_self_labels_exactly_where_pik_reaches_the_threshold():
    weak = np.array([0.9, 0.2, 0.6, 0.4, 0.7])
    own = np.array([0.1, 0.8, 0.3, 0.95, 0.65])
    pik = np.array([0.69, 0.7, 0.71, 0.2, 0.7])
    targets, self_labelled = selective_targets(weak, own, pik, threshold=0.7)
    assert self_labelled.tolist() == [False, True, True, False, True]  # 0.7 itself counts: P(IK) ≥ threshold
    assert targets.tolist() == [0.9, 0.8, 0.3, 0.4, 0.65]
    everything, _ = selective_targets(weak, own, pik, threshold=0.0)
    nothing, none_self = selective_targets(weak, own, pik, threshold=1.0)
    assert everything.tolist() == own.tolist() and nothing.tolist() == weak.tolist() and not none_self.any()


def test_own_labels_are_the_first_rounds_answers_or_its_probabilities():
    first_round = np.array([0.51, 0.5, 0.2, 0.99])
    assert own_labels(first_round, hard=True).tolist() == [1.0, 0.0, 0.0, 1.0]  # 0.5 is no answer 1, as class_of
    assert own_labels(first_round, hard=False).tolist() == first_round.tolist()


def test_knn_graph_by_cosine_similarity_without_the_example_itself():
    # Directions at 0°, 10°, 80°, 90° and, three times as long, 4°: cosine ignores the length.
    angles = np.deg2rad([0, 10, 80, 90, 4])
    features = np.stack([np.cos(angles), np.sin(angles)], 1) * np.array([[1], [1], [1], [1], [3]])
    graph = knn_graph(features, 2)
    assert graph.tolist() == [[4, 1], [4, 0], [3, 1], [2, 1], [0, 1]]


def test_graph_smoothing_gives_the_hand_computed_values():
    # A path a - b - c where a's and c's only neighbour is b, and b's is a (k = 1).
    neighbours = np.array([[1], [0], [1]])
    labels = np.array([1.0, 0.0, 0.0])
    # F1 = ½Y + ½F0[nbr] = [½·1 + ½·0, ½·0 + ½·1, ½·0 + ½·0] = [0.5, 0.5, 0]
    assert graph_smooth(labels, neighbours, 0.5, 1).tolist() == [0.5, 0.5, 0.0]
    # F2 = ½Y + ½F1[nbr] = [½ + ½·0.5, ½·0.5, ½·0.5] = [0.75, 0.25, 0.25]
    assert graph_smooth(labels, neighbours, 0.5, 2).tolist() == [0.75, 0.25, 0.25]
    assert graph_smooth(labels, neighbours, 0.5, 0).tolist() == labels.tolist()
    # Clamping b (a self-label) keeps it at 0; a and c still read it: F1 = [0.5, 0, 0], F2 = [0.5, 0, 0]
    clamped = np.array([False, True, False])
    assert graph_smooth(labels, neighbours, 0.5, 2, clamped).tolist() == [0.5, 0.0, 0.0]
    # Two neighbours average: node 0 with neighbours 1 and 2 (labels 1 and 0), α = 0.2, one round:
    # 0.8·0 + 0.2·(1 + 0)/2 = 0.1
    two = graph_smooth(np.array([0.0, 1.0, 0.0]), np.array([[1, 2], [0, 2], [0, 1]]), 0.2, 1)
    assert np.allclose(two, [0.1, 0.8 + 0.2 * 0.0, 0.2 * 0.5])


def test_pik_reads_pairs_as_the_same_when_their_sides_swap():
    difference = np.array([[0.5, -2.0], [-1.0, 0.0]])
    assert np.array_equal(pik_features(difference, True), pik_features(-difference, True))
    assert np.array_equal(pik_features(difference, False), difference)


@pytest.mark.parametrize("options, named", [({"threshold": 1.5}, "threshold"), ({"k": 0}, "k"), ({"k": 2.5}, "k"),
                                            ({"alpha": 1.0}, "alpha"), ({"iterations": -1}, "iterations"),
                                            ({"smooth_self_labels": "yes"}, "smooth_self_labels"),
                                            ({"hard_self_labels": 1}, "hard_self_labels")])
def test_bad_options_are_one_line_errors_naming_the_option(options, named):
    with pytest.raises(UserError, match=rf"method 'selective': {named}: expected ") as error:
        make_method("selective", options)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_selective_run_on_utility_pairs(tmp_path):
    """tfidf → minilm-l6 probes on real ETHICS utility pairs: the first round, P(IK), the
    selected and smoothed targets, and what metrics.json records of them."""
    sets = ["splits.max_per_split={A: 100, B: 80, val: 30, test: 60}", "eval.n_bootstrap=200", "threads=1",
            "method=selective"]
    flags = {"task": "utility", "weak_model": "tfidf", "strong_model": "minilm-l6"}
    run_dir = run_experiment(load_config(None, sets + ["method_options={k: 5, smooth_self_labels: true}"], flags),
                             tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    info = m["method_info"]
    assert m["method"] == "selective" and info["n_train"] == m["splits"]["B"]["n"]
    assert info["k_B"] == 5 and info["k_val"] == 5
    for share in ("self_labelled_share_B", "self_labelled_share_val", "smoothing_flipped_share_B",
                  "self_label_flips_weak_share_B", "first_round_acc_A_select", "pik_acc_A_select"):
        assert 0 <= info[share] <= 1, share
    assert info["pik_majority_acc_A_select"] >= 0.5 and info["n_A_select"] > 0
    assert info["smoothing_mean_abs_change_B"] > 0  # smoothing every label moves some of them
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert FIRST_ROUND_COLUMN in predictions.columns and m["baseline"]["kind"] == "naive"
    # The P(IK) step wrote probabilities for every example of B and val.
    pik = pd.read_parquet(next((tmp_path / ".cache").glob("selective-pik-*")) / "pik.parquet")
    assert pik.groupby("split").size().to_dict() == {"B": m["splits"]["B"]["n"], "val": m["splits"]["val"]["n"]}
    assert pik["prob"].between(0, 1).all()
    # Threshold 0: every example self-labelled and (clamped) left unsmoothed. The first round and
    # P(IK) are reused; the training set, so the student, is new.
    again = run_experiment(load_config(None, sets + ["method_options={k: 5, threshold: 0.0}"], flags),
                           tmp_path, quiet=True)
    assert {"selective-first", "selective-pik", "weak", "label", "ceiling"} <= cached_steps(again)
    assert "student" in cached_steps(again)  # only the naive baseline: the selective student trained anew
    again_info = json.loads((again / "metrics.json").read_text())["method_info"]
    assert again_info["self_labelled_share_B"] == 1.0 and again_info["smoothing_mean_abs_change_B"] == 0.0
    assert again_info["final_flips_weak_share_B"] == again_info["self_label_flips_weak_share_B"]
    assert again_info["pik_acc_A_select"] == info["pik_acc_A_select"]


@pytest.mark.slow
def test_selective_trains_the_same_student_on_flipped_truth(tmp_path, monkeypatch):
    """The leak test of tests/test_leaks.py for this method: ETHICS utility pairs, tfidf → minilm-l6
    probes, once as they are and once with the truth of B, val and test flipped. The first round,
    P(IK) (fitted on A only) and the student must come out bit-identical."""
    sets = ["splits.max_per_split={A: 100, B: 80, val: 30, test: 60}", "eval.n_bootstrap=100", "threads=1",
            "method=selective", "method_options={k: 5, smooth_self_labels: true}"]
    flags = {"weak_model": "tfidf", "strong_model": "minilm-l6"}
    original = flipped_task_run("utility", (), tmp_path / "original", sets, monkeypatch, **flags)
    flipped = flipped_task_run("utility", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)
    p0, p1 = (pd.read_parquet(d / "predictions.parquet") for d in (original, flipped))
    np.testing.assert_array_equal(p1[FIRST_ROUND_COLUMN].to_numpy(), p0[FIRST_ROUND_COLUMN].to_numpy())
    pik0, pik1 = (pd.read_parquet(next((d.parent / ".cache").glob("selective-pik-*")) / "pik.parquet")
                  for d in (original, flipped))
    pd.testing.assert_frame_equal(pik1, pik0, check_exact=True, obj="P(IK) of B and val")
    m0, m1 = (json.loads((d / "metrics.json").read_text())["method_info"] for d in (original, flipped))
    for what in ("self_labelled_share_B", "smoothing_mean_abs_change_B", "pik_acc_A_select"):
        assert m1[what] == m0[what], what
