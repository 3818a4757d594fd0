"""One weak-to-strong experiment: weak → label → student → ceiling → evaluate.

1. weak     train the weak model W on split A with ground truth (choosing its epoch or C on a
            held-out fifth of A, never on val); predict test.
2. label    W labels splits B and val with soft labels P(label = 1).
   via      (bootstrapping, ``--via M1,M2``) each intermediate model relabels B and val from the
            labels of the one before it, cross-fitted: trained on one half of B, it labels the
            other half, so no model labels an example it was trained on.
3. student  train the strong model S on B with the last labels (the W2S loss), plus any
            conflicting-objective pairs (``--conflict``, conflict.py); predict test.
            A run with a chain or a conflict also trains (or reuses) the plain student, on W's
            labels without conflict: the baseline it is compared with.
4. ceiling  train S on B with ground truth; predict test.
5. zero-shot  (a causal-LM strong model, ``zero_shot: auto``) S untrained answers the task's
            question on test, scored as the sft paradigm scores an answer (trainers/sft.py): the
            elicitation baseline of Burns et al. (2023), beside the others and not part of PGR.

Each step is cached by a content hash of what it depends on (model weights, data, training
config, loss, seed, and the steps before it), so a run that changes only the loss retrains only
the student. The run folder holds the resolved config, per-example test predictions of every
model, metrics and the log; analyses read it without retraining.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import conflict as conflicts
from . import distributed, tracking
from . import run_folder
from .run_folder import MODEL_ROLES, ZERO_SHOT
from .config import RunConfig, check_values, gap_ladders
from .deception import BASELINE, write_deception
from .errors import UserError, unknown_name
from .eval.metrics import (ZERO_SHOT_METRICS, accuracy, bootstrap, bootstrap_pgr, interval_text, model_metrics,
                           paired_table, zero_shot_verdict)
from .models.resolve import BUILTIN, ResolvedModel, is_causal_lm, resolve_model
from .methods import METHODS, Method, MethodContext, TrainingSet, make_method
from .splits import SPLITS, assign_splits, balance, holdout_groups
from .provenance import provenance
from .precision import resolve as resolve_precision
from .store import (KEY_SCHEMA, RunLog, StepCache, atomic_write_json, atomic_write_parquet, check_outputs_writable,
                    content_hash, step_key)
from .paradigms import (Paradigm, check_supported, get_paradigm, linear_model_version, load_trained, model_class,
                        new_model)
from .tasks import get_task, pair_task_names
from .tasks.base import Task
from .tasks.custom import custom_task
from .trainers.common import check_train_args, resolve_quant
from .trainers.losses import check_loss, make_loss
from .trainers.top_layers import check_layer_count, check_top_k_supported

PROFILES = ("auto", "cpu", "gpu")
WEAK_SELECT_SHARE = 0.2  # share of A (by group) on which the weak model chooses its epoch or C


# -- resolving names ----------------------------------------------------------------------------

def resolve_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise unknown_name("profile", profile, PROFILES)
    if profile == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return profile


def gap_models(gap: str, profile: str, task_name: str, paradigm: Paradigm) -> tuple[str, str, list[str]]:
    """The gap's (weak, strong) pair and its intermediate models (a bootstrapping ladder; usually
    none): its causal-LM ladder for generative paradigms, with any per-task override."""
    ladders = gap_ladders()[profile]
    if gap not in ladders:
        raise unknown_name("gap", gap, ladders)
    entry = dict(ladders[gap])
    pair = dict(entry["lm"]) if paradigm.causal_lm else {k: entry[k] for k in ("weak", "strong", "via") if k in entry}
    pair.update(entry.get("by_task", {}).get(task_name, {}) if not paradigm.causal_lm else {})
    return pair["weak"], pair["strong"], list(pair.get("via") or [])


def resolve_task(cfg: RunConfig) -> Task:
    """The run's task (a named one, or the user's file), checked against the run's conflict setting."""
    d = cfg.data
    task = custom_task(d.file, d.text_field, d.label_field, d.id_field, d.group_field, d.prompt_field,
                       d.chosen_field, d.rejected_field, d.hub_config, d.hub_split) if d.file else get_task(cfg.task)
    conflicts.check_conflict_task(cfg.conflict, task, pair_task_names())
    return task


def validate(cfg: RunConfig) -> tuple[conflicts.Conflict, object]:
    """Every setting within its declared bounds (config.py, the one schema), then what the plug-ins
    check of their own options: before any data is read or any model pulled. Returns the conflict
    and the loss it built."""
    check_values(cfg)
    get_paradigm(cfg.paradigm)
    make_method(cfg.method, cfg.method_options)  # an unknown method or option fails before any training
    conflict = conflicts.check_conflict(cfg.conflict, cfg.paradigm, cfg.conflict_amount, cfg.conflict_disagreement)
    loss = make_loss(**dataclasses.asdict(cfg.loss))  # an unknown name or a bad parameter fails before any training
    for role in ("weak_train", "strong_train"):
        try:
            resolve_quant(getattr(cfg, role).quant, getattr(cfg, role).finetune)  # quantisation needs LoRA
        except UserError as exc:
            raise UserError(f"{role}.{exc}") from None
        check_train_args(getattr(cfg, role).train_args, f"{role}.train_args")
    tracking.check(cfg.tracking.report_to)
    return conflict, loss


# -- models -------------------------------------------------------------------------------------

def fingerprint(part: pd.DataFrame) -> str:
    return content_hash([part["id"].tolist(), part["text"].tolist(), part["label"].tolist()])


@dataclass(frozen=True)
class ResolvedRun:
    """A run with every name resolved, once, by ``resolve_run``: what everything downstream reads
    (the protocol's steps, the run id, a sweep's cells). Loads no data and pulls no model."""

    cfg: RunConfig  # a copy with profile, models, method and via filled in (what the run id hashes)
    task: Task
    paradigm: Paradigm  # the student's (and the ceiling's)
    weak_paradigm: Paradigm  # how the weak model is trained (dpo: a reward model)
    method: Method
    conflict: conflicts.Conflict  # the student's conflicting objective ("none": no conflict)
    loss: object  # the student's W2S loss (trainers/losses.py)
    run_id: str


def resolve_run(cfg: RunConfig) -> ResolvedRun:
    """Check ``cfg`` and resolve everything it names: the one place a run config is validated and
    resolved (``run_experiment``, ``run_id_of`` and sweeps all come through here)."""
    conflict, loss = validate(cfg)
    cfg = copy.deepcopy(cfg)
    cfg.profile = resolve_profile(cfg.profile)
    task = resolve_task(cfg)
    paradigm = get_paradigm(cfg.paradigm)
    check_supported(paradigm, task, pair_task_names())
    weak_ref, strong_ref, via = gap_models(cfg.gap, cfg.profile, task.name, paradigm)
    cfg.weak_model, cfg.strong_model = cfg.weak_model or weak_ref, cfg.strong_model or strong_ref
    # The loss trains the student only: the strong model as strong_train says (its finetune mode).
    check_loss(model_class(cfg.strong_model, paradigm, cfg.strong_train), cfg.loss.name,
               f"student (strong model {cfg.strong_model!r}, strong_train.finetune={cfg.strong_train.finetune})")
    weak_paradigm = get_paradigm(paradigm.weak_paradigm or paradigm.name)
    for role, ref, how in (("weak_train", cfg.weak_model, weak_paradigm), ("strong_train", cfg.strong_model, paradigm)):
        if ref not in BUILTIN:  # lora_layers: top-K only where the paradigm's model reads cached layers
            try:
                check_top_k_supported(model_class(ref, how, getattr(cfg, role)), getattr(cfg, role).lora_layers, how.name)
            except UserError as exc:
                raise UserError(f"{role}.{exc}") from None
    # The method shapes the plan: which method runs and through which intermediate models.
    cfg.method, cfg.via = METHODS.get(cfg.method).plan(list(cfg.via), via, cfg.gap)
    method = make_method(cfg.method, cfg.method_options)
    check_method(method, paradigm)
    return ResolvedRun(cfg, task, paradigm, weak_paradigm, method, conflict, loss, _run_id(cfg, conflict))


def check_method(method, paradigm: Paradigm):
    if paradigm.name not in method.paradigm_names():
        raise UserError(f"method {method.name!r} supports paradigms {', '.join(method.paradigm_names())}, "
                        f"not {paradigm.name!r}")
    if method.weighted() and not paradigm.example_weights:
        raise UserError(f"method {method.name!r} weighs examples, and paradigm {paradigm.name!r}'s trainer takes no "
                        f"per-example weights (classify does)")


def run_id_of(cfg: RunConfig) -> str:
    """The run folder's name (``resolve_run(cfg).run_id``)."""
    return resolve_run(cfg).run_id


def _run_id(c: RunConfig, conflict: conflicts.Conflict) -> str:
    """Readable settings plus a hash of the whole resolved config ``c``."""
    task = c.task if not c.data.file else "custom-" + Path(c.data.file).stem
    identity = c.to_dict()
    for role in ("weak_train", "strong_train"):  # without train_args that cannot change results
        identity[role] = getattr(c, role).cache_identity()
    # Only what can change results names the run: not the CPU threads, not where the data folder is
    # (its content is in every step's key), not where curves are logged.
    del identity["threads"], identity["data"]["data_dir"], identity["tracking"]
    # The conflict's own settings, as it reads them (a sweep may set conflict_disagreement for its
    # controlled cells: the other cells do not read it).
    del identity["conflict_amount"], identity["conflict_disagreement"]
    identity["conflict"] = [c.conflict, conflict.key_settings()]
    identity["key_schema"] = KEY_SCHEMA
    extras = f"-conflict-{c.conflict}" if c.conflict != "none" else ""
    extras += "-via-" + "-".join(Path(m).name for m in c.via) if c.via else ""
    if c.method_options or not METHODS.get(c.method).named_by_models:
        extras += f"-{c.method}"
    return f"{task}-{c.gap}-{c.paradigm}-{c.loss.name}{extras}-s{c.seed}-{content_hash(identity)[:6]}"



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
    """weak → label → method → student → ceiling → zero-shot → evaluate → analyses; returns the run's
    metrics.
    ``shared_cache``: finished steps to read but never write (distributed.py)."""
    cfg = p.cfg
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    log = RunLog(run_dir / "log.jsonl", quiet=quiet)
    cache = StepCache(out_dir / ".cache", shared=shared_cache)
    split_info = balance(p.data)
    log("start", f"run {p.run_id}: task {p.task.name} ({p.source}), weak {cfg.weak_model} -> strong "
        f"{cfg.strong_model}, method {cfg.method}, profile {cfg.profile}", splits=split_info, source=p.source)
    log("splits", "splits: " + ", ".join(f"{k} {v['n']} ({v['positive']:.0%} positive)" for k, v in split_info.items()))
    A, B, val, test = (p.split(s) for s in SPLITS)
    split_keys = {name: fingerprint(part) for name, part in zip(SPLITS, (A, B, val, test))}
    started = time.time()
    paradigm, weak_paradigm, method, loss = p.run.paradigm, p.run.weak_paradigm, p.run.method, p.run.loss

    def train(step: str, key: str, model: ResolvedModel, how: Paradigm, train_cfg, frame, targets,
              select, select_targets, loss=None, weights=None, predict_on: dict | None = None) -> Path:
        """A cached step that trains ``model`` on (frame, targets), choosing its epoch / C on
        (select, select_targets), and predicts test (and each frame of ``predict_on``)."""
        def work(folder: Path) -> dict:
            # Trackers see the step's curves; they are not part of its key (tracking.py).
            tracked = dataclasses.replace(train_cfg, train_args={**train_cfg.train_args,
                                                                 **tracking.trainer_args(cfg.tracking, p.run_id, step)})
            trained = new_model(model, how, tracked, cfg.seed, p.task)
            extra = {"weights": weights} if weights is not None else {}
            with tracking.step_logging(cfg.tracking, out_dir, p.run_id, step):
                trained.fit(frame, targets, select, select_targets, loss=loss, work_dir=folder / "trainer", **extra)
            trained.save(folder / "model")
            atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": trained.predict_proba(test)}))
            for name, other in (predict_on or {}).items():
                atomic_write_parquet(folder / f"predictions-{name}.parquet",
                                     pd.DataFrame({"id": other["id"], "prob": trained.predict_proba(other)}))
            if trained.generates:  # generative models: show behaviour, not only numbers
                prompts = sample_prompts(test, how, p.task)
                atomic_write_json(folder / "generations.json", [
                    {"id": i, "prompt": q, "output": o} for i, q, o in zip(test["id"][: len(prompts)], prompts, trained.generate(prompts))])
            return {"model": model.ref, "paradigm": how.name, "n_train": len(frame), "history": trained.history}
        return cache.run(step, key, work, log)

    # -- 1. weak: W trained on A, choosing its epoch (or C) on a held-out fifth of A -----------
    weak_train = cfg.weak_train if p.weak.kind != "builtin" else None
    weak_how = [f"{weak_paradigm.name}-v{weak_paradigm.version}"] if weak_train else []
    weak_how += linear_model_version(p.weak, cfg.weak_train)
    # Every step that predicts test names the test split in its key: a run with other test caps
    # must not reuse predictions that lack some of its test examples.
    # The weak model chooses its epoch (or C) on a held-out part of its own ground truth A, never on
    # val: val's ground truth is held out from the supervisor side like test's (tests/test_leaks.py).
    A_fit, A_select = holdout_groups(A, cfg.seed, WEAK_SELECT_SHARE)
    weak_key = step_key("weak", p.weak.fingerprint, *weak_how, weak_train and weak_train.cache_identity(),
                        split_keys["A"], split_keys["test"], cfg.seed, "select-on-A", WEAK_SELECT_SHARE)
    weak_dir = train("weak", weak_key, p.weak, weak_paradigm, cfg.weak_train, A_fit, A_fit["label"].to_numpy(float),
                     A_select, A_select["label"].to_numpy(float))

    # -- 2. label: W's soft labels of B and val -------------------------------------------------
    label_key = step_key("label", weak_key, split_keys["B"], split_keys["val"])

    def label(folder: Path) -> dict:
        weak = load_trained(weak_dir / "model")
        both = pd.concat([B, val], ignore_index=True)
        atomic_write_parquet(folder / "labels.parquet", pd.DataFrame({"id": both["id"], "split": both["split"],
                                                                      "prob": weak.predict_proba(both)}))
        return {"n_labelled": len(both)}

    label_dir = cache.run("label", label_key, label, log)
    labels = pd.read_parquet(label_dir / "labels.parquet").set_index("id")["prob"]
    weak_B, weak_val = labels.loc[B["id"]].to_numpy(), labels.loc[val["id"]].to_numpy()

    # -- 3. method: the weak supervision becomes the student's training set ---------------------
    # The method sees A with ground truth and B, val, test without, and of every split only the
    # columns a supervisor may see: MethodContext cuts them (methods/base.py supervisor_view).
    ctx = MethodContext(cfg=cfg, task=p.task, paradigm=paradigm, weak_paradigm=weak_paradigm, weak=p.weak,
                        strong=p.strong, via=p.via, A_fit=A_fit, A_select=A_select, B=B, val=val, test=test,
                        weak_dir=weak_dir, weak_key=weak_key, label_key=label_key, weak_B=weak_B, weak_val=weak_val,
                        split_keys=split_keys, train=train, run_step=lambda step, key, work: cache.run(step, key, work, log),
                        features=lambda frame: strong_features(p.strong, cfg.strong_train, frame, p.task), log=log)
    if not method.is_baseline:
        log("method", f"method {cfg.method}: building the student's training set")
    training = method.training_set(ctx)

    # -- 4. student: S trained on the method's training set (plus any conflicting pairs) --------
    student_train = cfg.student.apply(cfg.strong_train)
    strong_how = [f"{paradigm.name}-v{paradigm.version}", *linear_model_version(p.strong, cfg.strong_train)]
    strong_common = [p.strong.fingerprint, *strong_how, cfg.strong_train.cache_identity(), split_keys["B"],
                     split_keys["val"], split_keys["test"], cfg.seed]
    with_truth = B.set_index("id", drop=False)

    def student(ts: TrainingSet, conflict: conflicts.Conflict) -> tuple[str, Path, dict | None]:
        """(step key, step folder, the conflict's record or None) of a student trained on ``ts``
        under ``conflict``."""
        # The method's rows with their ground truth back: only the conflict's key reads it.
        rows = with_truth.loc[ts.frame["id"]].reset_index(drop=True)
        name = conflict.name
        frame, targets = conflict.training_set(rows, ts.targets, p.outside, cfg.seed)
        weights = None if ts.weights is None else np.concatenate([ts.weights, np.ones(len(frame) - len(rows))])
        key = step_key("student", *strong_common, ts.key, cfg.loss.name, f"loss-v{loss.version}",
                       dataclasses.asdict(loss), "student_train", student_train.cache_identity(),
                       "conflict", name, conflict.key_settings(), fingerprint(frame), content_hash(targets.tolist()))
        folder = train("student", key, p.strong, paradigm, student_train, frame, targets, val, ts.val_targets,
                       loss=loss, weights=weights)
        # After training: the record reads the added pairs' truth (B's, for explicit).
        record = None if name == "none" else conflicts.conflict_record(conflict, frame, targets, len(rows))
        return key, folder, record

    student_key, student_dir, conflict_record = student(training, p.run.conflict)
    # The reference student beside a method's or a conflict's: the naive one, without conflict.
    baseline = None
    baseline_kind = ", ".join(k for k, on in ((method.baseline_name, not method.is_baseline),
                                              ("no conflict", cfg.conflict != "none")) if on)
    if baseline_kind:
        log("baseline", f"baseline: the plain student on the weak labels ({baseline_kind})")
        baseline = student(method.naive_set(ctx), conflicts.make_conflict("none"))

    # -- 5. ceiling: S trained on B's ground truth ----------------------------------------------
    ceiling_key = step_key("ceiling", *strong_common)
    ceiling_dir = train("ceiling", ceiling_key, p.strong, paradigm, cfg.strong_train, B, B["label"].to_numpy(float),
                        val, val["label"].to_numpy(float))

    # -- 6. zero-shot: S untrained, answering the task's question (trainers/sft.py zero_shot_model) --
    zero_shot = None  # (key, folder) of the step, in runs that have one
    if cfg.zero_shot == "auto":
        if is_causal_lm(p.strong):
            zero_shot = zero_shot_step(p, test, split_keys["test"], lambda key, work: cache.run("zero_shot", key, work, log))
        else:  # an encoder or tfidf: no row, and no error
            log("zero_shot_skipped", reason=f"strong model {cfg.strong_model} is not a causal LM: it has no answer words")

    # -- 7. evaluate ------------------------------------------------------------------------------
    predictions = test[["id", "label"]].copy()
    columns = dict(zip(MODEL_ROLES, (weak_dir, student_dir, ceiling_dir))) | training.models
    if baseline:
        columns[BASELINE] = baseline[1]
    if zero_shot:
        columns[ZERO_SHOT] = zero_shot[1]
    for column, folder in columns.items():
        predictions[column] = pd.read_parquet(folder / "test.parquet").set_index("id")["prob"].loc[test["id"]].to_numpy()
    atomic_write_parquet(run_dir / "predictions.parquet", predictions)
    generations = {role: json.loads((folder / "generations.json").read_text())
                   for role, folder in zip(MODEL_ROLES, (weak_dir, student_dir, ceiling_dir))
                   if (folder / "generations.json").exists()}
    if generations:
        atomic_write_json(run_dir / "generations.json", generations)
    truth_B = B["label"].to_numpy()  # the label accuracies in metrics.json only
    metrics = compute_metrics(predictions, cfg)
    metrics.update(task=p.task.name, source=p.source, paradigm=cfg.paradigm, loss=cfg.loss.name,
                   method=cfg.method, method_options=dict(cfg.method_options),
                   conflict=cfg.conflict, via=list(cfg.via),
                   models={"weak": cfg.weak_model, "strong": cfg.strong_model}, splits=split_info,
                   precision={"weak": resolve_precision(cfg.weak_train.precision),
                              "strong": resolve_precision(cfg.strong_train.precision)},
                   steps={"weak": weak_key, "label": label_key, "student": student_key, "ceiling": ceiling_key},
                   weak_label_acc_B=accuracy(truth_B, weak_B),
                   seconds=round(time.time() - started, 1))
    if zero_shot:
        metrics["steps"]["zero_shot"] = zero_shot[0]
        metrics.update(zero_shot_metrics(predictions, cfg))
    metrics["method_info"] = training_set_summary(training, truth_B, B)
    metrics["provenance"] = provenance()
    if p.via:
        metrics["chain"] = [
            {"model": model.ref, "acc": model_metrics(predictions["label"].to_numpy(), predictions[f"via:{model.ref}"].to_numpy())["acc"],
             "label_acc_B": label_accuracy(training.models[f"via:{model.ref}"], B)} for model in p.via]
    step_dirs = {"weak": weak_dir, "label": label_dir, "student": student_dir, "ceiling": ceiling_dir}
    if baseline:
        step_dirs["baseline"] = baseline[1]
    if zero_shot:
        step_dirs["zero_shot"] = zero_shot[1]
    metrics["memory"] = {step: step_memory(folder) for step, folder in step_dirs.items()}
    if baseline:
        metrics["steps"]["baseline"] = baseline[0]
        plain = compute_metrics(predictions, cfg, student_col=BASELINE)
        metrics["baseline"] = {"student": plain["student"], "pgr": plain["pgr"], "kind": baseline_kind}
    # -- 8. analyses: computed from the stored predictions ---------------------------------------
    if conflict_record:
        metrics["conflict_info"] = conflict_record
    # the 2x2x2 table, deception and imitation numbers (and the conflict's realised disagreement)
    metrics["deception"] = write_deception(run_dir, conflict=conflict_record)
    if distributed.is_main():  # once per run, not once per rank
        tracking.log_final_metrics(cfg.tracking, out_dir, p.run_id, metrics)
    log("done", metrics={k: metrics[k] for k in ("weak", "student", "ceiling", "gap", "pgr")})
    return metrics


# Bumped when the zero-shot step's scoring changes apart from the sft paradigm's (whose version its key
# holds too), so older zero-shot predictions are not reused.
ZERO_SHOT_VERSION = 1


def zero_shot_step(p: Prepared, test: pd.DataFrame, test_key: str, run_step) -> tuple[str, Path]:
    """(key, folder) of the cached zero-shot step: the strong model, untrained, answering the task's
    question on ``test`` (trainers/sft.py ``zero_shot_model``). Nothing is trained, so its key holds
    only what the answers depend on: the strong model's weights, the prompt (question and answer
    words) and how it is scored (the sft paradigm's version; max_length, precision and quantisation),
    and the test examples; not the seed, the weak model or anything the student trains with."""
    from .trainers.sft import zero_shot_config, zero_shot_model

    how = zero_shot_config(p.cfg.strong_train)
    key = step_key("zero_shot", f"v{ZERO_SHOT_VERSION}", p.strong.fingerprint,
                   f"sft-v{get_paradigm('sft').version}", p.task.question, list(p.task.answers),
                   {"max_length": how.max_length, "precision": resolve_precision(how.precision),
                    "quant": how.quant}, test_key)

    def work(folder: Path) -> dict:
        scorer = zero_shot_model(p.strong.location, p.cfg.strong_train, p.task)
        atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": scorer.predict_proba(test)}))
        return {"model": p.strong.ref, "scorer": "sft", "question": p.task.question, "answers": list(p.task.answers),
                "threshold": scorer.threshold}

    return key, run_step(key, work)


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


def strong_features(strong: ResolvedModel, train_cfg, frame: pd.DataFrame, task: Task) -> np.ndarray:
    """The strong model's frozen features of each row (the probe's, pooled as ``train_cfg`` says;
    for pairs φ(A) − φ(B)), computed once per text and model and cached on disk."""
    from .trainers.bow import ProbeClassifier

    return ProbeClassifier.of(strong.location, train_cfg, 0, task).features(frame)


N_GENERATIONS = 4


def sample_prompts(test: pd.DataFrame, how: Paradigm, task: Task) -> list[str]:
    """The prompts whose greedy continuations a run keeps for a reader (the first few of test)."""
    from .trainers.dpo import dpo_prompt
    from .trainers.sft import sft_prompt

    head = test.head(N_GENERATIONS)
    if how.needs_pairs:
        return [dpo_prompt(q) for q in head["prompt"]]
    return [sft_prompt(t, task.question) for t in head["text"]]


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


def summary_table(m: dict) -> str:
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
