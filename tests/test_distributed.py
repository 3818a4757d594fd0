"""One real training under ``torchrun --nproc_per_node 2`` on CPU (gloo): DDP splits the student's and
the ceiling's batches across the ranks, rank 0 alone writes the run folder and the step cache, and
the other rank's scratch folder is gone afterwards."""

import json
import os
import subprocess
import sys

import pytest

from w2s_eval.run_folder import read_run


@pytest.mark.slow
def test_a_run_under_torchrun_trains_with_ddp_and_writes_its_files_once(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "w2s_eval.cli", "run",
            "--task", "toxicity", "--weak", "tfidf", "--strong", "minilm-l6", "--threads", "1", "--out", str(out),
            "--set", "strong_train.finetune=lora", "--set", "strong_train.epochs=1", "--set", "eval.n_bootstrap=100",
            "--set", "splits.max_per_split={A: 64, B: 64, val: 16, test: 64}"]
    result = subprocess.run(argv, capture_output=True, text=True, env=os.environ | {"TMPDIR": str(scratch)},
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("run folder:") == 1  # rank 0 reports
    (run_dir,) = [d for d in out.iterdir() if not d.name.startswith(".")]
    run = read_run(run_dir)
    assert run.status == "done"
    # One process wrote the run's log: one start, one of each step.
    events = [json.loads(line)["event"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert events.count("start") == 1 and events.count("step_start") == 4
    cache = sorted(p.name.split("-")[0] for p in (out / ".cache").iterdir() if not p.name.startswith("."))
    assert cache == ["ceiling", "label", "student", "weak"]
    assert not [p for p in (out / ".cache").iterdir() if p.name.endswith(".partial")]
    # B holds 64 examples, batch 16, one epoch: 4 optimizer steps on one process, 2 when DDP gives
    # each of the 2 ranks half of every epoch.
    for step in ("student", "ceiling"):
        history = json.loads((run.step_folder(step) / "step.json").read_text())["history"]
        assert [h["optimizer_steps"] for h in history if "optimizer_steps" in h] == [2]
    assert not any(p.name.startswith("w2s-eval-rank") for p in scratch.iterdir())  # rank 1's scratch removed
