"""``co-supervise``: Liu & Alahi (2024), "Co-Supervised Learning: Improving Weak-to-Strong
Generalization with Hierarchical Mixture of Experts" (CSL; arXiv 2402.15505; code:
github.com/yuejiangliu/csl, ``vision/multi_weak_strong_csl.py``).

CSL supervises the strong student with several *specialised* weak teachers instead of one
generalist, in a hierarchy (one generalist, then 2, 4, 8 specialists on parts of the label space),
and alternates, EM-like, between training the student and assigning teachers:

1. Round 0: the student trains on the generalist's labels (the released code's first level, one
   teacher on all classes, no assignment, no denoising).
2. Teacher assignment: each training example goes to the teacher that the previous student
   points at (the code maps the student's predicted class, ``logit_prev.argmax``, to the teacher
   covering that class; the paper frames it as the E-step of a mixture of experts, the student
   standing in for the unknown label) and takes that teacher's label.
3. Noise reduction, conservatively: *teacher–student consistency*, reject examples whose assigned
   teacher's label the student contradicts (the code keeps the share of examples on which the
   teacher's label is within the student's top-k, ``denoise_criterion``, ranking by the student's
   loss on the teacher's label); *local–global consistency*, reject examples whose assigned
   (local) specialist contradicts the teacher above it in the hierarchy (global).
4. The next student trains on the kept examples; repeat.

The teachers are the run's weak model (same model, paradigm and ``weak_train``, choosing its epoch
or C on ``A_select`` like the weak model) trained on one part of A's training part each, cached
steps ``co-supervise-teacher`` keyed by the weak model's key and the ids of their part. Each
round's student is the strong model in the student's paradigm with ``student.apply(strong_train)``
and plain cross-entropy (as CSL's), a cached step ``co-supervise-student`` keyed by what it trains
on, choosing its epoch on val with targets made the same way from the teachers (val is assigned,
never filtered). With ``rounds`` R the method trains R students (round 0 on the generalist) and
hands the (R+1)-th training set to the run, whose student is the last round's.

Adaptations, where our setting forces them:

- Specialists: CSL splits ImageNet's 1000 classes into ranges; our tasks have two classes, so a
  teacher specialises on a part of the *inputs*: the task's natural domains where the frame has
  them (``domains``; ToxiGen's 16 ``target_group`` values, packed largest first into
  ``n_teachers`` parts of similar size, since most groups have a handful of examples), else
  k-means (seeded) on the strong model's frozen features of A (for pairs the mean of both sides'
  features, so a cluster is what a pair is about, not which side wins). A part with fewer than
  ``min_teacher_examples`` examples or one class only is merged into the smallest other part.
- One level of specialists under the generalist (the run's weak model on all of A) instead of
  CSL's 1-2-4-8 hierarchy: our A has hundreds of examples, not 40,000, and halving it three times
  leaves teachers with a few dozen. The generalist is the global teacher of the local–global rule
  (``global_teacher: ensemble`` uses the specialists' mean instead).
- Assignment: with input-domain teachers the student's class does not name a teacher, so the
  example goes to the teacher giving the student's predicted class the highest probability,
  argmax_k P_k(ŷ | x) (the mixture-of-experts responsibility with a uniform gate and the student's
  hard prediction ŷ as the label, as the code uses the student's argmax).
- Thresholds: with two classes top-k consensus is trivial for k ≥ 2 (the teacher's class is
  always among the student's two; the released script uses top3 of 1000), so the only
  non-trivial criterion is top-1, under which keeping the agreeing share ranked by the student's
  loss keeps exactly the examples where the student's probability of the teacher's label is at
  least 0.5. ``teacher_student_threshold`` is that
  probability (0.5 = CSL's top-1; lower rejects only confident disagreement; 0 turns the rule
  off). The released code has local–global consistency only as the teacher_prev / teacher_curr
  agreement of ``get_consensus_rate``; we apply the same top-1 rule to the global teacher
  (``local_global_threshold``).
- Labels: the assigned teacher's probability, as the released code's default
  (``soft_teacher=True``) and as every other method here hands the student soft labels;
  ``soft_labels: false`` gives hard 0/1 labels, as the released ImageNet script (``SOFT=False``).
  Measured (docs/methods.md; 3 seeds, probe students): hard labels gave 0.641 against 0.646 test
  accuracy on utility and 0.798 against 0.814 on toxicity.
- Epochs: CSL trains a fixed number of iterations (epochs scaled by 1 / keep rate) and reports
  the best test epoch; here every student chooses its epoch on val, as the run's students do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Settings, setting
from ..errors import UserError
from ..paradigms import linear_model_version
from ..store import step_key
from .base import METHODS, Method, MethodContext, TrainingSet, class_of, training_set_key

GLOBAL_TEACHERS = ("generalist", "ensemble")


@dataclass
class CoSuperviseConfig(Settings):
    # specialised weak teachers (parts of A); fewer when A has fewer domains
    n_teachers: int = setting(4, ge=2, expected="an integer of at least 2")
    # How A is split between the teachers: "auto" (the column target_group when the task has it,
    # else clusters), "clusters" (k-means of the strong model's features), or a column of the task.
    domains: str = "auto"
    # students trained by the method (round 0 on the generalist), each assigning the next
    rounds: int = setting(2, ge=1, expected="an integer of at least 1")
    # Reject an example when the previous student's probability of its assigned teacher's label is
    # below this (0.5: any disagreement, CSL's top-1 consistency; 0: the rule is off).
    teacher_student_threshold: float = setting(0.5, ge=0, lt=1, expected="a number in [0, 1)")
    # Reject an example when the global teacher's probability of its assigned teacher's label is
    # below this (0.5: any disagreement; 0: the rule is off).
    local_global_threshold: float = setting(0.5, ge=0, lt=1, expected="a number in [0, 1)")
    # generalist (the run's weak model on all of A) | ensemble (mean of teachers)
    global_teacher: str = setting("generalist", choices=GLOBAL_TEACHERS)
    soft_labels: bool = True  # True: the assigned teacher's probability (CSL's code default); False: its hard label
    # a part of A smaller than this (or with one class) joins another part
    min_teacher_examples: int = setting(20, ge=2, expected="an integer of at least 2")

    def check(self):
        if not self.domains:
            raise UserError(f"domains: expected auto, clusters or a column name, got {self.domains!r}")


# -- splitting A between the teachers ---------------------------------------------------------

def pack_domains(domain: pd.Series, n_parts: int) -> np.ndarray:
    """Part index of each row: whole domains packed largest first into the part with the fewest
    rows so far (ties: name, then lowest part), so no domain is split and parts have similar sizes."""
    sizes = domain.value_counts()
    order = sorted(sizes.index, key=lambda d: (-sizes[d], str(d)))
    n_parts = min(n_parts, len(order))
    load, part_of = np.zeros(n_parts, int), {}
    for d in order:
        part = int(np.argmin(load))
        part_of[d] = part
        load[part] += sizes[d]
    return domain.map(part_of).to_numpy()


def cluster_parts(features: np.ndarray, n_parts: int, seed: int) -> np.ndarray:
    """Part index of each row: k-means (seeded) on the L2-normalised features."""
    from sklearn.cluster import KMeans

    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    return KMeans(n_clusters=min(n_parts, len(x)), random_state=seed, n_init=10).fit_predict(x)


def merge_small_parts(parts: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Parts renumbered 0..m-1 after merging each part with fewer than ``min_size`` rows or only one
    class, smallest first, into the smallest other part (a teacher needs both classes to learn)."""
    parts = np.asarray(parts).copy()
    labels = np.asarray(labels)

    def unfit(p):
        members = parts == p
        return members.sum() < min_size or len(np.unique(labels[members])) < 2

    while True:
        present = sorted(np.unique(parts), key=lambda p: ((parts == p).sum(), p))
        bad = [p for p in present if unfit(p)]
        if not bad or len(present) == 1:
            break
        smallest_bad = bad[0]
        into = next(p for p in present if p != smallest_bad)
        parts[parts == smallest_bad] = into
    return np.unique(parts, return_inverse=True)[1]


def topic_features(ctx: MethodContext, frame: pd.DataFrame) -> np.ndarray:
    """The strong model's features of what each example is about: for pairs the mean of both
    sides' features (order-invariant, unlike φ(A) − φ(B), whose sign follows the label)."""
    from ..trainers.bow import is_pairwise

    if not is_pairwise(frame):
        return ctx.features(frame)
    sides = [ctx.features(pd.DataFrame({"id": frame["id"], "text": frame[side]})) for side in ("reply_a", "reply_b")]
    return (sides[0] + sides[1]) / 2


def teacher_parts(ctx: MethodContext, options: CoSuperviseConfig) -> tuple[np.ndarray, list[str]]:
    """Part of A_fit each row trains (one per teacher) and the teachers' names."""
    A = ctx.A_fit
    column = "target_group" if options.domains == "auto" else options.domains
    if options.domains == "clusters" or (options.domains == "auto" and column not in A.columns):
        parts = cluster_parts(topic_features(ctx, A), options.n_teachers, ctx.seed)
        domain = pd.Series([f"cluster-{p}" for p in parts], index=A.index)
    elif column not in A.columns:
        raise UserError(f"method co-supervise: domains {column!r} is not a column of task {ctx.task.name!r} "
                        f"(its columns: {', '.join(map(str, A.columns))}); use auto or clusters")
    else:
        domain = A[column].astype(str)
        parts = pack_domains(domain, options.n_teachers)
    parts = merge_small_parts(parts, A["label"].to_numpy(), options.min_teacher_examples)
    if parts.max() < 1:
        raise UserError(f"method co-supervise: A ({len(A)} training examples) leaves only one teacher with at least "
                        f"min_teacher_examples={options.min_teacher_examples} examples of both classes; lower it")
    names = ["+".join(sorted(domain[parts == p].unique())) for p in range(parts.max() + 1)]
    return parts, names


# -- the rules of a round ---------------------------------------------------------------------

def label_probability(reference: np.ndarray, label: np.ndarray) -> np.ndarray:
    """A model's probability of a given label: P(1) where the label says 1, else P(0) (soft labels
    are read as their class)."""
    reference = np.asarray(reference, float)
    return np.where(class_of(label) == 1, reference, 1 - reference)


def assign_teachers(teachers: np.ndarray, student: np.ndarray) -> np.ndarray:
    """Index of the teacher (rows of ``teachers`` [k, n]) giving the student's predicted class the
    highest probability, per example (ties: the first teacher)."""
    return np.argmax(label_probability(teachers, np.broadcast_to(student, np.shape(teachers))), axis=0)


def assigned_labels(teachers: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Each example's label from its assigned teacher."""
    return np.asarray(teachers)[assignment, np.arange(np.shape(teachers)[1])]


def inconsistent(reference: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Where ``reference`` gives ``labels`` a probability below ``threshold``: the teacher–student rule
    with the previous student as reference, the local–global rule with the global teacher."""
    return label_probability(reference, labels) < threshold


@dataclass
class Round:
    """One E-step: the assigned labels of B and val and which rows of B each rule rejects."""

    assignment_B: np.ndarray
    labels_B: np.ndarray
    labels_val: np.ndarray
    rejected_teacher_student: np.ndarray
    rejected_local_global: np.ndarray

    @property
    def keep(self) -> np.ndarray:
        return ~(self.rejected_teacher_student | self.rejected_local_global)


def co_supervise_round(teachers_B, teachers_val, global_B, student_B, student_val, options) -> Round:
    assignment = assign_teachers(teachers_B, student_B)
    labels_B = assigned_labels(teachers_B, assignment)
    labels_val = assigned_labels(teachers_val, assign_teachers(teachers_val, student_val))
    return Round(assignment, labels_B, labels_val,
                 inconsistent(student_B, labels_B, options.teacher_student_threshold),
                 inconsistent(global_B, labels_B, options.local_global_threshold))


# -- the method -------------------------------------------------------------------------------

@METHODS.register("co-supervise")
class CoSupervise(Method):
    summary = "specialised weak teachers assigned by the student, with consistency denoising (Liu & Alahi 2024)"
    Config = CoSuperviseConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        o = self.options
        parts, names = teacher_parts(ctx, o)
        teachers_B, teachers_val = self.teachers(ctx, parts)
        global_B = ctx.weak_B if o.global_teacher == "generalist" else teachers_B.mean(0)

        def as_targets(soft):
            return np.asarray(soft, float) if o.soft_labels else class_of(soft).astype(float)

        # Round 0: the generalist's labels (CSL's top level), no assignment and no denoising.
        frame, targets, val_targets = ctx.B, as_targets(ctx.weak_B), as_targets(ctx.weak_val)
        history = []
        for number in range(o.rounds):
            student_B, student_val = self.student(ctx, number, frame, targets, val_targets)
            step = co_supervise_round(teachers_B, teachers_val, global_B, student_B, student_val, o)
            keep = np.flatnonzero(step.keep)
            if len(keep) == 0:
                raise UserError(f"method co-supervise: round {number + 1} rejects every example of B; lower "
                                f"teacher_student_threshold or local_global_threshold")
            frame = ctx.B.iloc[keep].reset_index(drop=True)
            targets, val_targets = as_targets(step.labels_B[keep]), as_targets(step.labels_val)
            history.append(self.round_info(step, names))
        info = {"teachers": [{"name": n, "n_train": int((parts == p).sum())} for p, n in enumerate(names)],
                "rounds": o.rounds, **history[-1], "history": history}
        return TrainingSet(frame, targets, val_targets, info=info,
                           key=training_set_key(self.name, o, frame, targets, val_targets))

    @staticmethod
    def teachers(ctx: MethodContext, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soft labels of B and val from each teacher, trained as the weak model on its part of A:
        arrays [teachers, len(B)] and [teachers, len(val)]."""
        labels_B, labels_val = [], []
        select_targets = ctx.A_select["label"].to_numpy(float)
        for p in range(parts.max() + 1):
            part = ctx.A_fit[parts == p].reset_index(drop=True)
            key = step_key("co-supervise-teacher", ctx.weak_key, part["id"].tolist(),
                           ctx.split_keys["B"], ctx.split_keys["val"])
            folder = ctx.train("co-supervise-teacher", key, ctx.weak, ctx.weak_paradigm, ctx.cfg.weak_train,
                               part, part["label"].to_numpy(float), ctx.A_select, select_targets,
                               predict_on={"B": ctx.B, "val": ctx.val})
            labels_B.append(ctx.read(folder, "B"))
            labels_val.append(ctx.read(folder, "val"))
        return np.stack(labels_B), np.stack(labels_val)

    @staticmethod
    def student(ctx: MethodContext, number: int, frame, targets, val_targets) -> tuple[np.ndarray, np.ndarray]:
        """A round's student (cached by what it trains on) and its predictions on all of B and val."""
        cfg = ctx.cfg
        student_train = cfg.student.apply(cfg.strong_train)
        key = step_key("co-supervise-student", number, ctx.strong.fingerprint, ctx.paradigm.name,
                       ctx.paradigm.version, *linear_model_version(ctx.strong, cfg.strong_train),
                       student_train.cache_identity(), ctx.split_keys["B"], ctx.split_keys["val"],
                       ctx.split_keys["test"], cfg.seed,
                       training_set_key("co-supervise-round", None, frame, targets, val_targets))
        folder = ctx.train("co-supervise-student", key, ctx.strong, ctx.paradigm, student_train, frame, targets,
                           ctx.val, val_targets, predict_on={"B": ctx.B, "val": ctx.val})
        return ctx.read(folder, "B"), ctx.read(folder, "val")

    @staticmethod
    def round_info(step: Round, names: list[str]) -> dict:
        both = step.rejected_teacher_student & step.rejected_local_global
        return {"kept": int(step.keep.sum()), "of": int(len(step.keep)),
                "rejected_teacher_student": int(step.rejected_teacher_student.sum()),
                "rejected_local_global": int(step.rejected_local_global.sum()),
                "rejected_by_both": int(both.sum()),
                "assigned": {name: int((step.assignment_B == p).sum()) for p, name in enumerate(names)},
                "kept_positive_share": float(class_of(step.labels_B[step.keep]).mean()) if step.keep.any() else None}
