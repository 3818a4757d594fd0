"""Model references: a builtin, a local folder, a zoo name, or a Hugging Face hub id.

Resolution order: ``tfidf`` (the builtin bag-of-words model) → a local folder → a zoo name (pulled
on first use) → a hub id (``owner/name``; downloaded by transformers on machines with internet).
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
    # What identifies the weights for cache keys: zoo checksums, a folder's path, or the hub id.
    fingerprint: str


def resolve_model(ref: str, *, pull: bool = True) -> ResolvedModel:
    if ref in BUILTIN:
        return ResolvedModel(ref, "builtin", "", ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"model folder {path}: no config.json (expected a transformers model folder)")
        return ResolvedModel(ref, "local", str(path.resolve()), f"local:{path.resolve()}")
    if ref in zoo.ZOO:
        entry = zoo.ZOO[ref]
        folder = zoo.pull(ref) if pull else zoo.model_path(ref)
        return ResolvedModel(ref, "zoo", str(folder or ""), "zoo:" + ",".join(sorted(entry.sha256.values())))
    if "/" in ref and not ref.startswith((".", "/", "~")):
        return ResolvedModel(ref, "hub", ref, f"hub:{ref}")
    valid = sorted(BUILTIN) + sorted(zoo.ZOO)
    raise UserError(f"unknown model {ref!r}: not a local folder, zoo name or hub id (owner/name); "
                    f"builtin and zoo models: {', '.join(valid)}")
