"""Resolving a run: a ``RunConfig`` checked and every name in it resolved, once.

``resolve_run(cfg) -> ResolvedRun`` is the one place a run config is validated: every setting
within its declared bounds (config.py), each plug-in's own options, the task and the paradigms,
the gap's models, the method's plan (which method, through which intermediate models), the conflict
and the loss, and the run id that names the run folder. Everything downstream (the protocol's
steps, ``run_id_of``, a sweep's cells) reads the resolved run; nothing re-resolves it. Nothing here
loads data or pulls a model: a bad run fails in a second, before any work.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from . import conflict as conflicts
from . import tracking
from .config import RunConfig, check_values, gap_ladders
from .errors import UserError, unknown_name
from .methods import METHODS, Method, make_method, no_hidden_states
from .models.resolve import BUILTIN
from .paradigms import Paradigm, check_supported, get_paradigm, model_class
from .store import KEY_SCHEMA, check_writable, content_hash
from .tasks import get_task, pair_task_names
from .tasks.base import Task
from .tasks.custom import custom_task
from .trainers.common import check_train_args, resolve_quant
from .trainers.losses import check_loss, make_loss
from .trainers.top_layers import check_top_k_supported

PROFILES = ("auto", "cpu", "gpu")


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
    if method.reads_strong_features and cfg.strong_model in BUILTIN:
        raise no_hidden_states(method.name, cfg.strong_model)
    return ResolvedRun(cfg, task, paradigm, weak_paradigm, method, conflict, loss, _run_id(cfg, conflict))


def run_id_of(cfg: RunConfig) -> str:
    """The run folder's name (``resolve_run(cfg).run_id``)."""
    return resolve_run(cfg).run_id


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
    if cfg.tracking.report_to and cfg.tracking.dir:  # where curves go: checked before any training
        check_writable(Path(cfg.tracking.dir), "tracking.dir")
    return conflict, loss


def resolve_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise unknown_name("profile", profile, PROFILES)
    if profile == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return profile


def resolve_task(cfg: RunConfig) -> Task:
    """The run's task (a named one, or the user's file), checked against the run's conflict setting."""
    d = cfg.data
    task = custom_task(d.file, d.text_field, d.label_field, d.id_field, d.group_field, d.prompt_field,
                       d.chosen_field, d.rejected_field, d.hub_config, d.hub_split) if d.file else get_task(cfg.task)
    conflicts.check_conflict_task(cfg.conflict, task, pair_task_names())
    return task


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


def check_method(method, paradigm: Paradigm):
    if paradigm.name not in method.paradigm_names():
        raise UserError(f"method {method.name!r} supports paradigms {', '.join(method.paradigm_names())}, "
                        f"not {paradigm.name!r}")
    if method.weighted() and not paradigm.example_weights:
        raise UserError(f"method {method.name!r} weighs examples, and paradigm {paradigm.name!r}'s trainer takes no "
                        f"per-example weights (classify does)")


def _run_id(c: RunConfig, conflict: conflicts.Conflict) -> str:
    """Readable settings plus a hash of the whole resolved config ``c``."""
    # A file's name as a folder name: only characters that are safe in paths and shells.
    task = c.task if not c.data.file else "custom-" + re.sub(r"[^A-Za-z0-9._-]+", "-", Path(c.data.file).stem)
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
