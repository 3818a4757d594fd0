"""What the protocol needs of a trainable model: ``TrainableModel``, one interface for every
paradigm's model (the bag-of-words classifier, the probe, the sequence classifier, the reward
model, the SFT and DPO policies), so ``protocol.py`` runs them all alike.

Optional capabilities are *declared* by the class, never sniffed with ``hasattr``:

- ``generates``: the model writes text (``generate(prompts) -> list[str]``); a run keeps a sample
  of its generations beside its predictions.
- ``losses``: the W2S losses (``--loss``) its ``fit`` trains with; a run whose student cannot use
  its loss fails at validation (``trainers.losses.check_loss``), before any training.
- ``configure(task)``: what the model takes from the task (an LM's question and answer words); a
  no-op for models that need nothing from it.

A paradigm's model class is checked against this interface when the paradigm is registered
(``check_model_class``), so a plug-in that lacks a member fails at import, naming it, not in the
middle of a run.

A saved model says what it is: every ``save`` writes ``w2s_model.json`` (``write_manifest``) with the
class that loads it back (``model_class``), and ``load_saved`` reads that, so no caller guesses a
model's type from the names of its files.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Collection
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd


class TrainableModel(Protocol):
    losses: ClassVar[Collection[str]]  # the W2S losses its fit trains with (trainers/losses.py)
    generates: ClassVar[bool]  # it has generate(prompts, max_new_tokens) -> list[str]
    history: list[dict]  # what fit recorded (losses, validation scores), kept in the step's record
    # Its saved folder is a transformers model (save_pretrained, with the base model it was trained
    # from in the manifest): what lm-evaluation-harness and export-model can load. Else, what it is.
    pretrained_folder: ClassVar[bool]
    description: ClassVar[str]

    def configure(self, task) -> "TrainableModel":
        """Take what the model needs from ``task`` (e.g. the question and answer words); returns self."""

    def fit(self, frame: pd.DataFrame, soft_labels, val_frame: pd.DataFrame | None = None, val_labels=None,
            loss=None, work_dir: Path | None = None) -> "TrainableModel":
        """Train on ``frame`` with targets P(label = 1) (pairs: P(A ≻ B)), choosing the epoch (or C) on
        (``val_frame``, ``val_labels``); ``loss``: a W2S loss object, None for xent."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(label = 1) of each row (pairs: P(A ≻ B))."""

    def save(self, folder: Path) -> None:
        """Everything ``load`` needs, under ``folder``."""

    @classmethod
    def load(cls, folder: Path) -> "TrainableModel":
        """The model ``save`` wrote, predicting as it did."""


MEMBERS = ("losses", "generates", "pretrained_folder", "description", "configure", "fit", "predict_proba", "save", "load")


def check_model_class(cls: type, who: str) -> type:
    """``cls`` if it has every member of ``TrainableModel`` (and ``generate`` when it declares
    ``generates``); else a TypeError naming ``who`` and the first missing member."""
    required = MEMBERS + (("generate",) if "generates" in dir(cls) and cls.generates else ())
    missing = [name for name in required if name not in dir(cls)]
    if missing:
        raise TypeError(f"{who}: model class {cls.__name__} lacks {missing[0]!r} of the trainable-model "
                        f"interface (w2s_eval/trainers/interface.py: {', '.join(required)})")
    if not inspect.ismethod(cls.load):
        raise TypeError(f"{who}: model class {cls.__name__}.load must be a classmethod (load(folder) -> model)")
    return cls


MANIFEST = "w2s_model.json"


def write_manifest(folder: Path, model_class: type, **meta):
    """The saved model's manifest: the class that loads it (``module:qualname``) and what else its
    ``load`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"model_class": f"{model_class.__module__}:{model_class.__qualname__}", **meta}
    (folder / MANIFEST).write_text(json.dumps(record, indent=2))


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        from ..errors import UserError

        raise UserError(f"{folder}: no {MANIFEST}, so not a model saved by this w2s-eval (an older version's "
                        f"cache is recomputed by rerunning the command)") from None


def saved_model_class(folder: Path, meta: dict) -> type:
    """The class that saved the model in ``folder``: its manifest ``meta``'s ``model_class``."""
    if "model_class" not in meta:
        from ..errors import UserError

        raise UserError(f"{folder / MANIFEST}: no model_class, so written by an older w2s-eval (rerun the command "
                        f"to recompute the step)")
    module, _, name = meta["model_class"].partition(":")
    return getattr(importlib.import_module(module), name)


def load_saved(folder: Path) -> TrainableModel:
    """The model saved in ``folder``, loaded by the class its manifest names."""
    return saved_model_class(folder, read_manifest(folder)).load(folder)
