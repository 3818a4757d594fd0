"""Each cached step records the checksums of its files: a damaged entry (faults.CACHE_CORRUPTIONS:
truncated, edited into another valid file, deleted, a garbled manifest) is never trusted — the run
warns and computes it again, with the same result — and ``w2s-eval cache verify [--fix]`` finds
(and removes) damaged entries. A damaged zoo model (faults.ZOO_CORRUPTIONS) is refused before use."""

import json

import pytest

from w2s_eval.cli import main
from w2s_eval.errors import UserError
from w2s_eval.config import load_config
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_run

from .faults import CACHE_CORRUPTIONS, ZOO_CORRUPTIONS, damaged_zoo_copy

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1"]


def tiny_run(out):
    cfg = load_config(None, TINY, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf"})
    return read_run(run_experiment(cfg, out, quiet=True))


def events(run, name):
    return [e for e in map(json.loads, (run.folder / "log.jsonl").read_text().splitlines()) if e["event"] == name]


@pytest.mark.parametrize("what, step, name, how", CACHE_CORRUPTIONS, ids=[c[0] for c in CACHE_CORRUPTIONS])
def test_a_damaged_step_is_recomputed_with_a_warning_and_the_same_result(what, step, name, how, tmp_path):
    first = tiny_run(tmp_path)
    how(first.step_folder(step) / name)
    again = tiny_run(tmp_path)
    assert [e["step"] for e in events(again, "step_corrupt")] == [step]
    assert again.predictions().equals(first.predictions())
    assert {k: again.metrics[k] for k in ("weak", "student", "ceiling", "pgr")} == \
        {k: first.metrics[k] for k in ("weak", "student", "ceiling", "pgr")}


@pytest.mark.slow
@pytest.mark.parametrize("what, name, how", ZOO_CORRUPTIONS, ids=[c[0] for c in ZOO_CORRUPTIONS])
def test_a_damaged_zoo_model_is_refused_in_one_line(what, name, how, tmp_path, monkeypatch):
    from w2s_eval.models import zoo

    cache = damaged_zoo_copy(tmp_path / "cache", how, name)
    monkeypatch.setenv("W2S_CACHE_DIR", str(cache))
    cfg = load_config(None, TINY, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    with pytest.raises(UserError, match=f"changed since it was pulled .*{name}"):
        run_experiment(cfg, tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*/metrics.json"))
    assert zoo.problems("minilm-l6")


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
