"""One weak-to-strong experiment, read top to bottom: weak → label → student → ceiling → evaluate.

1. weak     train the weak model W on split A with ground truth (choosing its epoch or C on a
            held-out fifth of A, never on val); predict test.
2. label    W labels splits B and val with soft labels P(label = 1).
3. method   the W2S method turns the weak supervision into the student's training set (methods/);
            e.g. bootstrapping (``--via M1,M2``) relabels B and val through intermediate models,
            cross-fitted, so no model labels an example it was trained on.
4. student  train the strong model S on the training set (the W2S loss), plus any conflicting-
            objective pairs (``--conflict``, conflict.py); predict test. A run with a method or a
            conflict also trains (or reuses) the plain student, on W's labels without conflict:
            the baseline it is compared with.
5. ceiling  train S on B with ground truth; predict test.
6. zero-shot  (a causal-LM strong model, ``zero_shot: auto``) S untrained answers the task's
            question on test, scored as the sft paradigm scores an answer (trainers/sft.py): the
            elicitation baseline of Burns et al. (2023), beside the others and not part of PGR.
7. evaluate every model's test predictions into the run folder; metrics (results.py) and the
            deception analyses (deception.py) read from them.

This module runs the experiment: a resolved run (resolve.py) is prepared (data split, models
resolved to content), its run folder opened (run_folder.py), and the steps run in order; each
step is one function of steps.py, cached by a content hash of what it depends on. The run folder
holds the resolved config, per-example test predictions of every model, metrics and the log;
analyses read it without retraining.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from . import conflict as conflicts
from . import distributed, run_folder
from .config import RunConfig
from .errors import UserError
from .models.resolve import ResolvedModel, resolve_model
from .resolve import ResolvedRun, resolve_run
from .splits import SPLITS, assign_splits
from .steps import (Bench, baseline_step, ceiling_step, evaluate_step, label_step, method_step, student_step,
                    weak_step, zero_shot_step)
from .store import check_outputs_writable
from .tasks.base import Task
from .trainers.top_layers import check_layer_count


@dataclass
class Prepared:
    """A resolved run with its data split and its models resolved to content."""

    run: ResolvedRun
    source: str
    data: pd.DataFrame
    weak: ResolvedModel
    strong: ResolvedModel
    via: list[ResolvedModel]
    outside: pd.DataFrame | None  # examples whose group no split uses (only for --conflict implicit)

    @property
    def cfg(self) -> RunConfig:
        return self.run.cfg

    @property
    def task(self) -> Task:
        return self.run.task

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def split(self, name: str) -> pd.DataFrame:
        return self.data[self.data["split"] == name].reset_index(drop=True)


def prepare(run: ResolvedRun) -> Prepared:
    """Load and split the run's data and resolve its models (pulling them if needed)."""
    cfg, task = run.cfg, run.task
    weak, strong = resolve_model(cfg.weak_model), resolve_model(cfg.strong_model)
    via = [resolve_model(ref) for ref in cfg.via]
    for role, model in (("weak_train", weak), ("strong_train", strong), *(("strong_train", m) for m in via)):
        if model.kind != "builtin":  # lora_layers: top-K fits the model: checked before any training
            check_layer_count(model.location, getattr(cfg, role).lora_layers, role)
    frame, source = task.load(cfg.data.data_dir)
    data = assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)
    for name in SPLITS:
        if (data["split"] == name).sum() == 0:
            raise UserError(f"{source}: split {name!r} is empty; the data has {len(frame)} examples "
                            f"in {frame['group'].nunique()} groups (need more, or other splits.fractions)")
    outside = conflicts.outside_splits(frame, data) if run.conflict.needs_outside else None
    return Prepared(run, source, data, weak, strong, via, outside)


# -- the protocol -------------------------------------------------------------------------------

def run_experiment(run: RunConfig | ResolvedRun, out_dir: str | Path = "runs", quiet: bool = False) -> Path:
    """Run (or resume) one experiment, given its config or the run ``resolve_run`` made of it; return
    its run folder (run_folder.py: its record says ``running`` until it is ``done``, or ``failed``
    with the error)."""
    run = run if isinstance(run, ResolvedRun) else resolve_run(run)
    threads = torch.get_num_threads()  # the run sets its own; the caller's comes back afterwards
    check_outputs_writable(Path(out_dir))  # before any data or model is loaded
    try:
        return _run_experiment(prepare(run), Path(out_dir), quiet)
    finally:
        torch.set_num_threads(threads)


def _run_experiment(p: Prepared, out_dir: Path, quiet: bool) -> Path:
    run_dir = out_dir / p.run_id
    if distributed.world_size() > 1:  # torchrun / accelerate launch: only rank 0 writes (distributed.py)
        distributed.init_process_group()
        if not distributed.is_main():
            scratch = Path(tempfile.mkdtemp(prefix=f"w2s-eval-rank{distributed.rank()}-"))
            try:
                run_steps(p, scratch, scratch / p.run_id, quiet=True, shared_cache=out_dir / ".cache")
                distributed.barrier()
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return run_dir
    # config.yaml names the exact weights (a hub model at the commit it resolved to), so --config
    # config.yaml reruns this very experiment.
    recorded = p.cfg.to_dict() | {"weak_model": p.weak.exact_ref, "strong_model": p.strong.exact_ref,
                                  "via": [m.exact_ref for m in p.via]}
    run_folder.start(run_dir, recorded)
    try:
        metrics = run_steps(p, out_dir, run_dir, quiet)
    except Exception as exc:
        run_folder.fail(run_dir, exc)
        raise
    run_folder.finish(run_dir, metrics)
    distributed.barrier()
    return run_dir


def run_steps(p: Prepared, out_dir: Path, run_dir: Path, quiet: bool, shared_cache: Path | None = None) -> dict:
    """weak → label → method → student (and its baseline) → ceiling → zero-shot → evaluate; returns
    the run's metrics. Each step is one function of steps.py.
    ``shared_cache``: finished steps to read but never write (distributed.py)."""
    torch.set_num_threads(p.cfg.threads or os.cpu_count() or 1)
    bench = Bench.open(p, out_dir, run_dir, quiet, shared_cache)
    weak = weak_step(bench)
    labels = label_step(bench, weak)
    ctx, training = method_step(bench, weak, labels)
    student = student_step(bench, training, p.run.conflict)
    baseline = baseline_step(bench, ctx)
    ceiling = ceiling_step(bench)
    zero_shot = zero_shot_step(bench)
    return evaluate_step(bench, training, {"weak": weak, "label": labels, "student": student, "ceiling": ceiling,
                                           "baseline": baseline, "zero_shot": zero_shot})
