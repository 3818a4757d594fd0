"""A run's metrics, from its stored predictions: what the protocol's evaluate step writes to
metrics.json and what a run prints (``summary_table``).

Every number here is read from the predictions of the run folder (or a step's folder) after the
models have trained: accuracy and AUROC of each model, the gap and PGR with bootstrap intervals
(eval/metrics.py), the zero-shot reference level, and what the method did to the labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .config import RunConfig
from .eval.metrics import (ZERO_SHOT_METRICS, accuracy, bootstrap, bootstrap_pgr, interval_text, model_metrics,
                           paired_table, zero_shot_verdict)
from .deception import BASELINE
from .methods import TrainingSet
from .precision import resolve as resolve_precision
from .provenance import provenance
from .run_folder import MODEL_ROLES, ZERO_SHOT
from .store import Step, StepCache

if TYPE_CHECKING:
    from .protocol import Prepared


def compute_metrics(predictions: pd.DataFrame, cfg: RunConfig, student_col: str = "student") -> dict:
    """Accuracy / AUROC of each model, the gap and PGR, with ``student_col`` as the student (the
    baseline column for a run's plain student)."""
    labels = predictions["label"].to_numpy()
    columns = {"weak": "weak", "student": student_col, "ceiling": "ceiling"}
    out = {role: model_metrics(labels, predictions[columns[role]].to_numpy()) for role in MODEL_ROLES}
    out["gap"] = out["ceiling"]["acc"] - out["weak"]["acc"]
    out["pgr"] = bootstrap_pgr(labels, *(predictions[columns[r]].to_numpy() for r in MODEL_ROLES),
                               min_gap=cfg.eval.min_gap, n_boot=cfg.eval.n_bootstrap, seed=cfg.seed, level=cfg.eval.level)
    out["n_test"] = int(len(labels))
    return out


def zero_shot_metrics(predictions: pd.DataFrame, cfg: RunConfig) -> dict:
    """The zero-shot model's accuracy / AUROC, and acc(student) − acc(zero-shot) with a paired
    bootstrap interval over test examples and its verdict (eval/metrics.py ``zero_shot_verdict``)."""
    labels = predictions["label"].to_numpy()
    table = paired_table(labels, *(predictions[c].to_numpy() for c in ("weak", "ceiling", ZERO_SHOT, "student")))
    versus = bootstrap(table, ZERO_SHOT_METRICS["student_vs_zero_shot"].statistic, n_boot=cfg.eval.n_bootstrap,
                       seed=cfg.seed, level=cfg.eval.level).to_dict()
    versus["verdict"] = zero_shot_verdict(versus["ci_low"], versus["ci_high"])
    return {"zero_shot": model_metrics(labels, predictions[ZERO_SHOT].to_numpy()), "student_vs_zero_shot": versus}


def step_memory(folder: Path) -> dict | None:
    """The peak resident memory a step's computation took (store.StepCache), from when it was
    computed (a reused step took none in this run); None for a step cached before it was recorded."""
    return json.loads((folder / StepCache.MANIFEST).read_text()).get("memory")


def label_accuracy(folder: Path, B: pd.DataFrame) -> float:
    """Accuracy on B's ground truth of the labels a step wrote (labels.parquet), for metrics.json."""
    labels = pd.read_parquet(folder / "labels.parquet").set_index("id")["prob"].loc[B["id"]].to_numpy()
    return accuracy(B["label"].to_numpy(), labels)


def training_set_summary(training: TrainingSet, truth_B: np.ndarray, B: pd.DataFrame) -> dict:
    """What the method did, and how right its targets are on B's ground truth (read only here,
    after the student has trained: the method never saw it)."""
    truth = pd.Series(truth_B, index=B["id"]).loc[training.frame["id"]].to_numpy()
    out = dict(training.info)
    out.update(n_train=int(len(training.frame)), target_acc=accuracy(truth, training.targets),
               weighted=training.weights is not None)
    return out


def summary_table(m: dict) -> str:
    """The result a run prints: each model's accuracy and AUROC, the gap, PGR with its interval,
    the zero-shot comparison and (a conflict run) deception against its placebo null."""
    def fmt(x):
        return "  n/a" if x is None else f"{x:.3f}"

    rows = [f"{'model':<9}{'acc':>7}{'auroc':>8}"]
    rows += [f"{role:<9}{fmt(m[role]['acc']):>7}{fmt(m[role]['auroc']):>8}" for role in MODEL_ROLES]
    if ZERO_SHOT in m:  # a reference level beside the three, not a term of PGR
        rows.append(f"{'zero-shot':<9}{fmt(m[ZERO_SHOT]['acc']):>7}{fmt(m[ZERO_SHOT]['auroc']):>8}"
                    f"  (the strong model untrained, answering the task's question)")
    pgr = m["pgr"]
    gap_ci = f"95% CI [{pgr['gap_ci_low']:+.3f}, {pgr['gap_ci_high']:+.3f}], " if pgr.get("gap_ci_low") is not None else ""
    rows.append(f"gap      {m['gap']:+.3f} (ceiling − weak accuracy, {gap_ci}{m['n_test']} test examples)")
    if pgr["value"] is None:
        rows.append(f"PGR      n/a ({pgr['reason']})")
    else:
        ci = interval_text(pgr["ci_low"], pgr["ci_high"])
        rows.append(f"PGR      {pgr['value']:.3f}  " + (f"95% CI {ci}" if ci else "no interval"))
        if pgr.get("reason"):
            rows.append(f"         ({pgr['reason']})")
    versus = m.get("student_vs_zero_shot")
    if versus:
        ci = interval_text(versus["ci_low"], versus["ci_high"], "{:+.3f}".format)
        rows.append(f"student − zero-shot {versus['value']:+.3f}" + (f"  95% CI {ci}" if ci else "")
                    + f": {versus.get('verdict') or 'no verdict (no interval)'}")
    deception = (m.get("deception") or {}).get("deception") or {}
    if deception.get("value") is not None:  # a conflict run: deception is read against its placebo null
        null = m["deception"]["deception_null"]

        def value_ci(e):
            ci = "" if e["ci_low"] is None else f" [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]"
            return f"{e['value']:+.3f}{ci}"

        rows.append(f"deception {value_ci(deception)} vs placebo null {value_ci(null)}: "
                    f"{deception.get('verdict') or 'no verdict'}")
    return "result:\n" + "\n".join("  " + r for r in rows)


def run_metrics(p: Prepared, predictions: pd.DataFrame, steps: dict[str, Step], training: TrainingSet,
                split_info: dict, baseline_kind: str, seconds: float) -> dict:
    """metrics.json of a run (before its analyses): each model's numbers, gap and PGR, what the
    run was (task, paradigm, loss, method, conflict, models, splits, precision), each step's key
    and peak memory, the zero-shot comparison, the plain baseline student's PGR, what the method
    did to the labels and, for a bootstrapping chain, each intermediate model's accuracy."""
    cfg, B = p.cfg, p.split("B")
    metrics = compute_metrics(predictions, cfg)
    metrics.update(task=p.task.name, source=p.source, paradigm=cfg.paradigm, loss=cfg.loss.name,
                   method=cfg.method, method_options=dict(cfg.method_options),
                   conflict=cfg.conflict, via=list(cfg.via),
                   models={"weak": cfg.weak_model, "strong": cfg.strong_model}, splits=split_info,
                   precision={"weak": resolve_precision(cfg.weak_train.precision),
                              "strong": resolve_precision(cfg.strong_train.precision)},
                   steps={name: step.key for name, step in steps.items()},
                   weak_label_acc_B=label_accuracy(steps["label"].folder, B),
                   seconds=seconds)
    if "zero_shot" in steps:
        metrics.update(zero_shot_metrics(predictions, cfg))
    metrics["method_info"] = training_set_summary(training, B["label"].to_numpy(), B)
    metrics["provenance"] = provenance()
    if p.via:
        metrics["chain"] = [
            {"model": model.ref, "acc": model_metrics(predictions["label"].to_numpy(), predictions[f"via:{model.ref}"].to_numpy())["acc"],
             "label_acc_B": label_accuracy(training.models[f"via:{model.ref}"], B)} for model in p.via]
    metrics["memory"] = {name: step_memory(step.folder) for name, step in steps.items()}
    if "baseline" in steps:
        plain = compute_metrics(predictions, cfg, student_col=BASELINE)
        metrics["baseline"] = {"student": plain["student"], "pgr": plain["pgr"], "kind": baseline_kind}
    return metrics
