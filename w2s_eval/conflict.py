"""Conflict settings for deception (Yang et al. 2024, "Super(ficial)-alignment"; docs/design.md, "Metrics").

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

Each setting is a plug-in in ``CONFLICTS`` (the registry shape of methods and losses): a class
that checks where it applies and turns the method's training set into the student's. A new
conflicting objective is one more registered class.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from .errors import UserError
from .registry import Registry
from .splits import unit_hash

CONFLICTS: Registry[type["Conflict"]] = Registry("conflict")
PARADIGMS_WITH_CONFLICT = ("classify", "reward", "dpo")


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


class Conflict:
    """A conflict setting: where it applies and how it changes the student's training set.

    ``amount`` is the number of conflicting pairs per pair of the student's training set."""

    name: ClassVar[str]  # set by CONFLICTS.register
    summary: ClassVar[str]
    paradigms: ClassVar[tuple[str, ...]] = PARADIGMS_WITH_CONFLICT
    needs_outside: ClassVar[bool] = False  # it draws pairs from outside every split

    def __init__(self, amount: float = 1.0):
        if not amount > 0:
            raise UserError(f"conflict_amount: expected a positive number of conflicting pairs per student pair, "
                            f"got {amount}")
        self.amount = amount

    def check_paradigm(self, paradigm: str):
        if paradigm not in self.paradigms:
            raise UserError(f"--conflict {self.name}: conflict settings train on preference pairs; they exist for "
                            f"paradigms {', '.join(self.paradigms)}, not {paradigm!r}")

    def check_task(self, task, pair_tasks: list[str]):
        """The conflicting objective (the longer reply) judges two replies: the task needs pairs."""
        if not task.pairwise:
            raise UserError(f"--conflict {self.name}: the conflicting objective (the longer reply) judges reply pairs, "
                            f"which task {task.name!r} does not have; tasks with pairs: {', '.join(pair_tasks)} "
                            f"(or your own: --data with --prompt-field, --chosen-field, --rejected-field)")

    def source(self, B: pd.DataFrame, outside: pd.DataFrame | None) -> pd.DataFrame:
        """The pairs the conflicting labels are drawn from."""
        raise NotImplementedError

    def training_set(self, B: pd.DataFrame, weak_labels, outside: pd.DataFrame | None,
                     seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        """(training pairs, soft labels) of the student: ``B`` with its weak labels, then
        ``amount`` × len(B) pairs of :meth:`source` labelled by the conflicting objective. Pairs
        on which it has no preference (equal lengths) are left out of the added part."""
        source = self.source(B, outside)
        source = source.assign(_conflict=conflicting_preference(source))
        extra = _sample(source[source["_conflict"] != 0.5], max(1, round(self.amount * len(B))), seed)
        frame = pd.concat([B, extra.drop(columns="_conflict")], ignore_index=True)
        return frame, np.concatenate([np.asarray(weak_labels, dtype=float), extra["_conflict"].to_numpy()])


@CONFLICTS.register("none")
class NoConflict(Conflict):
    summary = "the student trains on the method's training set alone"
    paradigms = ("classify", "sft", "reward", "dpo")

    def check_task(self, task, pair_tasks):
        pass

    def training_set(self, B, weak_labels, outside, seed):
        return B, np.asarray(weak_labels, dtype=float)


@CONFLICTS.register("implicit")
class Implicit(Conflict):
    summary = "mix in pairs from outside every split, labelled by the conflicting objective"
    needs_outside = True

    def source(self, B, outside):
        if outside is None or len(outside) == 0:
            raise UserError("--conflict implicit mixes in pairs from outside the splits, and this task has none left: "
                            "lower splits.max_per_split or splits.fractions so some prompts stay unused")
        return outside


@CONFLICTS.register("explicit")
class Explicit(Conflict):
    summary = "B's own pairs a second time, labelled by the conflicting objective (amount <= 1)"

    def __init__(self, amount: float = 1.0):
        super().__init__(amount)
        if amount > 1:
            raise UserError(f"conflict_amount: with --conflict explicit it is the share of split B's pairs that get "
                            f"the conflicting label too, at most 1; got {amount}")

    def source(self, B, outside):
        return B


def make_conflict(name: str, amount: float = 1.0) -> Conflict:
    return CONFLICTS.get(name)(amount)


def check_conflict(name: str, paradigm: str, amount: float) -> Conflict:
    """The conflict ``name`` with ``amount``, checked against ``paradigm`` (errors name the flag)."""
    conflict = make_conflict(name, amount)
    conflict.check_paradigm(paradigm)
    return conflict


def check_conflict_task(name: str, task, pair_tasks: list[str]):
    CONFLICTS.get(name)().check_task(task, pair_tasks)


def student_training_set(name: str, amount: float, B: pd.DataFrame, weak_labels: np.ndarray,
                         outside: pd.DataFrame | None, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """(training pairs, soft labels) of the student under conflict ``name``."""
    return make_conflict(name, amount).training_set(B, weak_labels, outside, seed)
