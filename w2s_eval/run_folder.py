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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from . import __version__
from .errors import UserError
from .store import atomic_write_json, atomic_write_yaml, remove_orphaned_tmp_files, unwritable_reason

SCHEMA = 2
STATUSES = ("running", "done", "failed")
RECORD, CONFIG, PREDICTIONS = "metrics.json", "config.yaml", "predictions.parquet"
MODEL_ROLES = ("weak", "student", "ceiling")
# The untrained strong model's own answer (protocol.py, the zero-shot step): a predictions column and
# a metrics.json entry of runs whose strong model is a causal LM, absent from any other run. Not a
# role: nothing is trained, so there is no model folder to export or evaluate.
ZERO_SHOT = "zero_shot"


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
    atomic_write_json(run_dir / RECORD, {"schema": SCHEMA, "status": "running", "w2s_eval": __version__})


def finish(run_dir: Path, metrics: dict):
    """A run has finished: its record, status ``done``."""
    atomic_write_json(run_dir / RECORD, {"schema": SCHEMA, "status": "done", "w2s_eval": __version__, **metrics})


def fail(run_dir: Path, error: BaseException):
    """A run raised: its record says so (a KeyboardInterrupt leaves it ``running``, to resume). On a
    file system that refuses the write (the disk that made the run fail is full) the record stays
    ``running``, which resumes the same way. A folder deleted mid-run is not made again."""
    if not run_dir.is_dir():
        return
    try:
        atomic_write_json(run_dir / RECORD, {"schema": SCHEMA, "status": "failed", "w2s_eval": __version__,
                                             "error": f"{type(error).__name__}: {error}"})
    except OSError as exc:
        if unwritable_reason(exc) is None:
            raise


def _record(run_dir: Path) -> dict | None:
    path = run_dir / RECORD
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None


def error_of(run_dir: str | Path) -> str | None:
    """The error a failed run recorded (None for any other run)."""
    record = _record(Path(run_dir)) or {}
    return record.get("error") if record.get("status") == "failed" else None


def status_of(run_dir: str | Path) -> str | None:
    """``running`` | ``done`` | ``failed``, or None where there is no run record."""
    record = _record(Path(run_dir))
    return None if record is None else record.get("status", "done")


def is_done(run_dir: str | Path) -> bool:
    return status_of(run_dir) == "done"


def read_run(run_dir: str | Path) -> Run:
    """A finished run; a clear error for a folder that is not one (no record, running, failed)."""
    run_dir = Path(run_dir)
    record = _record(run_dir)
    if record is None:
        raise UserError(f"{run_dir}: no {RECORD}: not a run folder")
    status = record.get("status", "done")
    if status == "running":
        raise UserError(f"{run_dir}: an unfinished run (status running); rerun its command to finish it")
    if status == "failed":
        raise UserError(f"{run_dir}: a failed run ({record.get('error')}); fix the cause and rerun its command")
    return Run(run_dir, status, int(record.get("schema", 1)), record, _config(run_dir))


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
