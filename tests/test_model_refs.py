"""Model references name weights by content: a local folder by a hash of its files (changed weights
miss the cache, a changed README does not), a hub model by its commit (``owner/name@revision``
parsed; resolved offline from the hub cache, and the commit recorded in config.yaml)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from transformers import BertConfig, BertModel

from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.models.resolve import resolve_model
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_run

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1",
        "strong_train.finetune=probe"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def tiny_bert(folder, seed: int):
    """A real (random) BERT with MiniLM's tokenizer: a model folder small enough to rewrite in a test."""
    import torch

    torch.manual_seed(seed)
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=30522)).save_pretrained(folder)
    source = Path(resolve_model("minilm-l6").location)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    return folder


def test_a_local_folder_is_fingerprinted_by_its_weights(tmp_path):
    folder = tiny_bert(tmp_path / "model", seed=0)
    first = resolve_model(str(folder)).fingerprint
    (folder / "README.md").write_text("notes")  # not a model file
    assert resolve_model(str(folder)).fingerprint == first
    tiny_bert(folder, seed=1)  # new weights, same path
    assert resolve_model(str(folder)).fingerprint != first


def test_changed_local_weights_miss_the_cache(tmp_path):
    folder = tiny_bert(tmp_path / "model", seed=0)
    flags = {"task": "toxicity", "weak_model": "tfidf", "strong_model": str(folder)}
    first = read_run(run_experiment(load_config(None, TINY, flags), tmp_path / "runs", quiet=True))
    again = read_run(run_experiment(load_config(None, TINY, flags), tmp_path / "runs", quiet=True))
    assert again.metrics["steps"] == first.metrics["steps"]  # unchanged weights: every step reused
    tiny_bert(folder, seed=1)
    changed = read_run(run_experiment(load_config(None, TINY, flags), tmp_path / "runs", quiet=True))
    assert changed.metrics["steps"]["student"] != first.metrics["steps"]["student"]
    assert changed.metrics["steps"]["ceiling"] != first.metrics["steps"]["ceiling"]
    assert changed.metrics["steps"]["weak"] == first.metrics["steps"]["weak"]  # tfidf did not change


def test_hub_references_parse_their_revision():
    model = resolve_model("Qwen/Qwen2.5-0.5B@v1.0", pull=False)
    assert (model.kind, model.location, model.fingerprint) == ("hub", "Qwen/Qwen2.5-0.5B", "hub:Qwen/Qwen2.5-0.5B@v1.0")
    assert resolve_model("Qwen/Qwen2.5-0.5B", pull=False).fingerprint == "hub:Qwen/Qwen2.5-0.5B@main"


def test_a_hub_model_resolves_offline_to_its_cached_commit_and_the_run_records_it(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hf" / "hub" / "models--someone--tiny-bert"
    tiny_bert(cache / "snapshots" / commit, seed=0)
    (cache / "refs").mkdir(parents=True)
    (cache / "refs" / "main").write_text(commit)
    script = (
        "import sys; from w2s_eval.config import load_config; from w2s_eval.protocol import run_experiment; "
        f"cfg = load_config(None, {TINY!r}, {{'task': 'toxicity', 'weak_model': 'tfidf', 'strong_model': 'someone/tiny-bert'}}); "
        f"print(run_experiment(cfg, {str(tmp_path / 'runs')!r}, quiet=True))")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = result.stdout.strip().splitlines()[-1]
    config = yaml.safe_load(open(f"{run_dir}/config.yaml"))
    assert config["strong_model"] == f"someone/tiny-bert@{commit}"  # the exact weights
    missing = subprocess.run([sys.executable, "-c", "from w2s_eval.models.resolve import resolve_model; "
                              "resolve_model('someone/other-model@v2')"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "cannot fetch it" in missing.stderr


def test_an_unknown_reference_lists_the_zoo():
    with pytest.raises(UserError, match="not a local folder, zoo name or hub id"):
        resolve_model("no-such-model")
