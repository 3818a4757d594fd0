"""Experiment tracking: training curves and each run's final metrics in TensorBoard, Weights &
Biases, MLflow or Trackio (``--report-to``; config ``tracking:``).

- **Curves**: every training step that runs (not one read from the cache) reports to the trackers
  through the HF / TRL trainer's own ``report_to``, as run ``<run id>/<step>`` (weak, student,
  ceiling, and the steps methods add) in project ``tracking.project``; TensorBoard writes under
  ``tracking.dir`` (default ``<out>/tracking``) ``/<run id>/<step>/``.
- **Final metrics**, once per run: accuracies, the gap, PGR with its interval, imitation and
  deception numbers, as run ``<run id>`` (TensorBoard: ``<dir>/<run id>/metrics``).

Trackers never enter a cache key or the run id: turning one on reuses every finished step. Offline
modes work as each library documents them (``WANDB_MODE=offline``, a local ``MLFLOW_TRACKING_URI``,
Trackio's local database; TensorBoard is always local).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

from .errors import UserError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio"}


def check(report_to: list[str]):
    """Unknown or uninstalled trackers are one-line errors before any training."""
    import importlib.util

    for name in report_to:
        if name == "none":
            continue
        if name not in TRACKERS:
            raise UserError(f"--report-to {name!r}: expected none or any of {', '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise UserError(f"--report-to {name}: the {TRACKERS[name]!r} package is not installed "
                            f"(pip install {TRACKERS[name]})")


def active(tracking) -> list[str]:
    return [name for name in tracking.report_to if name != "none"]


def log_dir(tracking, out_dir: Path) -> Path:
    return Path(tracking.dir) if tracking.dir else out_dir / "tracking"


def trainer_args(tracking, run_id: str, step: str) -> dict:
    """The trainer arguments that send one training step's curves to the trackers."""
    names = active(tracking)
    return {"report_to": names, "run_name": f"{run_id}/{step}", "project": tracking.project} if names else {}


@contextlib.contextmanager
def step_logging(tracking, out_dir: Path, run_id: str, step: str):
    """While a step trains: TensorBoard's folder for it (the HF callback reads it when the trainer is built)."""
    if "tensorboard" not in active(tracking):
        yield
        return
    previous = os.environ.get("TENSORBOARD_LOGGING_DIR")
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir(tracking, out_dir) / run_id / step)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = previous


def final_numbers(metrics: dict) -> dict[str, float]:
    """The run's headline numbers as flat scalars (None and undefined values left out)."""
    out = {f"{role}_acc": metrics[role]["acc"] for role in ("weak", "student", "ceiling") if role in metrics}
    out["gap"] = metrics.get("gap")
    pgr = metrics.get("pgr") or {}
    out.update(pgr=pgr.get("value"), pgr_ci_low=pgr.get("ci_low"), pgr_ci_high=pgr.get("ci_high"),
               gap_ci_low=pgr.get("gap_ci_low"), gap_ci_high=pgr.get("gap_ci_high"))
    for key, entry in (metrics.get("deception") or {}).items():
        if isinstance(entry, dict) and "value" in entry and "name" in entry:
            out[key] = entry["value"]
    # An unbounded interval side (±inf) is left out too: trackers take finite scalars.
    return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}


def log_final_metrics(tracking, out_dir: Path, run_id: str, metrics: dict):
    numbers = final_numbers(metrics)
    for name in active(tracking):
        if name == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            with SummaryWriter(log_dir=str(log_dir(tracking, out_dir) / run_id / "metrics")) as writer:
                for key, value in numbers.items():
                    writer.add_scalar(f"w2s/{key}", value, 0)
        elif name == "wandb":
            import wandb

            with wandb.init(project=tracking.project, name=run_id, job_type="w2s-run", reinit="create_new") as run:
                run.summary.update(numbers)
        elif name == "mlflow":
            import mlflow

            mlflow.set_experiment(tracking.project)
            with mlflow.start_run(run_name=run_id):
                mlflow.log_metrics(numbers)
        elif name == "trackio":
            import trackio

            trackio.init(project=tracking.project, name=run_id)
            trackio.log(numbers)
            trackio.finish()
