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


def hand_table(weak_right: int, student_right: int, ceiling_right: int, n: int, both: int = 0) -> np.ndarray:
    """A run table (weak, ceiling, student right?) of n examples with the given numbers right.
    The student is right where the weak model is, plus ``student_right − weak_right`` of the
    examples only the ceiling gets right, or minus as many of the weak model's (``both``: the
    ceiling's right examples start after the first ``both`` examples)."""
    from w2s_eval.eval.metrics import cell_counts

    weak = np.zeros(n, bool)
    weak[:weak_right] = True
    ceiling = np.zeros(n, bool)
    ceiling[both:both + ceiling_right] = True
    student = weak.copy()
    student[np.flatnonzero(~weak & ceiling)[: max(0, student_right - weak_right)]] = True
    student[np.flatnonzero(weak)[: max(0, weak_right - student_right)]] = False
    return cell_counts(weak, ceiling, student)


def test_bootstrap_point_value_and_interval():
    # 10× the hand-made set: the same accuracies (0.6, 0.7, 0.9), 100 examples.
    big = [np.tile(x, 10) for x in (LABELS, WEAK, STUDENT, CEILING)]
    out = bootstrap_pgr(*big, min_gap=0.05, n_boot=2000, seed=1)
    assert out["value"] == pytest.approx(1 / 3) and out["gap"] == pytest.approx(0.3)
    assert out["identified"] and out["gap_ci_low"] > 0 and "reason" not in out
    assert out["ci_low"] <= out["value"] <= out["ci_high"]
    # The student differs from the weak model on examples it gets right only: no resample can give
    # a negative PGR.
    assert out["ci_low"] >= 0
    assert out["n_boot"] == 2000 and out["undefined_share"] == 0 and out["n_seeds"] == 1


def test_interval_keeps_every_resample_and_is_pinned_by_hand():
    """The issue's case: n = 800, weak 0.606, ceiling 0.665, student 0.585. Resamples whose gap
    falls below min_gap are kept, so the interval is the percentile interval of all of them —
    recomputed here from the same multinomial draws — and wider than the old interval that
    dropped them."""
    from w2s_eval.eval.metrics import pgr_from_tables

    table = hand_table(weak_right=485, student_right=468, ceiling_right=532, n=800, both=40)
    n_boot, seed = 2000, 0
    out = pgr_from_tables(table, min_gap=0.05, n_boot=n_boot, seed=seed)

    def accuracies(t):  # cell k: weak right = bit 4, ceiling = bit 2, student = bit 1
        return tuple(sum(t[k] for k in range(8) if k & bit) / t.sum() for bit in (4, 2, 1))

    assert accuracies(table) == pytest.approx((0.606, 0.665, 0.585), abs=1e-3)
    # by hand: the same draws, PGR per resample in plain Python
    draws = np.random.default_rng(seed).multinomial(800, table / 800, size=n_boot)
    ratios, gaps = [], []
    for d in draws:
        w, c, s = accuracies(d)
        ratios.append((s - w) / (c - w) if c != w else float("inf") * np.sign(s - w))
        gaps.append(c - w)
    # every resample kept; the percentiles are observed resample values (no interpolation)
    low, high = np.quantile(ratios, [0.025, 0.975], method="inverted_cdf")
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high))
    assert low in ratios and high in ratios
    kept = np.array(ratios)[np.array(gaps) >= 0.05]
    assert 0.2 < 1 - len(kept) / n_boot < 0.6  # the old rule dropped a large share of resamples
    old_low = np.percentile(kept, 2.5)
    assert out["ci_low"] < old_low - 0.2  # the resamples with a small gap widen the interval, as they should


def test_pgr_not_identified_when_the_gap_interval_includes_zero():
    from w2s_eval.eval.metrics import pgr_from_tables

    # gap 0.06 on 100 examples, where the two models disagree on 66: the gap is within noise
    table = hand_table(weak_right=60, student_right=64, ceiling_right=66, n=100, both=30)
    out = pgr_from_tables(table, min_gap=0.05, n_boot=1000, seed=0)
    assert out["value"] == pytest.approx(4 / 6)
    assert out["gap_ci_low"] <= 0 < out["gap_ci_high"] and not out["identified"]
    assert "not identified" in out["reason"]


def test_pooled_pgr_is_the_ratio_of_mean_gaps_and_keeps_every_seed():
    from w2s_eval.eval.metrics import pgr_from_tables

    a = hand_table(weak_right=600, student_right=700, ceiling_right=800, n=1000)  # PGR 0.5, gap 0.2
    b = hand_table(weak_right=600, student_right=600, ceiling_right=640, n=1000)  # PGR 0, gap 0.04 < min_gap
    out = pgr_from_tables(np.stack([a, b]), min_gap=0.05, n_boot=500, seed=0)
    # a mean of per-seed ratios over the seeds that pass min_gap would say 0.5; the pooled ratio:
    assert out["value"] == pytest.approx((0.1 + 0.0) / (0.2 + 0.04)) and out["n_seeds"] == 2
    assert out["ci_low"] <= out["value"] <= out["ci_high"]


def test_hierarchical_interval_carries_seed_variance():
    from w2s_eval.eval.metrics import bootstrap, pgr_statistic

    agree = hand_table(weak_right=600, student_right=700, ceiling_right=800, n=1000)
    low = hand_table(weak_right=600, student_right=620, ceiling_right=800, n=1000)
    high = hand_table(weak_right=600, student_right=780, ceiling_right=800, n=1000)
    same = bootstrap(np.stack([agree, agree]), pgr_statistic, n_boot=2000, seed=0)
    spread = bootstrap(np.stack([low, high]), pgr_statistic, n_boot=2000, seed=0)
    one_table = bootstrap(low + high, pgr_statistic, n_boot=2000, seed=0)  # seeds ignored: examples only
    assert same.value == pytest.approx(0.5) and spread.value == pytest.approx(0.5)
    assert one_table.value == pytest.approx(0.5)

    def width(i):
        return i.ci_high - i.ci_low

    assert width(spread) > 2 * width(one_table)  # the seeds disagree: the interval says so
    assert width(same) == pytest.approx(width(one_table), rel=0.3)  # they agree: examples only


def test_bootstrap_degenerate_cases():
    # 20 copies of the 10 examples: the gap of 0.3 is identified (on 10 examples alone it is not,
    # and PGR then has no interval at all: test_not_identified_pgr_has_no_interval_and_says_why).
    labels, weak, ceiling = (np.tile(a, 20) for a in (LABELS, WEAK, CEILING))
    # Student identical to the weak model: PGR is 0 in every resample (0/0 where a resample has no gap).
    out = bootstrap_pgr(labels, weak, weak, ceiling, min_gap=0.05, n_boot=500, seed=0)
    assert out["identified"] and out["value"] == 0 and out["ci_low"] == 0 and out["ci_high"] == 0
    # Student identical to the ceiling: PGR is 1 in every defined resample.
    out = bootstrap_pgr(labels, weak, ceiling, ceiling, min_gap=0.05, n_boot=500, seed=0)
    assert out["value"] == 1 and out["ci_low"] == 1 and out["ci_high"] == 1
    # No gap at all: withheld, with the reason, and no interval.
    out = bootstrap_pgr(LABELS, CEILING, CEILING, CEILING, min_gap=0.05, n_boot=200, seed=0)
    assert out["value"] is None and "below min_gap" in out["reason"] and out["ci_low"] is None


def test_bootstrap_is_deterministic_for_a_seed():
    a = bootstrap_pgr(LABELS, WEAK, STUDENT, CEILING, min_gap=0.05, n_boot=300, seed=7)
    b = bootstrap_pgr(LABELS, WEAK, STUDENT, CEILING, min_gap=0.05, n_boot=300, seed=7)
    assert a == b


def test_pgr_gain_is_the_paired_difference_of_two_students_pgr():
    from w2s_eval.eval.metrics import accuracy_gain_statistic, cell_counts, pgr_gain_statistic

    n = 10
    label = np.ones(n, dtype=int)
    weak, ceiling = np.arange(n) < 5, np.arange(n) < 9  # acc 0.5, 0.9
    reference, student = np.arange(n) < 6, np.arange(n) < 8  # acc 0.6, 0.8
    table = cell_counts(*((label == 1) & r for r in (weak, ceiling, reference, student)))
    assert pgr_gain_statistic(table) == pytest.approx((0.8 - 0.6) / (0.9 - 0.5))
    assert accuracy_gain_statistic(table) == pytest.approx(0.2)
    no_gap = cell_counts(weak, weak, reference, student)
    assert np.isnan(pgr_gain_statistic(no_gap))  # ∞ − ∞: undefined, counted, not dropped silently


def test_t_interval_of_per_seed_values_clipped_to_the_metric_range():
    from w2s_eval.eval.metrics import t_interval

    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2 df) · sd / √n
    assert t_interval([0.1, 0.2, 0.3]) == pytest.approx((0.2 - half, 0.2 + half))
    assert t_interval([0.1, 0.2, 0.3], bounds=(0, 1)) == pytest.approx((0.0, 0.2 + half))


# -- unbounded sides print as ±∞; a not-identified PGR prints no interval and says why -------------

def test_an_unbounded_side_is_infinite_and_prints_as_infinity():
    from w2s_eval.eval.metrics import bootstrap, interval_text, pgr_statistic
    from w2s_eval.results import summary_table
    from w2s_eval.reports import interval, num

    # 40 examples; the ceiling is right on the weak model's 20 and on 2 more, the student on the weak
    # model's 20 and on 2 others: a resample drawing neither of the ceiling's 2 has no gap, and the
    # student's 2 make its PGR +inf, so the upper side is unbounded.
    from w2s_eval.eval.metrics import run_table

    index = np.arange(40)
    table = run_table(np.ones(40), (index < 20).astype(float), (index < 22).astype(float),
                      ((index < 20) | (index == 22) | (index == 23)).astype(float))
    out = bootstrap(table, pgr_statistic, n_boot=500, seed=0)
    assert out.value == pytest.approx(1.0) and out.ci_high == np.inf and np.isfinite(out.ci_low)
    assert interval_text(out.ci_low, out.ci_high) == f"[{out.ci_low:.3f}, +∞]"
    assert interval_text(-np.inf, 0.5, num) == "[−∞, 0.500]" and interval_text(None, 0.5) is None
    assert interval({"ci_low": 0.1, "ci_high": np.inf}, num) == "[0.100,\u00a0+∞]"  # the report's
    metrics = {role: {"acc": 0.5, "auroc": 0.5} for role in ("weak", "student", "ceiling")}
    metrics.update(gap=0.05, n_test=40, pgr={"value": 1.0, "ci_low": -np.inf, "ci_high": 2.0, "gap_ci_low": None})
    assert "PGR      1.000  95% CI [−∞, 2.000]" in summary_table(metrics)  # the CLI's
    import pandas as pd

    from w2s_eval.export import _interval
    from w2s_eval.sweeps import summary_table as sweep_summary

    assert _interval({"value": 1.0, "ci_low": 0.2, "ci_high": np.inf}) == "1.000 [0.200, +∞]"  # the model card's
    condition = {"task": "t", "gap": "large", "paradigm": "classify", "loss": "xent", "method": "naive", "conflict": "none"}
    pooled = pd.DataFrame([condition | {"metric": "pgr", "n_seeds": 2, "mean": 1.0, "ci_low": 0.2, "ci_high": np.inf}])
    assert "1.000 [0.20,+∞]" in sweep_summary(pooled, metrics=("pgr",))  # the sweep's


def test_not_identified_pgr_has_no_interval_and_says_why():
    """The review's case: n = 400, a gap within noise. PGR keeps its value but gets no interval
    (it was [−2.75, 3.10]); the CLI summary and the report say why."""
    from w2s_eval.eval.metrics import pgr_from_tables
    from w2s_eval.results import summary_table
    from w2s_eval.reports import _pgr_sentence, _value_ci

    table = hand_table(weak_right=240, student_right=250, ceiling_right=260, n=400, both=100)
    out = pgr_from_tables(table, min_gap=0.05, n_boot=1000, seed=0)
    assert out["value"] == pytest.approx(0.5) and not out["identified"]
    assert out["ci_low"] is None and out["ci_high"] is None
    assert "includes zero: PGR is not identified, and no interval is given" in out["reason"]
    metrics = {role: {"acc": 0.6, "auroc": None} for role in ("weak", "student", "ceiling")}
    metrics.update(gap=0.05, n_test=400, pgr=out)
    text = summary_table(metrics)
    assert "PGR      0.500  no interval" in text and "not identified" in text and "CI [" not in text.split("PGR")[1]
    pooled = {"mean": out["value"], "ci_low": None, "ci_high": None, "note": out["reason"]}
    assert _value_ci(pooled) == "0.500 (not identified: no interval)"  # the report's tables
    sentence = _pgr_sentence(pooled, 1)
    assert sentence.startswith("50% (no interval: the gap's 95% interval") and "not identified" in sentence


# -- the baseline student's PGR is pooled from the paired tables, like the student's ---------------

def paired(weak, ceiling, baseline, student) -> list:
    from w2s_eval.eval.metrics import cell_counts

    return cell_counts(*(np.asarray(x, bool) for x in (weak, ceiling, baseline, student))).tolist()


def test_baseline_pgr_pools_the_paired_tables_with_every_seed():
    """Three seeds, one with a gap below min_gap. The student's PGR and the baseline's are both the
    ratio of the mean gaps over every seed (one function, ``pgr_from_tables``); the old baseline
    number was a t-interval over the per-seed ratios of the seeds that passed min_gap."""
    import json

    import pandas as pd

    from w2s_eval.eval.metrics import pgr_from_tables
    from w2s_eval.sweeps import aggregate

    rng = np.random.default_rng(0)
    rows, tables = [], []
    for seed, (weak_acc, ceiling_acc, base_acc) in enumerate(((0.6, 0.8, 0.75), (0.6, 0.62, 0.6), (0.6, 0.75, 0.7))):
        n = 400
        weak = np.arange(n) < weak_acc * n
        ceiling = np.arange(n) < ceiling_acc * n
        baseline = np.arange(n) < base_acc * n
        student = baseline | (rng.random(n) < 0.1)
        table = paired(weak, ceiling, baseline, student)
        tables.append(table)
        per_seed = (base_acc - weak_acc) / (ceiling_acc - weak_acc)
        rows.append({"task": "t", "gap": "large", "paradigm": "classify", "loss": "xent", "method": "confident",
                     "conflict": "none", "seed": seed, "status": "done", "paired_table": json.dumps(table),
                     "baseline_pgr": per_seed if ceiling_acc - weak_acc >= 0.05 else np.nan})
    out = aggregate(pd.DataFrame(rows), metrics=("baseline_pgr",), min_gap=0.05, n_boot=400).set_index("metric")
    pooled = pgr_from_tables(np.array(tables), min_gap=0.05, student=2, n_boot=400, seed=0)
    gaps, gains = np.array([0.2, 0.02, 0.15]), np.array([0.15, 0.0, 0.1])
    assert out.loc["baseline_pgr", "mean"] == pytest.approx(gains.sum() / gaps.sum()) == pytest.approx(pooled["value"])
    assert (out.loc["baseline_pgr", "ci_low"], out.loc["baseline_pgr", "ci_high"]) == (pooled["ci_low"], pooled["ci_high"])
    assert out.loc["baseline_pgr", "n"] == 3 and "hierarchical bootstrap over 3 seeds" in out.loc["baseline_pgr", "ci_method"]
    # the student's PGR column of the same tables (m3) is pooled by the same function
    assert pgr_from_tables(np.array(tables), min_gap=0.05, student=3, n_boot=400)["n_seeds"] == 3


def test_baseline_and_student_pgr_agree_when_they_are_the_same_model():
    import json

    import pandas as pd

    from w2s_eval.sweeps import aggregate

    rows = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        weak, ceiling = rng.random(300) < 0.6, rng.random(300) < 0.8
        student = np.where(rng.random(300) < 0.5, weak, ceiling)
        run = hand_run_table(weak, ceiling, student)
        rows.append({"task": "t", "gap": "large", "paradigm": "classify", "loss": "xent", "method": "confident",
                     "conflict": "none", "seed": seed, "status": "done", "run_table": json.dumps(run),
                     "paired_table": json.dumps(paired(weak, ceiling, student, student))})
    out = aggregate(pd.DataFrame(rows), metrics=("pgr", "baseline_pgr", "student_acc", "baseline_student_acc"),
                    n_boot=300).set_index("metric")
    for column in ("mean", "ci_low", "ci_high"):
        assert out.loc["baseline_pgr", column] == pytest.approx(out.loc["pgr", column])
        assert out.loc["baseline_student_acc", column] == pytest.approx(out.loc["student_acc", column])


def hand_run_table(weak, ceiling, student) -> list:
    from w2s_eval.eval.metrics import cell_counts

    return cell_counts(weak, ceiling, student).tolist()
