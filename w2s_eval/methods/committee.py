"""k weak models from resamples of A: the committee that ``ensemble`` and ``reliability`` query.

Member 0 is the run's weak model itself. Member i ≥ 1 is the same weak model trained on a
bootstrap resample of A's training part, drawn by group (so near-duplicates travel together),
seeded by the run's seed and i; it chooses its epoch or C on the same held-out part of A as the
weak model. Resamples rather than seeds alone, because the bag-of-words weak model is
deterministic: seeds alone would give k copies of one model. Each member is a cached step
(``committee``) that keeps its soft labels of B and val.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..splits import unit_hash
from ..store import step_key
from .base import MethodContext


def resample_groups(frame: pd.DataFrame, seed: int, member: int) -> pd.DataFrame:
    """A bootstrap resample of ``frame`` by group: as many groups as it has, drawn with replacement."""
    groups = np.array(sorted(frame["group"].unique(), key=lambda g: unit_hash("order", g)))
    rng = np.random.default_rng([seed, member, 7919])
    drawn = groups[rng.integers(0, len(groups), len(groups))]
    by_group = {g: part for g, part in frame.groupby("group", sort=False)}
    return pd.concat([by_group[g] for g in drawn], ignore_index=True)


def committee_labels(ctx: MethodContext, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft labels of B and val from each of ``k`` weak models: arrays [k, len(B)] and [k, len(val)]."""
    labels_B, labels_val = [ctx.weak_B], [ctx.weak_val]
    for member in range(1, k):
        sample = resample_groups(ctx.A_fit, ctx.seed, member)
        key = step_key("committee", ctx.weak_key, member, ctx.split_keys["B"], ctx.split_keys["val"])
        folder = ctx.train("committee", key, ctx.weak, ctx.weak_paradigm,
                           ctx.cfg.weak_train, sample, sample["label"].to_numpy(float), ctx.A_select,
                           ctx.A_select["label"].to_numpy(float), predict_on={"B": ctx.B, "val": ctx.val})
        labels_B.append(ctx.read(folder, "B"))
        labels_val.append(ctx.read(folder, "val"))
    return np.stack(labels_B), np.stack(labels_val)
