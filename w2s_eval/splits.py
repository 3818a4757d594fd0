"""Deterministic, disjoint splits A / B / val / test.

A  — ground truth for the weak model;   B — the student's training inputs (weak-labelled);
val — early stopping / model selection; test — every model is evaluated here.

Each leak group (statement, focus, clause, prompt) is hashed with the seed into [0, 1) and lands
in the split whose fraction interval holds that number, so one group is never in two splits and
the same seed always gives the same splits, on any machine. Splits larger than their cap keep the
examples with the smallest (seed, id) hash, again deterministic.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from .errors import UserError
from .store import content_hash

SPLITS = ("A", "B", "val", "test")


def unit_hash(*parts) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(frame: pd.DataFrame, seed: int, fractions: dict[str, float],
                  max_per_split: dict[str, int] | None = None) -> pd.DataFrame:
    """Return the frame with a ``split`` column, capped per split; rows past a cap are dropped."""
    if set(fractions) != set(SPLITS):
        raise UserError(f"split fractions must name exactly {list(SPLITS)}, got {sorted(fractions)}")
    total = sum(fractions.values())
    if any(v <= 0 for v in fractions.values()) or total > 1 + 1e-9:
        raise UserError(f"split fractions must be positive and sum to at most 1, got {fractions}")
    bounds, upper = [], 0.0
    for name in SPLITS:
        upper += fractions[name]
        bounds.append((upper, name))

    def split_of(group: str) -> str | None:
        u = unit_hash("split", seed, group)
        return next((name for bound, name in bounds if u < bound), None)

    out = frame.copy()
    out["split"] = out["group"].map(split_of)
    out = out[out["split"].notna()]
    if max_per_split:
        order = out["id"].map(lambda i: unit_hash("order", seed, i))
        out = out.assign(_order=order).sort_values("_order")
        keep = out.groupby("split").cumcount() < out["split"].map(lambda s: max_per_split.get(s, 10**12))
        out = out[keep].drop(columns="_order")
    return out.sort_values(["split", "id"]).reset_index(drop=True)


def holdout_groups(frame: pd.DataFrame, seed: int, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, held out): about ``share`` of the frame's groups held out, by a hash of (seed, group);
    the held-out part is never empty when the frame has two groups or more."""
    u = frame["group"].map(lambda g: unit_hash("holdout", seed, g))
    held = u < share
    if not held.any() and frame["group"].nunique() > 1:
        held = frame["group"] == frame.loc[u.idxmin(), "group"]
    if held.all():
        held = ~held
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def balance(frame: pd.DataFrame) -> dict[str, dict]:
    """Per split: number of examples and share of positive labels."""
    return {name: {"n": int(len(part)), "positive": round(float(part["label"].mean()), 3) if len(part) else None}
            for name, part in ((s, frame[frame["split"] == s]) for s in SPLITS)}


def fingerprint(part: pd.DataFrame) -> str:
    """The content of a split (its ids, texts and labels): what a step's key holds of its data."""
    return content_hash([part["id"].tolist(), part["text"].tolist(), part["label"].tolist()])
