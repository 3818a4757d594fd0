"""End to end on real data and real models: the run folder, cache reuse, resume after a kill.

Tiny sizes (a few dozen examples, one epoch) keep these to seconds; the models are real
(TF-IDF, and MiniLM-L6 from the offline zoo, pulled once per session) and so are the data.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from w2s_eval import run_folder
from w2s_eval.config import load_config
from w2s_eval.protocol import run_experiment

pytestmark = pytest.mark.slow

TINY = [
    "splits.max_per_split={A: 48, B: 48, val: 16, test: 48}",
    "strong_train.epochs=1", "strong_train.batch_size=16", "strong_train.max_length=48",
    "eval.n_bootstrap=200", "threads=1",
]


def tiny_config(**flags):
    base = {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"}
    return load_config(None, TINY, base | flags)


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def cached_steps(run_dir: Path) -> set[str]:
    """Steps the *latest* invocation reused (the log appends across invocations)."""
    log = events(run_dir)
    last_start = max(i for i, e in enumerate(log) if e["event"] == "start")
    return {e["step"] for e in log[last_start:] if e["event"] == "step_cached"}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, run_experiment(tiny_config(), out, quiet=True)


def test_run_folder_layout_and_metrics(first_run):
    _, run_dir = first_run
    assert {"config.yaml", "predictions.parquet", "metrics.json", "log.jsonl"} <= {p.name for p in run_dir.iterdir()}
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(predictions.columns) == ["id", "label", "weak", "student", "ceiling"]
    assert len(predictions) == 48 and predictions["id"].is_unique
    assert predictions[["weak", "student", "ceiling"]].apply(lambda c: c.between(0, 1).all()).all()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for role in ("weak", "student", "ceiling"):
        acc = (predictions[role].gt(0.5) == predictions["label"].eq(1)).mean()
        assert metrics[role]["acc"] == pytest.approx(acc)
        assert 0 <= metrics[role]["auroc"] <= 1
    assert metrics["gap"] == pytest.approx(metrics["ceiling"]["acc"] - metrics["weak"]["acc"])
    assert set(metrics["pgr"]) >= {"value", "ci_low", "ci_high"}
    if metrics["pgr"]["value"] is None:
        assert "reason" in metrics["pgr"]
    resolved = (run_dir / "config.yaml").read_text()
    assert "weak_model: tfidf" in resolved and "profile: cpu" in resolved


def test_changing_only_the_loss_retrains_only_the_student(first_run):
    out, first_dir = first_run
    second_dir = run_experiment(tiny_config(**{"loss.name": "logconf"}), out, quiet=True)
    assert second_dir != first_dir
    assert cached_steps(second_dir) == {"weak", "label", "ceiling"}
    first, second = (json.loads((d / "metrics.json").read_text()) for d in (first_dir, second_dir))
    assert first["weak"] == second["weak"] and first["ceiling"] == second["ceiling"]
    assert first["steps"]["student"] != second["steps"]["student"]


def test_the_student_trains_with_its_own_epochs_beside_a_reused_ceiling(first_run):
    """student.epochs changes the student's training only: weak, labels and ceiling are reused."""
    out, first_dir = first_run
    run_dir = run_experiment(tiny_config(**{"student.epochs": 2}), out, quiet=True)
    assert cached_steps(run_dir) == {"weak", "label", "ceiling"}
    steps = json.loads((run_dir / "metrics.json").read_text())["steps"]
    assert steps["ceiling"] == json.loads((first_dir / "metrics.json").read_text())["steps"]["ceiling"]

    def epochs(step: str) -> float:
        history = json.loads((out / ".cache" / f"{step}-{steps[step]}" / "step.json").read_text())["history"]
        return max(entry["epoch"] for entry in history if "val_acc" in entry)

    assert epochs("student") == 2 and epochs("ceiling") == 1


def test_other_test_caps_do_not_reuse_test_predictions(first_run):
    """Steps predict the test split: with more test examples nothing that predicted test is reused."""
    out, first_dir = first_run
    sets = [s for s in TINY if not s.startswith("splits.")] + ["splits.max_per_split={A: 48, B: 48, val: 16, test: 64}"]
    bigger = run_experiment(load_config(None, sets, {"task": "toxicity", "weak_model": "tfidf",
                                                     "strong_model": "minilm-l6"}), out, quiet=True)
    assert cached_steps(bigger) == set()
    assert len(pd.read_parquet(bigger / "predictions.parquet")) == 64


def test_resume_after_a_kill(tmp_path):
    """Kill a real run (SIGKILL) during the student step; the rerun keeps weak and label."""
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "w2s_eval.cli", "run", "--task", "toxicity", "--weak", "tfidf",
            "--strong", "minilm-l6", "--out", str(out), "--quiet"] + [a for s in TINY for a in ("--set", s)]
    # A bigger student so that it is still training when killed.
    argv += ["--set", "strong_train.epochs=8"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    cache = out / ".cache"
    deadline = time.time() + 240
    while time.time() < deadline and not list(cache.glob(".student-*.partial")):
        time.sleep(0.2)
    assert list(cache.glob("label-*/step.json")), "the label step finished before the kill"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(cache.glob("student-*/step.json")), "the student had not finished"
    run_dirs = [d for d in out.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert len(run_dirs) == 1 and run_folder.status_of(run_dirs[0]) == "running"

    argv[argv.index("strong_train.epochs=8")] = "strong_train.epochs=8"  # the same command
    done = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert cached_steps(run_dirs[0]) == {"weak", "label"}
    assert run_folder.status_of(run_dirs[0]) == "done"
    assert not list(cache.glob(".*.partial")), "no half-written step is left behind"


def test_a_users_own_csv_runs_like_a_task(tmp_path, data_dir):
    """--data with a CSV cut from real Davidson tweets (hate vs merely offensive), bag-of-words
    weak and strong, so the whole user-data path runs in seconds."""
    raw = pd.read_csv(data_dir / "toxicity/davidson-hate-offensive/labeled_data.csv")
    raw = raw[raw["class"].isin([0, 1])]
    sample = pd.concat([raw[raw["class"] == 0].head(150), raw[raw["class"] == 1].head(150)])
    path = tmp_path / "mine.csv"
    pd.DataFrame({"tweet": sample["tweet"], "is_hate": (sample["class"] == 0).astype(int)}).to_csv(path, index=False)
    cfg = load_config(None, ["eval.n_bootstrap=100"], {"data.file": str(path), "data.text_field": "tweet",
                                                      "data.label_field": "is_hate", "weak_model": "tfidf",
                                                      "strong_model": "tfidf"})
    run_dir = run_experiment(cfg, tmp_path / "runs", quiet=True)
    assert run_dir.name.startswith("custom-mine-large-classify-xent-s0-")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_test"] == len(pd.read_parquet(run_dir / "predictions.parquet")) > 50
    assert metrics["splits"]["B"]["n"] > 0 and 0 < metrics["splits"]["test"]["positive"] < 1
