"""The W2S methods (w2s_eval/methods/): what each does to the weak supervision, the registry's
errors, and end to end on real ToxiGen statements (tfidf → minilm-l6 probe): every method's
student, its naive reference beside it, and no ground truth of B, val or test reaching either."""

import json

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.deception import BASELINE
from w2s_eval.errors import UserError
from w2s_eval.methods import METHODS, make_method
from w2s_eval.methods.committee import resample_groups
from w2s_eval.methods.confident import most_confident
from w2s_eval.methods.reliability import answer_entropy, answer_scores, reweighted, vote_counts
from w2s_eval.resolve import resolve_run, run_id_of
from w2s_eval.protocol import run_experiment
from w2s_eval.sweeps import SweepGrid, aggregate, read_sweep, run_sweep

from test_leaks import (HELD_OUT, assert_supervisor_side_identical, custom_file, custom_run, flip, flipped_task_run,
                        pair_run, split_slice)
from test_leaks import pair_slice  # noqa: F401 (a fixture)
from test_protocol import cached_steps

TINY_PROBE = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.finetune=probe",
              "strong_train.max_length=48", "eval.n_bootstrap=100", "threads=1"]


# -- the registry ------------------------------------------------------------------------------------

def test_unknown_method_and_option_errors_list_the_valid_ones():
    with pytest.raises(UserError, match=r"unknown method 'nope'; valid choices: .*confident.*naive"):
        make_method("nope")
    with pytest.raises(UserError, match=r"method 'confident': unknown option 'fraction'; valid options: share"):
        make_method("confident", {"fraction": 0.3})
    with pytest.raises(UserError, match=r"method 'confident': share: expected a share in \(0, 1\], got "):
        make_method("confident", {"share": 0})
    with pytest.raises(UserError, match="method 'naive' takes no options"):
        make_method("naive", {"k": 3})
    with pytest.raises(UserError, match="unknown method"):  # before any training, from the config
        resolve_run(load_config(None, ["method=nope"], {"profile": "cpu"}))


def test_method_specs_name_a_method_and_its_options():
    from w2s_eval.methods import parse_method_spec

    assert parse_method_spec("reliability:variant=reweight:k=8") == ("reliability", {"variant": "reweight", "k": 8})
    assert parse_method_spec("naive") == ("naive", {})
    with pytest.raises(UserError, match="expected NAME or NAME:OPTION=VALUE"):
        parse_method_spec("reliability:variant")
    with pytest.raises(UserError, match="variant: expected one of filter, reweight"):
        parse_method_spec("reliability:variant=drop")


def test_method_options_from_several_flags_merge_and_a_sweep_refuses_options_of_another_method():
    cfg = load_config(None, ["method_options.variant=reweight", "method_options.k=8"], {"method": "reliability"})
    assert cfg.method_options == {"variant": "reweight", "k": 8}
    with pytest.raises(UserError, match=r"belong to method 'reliability'.*--methods naive,reliability:variant=reweight"):
        run_sweep(SweepGrid(methods=["naive", "reliability"]), "unused", cfg)


def test_method_resolution_and_run_ids():
    naive = resolve_run(load_config(None, [], {"profile": "cpu"})).cfg
    assert naive.method == "naive" and "-naive" not in run_id_of(naive)
    confident = load_config(None, ["method_options={share: 0.3}"], {"profile": "cpu", "method": "confident"})
    assert "-confident-" in run_id_of(confident) and run_id_of(confident) != run_id_of(
        load_config(None, [], {"profile": "cpu", "method": "confident"}))
    chain = resolve_run(load_config(None, [], {"profile": "cpu", "gap": "bootstrap"})).cfg
    assert chain.method == "bootstrap"  # a gap with via rungs is the bootstrap method
    with pytest.raises(UserError, match="method bootstrap needs intermediate models"):
        resolve_run(load_config(None, [], {"profile": "cpu", "method": "bootstrap"}))
    with pytest.raises(UserError, match="cannot be combined with method 'confident'"):
        resolve_run(load_config(None, [], {"profile": "cpu", "method": "confident", "via": "minilm-l6"}))
    with pytest.raises(UserError, match="paradigm 'reward'.s trainer takes no per-example weights"):
        resolve_run(load_config(None, ["method_options={variant: reweight}"],
                                   {"profile": "cpu", "task": "reward", "paradigm": "reward", "method": "reliability"}))


# -- what each method does ---------------------------------------------------------------------------

def test_confident_keeps_exactly_the_share_of_each_predicted_class():
    soft = np.array([0.9, 0.6, 0.55, 0.99, 0.7, 0.1, 0.45, 0.3, 0.02, 0.51])
    # class 1: 0.99, 0.9, 0.7, 0.6, 0.55, 0.51 (6) -> 3 kept; class 0: 0.02, 0.1, 0.3, 0.45 (4) -> 2 kept
    assert most_confident(soft, 0.5).tolist() == [0, 3, 4, 5, 8]
    assert most_confident(soft, 1.0).tolist() == list(range(10))
    assert most_confident(np.array([0.9, 0.8]), 0.1).tolist() == [0]  # one class present: at least one kept


def test_reliability_scores_follow_the_agreement_of_the_weak_models():
    # Four weak models on three examples: unanimous, 3 of 4, split 2-2.
    labels = np.array([[0.9, 0.8, 0.7], [0.8, 0.6, 0.2], [0.7, 0.9, 0.9], [0.6, 0.3, 0.1]])
    counts = vote_counts(labels)
    assert counts.tolist() == [[0, 4], [1, 3], [2, 2]]
    np.testing.assert_allclose(answer_entropy(counts), [0, -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), np.log(2)])
    # Guo & Yang's score: softmax over the answers given of their vote shares (temperature 1).
    low, high = np.exp(0.25) / (np.exp(0.25) + np.exp(0.75)), np.exp(0.75) / (np.exp(0.25) + np.exp(0.75))
    np.testing.assert_allclose(answer_scores(counts), [[0, 1], [low, high], [0.5, 0.5]])
    targets, weights = reweighted(counts)
    # Equal to the k answer rows each weighted by its score: P(1) ∝ count · score, weight = Σ / k.
    np.testing.assert_allclose(targets, [1, 3 * high / (low + 3 * high), 0.5])
    np.testing.assert_allclose(weights, [1, (low + 3 * high) / 4, 0.5])
    assert weights[0] > weights[1] > weights[2]  # more agreement, more weight


def test_committee_resamples_groups_whole_and_differ_by_member():
    frame = pd.DataFrame({"id": range(12), "group": [i // 2 for i in range(12)], "label": [i % 2 for i in range(12)]})
    one, two = resample_groups(frame, 0, 1), resample_groups(frame, 0, 2)
    assert one.groupby("group").size().isin([2, 4, 6, 8, 10, 12]).all()  # a drawn group comes whole
    assert len(one) == len(frame) and one["id"].tolist() != two["id"].tolist()
    assert one["id"].tolist() == resample_groups(frame, 0, 1)["id"].tolist()  # seeded


# -- end to end ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toxigen(data_dir) -> pd.DataFrame:
    return split_slice("toxicity", TINY_PROBE, data_dir)


# bootstrap: test_leaks.py. debate / explain generate text for every example of A, B and val, which
# makes two runs minutes long even with the smallest generator; tests/test_debate.py checks that no
# prompt holds a label of B or val and runs debate end to end.
CHECKED = [m for m in METHODS.names() if m not in ("naive", "bootstrap", "debate", "explain")]
# Options a method needs on a 48-example slice (its defaults are for hundreds of examples).
ON_A_TINY_SLICE = {"co-supervise": ["method_options={n_teachers: 2, min_teacher_examples: 5}"]}


@pytest.mark.slow
@pytest.mark.parametrize("method", CHECKED)
def test_method_runs_beside_its_naive_reference_and_never_sees_held_out_truth(method, toxigen, tmp_path):
    """Each method on the same ToxiGen slice twice, the second time with the truth of B, val and
    test flipped: the method's student and the naive student come out bit-identical."""
    sets = TINY_PROBE + ON_A_TINY_SLICE.get(method, [])
    original = custom_run(toxigen, tmp_path / "original", sets, method=method)
    m = json.loads((original / "metrics.json").read_text())
    assert m["method"] == method and m["baseline"]["kind"] == "naive"
    assert BASELINE in pd.read_parquet(original / "predictions.parquet")
    assert m["method_info"]["n_train"] <= m["splits"]["B"]["n"] and 0 <= m["method_info"]["target_acc"] <= 1
    flipped = custom_run(flip(toxigen, HELD_OUT), tmp_path / "flipped", sets, method=method)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


# -- on pairs, and with a task's own metadata --------------------------------------------------------
# The same check on a pair task (utility, through its loader) and on a user's pair file (the loader
# makes ids, A/B order and labels from the flipped file), for every checked method (all take pairs:
# their paradigms include classify, whose linear students judge φ(A) − φ(B)); and co-supervise on
# ToxiGen through the task's loader, so that its teachers come from the task's target_group column.
PAIR_PROBE = ["splits.max_per_split={A: 96, B: 96, val: 32, test: 96}", "strong_train.finetune=probe",
              "strong_train.max_length=64", "eval.n_bootstrap=100", "threads=1"]
PAIR_MODELS = {"weak_model": "tfidf", "strong_model": "minilm-l6"}


def check_method_run(run_dir, method: str) -> dict:
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["method"] == method and m["baseline"]["kind"] == "naive"
    assert m["method_info"]["n_train"] <= m["splits"]["B"]["n"] and 0 <= m["method_info"]["target_acc"] <= 1
    return m


@pytest.mark.slow
@pytest.mark.parametrize("method", CHECKED)
def test_method_never_sees_held_out_truth_on_the_utility_pair_task(method, tmp_path, monkeypatch):
    sets = PAIR_PROBE + ON_A_TINY_SLICE.get(method, [])
    flags = PAIR_MODELS | {"method": method}
    original = flipped_task_run("utility", (), tmp_path / "original", sets, monkeypatch, **flags)
    check_method_run(original, method)
    flipped = flipped_task_run("utility", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


@pytest.mark.slow
@pytest.mark.parametrize("method", CHECKED)
def test_method_never_sees_held_out_truth_on_a_users_pair_file(method, pair_slice, tmp_path):
    sets = PAIR_PROBE + ON_A_TINY_SLICE.get(method, [])
    original = pair_run(pair_slice, tmp_path / "original", sets, method=method, **PAIR_MODELS)
    check_method_run(original, method)
    flipped = pair_run(flip(pair_slice, HELD_OUT), tmp_path / "flipped", sets, method=method, **PAIR_MODELS)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


@pytest.mark.slow
def test_co_supervise_with_target_group_teachers_never_sees_held_out_truth(tmp_path, monkeypatch):
    sets = TINY_PROBE + ON_A_TINY_SLICE["co-supervise"]
    flags = PAIR_MODELS | {"method": "co-supervise"}
    original = flipped_task_run("toxicity", (), tmp_path / "original", sets, monkeypatch, **flags)
    teachers = check_method_run(original, "co-supervise")["method_info"]["teachers"]
    assert len(teachers) == 2 and not any(t["name"].startswith("cluster-") for t in teachers)  # target groups
    flipped = flipped_task_run("toxicity", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


@pytest.mark.slow
def test_confident_run_trains_on_the_chosen_share_and_reuses_the_naive_student(toxigen, tmp_path):
    data = custom_file(toxigen, tmp_path / "data")
    flags = {"data.file": str(data), "data.id_field": "id", "data.group_field": "group", "weak_model": "tfidf",
             "strong_model": "minilm-l6"}
    naive = run_experiment(load_config(None, TINY_PROBE, flags), tmp_path / "runs", quiet=True)
    sets = TINY_PROBE + ["method_options={share: 0.25}"]
    run = run_experiment(load_config(None, sets, flags | {"method": "confident"}), tmp_path / "runs", quiet=True)
    m, plain = (json.loads((d / "metrics.json").read_text()) for d in (run, naive))
    n_B = m["splits"]["B"]["n"]
    assert m["method_info"]["of"] == n_B and m["method_info"]["n_train"] < n_B / 2
    assert m["steps"]["baseline"] == plain["steps"]["student"]  # the naive run's student, from the cache
    assert {"weak", "label", "ceiling", "student"} <= cached_steps(run)


@pytest.mark.slow
def test_sweep_over_methods_pools_the_paired_gain_and_shows_the_leaderboard(toxigen, tmp_path, data_dir):
    from w2s_eval.reports import build_report

    sets = TINY_PROBE

    def base(task, paradigm):
        return load_config(None, sets, {"task": task, "paradigm": paradigm, "weak_model": "tfidf",
                                        "strong_model": "minilm-l6"})

    methods = ["naive", "confident", "reliability:variant=reweight"]
    out = run_sweep(SweepGrid(tasks=["toxicity"], methods=methods, seeds=[0, 1]), tmp_path / "sweep", base, quiet=True)
    rows = read_sweep(out)
    assert (rows["status"] == "done").all() and rows["method"].tolist() == [m for m in methods for _ in (0, 1)]
    reweighted_run = json.loads((out / rows["run_dir"].iloc[-1] / "metrics.json").read_text())
    assert reweighted_run["method_options"] == {"variant": "reweight"} and reweighted_run["method_info"]["weighted"]
    pooled = aggregate(rows)
    gain = pooled[(pooled["method"] == "confident") & (pooled["metric"] == "pgr_gain")].iloc[0]
    assert gain["n"] == 2 and gain["ci_method"].startswith("hierarchical bootstrap over 2 seeds")
    naive_gain = pooled[(pooled["method"] == "naive") & (pooled["metric"] == "pgr_gain")]
    assert naive_gain["mean"].isna().all()  # naive is the reference: no gain over itself
    text = build_report(out)[0].read_text()
    assert "## Method leaderboard" in text and "naive (reference)" in text and "ΔPGR vs naive" in text
