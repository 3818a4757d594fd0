"""The run record (run_folder.py): a status from the first step, read back through one function."""

import json
import os

import pytest

from w2s_eval import run_folder
from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.protocol import run_experiment
from w2s_eval.resolve import run_id_of
from w2s_eval.sweeps import SweepGrid, read_sweep, run_sweep


def test_a_record_is_running_then_done_or_failed(tmp_path):
    run_dir = tmp_path / "r"
    run_folder.start(run_dir, {"seed": 3})
    assert run_folder.status_of(run_dir) == "running" and not run_folder.is_done(run_dir)
    with pytest.raises(UserError, match="an unfinished run .status running.; rerun its command"):
        run_folder.read_run(run_dir)
    run_folder.fail(run_dir, ValueError("disk full"))
    with pytest.raises(UserError, match=r"a failed run \(ValueError: disk full\)"):
        run_folder.read_run(run_dir)
    run_folder.finish(run_dir, {"gap": 0.1, "steps": {"student": "abc"}})
    run = run_folder.read_run(run_dir)
    assert (run.status, run.schema, run.metrics["gap"], run.config) == ("done", run_folder.SCHEMA, 0.1, {"seed": 3})
    assert run.step_folder("student") == tmp_path / ".cache" / "student-abc"
    with pytest.raises(UserError, match="no steps.ceiling key"):
        run.step_folder("ceiling")
    with pytest.raises(UserError, match="no metrics.json: not a run folder"):
        run_folder.read_run(tmp_path / "nothing")


def test_a_record_of_schema_1_reads_as_done(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"gap": 0.2}))
    run = run_folder.read_run(tmp_path)
    assert (run.status, run.schema) == ("done", 1) and run_folder.find_runs(tmp_path) == [tmp_path]


def test_a_run_that_raises_is_recorded_failed_and_a_sweep_does_not_reuse_it(tmp_path):
    """Bootstrapping through a model needs B split in two halves by group: with one B example
    the via step raises after the weak model has trained."""
    sets = ["splits.max_per_split={A: 40, B: 1, val: 8, test: 20}", "threads=1", "eval.n_bootstrap=50"]
    flags = {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf", "via": "tfidf"}
    cfg = load_config(None, sets, flags)
    with pytest.raises(UserError, match="too small to cross-fit"):
        run_experiment(cfg, tmp_path, quiet=True)
    run_dir = tmp_path / run_id_of(cfg)
    assert run_folder.status_of(run_dir) == "failed"
    assert "too small to cross-fit" in json.loads((run_dir / "metrics.json").read_text())["error"]
    assert list((tmp_path / ".cache").glob("weak-*"))  # the finished step stays for the rerun
    out = run_sweep(SweepGrid(tasks=["toxicity"]), tmp_path / "sweep", cfg, quiet=True, runs_dir=tmp_path)
    row = read_sweep(out).iloc[0]
    assert row["status"] == "failed" and not row["reused"]


def test_a_resumed_run_removes_what_a_killed_run_was_writing_and_nothing_of_a_live_one(tmp_path):
    import subprocess
    import sys

    from w2s_eval import run_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    orphan = run_dir / f".predictions.parquet.tmp-{int(dead.stdout)}"  # its writer was killed (it has exited)
    live = run_dir / f".report.md.tmp-{os.getpid()}"  # another run writing the folder right now
    orphan.write_text("half a file")
    live.write_text("being written")
    run_folder.start(run_dir, {"task": "toxicity"})
    assert not orphan.exists() and live.exists() and (run_dir / "config.yaml").exists()
