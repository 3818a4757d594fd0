"""What a W2S method is: the step between the weak labels and the student.

A method turns the weak supervision into the student's training set (``TrainingSet``: examples,
soft targets, optional per-example loss weights, and the labels of val on which the student
chooses its epoch). It may train models of its own (more weak models, intermediate models, a
first student): each is a cached step of the run, through ``MethodContext.train``, with the same
content-hashed caching, resume and logging as the weak model, the student and the ceiling.

A method never sees the ground truth of B, val or test: the context it gets holds split A with
ground truth (the supervisor's own data) and B, val, test without their labels, and every frame
holds only the columns a supervisor may see (``supervisor_view``: no ``chosen`` / ``rejected``, no
column made from the label), whatever the caller passes in (``MethodContext.__post_init__``).
``tests/test_methods.py`` and ``tests/test_leaks.py`` check this for every registered method, end to
end, on statements and on pairs.

To add a method: one file in this folder with a config dataclass (its options, documented field by
field) and a ``Method`` subclass registered under its name, plus its import in ``__init__.py`` and
its tests. ``confident.py`` is the smallest example.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np
import pandas as pd

from ..errors import UserError
from ..registry import Registry, subclass_check
from ..store import content_hash
from ..tasks.base import SUPERVISOR_COLUMNS

if TYPE_CHECKING:  # types only: these modules import the methods package
    from ..config import RunConfig
    from ..models.resolve import ResolvedModel
    from ..paradigms import Paradigm
    from ..tasks.base import Task



@dataclass
class TrainingSet:
    """The student's training data, as a method hands it over."""

    frame: pd.DataFrame  # the examples (rows of B, possibly fewer, repeated or reordered)
    targets: np.ndarray  # soft labels P(label = 1) (for pairs: P(A ≻ B)), one per row of frame
    val_targets: np.ndarray  # labels of val on which the student chooses its epoch (no ground truth)
    key: str  # identity of all of the above, for the student's cache key
    weights: np.ndarray | None = None  # per-example loss weights; None: every example weighs 1
    info: dict = field(default_factory=dict)  # what the method did, kept in metrics.json["method_info"]
    # Models the method trained whose test predictions the run keeps: column name -> step folder
    # (with test.parquet, and labels.parquet when the model labelled B).
    models: dict[str, Path] = field(default_factory=dict)


def training_set_key(method: str, options, frame: pd.DataFrame, targets, val_targets, weights=None) -> str:
    """A content hash of a training set that a method computed (ids, targets, weights)."""
    return content_hash(["training-set", method, dataclasses.asdict(options) if options is not None else None,
                         frame["id"].tolist(), np.round(np.asarray(targets, float), 8).tolist(),
                         np.round(np.asarray(val_targets, float), 8).tolist(),
                         None if weights is None else np.round(np.asarray(weights, float), 8).tolist()])


def supervisor_view(frame: pd.DataFrame, task, with_label: bool) -> pd.DataFrame:
    """The columns of ``frame`` a supervisor may see: ``SUPERVISOR_COLUMNS``, the task's own
    ``supervisor_columns``, and ``label`` where the ground truth is the supervisor's (split A). An
    allow-list, so a column added to a task later stays hidden until the task says it may be seen."""
    allowed = set(SUPERVISOR_COLUMNS) | set(task.supervisor_columns) | ({"label"} if with_label else set())
    return frame[[c for c in frame.columns if c in allowed]]


@dataclass
class MethodContext:
    """What a method may use: the supervisor's data and models, and a way to train more models.

    ``A`` is the supervisor's ground-truth split (``A_fit`` / ``A_select``: the part models train on
    and the part they choose their epoch or C on); ``B``, ``val`` and ``test`` carry no label
    column. ``weak_B`` / ``weak_val`` are the weak model's soft labels, ``label_key`` their identity.
    This is the one place a method gets the data: the frames are cut to ``supervisor_view`` here.
    """

    cfg: RunConfig  # resolved: profile, models and method filled in
    task: Task
    paradigm: Paradigm  # the student's paradigm
    weak_paradigm: Paradigm  # how weak models are trained
    weak: ResolvedModel
    strong: ResolvedModel
    via: list[ResolvedModel]  # the intermediate models (bootstrap)
    A_fit: pd.DataFrame
    A_select: pd.DataFrame
    B: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    weak_dir: Path
    weak_key: str
    label_key: str
    weak_B: np.ndarray
    weak_val: np.ndarray
    split_keys: dict  # content fingerprints of the splits A, B, val, test (for cache keys)
    # train(step, key, model, how, train_cfg, frame, targets, select, select_targets,
    #       weights=None, predict_on={name: frame}) -> the cached step folder: model/, test.parquet,
    #   one predictions-<name>.parquet per frame of predict_on (read with ``read``), step.json
    train: Callable[..., Path]
    # run_step(step, key, work) -> folder: any other cached step (work(folder) -> info dict)
    run_step: Callable[..., Path]
    # features(frame) -> the strong model's frozen features of each row (mean-pooled hidden states;
    #   for pairs φ(A) − φ(B)), computed once per model and text and cached on disk
    features: Callable[[pd.DataFrame], np.ndarray]
    log: Callable[..., None]

    def __post_init__(self):
        for name in ("A_fit", "A_select", "B", "val", "test"):
            setattr(self, name, supervisor_view(getattr(self, name), self.task, with_label=name.startswith("A_")))

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @staticmethod
    def read(folder: Path, name: str) -> np.ndarray:
        """The predictions a ``train`` step made on its ``predict_on[name]`` frame, in that frame's order."""
        return pd.read_parquet(Path(folder) / f"predictions-{name}.parquet")["prob"].to_numpy()


class Method:
    """A registered W2S method. Subclasses set ``Config`` (their options) and ``paradigms`` (the
    student paradigms they support), and implement ``training_set``."""

    name: ClassVar[str]  # set by METHODS.register
    summary: ClassVar[str] = ""  # one line for ``w2s-eval methods``, with the source
    Config: ClassVar[type] = None
    paradigms: ClassVar[tuple[str, ...] | None] = None  # None: every registered paradigm
    # What the run's reference student (the naive one on the weak labels) is called beside this one.
    baseline_name: ClassVar[str] = "naive"
    # The method's student *is* the reference student (naive): a run trains no baseline beside it.
    is_baseline: ClassVar[bool] = False
    # Without options, the run's models say everything about the method (naive; bootstrap, named by
    # its via models), so the run id leaves the method out.
    named_by_models: ClassVar[bool] = False
    # ``--methods all`` in a sweep runs it (bootstrap needs intermediate models, so is left out).
    in_all_methods: ClassVar[bool] = True
    # It always reads the strong model's hidden states (``ctx.features``): a run whose strong model
    # has none (tfidf) is refused before any work.
    reads_strong_features: ClassVar[bool] = False

    def __init__(self, options=None):
        self.options = options if options is not None else (self.Config() if self.Config else None)

    @classmethod
    def paradigm_names(cls) -> list[str]:
        from ..paradigms import PARADIGMS

        return list(cls.paradigms) if cls.paradigms is not None else PARADIGMS.names()

    @classmethod
    def plan(cls, via: list[str], gap_via: list[str], gap: str) -> tuple[str, list[str]]:
        """The hook that shapes the run's plan: (the method the run uses, its intermediate models),
        given ``--via`` (``via``) and the via rungs of gap ``gap`` (``gap_via``). A method that
        trains no intermediate models refuses ``--via`` and leaves the gap's rungs unused."""
        if via:
            raise UserError(f"--via bootstraps through intermediate models, which is method 'bootstrap'; it cannot "
                            f"be combined with method {cls.name!r}")
        return cls.name, []

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        raise NotImplementedError

    def weighted(self) -> bool:
        """Whether the training set carries per-example loss weights (only paradigms whose trainers
        take them, ``Paradigm.example_weights``, can run such a method)."""
        return False

    def naive_set(self, ctx: MethodContext) -> TrainingSet:
        """The weak labels of B as they are (the naive method's training set)."""
        return TrainingSet(ctx.B, ctx.weak_B, ctx.weak_val, key=ctx.label_key)


METHODS: Registry = Registry("method", subclass_check(Method), group="w2s_eval.methods")


def class_of(soft: np.ndarray) -> np.ndarray:
    """The hard label (0/1) of soft labels: 1 iff p > 0.5, as ``eval.metrics.right`` reads predictions."""
    return (np.asarray(soft, float) > 0.5).astype(int)


def no_hidden_states(method: str, strong_model: str) -> UserError:
    """The error of a method that reads the strong model's hidden states (``ctx.features``) in a run
    whose strong model has none (tfidf)."""
    return UserError(f"method {method!r} reads the strong model's hidden states, and strong model {strong_model!r} "
                     f"has none; choose a transformer strong model (--strong, w2s-eval models)")
