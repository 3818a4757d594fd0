"""The Python API: the docs' example (docs/python-api.md) runs as written on a tiny real slice; the API builds the
CLI's config (per-task defaults included) and leaves torch's thread count as it found it."""

import re
from pathlib import Path

import torch

import w2s_eval
from w2s_eval.cli import build_parser
from w2s_eval.errors import UserError

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"


def test_the_docs_example_runs_as_written(tmp_path, monkeypatch):
    code = re.search(r"<!-- api-example -->\n```python\n(.*?)```", API_PAGE.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("W2S_DATA_DIR", raising=False)  # a user's machine: the shipped data
    namespace = {}
    exec(compile(code, "docs/python-api.md", "exec"), namespace)
    run, table = namespace["run"], namespace["table"]
    assert run.status == "done" and run.folder.resolve().parent == tmp_path.resolve() / "runs" / "api"
    assert 0 <= run.metrics["student"]["acc"] <= 1 and len(run.predictions()) == 100
    assert sorted(table["method"]) == ["confident", "confident", "naive", "naive"] and (table["status"] == "done").all()
    assert Path(namespace["markdown"]).exists() and Path(namespace["html"]).exists()


def test_the_api_builds_the_clis_config_with_per_task_defaults():
    args = build_parser().parse_args(["run", "--task", "legal", "--seed", "3", "--method", "confident:share=0.3"])
    from w2s_eval.api import SETTINGS

    cli = w2s_eval.run_config(method=args.method, **{k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None})
    api = w2s_eval.run_config(task="legal", seed=3, method="confident:share=0.3")
    assert api == cli
    assert api.strong_train.finetune == "probe"  # legal's per-task default, which a bare RunConfig lacks
    assert api.method == "confident" and api.method_options == {"share": 0.3}


def test_unknown_api_arguments_name_the_valid_ones():
    try:
        w2s_eval.run_config(task="toxicity", epochs=3)
    except UserError as exc:
        assert "unknown argument 'epochs'" in str(exc) and "sets=" in str(exc)
    else:
        raise AssertionError("an unknown argument was accepted")


def test_a_run_leaves_torch_threads_as_it_found_them(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        w2s_eval.run(task="toxicity", weak="tfidf", strong="tfidf", threads=2, out=tmp_path,
                     sets=["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
