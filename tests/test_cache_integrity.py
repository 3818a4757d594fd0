"""Each cached step records the checksums of its files: a damaged entry (truncated, or edited into
another valid file) is never trusted — the run warns and computes it again, with the same result —
and ``w2s-eval cache verify [--fix]`` finds (and removes) damaged entries."""

import json

import pandas as pd

from w2s_eval.cli import main
from w2s_eval.config import load_config
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_run

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1"]


def tiny_run(out):
    cfg = load_config(None, TINY, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf"})
    return read_run(run_experiment(cfg, out, quiet=True))


def events(run, name):
    return [e for e in map(json.loads, (run.folder / "log.jsonl").read_text().splitlines()) if e["event"] == name]


def test_a_damaged_step_is_recomputed_with_a_warning_and_the_same_result(tmp_path):
    first = tiny_run(tmp_path)
    student = first.step_folder("student") / "test.parquet"
    student.write_bytes(student.read_bytes()[:100])  # truncated
    again = tiny_run(tmp_path)
    assert [e["step"] for e in events(again, "step_corrupt")] == ["student"]
    assert again.metrics["student"] == first.metrics["student"]

    # Edited into another valid file with the same rows: the cache would lie; the checksum catches it.
    labels = first.step_folder("label") / "labels.parquet"
    frame = pd.read_parquet(labels)
    frame.assign(prob=1 - frame["prob"]).to_parquet(labels)
    third = tiny_run(tmp_path)
    assert "label" in [e["step"] for e in events(third, "step_corrupt")]
    assert third.metrics["student"] == first.metrics["student"] and third.metrics["pgr"] == first.metrics["pgr"]


def test_cache_verify_finds_and_fixes_damaged_entries(tmp_path, capsys):
    run = tiny_run(tmp_path)
    assert main(["cache", "verify", str(tmp_path)]) == 0
    (run.step_folder("ceiling") / "test.parquet").unlink()
    assert main(["cache", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert run.metrics["steps"]["ceiling"] in out and "test.parquet: missing" in out
    assert main(["cache", "verify", str(tmp_path), "--fix"]) == 0
    assert not run.step_folder("ceiling").exists()
    assert main(["cache", "verify", str(tmp_path)]) == 0
    assert tiny_run(tmp_path).metrics["ceiling"] == run.metrics["ceiling"]  # recomputed by the next run
