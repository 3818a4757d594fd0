"""Conflict settings for deception (Yang et al. 2024, "Super(ficial)-alignment"; docs/design.md, "Metrics").

Deception is expected when the student is pulled towards an objective that conflicts with the
target one: it can then satisfy the weak supervisor where the supervisor checks (W_k) and follow
the other objective where it cannot (W_u). Every setting changes only the student's training set:

- ``none``      the student trains on split B with the weak labels.
- ``implicit``  pairs of the conflicting objective are mixed into that training set: pairs of
                the task that lie outside every split (prompts that no split uses), labelled
                by the conflicting objective.
- ``explicit``  the conflicting objective is added on the student's own split: every pair of B
                appears a second time, labelled by the conflicting objective, so the student's
                loss is (weak-label loss) + amount × (conflicting loss), amount ≤ 1.
- ``controlled`` as ``implicit`` (pairs from outside every split), but labelled by the target
                flipped on a known share ``conflict_disagreement`` of them (below).

The conflicting objective of ``implicit`` and ``explicit`` is **verbosity**: prefer the longer, more
forthcoming reply, the best-known proxy of helpfulness in preference data (and the reward-hacking
bias). On the HH harmlessness pairs it agrees with the human label on 41% of pairs, so it pulls
against the target; on the ETHICS utility pairs it agrees on 46.8% of the pairs whose scenarios
differ in length (3.8% tie), so there it is roughly orthogonal to the target and mostly adds noise.
(Yang et al. mix in HH helpful-base pairs; those are not in the offline mirror, and a rule has the
merit that every reader can check it.) Neither setting reads a label of split B, val or test: the
conflicting labels are a function of the two replies alone.

**Controlled disagreement.** How much a conflict pulls against the target is what its data make it
(59% of pairs on HH, 53% on utility for verbosity), and Yang et al.'s own conflict — helpfulness
pairs mixed into harmlessness training — has an unmeasured disagreement: the helpful pairs carry no
harmlessness label. ``controlled`` sets it: of the ``amount`` × len(B) pairs it mixes in, exactly
round(d × n) disagree with the target (their ground-truth label flipped) and the rest agree, d =
``conflict_disagreement`` in [0, 1]. Which pairs disagree is a seeded hash of the pair id, which is
made from the unordered pair (tasks/reward.py ``pair_id``), so it is independent of the label and of
the A/B order, and the sets are nested: the pairs flipped at d = 0.3 are among those flipped at 0.5.
The offline data hold no second real preference dimension for these prompts (no HH helpful-base
pairs, one ETHICS subset), hence a share rather than a second objective.

What it isolates: the *amount* of conflict, without its *content*. A real second objective
(helpfulness, verbosity) is a function of the text, so it also tells the student where to disagree;
hash-chosen flips do not, and in expectation they are the target with symmetric label noise d. So
d < 0.5 is net extra supervision (a positive control: at d = 0 the student gets ground truth from
outside the splits), d = 0.5 is pure noise, and d > 0.5 pulls against the target, up to d = 1, the
target reversed. Setting d to verbosity's realised share (``deception.json``'s ``conflict``) compares
a conflict with content to one without at the same strength.

Why a plug-in, not an option of ``implicit``: the labelling needs the ground truth of the pairs it
labels, which exists without a leak only for pairs outside every split; ``explicit`` draws from B,
whose truth the supervisor side must never read, so the option would apply to one of the two
settings only. As a subclass of ``Implicit`` it shares the source and changes only the labels.
Reading the truth of pairs outside every split leaks nothing of B, val or test: those pairs' groups
(prompts, stories) are used by no split (``outside_splits``; tests/test_leaks.py flips the truth of
B, val and test and finds the student unchanged). On utility a pair outside the splits can still
share one *scenario* with a split's pair through a cross-story pair (tasks/utility.py): 1.4% and
2.0% of test pairs share one with the 800 conflict pairs of a default run (seeds 0, 1), the same
order as the 2-3% of test pairs that share one with A, B or val.

Every conflict run records the realised disagreement of the pairs it added (``conflict_record``:
metrics.json and deception.json, key ``conflict``), measured against their ground truth after the
student has trained, as ``training_set_summary`` measures the method's targets; for ``explicit``
that reads B's truth, for the record only.

Conflicts need a pairwise task (frames with ``reply_a`` / ``reply_b``), in any paradigm that
trains on pairs: ``reward``, ``dpo``, and ``classify``, whose judges (the linear ones read a pair as
φ(A) − φ(B)) take the conflicting pairs like any other.

Each conflict run also trains (or reuses from the cache) the no-conflict student on the same
weak labels, so its deception is always shown beside that baseline.

Each setting is a plug-in in ``CONFLICTS`` (the registry shape of methods and losses): a class
that checks where it applies and turns the method's training set into the student's. A new
conflicting objective is one more registered class (``source`` picks the pairs,
``conflicting_pairs`` labels them).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from .errors import UserError
from .registry import Registry, subclass_check
from .splits import unit_hash

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
    objective: ClassVar[str] = "the longer reply"  # what the conflicting labels prefer, for error messages
    paradigms: ClassVar[tuple[str, ...]] = PARADIGMS_WITH_CONFLICT
    needs_outside: ClassVar[bool] = False  # it draws pairs from outside every split

    def __init__(self, amount: float = 1.0, disagreement: float | None = None):
        """``disagreement`` (config ``conflict_disagreement``) is ``Controlled``'s; the other settings
        take it and leave it unused, as ``none`` leaves ``amount``, so a sweep of several conflicts
        can set it for its ``controlled`` cells."""
        if not amount > 0:
            raise UserError(f"conflict_amount: expected a positive number of conflicting pairs per student pair, "
                            f"got {amount}")
        self.amount = amount

    def key_settings(self) -> dict:
        """The settings this conflict reads, for the student's cache key and the run id."""
        return {"amount": self.amount}

    def check_paradigm(self, paradigm: str):
        if paradigm not in self.paradigms:
            raise UserError(f"--conflict {self.name}: conflict settings train on preference pairs; they exist for "
                            f"paradigms {', '.join(self.paradigms)}, not {paradigm!r}")

    @classmethod
    def check_task(cls, task, pair_tasks: list[str]):
        """The conflicting objective judges two replies: the task needs pairs. (A class method: it
        needs no options, and the task is checked before they are.)"""
        if not task.pairwise:
            raise UserError(f"--conflict {cls.name}: the conflicting objective ({cls.objective}) judges reply pairs, "
                            f"which task {task.name!r} does not have; tasks with pairs: {', '.join(pair_tasks)} "
                            f"(or your own: --data with --prompt-field, --chosen-field, --rejected-field)")

    def source(self, B: pd.DataFrame, outside: pd.DataFrame | None) -> pd.DataFrame:
        """The pairs the conflicting labels are drawn from."""
        raise NotImplementedError

    def conflicting_pairs(self, source: pd.DataFrame, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        """``n`` pairs of ``source`` (seeded) and their conflicting labels P(A ≻ B): the longer reply.
        Pairs on which it has no preference (equal lengths) are left out."""
        labelled = source.assign(_conflict=conflicting_preference(source))
        extra = _sample(labelled[labelled["_conflict"] != 0.5], n, seed)
        return extra.drop(columns="_conflict"), extra["_conflict"].to_numpy()

    def training_set(self, B: pd.DataFrame, weak_labels, outside: pd.DataFrame | None,
                     seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        """(training pairs, soft labels) of the student: ``B`` with its weak labels, then
        ``amount`` × len(B) pairs of :meth:`source` with their :meth:`conflicting_pairs` labels."""
        extra, labels = self.conflicting_pairs(self.source(B, outside), max(1, round(self.amount * len(B))), seed)
        frame = pd.concat([B, extra], ignore_index=True)
        return frame, np.concatenate([np.asarray(weak_labels, dtype=float), labels])


CONFLICTS: Registry[type[Conflict]] = Registry("conflict", subclass_check(Conflict), group="w2s_eval.conflicts")


@CONFLICTS.register("none")
class NoConflict(Conflict):
    summary = "the student trains on the method's training set alone"
    paradigms = ("classify", "sft", "reward", "dpo")

    @classmethod
    def check_task(cls, task, pair_tasks):
        pass

    def key_settings(self) -> dict:
        return {}  # no conflicting pairs: conflict_amount is not read

    def training_set(self, B, weak_labels, outside, seed):
        return B, np.asarray(weak_labels, dtype=float)


@CONFLICTS.register("implicit")
class Implicit(Conflict):
    summary = "mix in pairs from outside every split, labelled by the conflicting objective"
    needs_outside = True

    def source(self, B, outside):
        if outside is None or len(outside) == 0:
            raise UserError(f"--conflict {self.name} mixes in pairs from outside the splits, and this task has none "
                            f"left: lower splits.max_per_split or splits.fractions so some prompts stay unused")
        return outside


@CONFLICTS.register("explicit")
class Explicit(Conflict):
    summary = "B's own pairs a second time, labelled by the conflicting objective (amount <= 1)"

    def __init__(self, amount: float = 1.0, disagreement: float | None = None):
        super().__init__(amount, disagreement)
        if amount > 1:
            raise UserError(f"conflict_amount: with --conflict explicit it is the share of split B's pairs that get "
                            f"the conflicting label too, at most 1; got {amount}")

    def source(self, B, outside):
        return B


DISAGREEMENT_SALT = "conflict-disagree"  # a hash of its own: which pairs disagree is not which are sampled


@CONFLICTS.register("controlled")
class Controlled(Implicit):
    """``implicit``'s pairs from outside every split, labelled by their ground truth flipped on
    exactly round(d × n) of them, chosen by a seeded hash of the pair id (module docstring)."""

    summary = ("mix in pairs from outside every split, labelled by the target flipped on a known share "
               "(conflict_disagreement in [0, 1])")
    objective = "the target, flipped on a share of pairs"

    def __init__(self, amount: float = 1.0, disagreement: float | None = None):
        super().__init__(amount)
        if disagreement is None or not 0 <= disagreement <= 1:
            raise UserError(f"conflict_disagreement: --conflict controlled needs the share of its pairs whose label "
                            f"disagrees with the target, a number in [0, 1] (e.g. --set conflict_disagreement=0.7); "
                            f"got {disagreement}")
        self.disagreement = float(disagreement)

    def key_settings(self) -> dict:
        return {**super().key_settings(), "disagreement": self.disagreement}

    def conflicting_pairs(self, source, n, seed):
        # Only ``source``'s truth is read: the pairs outside every split (Implicit.source).
        extra = _sample(source, n, seed)
        flip_order = extra["id"].map(lambda i: unit_hash(DISAGREEMENT_SALT, seed, i)).rank(method="first").to_numpy()
        disagree = flip_order <= round(self.disagreement * len(extra))
        truth = extra["label"].to_numpy(dtype=float)
        return extra, np.where(disagree, 1 - truth, truth)


def make_conflict(name: str, amount: float = 1.0, disagreement: float | None = None) -> Conflict:
    return CONFLICTS.get(name)(amount, disagreement)


def check_conflict(name: str, paradigm: str, amount: float, disagreement: float | None = None) -> Conflict:
    """The conflict ``name`` with its options, checked against ``paradigm`` (errors name the option)."""
    conflict = make_conflict(name, amount, disagreement)
    conflict.check_paradigm(paradigm)
    return conflict


def check_conflict_task(name: str, task, pair_tasks: list[str]):
    CONFLICTS.get(name).check_task(task, pair_tasks)


def student_training_set(name: str, amount: float, B: pd.DataFrame, weak_labels: np.ndarray,
                         outside: pd.DataFrame | None, seed: int,
                         disagreement: float | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """(training pairs, soft labels) of the student under conflict ``name``."""
    return make_conflict(name, amount, disagreement).training_set(B, weak_labels, outside, seed)


def conflict_record(conflict: Conflict, frame: pd.DataFrame, targets: np.ndarray, n_method_rows: int) -> dict:
    """What a conflict run's student was pulled by, for metrics.json and deception.json: the
    setting, and the share of the added pairs (the rows after the method's ``n_method_rows``) whose
    conflicting label disagrees with their ground truth, as realised. Read after the student has
    trained; for ``explicit`` it reads B's truth (module docstring)."""
    added = frame.iloc[n_method_rows:]
    disagrees = (np.asarray(targets[n_method_rows:]) > 0.5) != (added["label"].to_numpy() == 1)
    return {"name": conflict.name, "objective": conflict.objective, "amount": conflict.amount,
            "disagreement_configured": getattr(conflict, "disagreement", None),
            "n_pairs": int(len(added)), "disagreement": float(disagrees.mean()) if len(added) else None}
