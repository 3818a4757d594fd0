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

Each step is cached by a content hash of what it depends on (model weights, data, training
config, loss, seed, and the steps before it), so a run that changes only the loss retrains only
the student. The run folder holds the resolved config, per-example test predictions of all
three models, metrics and the log; analyses read it without retraining.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import conflict as conflicts
from .config import RunConfig, packaged_yaml
from .deception import BASELINE, write_deception
from .errors import UserError, unknown_name
from .eval.metrics import bootstrap_pgr, model_metrics
from .models.resolve import ResolvedModel, resolve_model
from .splits import SPLITS, assign_splits, balance, holdout_groups, unit_hash
from .store import (RunLog, StepCache, atomic_write_json, atomic_write_parquet, atomic_write_yaml,
                    content_hash)
from .paradigms import Paradigm, check_supported, get_paradigm, load_trained, new_model
from .tasks import TASKS, get_task
from .tasks.base import Task
from .tasks.custom import custom_task
from .trainers.bow import PAIR_CONTEXTS
from .trainers.common import FINETUNE_MODES, resolve_quant
from .trainers.losses import make_loss

PROFILES = ("auto", "cpu", "gpu")
MODEL_ROLES = ("weak", "student", "ceiling")
N_FOLDS = 2  # cross-fitting of an intermediate model's labels
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
    ladders = packaged_yaml("gaps.yaml")[profile]
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
                       d.chosen_field, d.rejected_field) if d.file else get_task(cfg.task)
    conflicts.check_conflict_task(cfg.conflict, task, [n for n, t in TASKS.items() if t.pairwise])
    return task


def validate(cfg: RunConfig):
    get_paradigm(cfg.paradigm)
    conflicts.check_conflict(cfg.conflict, cfg.paradigm, cfg.conflict_amount)
    make_loss(**dataclasses.asdict(cfg.loss))  # an unknown name or a bad parameter fails before any training
    for name, value in dataclasses.asdict(cfg.student).items():
        if value is not None and value <= 0:
            raise UserError(f"student.{name}: expected a positive number or null (as the ceiling), got {value!r}")
    for role in ("weak_train", "strong_train"):
        mode = getattr(cfg, role).finetune
        if mode not in FINETUNE_MODES:
            raise UserError(f"{role}.finetune: unknown mode {mode!r}; valid: {', '.join(FINETUNE_MODES)}")
        try:
            resolve_quant(getattr(cfg, role).quant, mode)
        except UserError as exc:
            raise UserError(f"{role}.{exc}") from None
        if getattr(cfg, role).pair_context not in PAIR_CONTEXTS:
            raise UserError(f"{role}.pair_context: unknown value {getattr(cfg, role).pair_context!r}; valid: "
                            f"{', '.join(PAIR_CONTEXTS)}")


# -- models -------------------------------------------------------------------------------------

def fingerprint(part: pd.DataFrame) -> str:
    return content_hash([part["id"].tolist(), part["text"].tolist(), part["label"].tolist()])


@dataclass
class Prepared:
    """A resolved run: config with every name filled in, the split data and the models."""

    cfg: RunConfig
    task: Task
    source: str
    data: pd.DataFrame
    weak: ResolvedModel
    strong: ResolvedModel
    via: list[ResolvedModel]
    outside: pd.DataFrame | None  # examples whose group no split uses (only for --conflict implicit)

    def split(self, name: str) -> pd.DataFrame:
        return self.data[self.data["split"] == name].reset_index(drop=True)

    @property
    def run_id(self) -> str:
        return run_id_of(self.cfg)


def resolve_config(cfg: RunConfig) -> tuple[RunConfig, Task]:
    """A copy of ``cfg`` with profile and models filled in (what the run id hashes), and its task.
    Loads no data and pulls no model."""
    validate(cfg)
    cfg = copy.deepcopy(cfg)
    cfg.profile = resolve_profile(cfg.profile)
    task = resolve_task(cfg)
    paradigm = get_paradigm(cfg.paradigm)
    check_supported(paradigm, task, cfg.loss.name, [n for n, t in TASKS.items() if t.pairwise])
    weak_ref, strong_ref, via = gap_models(cfg.gap, cfg.profile, task.name, paradigm)
    cfg.weak_model, cfg.strong_model = cfg.weak_model or weak_ref, cfg.strong_model or strong_ref
    cfg.via = cfg.via or via
    return cfg, task


def run_id_of(cfg: RunConfig) -> str:
    """The run folder's name: readable settings plus a hash of the whole resolved config."""
    c, _ = resolve_config(cfg)
    task = c.task if not c.data.file else "custom-" + Path(c.data.file).stem
    identity = c.to_dict()
    extras = ""
    # Settings added later leave the ids of runs that do not use them unchanged.
    if c.conflict == "none":
        del identity["conflict"], identity["conflict_amount"]
    else:
        extras += f"-conflict-{c.conflict}"
    if not c.via:
        del identity["via"]
    else:
        extras += "-via-" + "-".join(Path(m).name for m in c.via)
    return f"{task}-{c.gap}-{c.paradigm}-{c.loss.name}{extras}-s{c.seed}-{content_hash(identity)[:6]}"


def prepare(cfg: RunConfig) -> Prepared:
    cfg, task = resolve_config(cfg)
    weak, strong = resolve_model(cfg.weak_model), resolve_model(cfg.strong_model)
    via = [resolve_model(ref) for ref in cfg.via]
    frame, source = task.load(cfg.data.data_dir)
    data = assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)
    for name in SPLITS:
        if (data["split"] == name).sum() == 0:
            raise UserError(f"{source}: split {name!r} is empty; the data has {len(frame)} examples "
                            f"in {frame['group'].nunique()} groups (need more, or other splits.fractions)")
    outside = conflicts.outside_splits(frame, data) if cfg.conflict == "implicit" else None
    return Prepared(cfg, task, source, data, weak, strong, via, outside)


# -- the protocol -------------------------------------------------------------------------------

def run_experiment(cfg: RunConfig, out_dir: str | Path = "runs", quiet: bool = False) -> Path:
    """Run (or resume) one experiment; return its run folder."""
    p = prepare(cfg)
    cfg = p.cfg
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    out_dir = Path(out_dir)
    run_dir = out_dir / p.run_id
    log = RunLog(run_dir / "log.jsonl", quiet=quiet)
    cache = StepCache(out_dir / ".cache")
    atomic_write_yaml(run_dir / "config.yaml", cfg.to_dict())
    split_info = balance(p.data)
    log("start", f"run {p.run_id}: task {p.task.name} ({p.source}), weak {cfg.weak_model} -> strong "
        f"{cfg.strong_model}, profile {cfg.profile}", splits=split_info, source=p.source)
    log("splits", "splits: " + ", ".join(f"{k} {v['n']} ({v['positive']:.0%} positive)" for k, v in split_info.items()))
    A, B, val, test = (p.split(s) for s in SPLITS)
    started = time.time()

    paradigm = get_paradigm(cfg.paradigm)
    weak_paradigm = get_paradigm(paradigm.weak_paradigm or paradigm.name)

    def train_and_predict(model: ResolvedModel, how: Paradigm, train_cfg, train, labels, select, select_labels,
                          loss=None):
        """The work of a step that trains ``model`` on (train, labels), choosing its epoch / C on
        (select, select_labels), and predicts test."""
        def work(folder: Path) -> dict:
            trained = new_model(model, how, train_cfg, cfg.seed, p.task)
            trained.fit(train, labels, select, select_labels, loss=loss, work_dir=folder / "trainer")
            trained.save(folder / "model")
            probs = trained.predict_proba(test)
            atomic_write_parquet(folder / "test.parquet", pd.DataFrame({"id": test["id"], "prob": probs}))
            if hasattr(trained, "generate"):  # generative models: show behaviour, not only numbers
                prompts = sample_prompts(test, how, p.task)
                atomic_write_json(folder / "generations.json", [
                    {"id": i, "prompt": q, "output": o} for i, q, o in zip(test["id"][: len(prompts)], prompts, trained.generate(prompts))])
            return {"model": model.ref, "paradigm": how.name, "n_train": len(train), "history": trained.history}
        return work

    weak_train = cfg.weak_train if p.weak.kind != "builtin" else None
    # Keys name the paradigm only when it is not classify, so classify caches stay valid.
    weak_how = [weak_paradigm.name] if weak_train and weak_paradigm.name != "classify" else []
    weak_how += [f"{weak_paradigm.name}-v{weak_paradigm.version}"] if weak_train and weak_paradigm.version > 1 else []
    weak_how += linear_model_version(p.weak, cfg.weak_train)
    # Every step that predicts test names the test split in its key: a run with other test caps
    # must not reuse predictions that lack some of its test examples.
    # The weak model chooses its epoch (or C) on a held-out part of its own ground truth A, never on
    # val: val's ground truth is held out from the supervisor side like test's (tests/test_leaks.py).
    A_fit, A_select = holdout_groups(A, cfg.seed, WEAK_SELECT_SHARE)
    weak_key = content_hash(["weak", p.weak.fingerprint, *weak_how, weak_train and dataclasses.asdict(weak_train),
                             fingerprint(A), fingerprint(test), cfg.seed, "select-on-A", WEAK_SELECT_SHARE])
    weak_dir = cache.run("weak", weak_key, train_and_predict(
        p.weak, weak_paradigm, cfg.weak_train, A_fit, A_fit["label"].to_numpy(float), A_select,
        A_select["label"].to_numpy(float)), log)

    label_key = content_hash(["label", weak_key, fingerprint(B), fingerprint(val)])

    def label(folder: Path) -> dict:
        weak = load_trained(weak_dir / "model")
        both = pd.concat([B, val], ignore_index=True)
        probs = weak.predict_proba(both)
        atomic_write_parquet(folder / "labels.parquet", pd.DataFrame({"id": both["id"], "split": both["split"], "prob": probs}))
        # The label step sees no ground truth of B; the weak labels' accuracy goes in metrics.json.
        return {"n_labelled": len(both)}

    label_dir = cache.run("label", label_key, label, log)

    def read_labels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
        labels = pd.read_parquet(folder / "labels.parquet").set_index("id")["prob"]
        return labels.loc[B["id"]].to_numpy(), labels.loc[val["id"]].to_numpy()

    weak_B, weak_val = read_labels(label_dir)

    # -- bootstrapping chain: each intermediate relabels B and val, cross-fitted ---------------
    truth_B = B["label"].to_numpy() == 1  # for the label accuracies in metrics.json only
    chain_key, chain_B, chain_val, via_dirs, chain_label_acc = label_key, weak_B, weak_val, [], []
    # Intermediates train as strong_train: each sees only half of B.
    for model in p.via:
        via_key = content_hash(["via", model.fingerprint, paradigm.name, *linear_model_version(model, cfg.strong_train),
                                dataclasses.asdict(cfg.strong_train), fingerprint(B), fingerprint(val), fingerprint(test), chain_key, cfg.seed])
        via_dirs.append(cache.run("via", via_key, relabel_cross_fitted(
            model, paradigm, cfg.strong_train, cfg.seed, p.task, B, val, test, chain_B, chain_val), log))
        chain_key = via_key
        chain_B, chain_val = read_labels(via_dirs[-1])
        chain_label_acc.append(float(((chain_B > 0.5) == truth_B).mean()))

    student_train = cfg.student.apply(cfg.strong_train)
    strong_how = [paradigm.name] if paradigm.name != "classify" else []
    strong_how += [f"{paradigm.name}-v{paradigm.version}"] if paradigm.version > 1 else []
    strong_how += linear_model_version(p.strong, cfg.strong_train)
    strong_common = [p.strong.fingerprint, *strong_how, dataclasses.asdict(cfg.strong_train), fingerprint(B),
                     fingerprint(val), fingerprint(test), cfg.seed]
    loss = make_loss(**dataclasses.asdict(cfg.loss))

    def student(labels_key: str, labels_B, labels_val, conflict: str) -> tuple[str, Path]:
        train, train_labels = conflicts.student_training_set(conflict, cfg.conflict_amount, B, labels_B,
                                                            p.outside, cfg.seed)
        key_parts = ["student", *strong_common, labels_key, cfg.loss.name, dataclasses.asdict(loss)]
        if getattr(loss, "version", 1) > 1:  # a loss whose code changed does not reuse its old results
            key_parts.append(f"loss-v{loss.version}")
        if student_train != cfg.strong_train:  # a student trained as its ceiling keeps its old key
            key_parts += ["student_train", dataclasses.asdict(student_train)]
        if conflict != "none":  # the no-conflict key stays what it always was
            key_parts += ["conflict", conflict, fingerprint(train), content_hash(train_labels.tolist())]
        key = content_hash(key_parts)
        return key, cache.run("student", key, train_and_predict(
            p.strong, paradigm, student_train, train, train_labels, val, labels_val, loss=loss), log)

    student_key, student_dir = student(chain_key, chain_B, chain_val, cfg.conflict)
    baseline = None
    baseline_kind = ", ".join(k for k, on in (("direct", bool(p.via)), ("no conflict", cfg.conflict != "none")) if on)
    if baseline_kind:
        log("baseline", f"baseline: the plain student on the weak labels ({baseline_kind})")
        baseline = student(label_key, weak_B, weak_val, "none")

    ceiling_key = content_hash(["ceiling", *strong_common])
    ceiling_dir = cache.run("ceiling", ceiling_key, train_and_predict(
        p.strong, paradigm, cfg.strong_train, B, B["label"].to_numpy(float), val, val["label"].to_numpy(float)), log)

    # -- evaluate ---------------------------------------------------------------------------
    predictions = test[["id", "label"]].copy()
    columns = dict(zip(MODEL_ROLES, (weak_dir, student_dir, ceiling_dir)))
    columns |= {f"via:{model.ref}": folder for model, folder in zip(p.via, via_dirs)}
    if baseline:
        columns[BASELINE] = baseline[1]
    for column, folder in columns.items():
        predictions[column] = pd.read_parquet(folder / "test.parquet").set_index("id")["prob"].loc[test["id"]].to_numpy()
    atomic_write_parquet(run_dir / "predictions.parquet", predictions)
    generations = {role: json.loads((folder / "generations.json").read_text())
                   for role, folder in zip(MODEL_ROLES, (weak_dir, student_dir, ceiling_dir))
                   if (folder / "generations.json").exists()}
    if generations:
        atomic_write_json(run_dir / "generations.json", generations)
    metrics = compute_metrics(predictions, cfg)
    metrics.update(task=p.task.name, source=p.source, paradigm=cfg.paradigm, loss=cfg.loss.name,
                   conflict=cfg.conflict, via=list(cfg.via),
                   models={"weak": cfg.weak_model, "strong": cfg.strong_model}, splits=split_info,
                   steps={"weak": weak_key, "label": label_key, "student": student_key, "ceiling": ceiling_key},
                   weak_label_acc_B=float(((weak_B > 0.5) == truth_B).mean()),
                   seconds=round(time.time() - started, 1))
    if p.via:
        metrics["chain"] = [
            {"model": model.ref, "acc": model_metrics(predictions["label"].to_numpy(), predictions[f"via:{model.ref}"].to_numpy())["acc"],
             "label_acc_B": label_acc} for model, label_acc in zip(p.via, chain_label_acc)]
    if baseline:
        metrics["steps"]["baseline"] = baseline[0]
        plain = compute_metrics(predictions, cfg, student_col=BASELINE)
        metrics["baseline"] = {"student": plain["student"], "pgr": plain["pgr"], "kind": baseline_kind}
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_deception(run_dir)  # the 2x2x2 table and deception numbers, into metrics.json too
    log("done", metrics={k: metrics[k] for k in ("weak", "student", "ceiling", "gap", "pgr")})
    return run_dir


def relabel_cross_fitted(model: ResolvedModel, how: Paradigm, train_cfg, seed: int, task: Task,
                         B: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, labels_B, labels_val):
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


def linear_model_version(model: ResolvedModel, train_cfg) -> list:
    """The feature version of the bag-of-words model and the probe, for the steps that fit one."""
    from .trainers.bow import FEATURES_VERSION

    return [f"linear-features-v{FEATURES_VERSION}"] if model.kind == "builtin" or train_cfg.finetune == "probe" else []


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
    pgr = m["pgr"]
    gap_ci = f"95% CI [{pgr['gap_ci_low']:+.3f}, {pgr['gap_ci_high']:+.3f}], " if pgr.get("gap_ci_low") is not None else ""
    rows.append(f"gap      {m['gap']:+.3f} (ceiling − weak accuracy, {gap_ci}{m['n_test']} test examples)")
    if pgr["value"] is None:
        rows.append(f"PGR      n/a ({pgr['reason']})")
    else:
        low = "-inf" if pgr["ci_low"] is None else f"{pgr['ci_low']:.3f}"
        high = "+inf" if pgr["ci_high"] is None else f"{pgr['ci_high']:.3f}"
        rows.append(f"PGR      {pgr['value']:.3f}  95% CI [{low}, {high}]")
        if pgr.get("reason"):
            rows.append(f"         ({pgr['reason']})")
    return "result:\n" + "\n".join("  " + r for r in rows)
