"""The steps of one experiment, in the order ``protocol.run_steps`` runs them: weak → label →
method → student (and its baseline) → ceiling → zero-shot → evaluate.

Each step is one function of the ``Bench`` (the prepared run, its splits, the step cache and the
log) and the steps before it, and returns its ``Step`` (key and folder). A step that trains or
predicts is cached under a key (``store.step_key``) holding everything its result depends on:
the model's weights, the split contents, the training config, the loss, the seed and the keys of
the steps before it; so a run that changes only the loss retrains only the student.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import conflict as conflicts
from . import distributed, tracking
from .config import RunConfig
from .deception import BASELINE, write_deception
from .methods import Method, MethodContext, TrainingSet, no_hidden_states
from .models.resolve import ResolvedModel, is_causal_lm
from .paradigms import Paradigm, get_paradigm, linear_model_version, load_trained, new_model
from .precision import resolve as resolve_precision
from .results import run_metrics
from .run_folder import MODEL_ROLES, ZERO_SHOT
from .splits import SPLITS, balance, fingerprint, holdout_groups
from .store import RunLog, Step, StepCache, atomic_write_json, atomic_write_parquet, content_hash, step_key
from .trainers.bow import ProbeClassifier
from .trainers.sft import zero_shot_config, zero_shot_model

if TYPE_CHECKING:
    from .protocol import Prepared

WEAK_SELECT_SHARE = 0.2  # share of A (by group) on which the weak model chooses its epoch or C
N_GENERATIONS = 4  # the test prompts whose greedy continuations a run keeps for a reader


@dataclass
class Bench:
    """What every step of one run reads: the prepared run, its splits and their content
    fingerprints, the step cache and the run's log."""

    p: Prepared
    out_dir: Path
    run_dir: Path
    log: RunLog
    cache: StepCache
    splits: dict[str, pd.DataFrame]  # A, B, val, test
    A_fit: pd.DataFrame  # the part of A weak models train on ...
    A_select: pd.DataFrame  # ... and the part (by group) on which they choose their epoch or C
    split_keys: dict[str, str]  # their content fingerprints, for step keys
    split_info: dict  # their sizes and balance, for the log and metrics.json
    started: float

    @classmethod
    def open(cls, p: Prepared, out_dir: Path, run_dir: Path, quiet: bool, shared_cache: Path | None) -> Bench:
        log = RunLog(run_dir / "log.jsonl", quiet=quiet)
        info = balance(p.data)
        cfg = p.cfg
        log("start", f"run {p.run_id}: task {p.task.name} ({p.source}), weak {cfg.weak_model} -> strong "
            f"{cfg.strong_model}, method {cfg.method}, profile {cfg.profile}", splits=info, source=p.source)
        log("splits", "splits: " + ", ".join(f"{k} {v['n']} ({v['positive']:.0%} positive)" for k, v in info.items()))
        splits = {name: p.split(name) for name in SPLITS}
        A_fit, A_select = holdout_groups(splits["A"], cfg.seed, WEAK_SELECT_SHARE)
        return cls(p, out_dir, run_dir, log, StepCache(out_dir / ".cache", shared=shared_cache), splits, A_fit,
                   A_select, {name: fingerprint(part) for name, part in splits.items()}, info, time.time())

    @property
    def cfg(self) -> RunConfig:
        return self.p.cfg

    def run_step(self, step: str, key: str, work) -> Path:
        """A cached step (store.StepCache): ``work(folder) -> info`` unless ``key`` is cached."""
        return self.cache.run(step, key, work, self.log)

    def train(self, step: str, key: str, model: ResolvedModel, how: Paradigm, train_cfg, frame, targets,
              select, select_targets, loss=None, weights=None, predict_on: dict | None = None) -> Path:
        """A cached step that trains ``model`` on (frame, targets), choosing its epoch / C on
        (select, select_targets), and predicts test (and each frame of ``predict_on``)."""
        p, cfg, test = self.p, self.cfg, self.splits["test"]

        def work(folder: Path) -> dict:
            # Trackers see the step's curves; they are not part of its key (tracking.py).
            tracked = dataclasses.replace(train_cfg, train_args={**train_cfg.train_args,
                                                                 **tracking.trainer_args(cfg.tracking, p.run_id, step)})
            trained = new_model(model, how, tracked, cfg.seed, p.task)
            extra = {"weights": weights} if weights is not None else {}
            with tracking.step_logging(cfg.tracking, self.out_dir, p.run_id, step):
                trained.fit(frame, targets, select, select_targets, loss=loss, work_dir=folder / "trainer", **extra)
            trained.save(folder / "model")
            atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": trained.predict_proba(test)}))
            for name, other in (predict_on or {}).items():
                atomic_write_parquet(folder / f"predictions-{name}.parquet",
                                     pd.DataFrame({"id": other["id"], "prob": trained.predict_proba(other)}))
            if trained.generates:  # generative models: show behaviour, not only numbers
                head = test.head(N_GENERATIONS)
                prompts = how.prompts(head, p.task)
                atomic_write_json(folder / "generations.json", [
                    {"id": i, "prompt": q, "output": o} for i, q, o in zip(head["id"], prompts, trained.generate(prompts))])
            return {"model": model.ref, "paradigm": how.name, "n_train": len(frame), "history": trained.history}
        return self.run_step(step, key, work)

    def strong_common(self) -> list:
        """What every step training the strong model on B keys on (the student's and the ceiling's)."""
        p, cfg, keys = self.p, self.cfg, self.split_keys
        return [p.strong.fingerprint, f"{p.run.paradigm.name}-v{p.run.paradigm.version}",
                *linear_model_version(p.strong, cfg.strong_train), cfg.strong_train.cache_identity(),
                keys["B"], keys["val"], keys["test"], cfg.seed]



def weak_step(bench: Bench) -> Step:
    """1. weak: W trained on A, choosing its epoch (or C) on a held-out fifth of A; predicts test.

    The weak model chooses on a held-out part of its own ground truth A, never on val: val's ground
    truth is held out from the supervisor side like test's (tests/test_leaks.py). Every step that
    predicts test names the test split in its key: a run with other test caps must not reuse
    predictions that lack some of its test examples."""
    p, cfg = bench.p, bench.cfg
    weak_paradigm = p.run.weak_paradigm
    weak_train = cfg.weak_train if p.weak.kind != "builtin" else None
    weak_how = [f"{weak_paradigm.name}-v{weak_paradigm.version}"] if weak_train else []
    weak_how += linear_model_version(p.weak, cfg.weak_train)
    A_fit, A_select = bench.A_fit, bench.A_select
    key = step_key("weak", p.weak.fingerprint, *weak_how, weak_train and weak_train.cache_identity(),
                   bench.split_keys["A"], bench.split_keys["test"], cfg.seed, "select-on-A", WEAK_SELECT_SHARE)
    return Step(key, bench.train("weak", key, p.weak, weak_paradigm, cfg.weak_train, A_fit,
                                 A_fit["label"].to_numpy(float), A_select, A_select["label"].to_numpy(float)))



def label_step(bench: Bench, weak: Step) -> Step:
    """2. label: W's soft labels P(label = 1) of B and val."""
    B, val = bench.splits["B"], bench.splits["val"]
    key = step_key("label", weak.key, bench.split_keys["B"], bench.split_keys["val"])

    def work(folder: Path) -> dict:
        model = load_trained(weak.folder / "model")
        both = pd.concat([B, val], ignore_index=True)
        atomic_write_parquet(folder / "labels.parquet", pd.DataFrame({"id": both["id"], "split": both["split"],
                                                                      "prob": model.predict_proba(both)}))
        return {"n_labelled": len(both)}

    return Step(key, bench.run_step("label", key, work))


def method_step(bench: Bench, weak: Step, labels: Step) -> tuple[MethodContext, TrainingSet]:
    """3. method: the weak supervision becomes the student's training set.

    The method sees A with ground truth and B, val, test without, and of every split only the
    columns a supervisor may see: MethodContext cuts them (methods/base.py supervisor_view)."""
    p, cfg, s = bench.p, bench.cfg, bench.splits
    soft = pd.read_parquet(labels.folder / "labels.parquet").set_index("id")["prob"]
    A_fit, A_select = bench.A_fit, bench.A_select
    ctx = MethodContext(cfg=cfg, task=p.task, paradigm=p.run.paradigm, weak_paradigm=p.run.weak_paradigm,
                        weak=p.weak, strong=p.strong, via=p.via, A_fit=A_fit, A_select=A_select, B=s["B"],
                        val=s["val"], test=s["test"], weak_dir=weak.folder, weak_key=weak.key, label_key=labels.key,
                        weak_B=soft.loc[s["B"]["id"]].to_numpy(), weak_val=soft.loc[s["val"]["id"]].to_numpy(),
                        split_keys=bench.split_keys, train=bench.train, run_step=bench.run_step,
                        features=lambda frame: strong_features(bench, frame), log=bench.log)
    if not p.run.method.is_baseline:
        bench.log("method", f"method {cfg.method}: building the student's training set")
    return ctx, p.run.method.training_set(ctx)


def strong_features(bench: Bench, frame: pd.DataFrame) -> np.ndarray:
    """The strong model's frozen features of each row (the probe's, pooled as strong_train says; for
    pairs φ(A) − φ(B)), computed once per text and model and cached on disk."""
    p, cfg = bench.p, bench.cfg
    if p.strong.kind == "builtin":
        raise no_hidden_states(cfg.method, cfg.strong_model)
    return ProbeClassifier.of(p.strong.location, cfg.strong_train, 0, p.task).features(frame)


def student_step(bench: Bench, training: TrainingSet, conflict: conflicts.Conflict) -> Step:
    """4. student: S trained on the method's training set (plus any conflicting pairs) under the
    W2S loss; its record holds the conflict's (None without one)."""
    p, cfg = bench.p, bench.cfg
    B = bench.splits["B"]
    # The method's rows with their ground truth back: only the conflict's key reads it.
    rows = B.set_index("id", drop=False).loc[training.frame["id"]].reset_index(drop=True)
    frame, targets = conflict.training_set(rows, training.targets, p.outside, cfg.seed)
    weights = None if training.weights is None else np.concatenate([training.weights, np.ones(len(frame) - len(rows))])
    student_train = cfg.student.apply(cfg.strong_train)
    loss = p.run.loss
    key = step_key("student", *bench.strong_common(), training.key, cfg.loss.name, f"loss-v{loss.version}",
                   dataclasses.asdict(loss), "student_train", student_train.cache_identity(),
                   "conflict", conflict.name, conflict.key_settings(), fingerprint(frame), content_hash(targets.tolist()))
    folder = bench.train("student", key, p.strong, p.run.paradigm, student_train, frame, targets, bench.splits["val"],
                         training.val_targets, loss=loss, weights=weights)
    # After training: the record reads the added pairs' truth (B's, for explicit).
    record = None if conflict.name == "none" else conflicts.conflict_record(conflict, frame, targets, len(rows))
    return Step(key, folder, record)


def baseline_step(bench: Bench, ctx: MethodContext) -> Step | None:
    """4b. baseline: beside a method's or a conflict's student, the plain one (the naive training
    set, no conflict), whose PGR it is compared with; None for a plain run."""
    method, cfg = bench.p.run.method, bench.cfg
    kind = baseline_kind(method, cfg)
    if not kind:
        return None
    bench.log("baseline", f"baseline: the plain student on the weak labels ({kind})")
    return student_step(bench, method.naive_set(ctx), conflicts.make_conflict("none"))


def baseline_kind(method: Method, cfg: RunConfig) -> str:
    """Why a run has a baseline student ("" when it has none)."""
    return ", ".join(k for k, on in ((method.baseline_name, not method.is_baseline),
                                     ("no conflict", cfg.conflict != "none")) if on)


def ceiling_step(bench: Bench) -> Step:
    """5. ceiling: S trained on B's ground truth, choosing its epoch on val's."""
    p, cfg, s = bench.p, bench.cfg, bench.splits
    key = step_key("ceiling", *bench.strong_common())
    return Step(key, bench.train("ceiling", key, p.strong, p.run.paradigm, cfg.strong_train, s["B"],
                                 s["B"]["label"].to_numpy(float), s["val"], s["val"]["label"].to_numpy(float)))


# Bumped when the zero-shot step's scoring changes apart from the sft paradigm's (whose version its key
# holds too), so older zero-shot predictions are not reused.
ZERO_SHOT_VERSION = 1


def zero_shot_step(bench: Bench) -> Step | None:
    """6. zero-shot: S untrained, answering the task's question on test (trainers/sft.py
    ``zero_shot_model``), in a run with ``zero_shot: auto`` whose strong model is a causal LM (an
    encoder or tfidf has no answer words: no row, and no error); else None.

    Nothing is trained, so its key holds only what the answers depend on: the strong model's
    weights, the prompt (question and answer words) and how it is scored (the sft paradigm's
    version; max_length, precision and quantisation), and the test examples; not the seed, the
    weak model or anything the student trains with."""
    p, cfg, test = bench.p, bench.cfg, bench.splits["test"]
    if cfg.zero_shot != "auto":
        return None
    if not is_causal_lm(p.strong):
        bench.log("zero_shot_skipped", reason=f"strong model {cfg.strong_model} is not a causal LM: it has no answer words")
        return None
    how = zero_shot_config(cfg.strong_train)
    key = step_key("zero_shot", f"v{ZERO_SHOT_VERSION}", p.strong.fingerprint,
                   f"sft-v{get_paradigm('sft').version}", p.task.question, list(p.task.answers),
                   {"max_length": how.max_length, "precision": resolve_precision(how.precision),
                    "quant": how.quant}, bench.split_keys["test"])

    def work(folder: Path) -> dict:
        scorer = zero_shot_model(p.strong.location, cfg.strong_train, p.task)
        atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": scorer.predict_proba(test)}))
        return {"model": p.strong.ref, "scorer": "sft", "question": p.task.question, "answers": list(p.task.answers),
                "threshold": scorer.threshold}

    return Step(key, bench.run_step("zero_shot", key, work))


def evaluate_step(bench: Bench, training: TrainingSet, steps: dict[str, Step | None]) -> dict:
    """7. evaluate: every model's test predictions into the run folder, the run's metrics from
    them (results.py), and the analyses read from the stored predictions: the 2x2x2 table,
    deception against its placebo null and imitation (deception.py)."""
    p, cfg, test = bench.p, bench.cfg, bench.splits["test"]
    steps = {name: step for name, step in steps.items() if step is not None}
    predictions = test[["id", "label"]].copy()
    # The predictions' columns: the three models of PGR, the method's own (e.g. a chain's), then the
    # reference levels beside them.
    columns = {role: steps[role].folder for role in MODEL_ROLES} | training.models
    columns |= {column: steps[name].folder for name, column in (("baseline", BASELINE), ("zero_shot", ZERO_SHOT))
                if name in steps}
    for column, folder in columns.items():
        predictions[column] = pd.read_parquet(folder / "test.parquet").set_index("id")["prob"].loc[test["id"]].to_numpy()
    atomic_write_parquet(bench.run_dir / "predictions.parquet", predictions)
    generations = {role: json.loads((steps[role].folder / "generations.json").read_text())
                   for role in MODEL_ROLES if (steps[role].folder / "generations.json").exists()}
    if generations:
        atomic_write_json(bench.run_dir / "generations.json", generations)
    metrics = run_metrics(p, predictions, steps, training, bench.split_info,
                          baseline_kind(p.run.method, cfg), seconds=round(time.time() - bench.started, 1))
    conflict_record = steps["student"].record
    if conflict_record:
        metrics["conflict_info"] = conflict_record
    metrics["deception"] = write_deception(bench.run_dir, conflict=conflict_record)
    if distributed.is_main():  # once per run, not once per rank
        tracking.log_final_metrics(cfg.tracking, bench.out_dir, p.run_id, metrics)
    bench.log("done", metrics={k: metrics[k] for k in ("weak", "student", "ceiling", "gap", "pgr")})
    return metrics
