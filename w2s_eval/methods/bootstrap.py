"""``bootstrap``: weak-to-strong through intermediate models (Burns et al. 2023, "bootstrapping":
W supervises M1, M1 supervises M2, …, the last supervises the student).

The intermediate models are the gap ladder's ``via`` rungs or ``--via M1,M2`` (weakest first);
choosing either selects this method. Each intermediate relabels B and val from the labels of the
one before it, **cross-fitted**: trained on one half of B (by group), it labels the other half, so
no model labels an example it was trained on (an intermediate fitting its own training labels
would pass the weak model's errors on unchanged). Val and test get the mean of its fold models'
predictions. Intermediates train as ``strong_train`` in the student's paradigm.

Its reference student is the *direct* one (the naive student on the weak model's labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..paradigms import linear_model_version, new_model
from ..splits import unit_hash
from ..store import atomic_write_parquet, step_key
from .base import METHODS, Method, MethodContext, TrainingSet

N_FOLDS = 2


@METHODS.register("bootstrap")
class Bootstrap(Method):
    summary = "through intermediate models, cross-fitted (Burns et al. 2023); chosen by --via"
    baseline_name = "direct"
    named_by_models = True
    in_all_methods = False

    @classmethod
    def plan(cls, via, gap_via, gap):
        models = list(via or gap_via)
        if not models:
            raise UserError(f"method bootstrap needs intermediate models: --via M1,M2, or a gap with via rungs "
                            f"(gap {gap!r} has none; --gap bootstrap has)")
        return cls.name, models

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        if not ctx.via:
            raise UserError("method bootstrap needs intermediate models: --via M1,M2 or a gap with via rungs "
                            "(--gap bootstrap)")
        cfg, keys = ctx.cfg, ctx.split_keys
        chain_key, labels_B, labels_val, models = ctx.label_key, ctx.weak_B, ctx.weak_val, {}
        for model in ctx.via:
            key = step_key("via", model.fingerprint, ctx.paradigm.name,
                           *linear_model_version(model, cfg.strong_train), cfg.strong_train.cache_identity(),
                           keys["B"], keys["val"], keys["test"], chain_key, cfg.seed)
            folder = ctx.run_step("via", key, relabel_cross_fitted(
                model, ctx.paradigm, cfg.strong_train, cfg.seed, ctx.task, ctx.B, ctx.val, ctx.test, labels_B, labels_val))
            labels = pd.read_parquet(folder / "labels.parquet").set_index("id")["prob"]
            labels_B, labels_val = labels.loc[ctx.B["id"]].to_numpy(), labels.loc[ctx.val["id"]].to_numpy()
            chain_key = key
            models[f"via:{model.ref}"] = folder
        return TrainingSet(ctx.B, labels_B, labels_val, key=chain_key, models=models,
                           info={"via": [m.ref for m in ctx.via]})


def relabel_cross_fitted(model, how, train_cfg, seed: int, task, B: pd.DataFrame, val: pd.DataFrame,
                         test: pd.DataFrame, labels_B, labels_val):
    """The work of a ``via`` step: ``model`` trained on each half of B (with the previous labels)
    labels the other half; val and test get the mean of the fold models' predictions."""
    def work(folder: Path) -> dict:
        fold = B["group"].map(lambda g: int(unit_hash("fold", seed, g) * N_FOLDS)).to_numpy()
        out_B, out_val, out_test, histories = np.empty(len(B)), np.zeros(len(val)), np.zeros(len(test)), []
        cross_fit = []
        for k in range(N_FOLDS):
            train, held = fold != k, fold == k
            if train.sum() == 0 or held.sum() == 0:
                raise UserError(f"bootstrapping through {model.ref}: split B ({len(B)} examples) is too small "
                                f"to cross-fit in {N_FOLDS} halves")
            train_part, held_part = B[train].reset_index(drop=True), B[held].reset_index(drop=True)
            trained = new_model(model, how, train_cfg, seed, task)
            trained.fit(train_part, np.asarray(labels_B)[train], val, labels_val, work_dir=folder / f"trainer-{k}")
            out_B[held] = trained.predict_proba(held_part)
            out_val += trained.predict_proba(val) / N_FOLDS
            out_test += trained.predict_proba(test) / N_FOLDS
            histories.append(trained.history)
            # The ids fold model k was fit on and those it labelled, as passed to it: a reader (and
            # tests/test_leaks.py) can check that no model labels an example it was trained on.
            cross_fit.append({"trained_on": train_part["id"].tolist(), "labelled": held_part["id"].tolist()})
        atomic_write_parquet(folder / "labels.parquet", pd.concat([
            pd.DataFrame({"id": B["id"], "split": "B", "prob": out_B}),
            pd.DataFrame({"id": val["id"], "split": "val", "prob": out_val})], ignore_index=True))
        atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": out_test}))
        return {"model": model.ref, "paradigm": how.name, "folds": N_FOLDS, "history": histories, "cross_fit": cross_fit}
    return work
