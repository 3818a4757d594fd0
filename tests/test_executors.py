"""Sweeps beyond one process: a real Ray sweep, killed mid-way and resumed, ends with the local
executor's table; shards (k mod N) run disjoint cells and --collect indexes them into the table a
plain sweep writes."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from w2s_eval.errors import UserError
from w2s_eval.executors import make_executor
from w2s_eval.sweeps import CELL_KEYS, METRICS, SweepGrid, parse_shard, read_sweep, run_sweep, table_path

from test_sweep import TINY, tiny_config

COMPARED = [*CELL_KEYS, "run_id", "status", "n_test", *METRICS, "run_table"]


def same_tables(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(a[COMPARED].reset_index(drop=True), b[COMPARED].reset_index(drop=True))


@pytest.mark.slow
def test_a_killed_ray_sweep_resumes_and_ends_with_the_local_sweeps_table(tmp_path):
    local = read_sweep(run_sweep(SweepGrid(tasks=["toxicity"], seeds=[0, 1, 2, 3]), tmp_path / "local", tiny_config(),
                                 quiet=True))
    out = tmp_path / "ray"
    argv = [sys.executable, "-m", "w2s_eval.cli", "sweep", "--tasks", "toxicity", "--weak", "tfidf", "--strong", "tfidf",
            "--seeds", "4", "--out", str(out), "--no-report", "--quiet", "--executor", "ray", "--max-parallel", "2",
            *[a for s in TINY for a in ("--set", s)]]
    sweep = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log, deadline = out / "sweep_log.jsonl", time.time() + 300
    while time.time() < deadline and not (log.exists() and '"cell_done"' in log.read_text()):
        time.sleep(0.02)
    os.killpg(sweep.pid, signal.SIGKILL)  # the driver and its Ray processes, mid-sweep
    sweep.wait()
    finished = {json.loads(line)["run_id"] for line in log.read_text().splitlines() if '"cell_done"' in line}
    assert 1 <= len(finished) < 4

    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    on_ray = read_sweep(out)
    assert (on_ray["status"] == "done").all()
    # Cells that finished before the kill were read, not rerun (a cell whose run completed in the
    # moment before the kill, not yet logged, counts as finished too: its run folder is done).
    reused = set(on_ray.loc[on_ray["reused"], "run_id"])
    assert finished <= reused and len(reused) < 4
    events = [json.loads(line) for line in log.read_text().splitlines()]
    second = [i for i, e in enumerate(events) if e["event"] == "sweep_start"][1]
    assert events[second]["executor"] == "ray"
    started_after_kill = {e["run_id"] for e in events[second:] if e["event"] == "cell_start"}
    assert started_after_kill.isdisjoint(reused) and started_after_kill | reused == set(on_ray["run_id"])
    same_tables(local, on_ray)  # Ray workers, a kill and a resume: the local executor's table, cell by cell


def test_shards_run_disjoint_cells_and_collect_indexes_them_like_a_plain_sweep(tmp_path):
    grid = SweepGrid(tasks=["toxicity"], seeds=[0, 1, 2])
    plain = read_sweep(run_sweep(grid, tmp_path / "plain", tiny_config(), quiet=True))

    out = tmp_path / "sharded"
    run_sweep(grid, out, tiny_config(), quiet=True, shard=(1, 2))
    assert pd.read_parquet(table_path(out, (1, 2)))["seed"].tolist() == [1]  # cell k runs in shard k mod 2
    collected = read_sweep(run_sweep(grid, out, tiny_config(), quiet=True, collect=True))
    assert collected["status"].tolist() == ["pending", "done", "pending"]  # shard 0 has not run yet

    run_sweep(grid, out, tiny_config(), quiet=True, shard=(0, 2))
    assert pd.read_parquet(table_path(out, (0, 2)))["seed"].tolist() == [0, 2]
    collected = read_sweep(run_sweep(grid, out, tiny_config(), quiet=True, collect=True))
    assert collected["reused"].all()  # collecting ran nothing
    same_tables(plain, collected)


def test_executor_and_shard_options_are_checked():
    with pytest.raises(UserError, match="i/N"):
        parse_shard("1-of-4")
    with pytest.raises(UserError, match="0 <= i < N"):
        parse_shard("4/4")
    assert parse_shard("3/4") == (3, 4)
    with pytest.raises(UserError, match="options of --executor ray"):
        make_executor("local", max_parallel=2)
    with pytest.raises(UserError, match="positive"):
        make_executor("ray", max_parallel=0)
