"""The run folder, written and read through this module only: a versioned record with a status
(as inspect_ai's eval log), so sweeps, reports and the harness read every run the same way.

    <out>/<run id>/
      config.yaml          the resolved config (resolve.resolve_run)
      metrics.json         the run record: ``schema``, ``status``, the w2s-eval version, then results
      predictions.parquet  per test example: id, label, P(label = 1) of each model (weak, student,
                           ceiling, student_baseline, via:<model>, zero_shot, ...)
      deception.json       the deception and imitation analysis (deception.py), from predictions
      generations.json     a few greedy continuations of the LM paradigms' models
      log.jsonl            the run's events
    <out>/.cache/<step>-<key>/   finished steps (model/, test.parquet, step.json), shared by the runs of <out>

``status`` is ``running`` from the start of a run, then ``done`` or ``failed`` (with the error). A
killed run stays ``running``; its command resumes it from its last finished step. Records of
schema 1 (no schema, no status) were written only when a run finished: they read as ``done``.
The record's fields are declared once (``RunRecord``): checked when it is written and when it is
read (a damaged record is one line naming the field), published as docs/run-record.schema.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import __version__
from .config import Settings, setting
from .errors import UserError
from .store import atomic_write_json, atomic_write_yaml, path_problem, remove_orphaned_tmp_files, unwritable_reason

SCHEMA = 2
STATUSES = ("running", "done", "failed")
RECORD, CONFIG, PREDICTIONS = "metrics.json", "config.yaml", "predictions.parquet"
MODEL_ROLES = ("weak", "student", "ceiling")
SCORES = ("acc", "auroc")  # what a model's entry of the record holds
# The untrained strong model's own answer (protocol.py, the zero-shot step): a predictions column and
# a metrics.json entry of runs whose strong model is a causal LM, absent from any other run. Not a
# role: nothing is trained, so there is no model folder to export or evaluate.
ZERO_SHOT = "zero_shot"


@dataclass
class RunRecord(Settings):
    """The run record (metrics.json): its schema, status and the w2s-eval that wrote it, the error of
    a failed run, and the results every reader relies on in a done run (docs/run-folder.md lists the
    rest: models, splits, steps, method and conflict info, deception, provenance)."""

    schema: int = setting(SCHEMA, ge=1, le=SCHEMA, expected=f"a record schema from 1 to {SCHEMA}")
    status: str = setting("done", choices=STATUSES)
    w2s_eval: str | None = None  # the version that wrote it
    error: str | None = None  # a failed run's: "ExceptionType: message"
    task: str | None = None
    weak: dict[str, float | None] | None = setting(None, ge=0, le=1, keys=lambda: SCORES,
                                                   expected="an accuracy or AUROC in [0, 1], or null")
    student: dict[str, float | None] | None = setting(None, ge=0, le=1, keys=lambda: SCORES,
                                                      expected="an accuracy or AUROC in [0, 1], or null")
    ceiling: dict[str, float | None] | None = setting(None, ge=0, le=1, keys=lambda: SCORES,
                                                      expected="an accuracy or AUROC in [0, 1], or null")
    gap: float | None = setting(None, ge=-1, le=1, expected="ceiling − weak accuracy, in [-1, 1]")
    pgr: dict[str, Any] | None = None  # {value, ci_low, ci_high, ...}
    n_test: int | None = setting(None, ge=1, expected="a positive number of test examples")
    steps: dict[str, str] | None = None  # step -> key of its cached folder (.cache/<step>-<key>)

    def check(self):
        value = (self.pgr or {}).get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UserError(f"pgr.value: expected a finite number or null, got {value!r}")


def check_record(record, where: str) -> dict:
    """``record`` if it is a run record as ``RunRecord`` declares it (a schema-1 record, which had
    neither schema nor status, read as a done one), else a one-line UserError naming ``where``."""
    if not isinstance(record, dict):
        raise UserError(f"{where}: expected a JSON object (the run record), got {type(record).__name__}; rerun the "
                        f"run's command to write it again")
    if "schema" not in record and "status" not in record:
        record = {**record, "schema": 1, "status": "done"}
    declared = {f.name for f in fields(RunRecord)}
    try:
        RunRecord(**{k: v for k, v in record.items() if k in declared})
    except UserError as exc:
        raise UserError(f"{where}: {exc}; rerun the run's command to write it again") from None
    return record


def _write_record(run_dir: Path, status: str, **results):
    record = {"schema": SCHEMA, "status": status, "w2s_eval": __version__, **results}
    atomic_write_json(run_dir / RECORD, check_record(record, f"{run_dir / RECORD} (being written)"))


@dataclass
class Run:
    folder: Path
    status: str
    schema: int
    metrics: dict  # the whole record (metrics.json)
    config: dict  # config.yaml

    @property
    def id(self) -> str:
        return self.folder.name

    def predictions(self) -> pd.DataFrame:
        return read_predictions(self.folder)

    def step_folder(self, step: str) -> Path:
        """The cached step of this run named in its record (weak, label, student, ceiling, baseline)."""
        key = (self.metrics.get("steps") or {}).get(step)
        if not key:
            raise UserError(f"{self.folder}/{RECORD}: no steps.{step} key (a run folder of another version?)")
        return self.folder.parent / ".cache" / f"{step}-{key}"

    def model_folder(self, role: str = "student") -> Path:
        """The saved model of one role of the run."""
        if role not in MODEL_ROLES:
            raise UserError(f"unknown model {role!r}; valid choices: {', '.join(MODEL_ROLES)}")
        folder = self.step_folder(role) / "model"
        if not folder.is_dir():
            raise UserError(f"{self.folder}: the {role} model is not in the step cache ({folder}); "
                            f"rerun the run's command to rebuild it")
        return folder


def read_predictions(run_dir: str | Path) -> pd.DataFrame:
    """A run's test predictions; a missing or damaged file is one line saying how to rebuild it."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        raise UserError(f"{path}: missing; rerun the run's command to write it again (its finished steps are "
                        f"cached)")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow's errors for a truncated or overwritten file share no base class
        raise UserError(f"{path}: damaged (not a readable Parquet file: {type(exc).__name__}); delete it and rerun "
                        f"the run's command to write it again (its finished steps are cached)") from None


def start(run_dir: Path, config: dict):
    """A run begins (or resumes): its config, and a record saying it is running. A resumed run first
    removes what its killed predecessor was writing."""
    if run_dir.is_dir():
        remove_orphaned_tmp_files(run_dir)
    atomic_write_yaml(run_dir / CONFIG, config)
    _write_record(run_dir, "running")


def finish(run_dir: Path, metrics: dict):
    """A run has finished: its record, status ``done``."""
    _write_record(run_dir, "done", **metrics)


def fail(run_dir: Path, error: BaseException):
    """A run raised: its record says so (a KeyboardInterrupt leaves it ``running``, to resume). On a
    file system that refuses the write (the disk that made the run fail is full) the record stays
    ``running``, which resumes the same way. A folder deleted mid-run is not made again."""
    if not run_dir.is_dir():
        return
    try:
        _write_record(run_dir, "failed", error=f"{type(error).__name__}: {error}")
    except OSError as exc:
        if unwritable_reason(exc) is None:
            raise


def record_of(run_dir: Path) -> dict | None:
    """The run record of ``run_dir`` (checked), or None where there is none."""
    path = Path(run_dir) / RECORD
    problem = path_problem(path)
    if problem == "no such file or folder":
        return None
    if problem:  # a FIFO there would block the read forever
        raise UserError(f"{path}: {problem}; expected the run record (a JSON file)")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    return check_record(record, str(path))


def error_of(run_dir: str | Path) -> str | None:
    """The error a failed run recorded (None for any other run)."""
    record = record_of(Path(run_dir)) or {}
    return record.get("error") if record.get("status") == "failed" else None


def status_of(run_dir: str | Path) -> str | None:
    """``running`` | ``done`` | ``failed``, or None where there is no run record."""
    record = record_of(Path(run_dir))
    return None if record is None else record["status"]


def is_done(run_dir: str | Path) -> bool:
    return status_of(run_dir) == "done"


def read_run(run_dir: str | Path) -> Run:
    """A finished run; a clear error for a folder that is not one (no record, running, failed)."""
    run_dir = Path(run_dir)
    record = record_of(run_dir)
    if record is None:
        raise UserError(f"{run_dir}: no {RECORD}: not a run folder")
    status = record["status"]
    if status == "running":
        raise UserError(f"{run_dir}: an unfinished run (status running); rerun its command to finish it")
    if status == "failed":
        raise UserError(f"{run_dir}: a failed run ({record.get('error') or 'no error recorded'}); fix the cause and "
                        f"rerun its command")
    return Run(run_dir, status, record["schema"], record, _config(run_dir))


def _config(run_dir: Path) -> dict:
    path = run_dir / CONFIG
    if not path.exists():
        return {}
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise UserError(f"{path} is not valid YAML ({problem}); rerun the run's command to write it again") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: expected a mapping of settings; rerun the run's command to write it again")
    return config


def find_runs(path: str | Path) -> list[Path]:
    """A finished run folder itself, or the finished run folders in a sweep folder (its subfolders,
    plus the ``run_dir`` column of its sweep.parquet when there is one)."""
    path = Path(path)
    if is_done(path):
        return [path]
    if not path.is_dir():
        raise UserError(f"{path}: not a folder")
    runs = {p.resolve(): p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith(".") and is_done(p)}
    if (path / "sweep.parquet").exists():
        sweep = pd.read_parquet(path / "sweep.parquet")
        for value in sweep.get("run_dir", []):
            if not isinstance(value, str):
                continue
            candidate = Path(value) if Path(value).is_absolute() else path / value
            if not candidate.exists() and (path / Path(value).name).exists():
                candidate = path / Path(value).name
            if is_done(candidate):
                runs.setdefault(candidate.resolve(), candidate)
    if not runs:
        raise UserError(f"{path}: neither a finished run folder ({RECORD}) nor a folder of finished runs")
    return sorted(runs.values(), key=lambda p: p.name)
