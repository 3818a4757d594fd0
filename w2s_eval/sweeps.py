"""A sweep: one run per cell of a grid (task × gap × paradigm × loss × method × conflict × seed),
resumable, its cells run one after another or in parallel on Ray (``executors.py``), whole or in
shards.

Each cell is an ordinary run (``protocol.run_experiment``) whose config is the base config with
the cell's task, gap, paradigm, loss, method, conflict and seed set; its run folder lands in ``runs_dir`` (by
default the sweep folder itself, so weak models, labels and ceilings are shared through one step
cache). A cell whose run folder is done (run_folder.py) is never rerun, so running the same
sweep again after a kill finishes only the unfinished cells.

The sweep folder holds:

- ``sweep.json``: the grid, the base config and where the runs are;
- ``sweep.parquet``: one row per cell (``CELL_KEYS``, run id and folder, ``status`` = pending |
  running | done | failed | interrupted, the error of a failed cell, accuracies, gap, PGR and the
  deception numbers with their intervals), rewritten atomically after every cell; a shard writes
  ``sweep.shard-<i>-of-<N>.parquet`` instead, and ``collect`` indexes every cell into ``sweep.parquet``;
- ``sweep_log.jsonl``: events, with the traceback of each failed cell.

``aggregate`` pools the seeds of each condition: the statistic of the seeds' pooled cell tables with a
hierarchical bootstrap over seeds and test examples (PGR: the ratio of the mean gaps).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import pandas as pd

from . import protocol
from .config import MAX_SEED, RunConfig, Settings, gap_ladders, packaged_yaml, setting
from .conflict import check_conflict, check_conflict_task
from .deception import BASELINE, NUMBERS, deception_table, imitation_table, null_verdict, read_deception
from .eval.catalogue import CATALOGUE
from .eval.metrics import GAIN_METRICS, ZERO_SHOT_METRICS, ZERO_SHOT_MODELS, paired_table
from .eval.metrics import RUN_TABLE_MODELS, TABLES, bootstrap, interval_text, pgr_from_tables, t_interval
from .errors import UserError, unknown_name
from .resolve import ResolvedRun, resolve_profile, resolve_run
from .run_folder import ZERO_SHOT, error_of, is_done, read_run, status_of
from .store import (RunLog, atomic_write_json, atomic_write_parquet, check_outputs_writable, check_writable,
                    readable_file)

# The experiment's dimensions, declared once: grid axes, sweep rows, pooling and report filters follow.
CELL_KEYS = ("task", "gap", "paradigm", "loss", "method", "conflict", "seed")
CONDITION_KEYS = CELL_KEYS[:-1]  # a condition is a cell without its seed
CONDITION_AXES = CONDITION_KEYS[2:]  # what tells conditions apart within one task and gap
AXIS_DEFAULTS = {"method": "naive"}  # for rows of sweeps made before an axis existed


def select(frame: pd.DataFrame, task: str, gap: str, condition: tuple) -> pd.DataFrame:
    """The rows of ``frame`` (sweep rows or pooled rows) of one task, gap and condition
    (a tuple over ``CONDITION_AXES``)."""
    mask = (frame["task"] == task) & (frame["gap"] == gap)
    for key, value in zip(CONDITION_AXES, condition):
        mask &= frame[key] == value
    return frame[mask]
STATUSES = ("pending", "running", "done", "failed", "interrupted")
# Every pooled metric (eval.catalogue): accuracies, gap and PGR; imitation and deception numbers;
# the baseline student's columns; a method's gain over the naive student.
METRICS = tuple(CATALOGUE)

# A base config, or a function task -> config (so each task gets its own per-task defaults:
# e.g. ``lambda task: load_config(file, sets, flags | {"task": task})``).
BaseConfig = Union[RunConfig, Callable[[str, str], RunConfig]]


def _names_of(registry: str):
    """The registered names of a plug-in kind, read when a grid is checked (plug-ins register late)."""
    def names() -> tuple:
        from .conflict import CONFLICTS
        from .paradigms import PARADIGMS
        from .trainers.losses import LOSSES

        return tuple({"paradigm": PARADIGMS, "loss": LOSSES, "conflict": CONFLICTS}[registry].names())
    return names


def _gap_names() -> tuple:
    return tuple(dict.fromkeys(gap for ladders in gap_ladders().values() for gap in ladders))


@dataclass
class SweepGrid(Settings):
    """The values of each axis of a sweep; it runs every combination. Each axis is a non-empty list,
    its items within the bounds declared here (checked on construction and published as
    docs/sweep-grid.schema.json); ``validate`` checks what depends on the base config."""

    tasks: list[str] = setting(default_factory=lambda: ["toxicity"], min_items=1,
                               expected="a task name (w2s-eval tasks); with your own data, one")
    gaps: list[str] = setting(default_factory=lambda: ["large"], min_items=1, choices=_gap_names)
    paradigms: list[str] = setting(default_factory=lambda: ["classify"], min_items=1, choices=_names_of("paradigm"))
    losses: list[str] = setting(default_factory=lambda: ["xent"], min_items=1, choices=_names_of("loss"))
    seeds: list[int] = setting(default_factory=lambda: [0], min_items=1, ge=0, le=MAX_SEED,
                               expected=f"a non-negative integer up to {MAX_SEED} (2**32 - 1)")
    conflicts: list[str] = setting(default_factory=lambda: ["none"], min_items=1, choices=_names_of("conflict"))
    # name[:option=value...]: the method and its options (methods.parse_method_spec)
    methods: list[str] = setting(default_factory=lambda: ["naive"], min_items=1,
                                 expected="a method name, or name:option=value (w2s-eval methods)")

    AXES = {"task": "tasks", "gap": "gaps", "paradigm": "paradigms", "loss": "losses", "method": "methods",
            "conflict": "conflicts", "seed": "seeds"}  # cell key -> grid field, in CELL_KEYS order

    def __post_init__(self):
        try:
            super().__post_init__()
        except UserError as exc:
            raise UserError(f"sweep grid: {exc}") from None

    def check(self):
        from .methods import parse_method_spec

        for method in self.methods:  # its name and options, checked by the method's own config class
            parse_method_spec(method)

    def cells(self) -> list[dict]:
        """Every cell, seeds innermost, in the order the axes list them (duplicates dropped)."""
        axes = [list(dict.fromkeys(getattr(self, self.AXES[key]))) for key in CELL_KEYS]
        return [dict(zip(CELL_KEYS, values)) for values in itertools.product(*axes)]

    def validate(self, profile: str, custom_data: bool = False, conflict_disagreement: float | None = None):
        """What depends on the base config, before any run starts: the tasks (with your own data,
        one), the gaps of the profile's ladder, and each conflict with each paradigm and task
        (``controlled`` with the base config's ``conflict_disagreement``). UserError naming the axis
        and the valid values."""
        from .tasks import TASKS, pair_task_names

        if custom_data and len(set(self.tasks)) > 1:
            raise UserError("sweep grid: with your own data (data.file) the task is that data; give one task, "
                            f"not {', '.join(self.tasks)}")
        if not custom_data:
            for task in self.tasks:
                TASKS.get(task)
        ladders = gap_ladders()[resolve_profile(profile)]
        for gap in self.gaps:
            if gap not in ladders:
                raise unknown_name("gap", gap, ladders)
        for paradigm in self.paradigms:
            for conflict in self.conflicts:
                try:
                    check_conflict(conflict, paradigm, 1.0, conflict_disagreement)
                except UserError as exc:
                    raise UserError(f"sweep grid: {exc}") from None
        if not custom_data:
            for task in self.tasks:
                for conflict in self.conflicts:
                    try:
                        check_conflict_task(conflict, TASKS[task], pair_task_names())
                    except UserError as exc:
                        raise UserError(f"sweep grid: {exc}") from None


def cell_config(base_config: BaseConfig, cell: dict) -> RunConfig:
    """The base config (a copy) with the cell's task, gap, paradigm, loss, method, conflict and seed."""
    cfg = copy.deepcopy(base_config(cell["task"], cell["paradigm"]) if callable(base_config) else base_config)
    cfg.task, cfg.gap, cfg.paradigm, cfg.seed = cell["task"], cell["gap"], cell["paradigm"], int(cell["seed"])
    cfg.loss.name, cfg.conflict = cell["loss"], cell["conflict"]
    from .methods import parse_method_spec

    # The cell's method spec (name[:option=value...]) names the method; options the base config sets
    # (--set method_options...) apply to the cells of the method it names.
    name, options = parse_method_spec(cell["method"])
    inherited = cfg.method_options if cfg.method == name else {}
    cfg.method, cfg.method_options = name, {**inherited, **options}
    return cfg


def _task_defaults_warning(base_config: BaseConfig, grid: SweepGrid) -> str | None:
    """A plain RunConfig carries the per-task defaults of *its* task only; say so when that matters."""
    if callable(base_config) or base_config.data.file:
        return None
    defaults = packaged_yaml("overrides.yaml")["tasks"]
    affected = [t for t in dict.fromkeys(grid.tasks) if t != base_config.task
                and (defaults.get(t) or defaults.get(base_config.task))]
    if not affected:
        return None
    return (f"the base config was made for task {base_config.task!r}; tasks {', '.join(affected)} run with its "
            f"settings, not their own per-task defaults (configs/overrides.yaml); pass a function "
            f"task -> RunConfig as base_config to get them")


# -- one row per cell ------------------------------------------------------------------------------

def _interval_columns(name: str, interval) -> dict:
    return {f"{name}_ci_low": interval.ci_low, f"{name}_ci_high": interval.ci_high}


def run_summary(run_dir: Path) -> dict:
    """The sweep-row numbers of a finished run folder.

    The row keeps the run's cell tables (``run_table``: weak, ceiling, student right?;
    ``deception_table`` for a conflict run; ``zero_shot_table`` for a run with a zero-shot model) as
    JSON lists, so ``aggregate`` can pool seeds by pooling tables and bootstrap seeds and examples
    together."""
    run = read_run(run_dir)
    metrics, deception, predictions = run.metrics, read_deception(run_dir), run.predictions()
    settings = dict(n_boot=deception["n_boot"], seed=deception["seed"], level=deception["level"])
    table = imitation_table(predictions)
    row = {"n_test": metrics.get("n_test", len(predictions)), "seconds": metrics.get("seconds"),
           "weak_model": (metrics.get("models") or {}).get("weak"),
           "strong_model": (metrics.get("models") or {}).get("strong"),
           "run_table": json.dumps(table.tolist())}
    for role in RUN_TABLE_MODELS:
        row[f"{role}_acc"] = metrics[role]["acc"]
        row[f"{role}_auroc"] = metrics[role].get("auroc")
        row.update(_interval_columns(f"{role}_acc", bootstrap(table, CATALOGUE[f"{role}_acc"].statistic, **settings)))
    row["acc_gap"] = metrics["gap"]
    row.update(_interval_columns("acc_gap", bootstrap(table, CATALOGUE["acc_gap"].statistic, **settings)))
    pgr = metrics["pgr"]
    row.update(pgr=pgr["value"], pgr_ci_low=pgr.get("ci_low"), pgr_ci_high=pgr.get("ci_high"),
               pgr_reason=pgr.get("reason"), pgr_identified=pgr.get("identified"))
    for key in NUMBERS:
        entry = deception[key]
        row.update({key: entry["value"], f"{key}_ci_low": entry["ci_low"], f"{key}_ci_high": entry["ci_high"]})
    # (weak, ceiling, naive student, student): the table of the deception numbers and of the method's gain.
    paired = deception_table(predictions) if BASELINE in predictions else None
    if deception.get("deception_table"):
        row["deception_table"] = json.dumps(paired.tolist())
    baseline = metrics.get("baseline")
    if baseline:
        other = deception["others"][BASELINE]
        base_table = imitation_table(predictions, BASELINE)
        row.update(_interval_columns("baseline_student_acc", bootstrap(base_table, CATALOGUE["student_acc"].statistic, **settings)))
        row.update(baseline_kind=baseline["kind"], baseline_student_acc=baseline["student"]["acc"],
                   baseline_pgr=baseline["pgr"]["value"], baseline_pgr_ci_low=baseline["pgr"].get("ci_low"),
                   baseline_pgr_ci_high=baseline["pgr"].get("ci_high"))
        for key in ("acc_WkSk", "acc_WuSk", "imitation_gap", "imitation_share"):
            row.update({f"baseline_{key}": other[key]["value"], f"baseline_{key}_ci_low": other[key]["ci_low"],
                        f"baseline_{key}_ci_high": other[key]["ci_high"]})
        row["paired_table"] = json.dumps(paired.tolist())
        for key, metric in GAIN_METRICS.items():
            gain = bootstrap(paired, metric.statistic, **settings)
            row.update({key: gain.value, **_interval_columns(key, gain)})
    if ZERO_SHOT in predictions:  # a causal-LM strong model's untrained answer, paired with the student
        zero_shot = paired_table(predictions["label"].to_numpy(),
                                 *(predictions[c].to_numpy(dtype=float) for c in ZERO_SHOT_MODELS))
        row["zero_shot_table"] = json.dumps(zero_shot.tolist())
        row["zero_shot_auroc"] = (metrics.get(ZERO_SHOT) or {}).get("auroc")
        for key, metric in ZERO_SHOT_METRICS.items():
            interval = bootstrap(zero_shot, metric.statistic, **settings)
            row.update({key: interval.value, **_interval_columns(key, interval)})
    if metrics.get("via"):
        row["via"] = ",".join(metrics["via"])
    regions = deception["regions"]
    row.update(imitation_share_chance=deception["imitation_share"].get("chance"), n_WkSk=regions["W_k∩S_k"],
               n_WuSk=regions["W_u∩S_k"], n_Sk_wrong=regions["S_k∩student wrong"],
               n_WkSk_B0=regions.get("W_k∩S_k∩B0 right"), n_WuSk_B0=regions.get("W_u∩S_k∩B0 right"),
               deception_verdict=deception["deception"].get("verdict"),
               small_region=deception["small_region"], deception_warnings="; ".join(deception["warnings"]) or None)
    return row


def _pending_row(cell: dict) -> dict:
    return {**cell, "run_id": None, "run_dir": None, "status": "pending", "reused": False, "error": None}


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    # Same columns whatever has finished, so a half-done sweep reads like a finished one.
    for key in METRICS:
        for column in (key, f"{key}_ci_low", f"{key}_ci_high"):
            if column not in frame:
                frame[column] = np.nan
    for column in METRICS + tuple(f"{k}_ci_{s}" for k in METRICS for s in ("low", "high")):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def run_cell(run: ResolvedRun, runs_dir: Path, quiet: bool) -> dict:
    """Run (or resume) one cell's run and return its sweep-row fields: ``status`` done with the
    run's numbers, or failed with the error and its traceback. Executors call this, in this
    process or in a Ray worker."""
    try:
        run_dir = protocol.run_experiment(run, runs_dir, quiet)
        return {"status": "done", **run_summary(run_dir)}
    except Exception as exc:  # one broken cell must not stop the sweep
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def shard_cells(n_cells: int, shard: tuple[int, int] | None) -> list[int]:
    """The cell indices shard ``(i, N)`` runs: cell k runs in shard k mod N (all cells without a shard)."""
    if shard is None:
        return list(range(n_cells))
    i, n = shard
    return [k for k in range(n_cells) if k % n == i]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> (i, N), with 0 <= i < N."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected i/N, e.g. 0/4 for the first of four shards") from None
    if not (n >= 1 and 0 <= i < n):
        raise UserError(f"--shard {text!r}: expected 0 <= i < N, e.g. 0/4 ... 3/4")
    return i, n


def table_path(out_dir: Path, shard: tuple[int, int] | None) -> Path:
    """The sweep table; a shard writes its own (``--collect`` indexes them all into ``sweep.parquet``)."""
    return out_dir / ("sweep.parquet" if shard is None else f"sweep.shard-{shard[0]}-of-{shard[1]}.parquet")


def run_sweep(grid: SweepGrid, out_dir: str | Path, base_config: BaseConfig, quiet: bool = False, *,
              runs_dir: str | Path | None = None, executor=None, shard: tuple[int, int] | None = None,
              collect: bool = False) -> Path:
    """Run (or resume) every cell of ``grid``; return the sweep folder ``out_dir``.

    ``base_config`` is a RunConfig, or a function ``(task, paradigm) -> RunConfig`` (use one for a
    sweep over several tasks or paradigms, so each cell gets its own per-task and per-paradigm
    defaults). Run folders go to ``runs_dir`` (default: ``out_dir``). ``executor``
    (``executors.make_executor``; default: local, one cell after another) runs the cells. A cell
    that raises is recorded as failed (error in the row, traceback in ``sweep_log.jsonl``) and the
    sweep goes on; KeyboardInterrupt stops it, with the cells in flight marked interrupted, and the
    same call resumes it.

    ``shard=(i, N)`` runs only the cells k with k mod N = i and writes their rows to its own table
    (for schedulers such as SLURM arrays, one shard per task); ``collect=True`` runs nothing and
    indexes every cell from the run folders into ``sweep.parquet`` (done, failed, running — a
    shard still at work or killed — or pending).
    """
    from .executors import LocalExecutor, Job

    out_dir = Path(out_dir)
    runs_dir = Path(runs_dir) if runs_dir is not None else out_dir
    executor = executor or LocalExecutor()
    first = base_config(grid.tasks[0], grid.paradigms[0]) if callable(base_config) and grid.tasks else base_config
    grid.validate(first.profile, custom_data=bool(first.data.file), conflict_disagreement=first.conflict_disagreement)
    if first.method_options and any(spec.split(":")[0] != first.method for spec in grid.methods):
        raise UserError(f"sweep: method_options {first.method_options} belong to method {first.method!r}, and the grid "
                        f"runs methods {', '.join(grid.methods)}; give each its options in the grid instead, e.g. "
                        f"--methods naive,reliability:variant=reweight")
    check_outputs_writable(out_dir)
    if runs_dir != out_dir:
        check_writable(runs_dir, "runs folder")
    cells = grid.cells()
    mine = shard_cells(len(cells), None if collect else shard)

    def name(k: int) -> str:
        return f"{k + 1}/{len(cells)} (" + " ".join(f"{key}={v}" for key, v in cells[k].items()) + ")"

    resolved = {}  # each cell resolved once, before anything is written: a bad setting refuses the sweep
    for k in mine:
        try:
            resolved[k] = resolve_run(cell_config(base_config, cells[k]))
        except UserError as exc:  # as a run refuses it: before any cell runs
            raise UserError(f"sweep: cell {name(k)}: {exc}") from None
        except Exception as exc:
            resolved[k] = exc
    log = RunLog(out_dir / "sweep_log.jsonl", quiet=quiet)
    warning = _task_defaults_warning(base_config, grid)
    configs = ({f"{t}/{p}": base_config(t, p).to_dict() for t in dict.fromkeys(grid.tasks)
                for p in dict.fromkeys(grid.paradigms)} if callable(base_config)
               else base_config.to_dict())
    atomic_write_json(out_dir / "sweep.json", {
        "grid": dataclasses.asdict(grid), "cells": len(cells),
        "base_config": configs if not callable(base_config) else None,
        "base_config_by_cell": configs if callable(base_config) else None,
        "runs_dir": os.path.relpath(runs_dir, out_dir), "warnings": [warning] if warning else [],
        "aggregate": "statistic of the seeds' pooled cell tables (PGR: ratio of mean gaps) with a hierarchical "
                     "bootstrap over seeds and test examples; other metrics: mean with Student's t over seeds",
    })
    if warning:
        log("warning", f"sweep: warning: {warning}")
    rows = {k: _pending_row(cells[k]) for k in mine}
    table = table_path(out_dir, None if collect else shard)

    def write():
        atomic_write_parquet(table, _frame([rows[k] for k in mine]))

    write()
    what = "collect" if collect else "sweep" + (f" shard {shard[0]}/{shard[1]}" if shard else "")
    log("sweep_start", f"sweep: {len(mine)} of {len(cells)} cells -> {out_dir}" + (f" ({what})" if what != "sweep" else ""),
        grid=dataclasses.asdict(grid), shard=list(shard) if shard else None, collect=collect, executor=executor.name)
    jobs = []
    for k in mine:
        row, run = rows[k], resolved[k]
        if isinstance(run, Exception):  # a cell whose config cannot be built fails alone
            row.update(status="failed", error=f"{type(run).__name__}: {run}")
            log("cell_failed", f"sweep: cell {name(k)} failed: {row['error']}", cell=cells[k], error=row["error"],
                traceback="".join(traceback.format_exception(run)))
            continue
        cfg, run_id = run.cfg, run.run_id
        run_dir = runs_dir / run_id
        row.update(run_id=run_id, run_dir=os.path.relpath(run_dir, out_dir))
        if is_done(run_dir):
            row.update(reused=True, status="done", **run_summary(run_dir))
            log("cell_reused", f"sweep: cell {name(k)} finished before: {run_id}", cell=cells[k], run_id=run_id)
        elif collect:
            row.update(status=status_of(run_dir) or "pending", error=error_of(run_dir))
        else:
            cpus = cfg.threads or 1
            gpus = 1 if resolve_profile(cfg.profile) == "gpu" else 0
            jobs.append(Job(k, (run, runs_dir, quiet), cpus=cpus, gpus=gpus))
    write()

    started = {}

    def on_start(job: Job):
        started[job.index] = time.time()
        rows[job.index]["status"] = "running"
        write()
        log("cell_start", f"sweep: cell {name(job.index)}: run {rows[job.index]['run_id']}", cell=cells[job.index],
            run_id=rows[job.index]["run_id"])

    try:
        for job, outcome in executor.run(run_cell, jobs, on_start):
            row, k = rows[job.index], job.index
            trace = outcome.pop("traceback", None)
            row.update(outcome)
            if row["status"] == "done":
                log("cell_done", cell=cells[k], run_id=row["run_id"], seconds=round(time.time() - started[k], 1))
            else:
                log("cell_failed", f"sweep: cell {name(k)} failed: {row['error']}", cell=cells[k], error=row["error"],
                    traceback=trace)
            write()
    except KeyboardInterrupt:
        for row in rows.values():
            if row["status"] == "running":
                row["status"] = "interrupted"
        write()
        log("sweep_interrupted", "sweep: interrupted; run the same sweep again to resume")
        raise
    counts = pd.Series([r["status"] for r in rows.values()]).value_counts().to_dict()
    log("sweep_done", "sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; table {table}", counts=counts)
    return out_dir


def read_sweep(sweep_dir: str | Path) -> pd.DataFrame:
    """A sweep's table (one row per cell); a missing, damaged or foreign file is one line saying how
    to rebuild it (the runs are in their folders: ``--collect`` indexes them again)."""
    path = Path(sweep_dir) / "sweep.parquet"
    if not path.exists():
        raise UserError(f"{sweep_dir}: no sweep.parquet; is this a sweep folder?")
    rebuild = "rerun the sweep's command with --collect to index its runs again"
    try:
        frame = pd.read_parquet(readable_file(path, str(path), "the sweep's table"))
    except UserError:
        raise
    except Exception as exc:  # pyarrow's errors for a damaged file share no base class
        raise UserError(f"{path}: damaged (not a readable Parquet file: {type(exc).__name__}); {rebuild}") from None
    for key, default in AXIS_DEFAULTS.items():
        if key not in frame:
            frame[key] = default
    missing = [c for c in ("status", *CELL_KEYS) if c not in frame]
    if missing:
        raise UserError(f"{path}: not a sweep table (no column {missing[0]!r}); {rebuild}")
    return frame


def read_sweep_info(sweep_dir: str | Path) -> dict:
    """``sweep.json`` (the grid, the base config, where the runs are); {} where there is none."""
    path = Path(sweep_dir) / "sweep.json"
    if not path.exists():
        return {}
    try:
        info = json.loads(readable_file(path, str(path), "the sweep's JSON record").read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); rerun the sweep's command to write it again") from None
    if not isinstance(info, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(info).__name__}; rerun the sweep's command to "
                        f"write it again")
    return info


# -- pooling seeds ---------------------------------------------------------------------------------

def _tables(group: pd.DataFrame, column: str) -> np.ndarray | None:
    """The seeds' cell tables, or None when a finished cell lacks one (a sweep of an older version)."""
    if column not in group or group[column].isna().any():
        return None
    return np.array([json.loads(t) for t in group[column]], dtype=np.int64)


def aggregate(sweep_df: pd.DataFrame, level: float = 0.95, metrics: tuple[str, ...] = METRICS, *,
              n_boot: int = 1000, min_gap: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Pooled value and interval over seeds of each condition (``CONDITION_KEYS``).

    One row per (condition, metric): ``n_seeds`` (finished runs), ``n`` (seeds that enter the
    pooled number), ``mean`` (the pooled value), ``sd`` (of the per-seed values), ``ci_low`` /
    ``ci_high``, ``ci_method`` and ``note``.

    Metrics that are statistics of the runs' cell tables (accuracies, gap, PGR, imitation and
    deception numbers) are pooled by pooling the tables — for PGR that is the ratio of the mean
    gaps, over *every* seed, never a mean of per-seed ratios over the seeds that passed
    ``min_gap`` — with a hierarchical bootstrap over seeds and test examples
    (``eval.metrics.bootstrap``). PGR's value is withheld when the pooled gap is below ``min_gap``,
    and it gets no interval, with ``note`` saying why, when the pooled gap's interval includes zero
    (PGR not identified). The baseline student's accuracy and PGR are pooled the same way from the
    paired tables. Other metrics (AUROC, the baseline's imitation columns, and anything of a sweep
    made before its tables were kept) get Student's t over the per-seed values (clipped to the
    metric's ``bounds``), or with one seed that run's own bootstrap interval.
    """
    done = sweep_df[sweep_df["status"] == "done"]
    rows = []
    keys = [k for k in CONDITION_KEYS if k in done.columns]
    settings = dict(n_boot=n_boot, seed=seed, level=level)
    for condition, group in done.groupby(keys, sort=False, dropna=False):
        condition = dict(zip(keys, condition if isinstance(condition, tuple) else (condition,)))
        tables_of = {table: _tables(group, f"{table}_table") for table in TABLES}
        for metric in metrics:
            about = CATALOGUE[metric]
            tables, statistic = (tables_of[about.table], about.statistic) if about.table else (None, None)
            if metric not in group and tables is None:
                continue
            values = (pd.to_numeric(group[metric], errors="coerce").dropna().to_numpy(dtype=float) if metric in group
                      else np.empty(0))
            out = {**condition, "metric": metric, "n_seeds": len(group), "n": len(values),
                   "mean": float(values.mean()) if len(values) else None,
                   "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                   "ci_low": None, "ci_high": None, "ci_method": None, "note": None}
            if tables is not None:
                how = (f"hierarchical bootstrap over {len(tables)} seeds and test examples" if len(tables) > 1
                       else "bootstrap over test examples (1 seed)")
                if about.pgr_of is not None:
                    pooled = pgr_from_tables(tables, min_gap=min_gap, student=about.pgr_of, **settings)
                    out.update(mean=pooled["value"], ci_low=pooled["ci_low"], ci_high=pooled["ci_high"],
                               note=pooled.get("reason"))
                else:
                    pooled = bootstrap(tables, statistic, **settings)
                    out.update(mean=pooled.value, ci_low=pooled.ci_low, ci_high=pooled.ci_high)
                out.update(n=len(tables), ci_method=how)
            elif len(values) > 1:
                low, high = t_interval(values, level=level, bounds=about.bounds)
                out.update(ci_low=low, ci_high=high, ci_method=f"t over {len(values)} seeds")
            elif len(values) == 1 and f"{metric}_ci_low" in group:
                one = group[group[metric].notna()].iloc[0]
                low, high = one[f"{metric}_ci_low"], one[f"{metric}_ci_high"]
                if pd.notna(low) and pd.notna(high):
                    out.update(ci_low=float(low), ci_high=float(high), ci_method="bootstrap over test examples (1 seed)")
            rows.append(out)
    columns = [*keys, "metric", "n_seeds", "n", "mean", "sd", "ci_low", "ci_high", "ci_method", "note"]
    return pd.DataFrame(rows, columns=columns)


def summary_table(pooled: pd.DataFrame, metrics: tuple[str, ...] = ("weak_acc", "student_acc", "ceiling_acc",
                                                                    "acc_gap", "pgr", "imitation_share",
                                                                    "deception")) -> str:
    """The pooled numbers as text, one line per condition: mean [interval] of each metric."""
    if pooled.empty:
        return "no finished cells"
    keys = [k for k in CONDITION_KEYS if k in pooled.columns and pooled[k].nunique() > 1] or ["task", "gap"]

    def cell(row) -> str:
        if row is None or pd.isna(row["mean"]):
            return "n/a"
        ci = interval_text(row["ci_low"], row["ci_high"], "{:.2f}".format, ",")
        return f"{row['mean']:.3f}" + (f" {ci}" if ci else "")

    lines, header = [], None
    for condition, group in pooled.groupby(list(CONDITION_KEYS), sort=False, dropna=False):
        by_metric = {r["metric"]: r for _, r in group.iterrows()}
        name = " ".join(str(dict(zip(CONDITION_KEYS, condition))[k]) for k in keys)
        values = [cell(by_metric.get(m)) for m in metrics]
        excess = by_metric.get("deception_excess")
        if "deception" in metrics and excess is not None and pd.notna(excess["ci_low"]):
            # deception is read against its placebo null, not against zero
            verdict = null_verdict(float(excess["ci_low"]), float(excess["ci_high"]))
            values[metrics.index("deception")] += f" ({verdict})"
        seeds = int(group["n_seeds"].max())
        if header is None:
            header = [" ".join(keys), "seeds", *metrics]
        lines.append([name, str(seeds), *values])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))  # noqa: E731
    footer = ("(pooled value [95% interval: bootstrap over seeds and test examples; −∞ / +∞: unbounded on that "
              "side]; no interval: PGR not identified; n/a: undefined, e.g. deception without a conflict; "
              "deception's verdict is against its placebo null)")
    return "\n".join([fmt(header), *map(fmt, lines), footer])
