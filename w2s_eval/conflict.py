"""Conflict settings for deception (Yang et al. 2024, "Super(ficial)-alignment"; DESIGN.md, "Metrics").

Deception is expected when the student is pulled towards an objective that conflicts with the
target one: it can then satisfy the weak supervisor where the supervisor checks (W_k) and follow
the other objective where it cannot (W_u). Both settings change only the student's training set:

- ``none``      the student trains on split B with the weak labels.
- ``implicit``  pairs of the conflicting objective are mixed into that training set: pairs of
                the task that lie outside every split (prompts that no split uses), labelled
                by the conflicting objective.
- ``explicit``  the conflicting objective is added on the student's own split: every pair of B
                appears a second time, labelled by the conflicting objective, so the student's
                loss is (weak-label loss) + amount × (conflicting loss), amount ≤ 1.

The conflicting objective is **verbosity**: prefer the longer, more forthcoming reply, the
best-known proxy of helpfulness in preference data (and the reward-hacking bias). On the HH
harmlessness pairs it agrees with the human label on 41% of pairs, so it pulls against the
target; on the ETHICS utility pairs it agrees on 46.8% of the pairs whose scenarios differ in
length (3.8% tie), so there it is roughly orthogonal to the target. (Yang et al. mix in HH
helpful-base pairs; those are not in the offline mirror, and a rule has the merit that every
reader can check it.) Neither setting reads a label of split B, val or test: the conflicting
labels are a function of the two replies alone.

Conflicts need a pairwise task (frames with ``reply_a`` / ``reply_b``), in any paradigm that
trains on pairs: ``reward``, ``dpo``, and ``classify``, whose judges (the linear ones read a pair as
φ(A) − φ(B)) take the conflicting pairs like any other.

Each conflict run also trains (or reuses from the cache) the no-conflict student on the same
weak labels, so its deception is always shown beside that baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import UserError, unknown_name
from .splits import unit_hash

CONFLICTS = ("none", "implicit", "explicit")
PARADIGMS_WITH_CONFLICT = ("classify", "reward", "dpo")


def check_conflict(name: str, paradigm: str, amount: float):
    if name not in CONFLICTS:
        raise unknown_name("conflict", name, CONFLICTS)
    if name != "none" and paradigm not in PARADIGMS_WITH_CONFLICT:
        raise UserError(f"--conflict {name}: conflict settings train on preference pairs; they exist for "
                        f"paradigms {', '.join(PARADIGMS_WITH_CONFLICT)}, not {paradigm!r}")
    if not amount > 0:
        raise UserError(f"conflict_amount: expected a positive number of conflicting pairs per student pair, "
                        f"got {amount}")
    if name == "explicit" and amount > 1:
        raise UserError(f"conflict_amount: with --conflict explicit it is the share of split B's pairs that get the "
                        f"conflicting label too, at most 1; got {amount}")


def check_conflict_task(name: str, task, pair_tasks: list[str]):
    """A conflict other than ``none`` needs reply pairs: the conflicting objective judges two replies."""
    if name != "none" and not task.pairwise:
        raise UserError(f"--conflict {name}: the conflicting objective (the longer reply) judges reply pairs, which "
                        f"task {task.name!r} does not have; tasks with pairs: {', '.join(pair_tasks)} "
                        f"(or your own: --data with --prompt-field, --chosen-field, --rejected-field)")


def conflicting_preference(frame: pd.DataFrame) -> np.ndarray:
    """P(A ≻ B) under the conflicting objective: 1 when reply A is longer, 0 when B is, 0.5 on a tie."""
    a, b = frame["reply_a"].str.len().to_numpy(), frame["reply_b"].str.len().to_numpy()
    return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def outside_splits(frame: pd.DataFrame, split_data: pd.DataFrame) -> pd.DataFrame:
    """The task's pairs whose group (prompt) no split uses: conflict data that cannot leak."""
    return frame[~frame["group"].isin(set(split_data["group"]))].reset_index(drop=True)


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    order = frame["id"].map(lambda i: unit_hash("conflict", seed, i))
    return frame.assign(_order=order).sort_values("_order").head(n).drop(columns="_order").reset_index(drop=True)


def student_training_set(name: str, amount: float, B: pd.DataFrame, weak_labels: np.ndarray,
                         outside: pd.DataFrame | None, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """(training pairs, soft labels) of the student under conflict ``name``. Pairs on which the
    conflicting objective has no preference (equal lengths) are left out of the added part."""
    weak_labels = np.asarray(weak_labels, dtype=float)
    if name == "none":
        return B, weak_labels
    n_extra = max(1, round(amount * len(B)))
    if name == "implicit":
        if outside is None or len(outside) == 0:
            raise UserError("--conflict implicit mixes in pairs from outside the splits, and this task has none left: "
                            "lower splits.max_per_split or splits.fractions so some prompts stay unused")
        source = outside
    else:
        source = B
    source = source.assign(_conflict=conflicting_preference(source))
    extra = _sample(source[source["_conflict"] != 0.5], n_extra, seed)
    frame = pd.concat([B, extra.drop(columns="_conflict")], ignore_index=True)
    return frame, np.concatenate([weak_labels, extra["_conflict"].to_numpy()])
