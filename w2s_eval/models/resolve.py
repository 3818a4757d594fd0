"""Model references: a builtin, a local folder, a zoo name, or a Hugging Face hub id.

Resolution order: ``tfidf`` (the builtin bag-of-words model) → a local folder → a zoo name (pulled
on first use) → a hub id (``owner/name`` or ``owner/name@revision``).

What identifies the weights (``fingerprint``, in every cache key) is their content, never a name:

- a zoo model: its pinned sha256 values;
- a local folder: a hash of its weight, config and tokenizer files (``folder_fingerprint``; each
  file's hash is remembered by size and modification time, so an unchanged folder is not re-read);
- a hub model: the commit it resolves to. ``owner/name@revision`` pins a branch, tag or commit;
  plain ``owner/name`` resolves to the current commit of its main branch, so an updated hub model
  is a new fingerprint, not a silently reused cache entry. The files are fetched into the hub
  cache (``snapshot_download``; offline, the cached snapshot is used), and ``pinned`` —
  ``owner/name@<commit>`` — is what the run's ``config.yaml`` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import zoo

BUILTIN = {"tfidf": "TF-IDF (word 1-2 grams) + logistic regression: a bag-of-words lowest rung"}


@dataclass(frozen=True)
class ResolvedModel:
    ref: str  # what the user wrote
    kind: str  # builtin | local | zoo | hub
    location: str  # folder or hub id ("" for builtins)
    # What identifies the weights for cache keys: zoo checksums, a folder's content, a hub commit.
    fingerprint: str
    pinned: str = ""  # the reference that names these exact weights (a hub id @ its commit); "" = ref

    @property
    def exact_ref(self) -> str:
        return self.pinned or self.ref


def resolve_model(ref: str, *, pull: bool = True) -> ResolvedModel:
    if ref in BUILTIN:
        return ResolvedModel(ref, "builtin", "", ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"model folder {path}: no config.json (expected a transformers model folder)")
        return ResolvedModel(ref, "local", str(path.resolve()), "local:" + folder_fingerprint(path))
    if ref in zoo.ZOO:
        entry = zoo.ZOO[ref]
        folder = zoo.pull(ref) if pull else zoo.model_path(ref)
        if pull:
            zoo.check(ref)  # files changed since the pull are refused, never used
        return ResolvedModel(ref, "zoo", str(folder or ""), "zoo:" + ",".join(sorted(entry.sha256.values())))
    if "/" in ref and not ref.startswith((".", "/", "~")):
        repo, _, revision = ref.partition("@")
        if not pull:  # parsed, not fetched
            return ResolvedModel(ref, "hub", repo, f"hub:{repo}@{revision or 'main'}")
        folder, commit = hub_snapshot(repo, revision or None)
        return ResolvedModel(ref, "hub", str(folder), f"hub:{repo}@{commit}", pinned=f"{repo}@{commit}")
    valid = sorted(BUILTIN) + sorted(zoo.ZOO)
    raise UserError(f"unknown model {ref!r}: not a local folder, zoo name or hub id (owner/name); "
                    f"builtin and zoo models: {', '.join(valid)}")


def is_causal_lm(model: ResolvedModel | str) -> bool:
    """Whether a model is a decoder LM (its config's architectures name a causal-LM class): one that
    can answer a task's question in words. False for the builtin bag-of-words model and encoders."""
    location = model.location if isinstance(model, ResolvedModel) else model
    if not location:  # a builtin has no checkpoint
        return False
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(location)
    causal_classes = {c for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() for c in ((v,) if isinstance(v, str) else v)}
    if config.architectures:
        return any(a in causal_classes for a in config.architectures)
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(config, "is_encoder_decoder", False)


# Files that make a model folder's weights and behaviour; other files (README, logs) do not count.
MODEL_FILE_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "*.json", "*.model", "*.txt", "*.tiktoken")


def folder_fingerprint(folder: Path) -> str:
    """A hash of the content of the model files in ``folder`` (``MODEL_FILE_PATTERNS``). Each file's
    sha256 is remembered under the cache folder by (path, size, mtime), so only changed files are
    read again."""
    import hashlib
    import json

    from ..store import atomic_write_json, file_sha256

    memo_path = zoo.cache_base() / "file-hashes.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    entries, changed = [], False
    files = sorted({f for pattern in MODEL_FILE_PATTERNS for f in Path(folder).rglob(pattern) if f.is_file()})
    for file in files:
        stat = file.stat()
        stamp = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if stamp not in memo:
            memo[stamp], changed = file_sha256(file), True
        entries.append(f"{file.relative_to(folder)}:{memo[stamp]}")
    if changed:
        atomic_write_json(memo_path, memo)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:32]


def hub_snapshot(repo: str, revision: str | None) -> tuple[Path, str]:
    """(local folder, commit) of a hub model at ``revision`` (default: main), fetched into the hub
    cache; offline, the cached snapshot of that revision."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"]
    try:
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))
        if not any(folder.glob("*.safetensors")):  # an older checkpoint: PyTorch weights only
            folder = Path(snapshot_download(repo, revision=revision, allow_patterns=[*patterns, "*.bin"]))
    except Exception as exc:  # offline without a cached snapshot, unknown repo or revision, no access
        at = f"@{revision}" if revision else ""
        raise UserError(f"hub model {repo}{at}: cannot fetch it ({type(exc).__name__}: {str(exc)[:160]}); "
                        f"offline, use a zoo name (w2s-eval models) or a local folder") from None
    return folder, folder.name  # the hub cache names each snapshot folder by its commit
