"""Sweeps: every cell runs once, a killed sweep resumes with only the unfinished cells, a failing
cell is recorded and skipped, and seeds pool into a mean with a t-interval."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from w2s_eval import protocol
from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.sweeps import SweepGrid, aggregate, read_sweep, run_sweep

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1"]


def tiny_config():
    # TF-IDF as weak and strong model: a whole run takes well under a second.
    return load_config(None, TINY, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf"})


class Counting:
    """Wraps run_experiment, records the seeds it ran, and can fail on the n-th call."""

    def __init__(self, fail_on: int | None = None, error: type[BaseException] = KeyboardInterrupt):
        self.real, self.seeds, self.fail_on, self.error = protocol.run_experiment, [], fail_on, error

    def __call__(self, run, out_dir, quiet=False):
        self.seeds.append(run.cfg.seed)  # a sweep hands each cell's resolved run over
        if len(self.seeds) == self.fail_on:
            raise self.error("simulated")
        return self.real(run, out_dir, quiet)


@pytest.mark.slow
def test_sweep_runs_each_cell_once_and_resumes_after_a_kill(tmp_path, monkeypatch):
    grid = SweepGrid(tasks=["toxicity"], seeds=[0, 1])
    out = tmp_path / "sweep"

    killed = Counting(fail_on=2)  # the second run is "killed" (Ctrl-C) before it finishes
    monkeypatch.setattr(protocol, "run_experiment", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, out, tiny_config(), quiet=True)
    assert killed.seeds == [0, 1]
    table = read_sweep(out)
    assert table["status"].tolist() == ["done", "interrupted"]

    resumed = Counting()
    monkeypatch.setattr(protocol, "run_experiment", resumed)
    assert run_sweep(grid, out, tiny_config(), quiet=True) == out
    assert resumed.seeds == [1]  # only the unfinished cell ran
    table = read_sweep(out)
    assert table["status"].tolist() == ["done", "done"] and table["reused"].tolist() == [True, False]

    again = Counting()
    monkeypatch.setattr(protocol, "run_experiment", again)
    run_sweep(grid, out, tiny_config(), quiet=True)
    assert again.seeds == []

    table = read_sweep(out)
    assert table[["task", "gap", "paradigm", "loss", "conflict", "seed"]].to_dict("records") == [
        {"task": "toxicity", "gap": "large", "paradigm": "classify", "loss": "xent", "conflict": "none", "seed": s}
        for s in (0, 1)]
    assert table["run_id"].is_unique
    for row in table.itertuples():
        run_dir = out / row.run_dir
        metrics = json.loads((run_dir / "metrics.json").read_text())
        deception = json.loads((run_dir / "deception.json").read_text())
        assert metrics["deception"] == deception
        assert row.student_acc == pytest.approx(metrics["student"]["acc"])
        assert row.acc_gap == pytest.approx(metrics["gap"])
        assert (row.pgr == metrics["pgr"]["value"]) or (np.isnan(row.pgr) and metrics["pgr"]["value"] is None)
        assert row.n_WuSk == deception["regions"]["W_u∩S_k"]
        if deception["imitation_share"]["value"] is not None:
            assert row.imitation_share == pytest.approx(deception["imitation_share"]["value"])
        assert json.loads(row.run_table) == [c["n"] for c in sorted(
            deception["table"], key=lambda c: 4 * c["weak_right"] + 2 * c["ceiling_right"] + c["student_right"])]
    assert json.loads((out / "sweep.json").read_text())["grid"]["seeds"] == [0, 1]

    pooled = aggregate(table).set_index("metric")
    acc = pooled.loc["student_acc"]
    # pooled tables: the n-weighted mean of the seeds' accuracies
    assert acc["n_seeds"] == 2 and acc["mean"] == pytest.approx(np.average(table["student_acc"], weights=table["n_test"]))
    assert acc["ci_low"] <= acc["mean"] <= acc["ci_high"] and acc["ci_method"].startswith("hierarchical bootstrap")


@pytest.mark.slow
def test_a_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    broken = Counting(fail_on=1, error=RuntimeError)
    monkeypatch.setattr(protocol, "run_experiment", broken)
    out = run_sweep(SweepGrid(seeds=[0, 1]), tmp_path / "sweep", tiny_config(), quiet=True)
    table = read_sweep(out)
    assert table["status"].tolist() == ["failed", "done"]
    assert table["error"].iloc[0] == "RuntimeError: simulated"
    assert np.isnan(table["student_acc"].iloc[0]) and table["student_acc"].iloc[1] > 0
    log = [json.loads(line) for line in (out / "sweep_log.jsonl").read_text().splitlines()]
    assert any(e["event"] == "cell_failed" and "Traceback" in e["traceback"] for e in log)
    # the failed cell runs again next time; the finished one does not
    retry = Counting()
    monkeypatch.setattr(protocol, "run_experiment", retry)
    run_sweep(SweepGrid(seeds=[0, 1]), out, tiny_config(), quiet=True)
    assert retry.seeds == [0]


def test_grid_errors_name_what_is_supported():
    with pytest.raises(UserError, match="sweep grid: --conflict implicit.*task 'toxicity'.*tasks with pairs: reward"):
        run_sweep(SweepGrid(conflicts=["none", "implicit"]), "unused", tiny_config())
    with pytest.raises(UserError, match="sweep grid: --conflict implicit.*not 'sft'"):
        run_sweep(SweepGrid(tasks=["utility"], paradigms=["sft"], conflicts=["implicit"]), "unused", tiny_config())
    with pytest.raises(UserError, match=r"sweep grid: conflicts\[0\]: expected one of none, .*implicit.*, got 'sneaky'"):
        run_sweep(SweepGrid(paradigms=["reward"], conflicts=["sneaky"]), "unused", tiny_config())
    with pytest.raises(UserError, match=r"sweep grid: gaps\[0\]: expected one of .*large.*, got 'huge'"):
        run_sweep(SweepGrid(gaps=["huge"]), "unused", tiny_config())
    with pytest.raises(UserError, match=r"sweep grid: losses\[0\]: expected one of .*logconf.*, got 'nope'"):
        run_sweep(SweepGrid(losses=["nope"]), "unused", tiny_config())
    with pytest.raises(UserError, match=r"sweep grid: seeds: expected a list of at least 1 item, got \[\]"):
        run_sweep(SweepGrid(seeds=[]), "unused", tiny_config())
    with pytest.raises(UserError, match="unknown method 'nope'; valid choices: .*confident"):
        run_sweep(SweepGrid(methods=["nope"]), "unused", tiny_config())
    with pytest.raises(UserError, match=r"sweep grid: seeds\[1\]: expected a non-negative integer up to 4294967295"):
        SweepGrid(seeds=[0, 2**32])
    with pytest.raises(UserError, match=r"sweep grid: gaps\[0\]: expected str, got 3"):
        SweepGrid(gaps=[3])


def test_cells_are_the_full_product_seeds_innermost():
    cells = SweepGrid(tasks=["toxicity", "safety"], gaps=["small", "large"], losses=["xent", "logconf"],
                      seeds=[0, 1, 1]).cells()
    assert len(cells) == 2 * 2 * 2 * 2  # the duplicate seed is dropped
    assert [c["seed"] for c in cells[:4]] == [0, 1, 0, 1]
    assert cells[0] == {"task": "toxicity", "gap": "small", "paradigm": "classify", "loss": "xent",
                        "method": "naive", "conflict": "none", "seed": 0}


def test_aggregate_pools_tables_over_every_seed():
    """PGR pooled over seeds is the ratio of the mean gaps over every seed (a seed below min_gap
    included), from the seeds' run tables; the interval resamples seeds and examples."""
    # run tables (weak, ceiling, student right?), 100 examples each:
    # seed 0: weak 0.6, ceiling 0.8, student 0.7 (PGR 0.5); seed 1: weak 0.6, ceiling 0.62, student 0.6
    seed0 = [20, 0, 10, 10, 0, 0, 0, 60]  # cells: 0 none, 2 ceiling only, 3 ceiling+student, 7 all right
    seed1 = [38, 0, 2, 0, 0, 0, 0, 60]
    rows = [{"task": "t", "gap": "large", "paradigm": "classify", "loss": "xent", "conflict": "none", "seed": s,
             "status": "done", "pgr": v, "run_table": json.dumps(t)} for s, (v, t) in enumerate(((0.5, seed0), (0.0, seed1)))]
    out = aggregate(pd.DataFrame(rows), metrics=("pgr", "acc_gap"), min_gap=0.05).set_index("metric")
    assert out.loc["acc_gap", "mean"] == pytest.approx((0.2 + 0.02) / 2)
    assert out.loc["pgr", "mean"] == pytest.approx((0.1 + 0.0) / (0.2 + 0.02)) and out.loc["pgr", "n"] == 2
    assert out.loc["pgr", "ci_low"] <= out.loc["pgr", "mean"] <= out.loc["pgr", "ci_high"]
    assert "2 seeds" in out.loc["pgr", "ci_method"]


def test_aggregate_t_interval_over_seeds_by_hand():
    """Without run tables (a sweep of an older version), metrics are pooled as the mean over seeds
    with Student's t."""
    rows = [{"task": "toxicity", "gap": "large", "paradigm": "classify", "loss": "xent", "conflict": "none",
             "seed": s, "status": "done", "pgr": v, "pgr_ci_low": v - 0.3, "pgr_ci_high": v + 0.3}
            for s, v in enumerate([0.2, 0.4, 0.9])]
    rows.append(rows[0] | {"seed": 3, "status": "failed", "pgr": np.nan})  # not pooled
    rows.append(rows[0] | {"gap": "small", "pgr": 0.5, "pgr_ci_low": 0.2, "pgr_ci_high": 0.8})  # one seed: the run's bootstrap interval
    rows.append(rows[0] | {"gap": "medium", "pgr": np.nan})  # PGR undefined (gap below min_gap)
    out = aggregate(pd.DataFrame(rows), metrics=("pgr",)).set_index("gap")
    large = out.loc["large"]
    # mean 0.5; sd = sqrt(((0.3)^2 + (0.1)^2 + (0.4)^2) / 2) = sqrt(0.13); half = t(0.975, 2) * sd / sqrt(3)
    half = stats.t.ppf(0.975, 2) * np.sqrt(0.13) / np.sqrt(3)
    assert large["n_seeds"] == 3 and large["n"] == 3
    assert large["mean"] == pytest.approx(0.5) and large["sd"] == pytest.approx(np.sqrt(0.13))
    assert (large["ci_low"], large["ci_high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert large["ci_method"] == "t over 3 seeds"
    small = out.loc["small"]
    assert (small["mean"], small["ci_low"], small["ci_high"]) == pytest.approx((0.5, 0.2, 0.8))
    assert small["ci_method"].startswith("bootstrap")
    medium = out.loc["medium"]
    assert medium["n_seeds"] == 1 and medium["n"] == 0 and pd.isna(medium["mean"])
