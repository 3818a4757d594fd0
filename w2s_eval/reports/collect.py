"""What a report shows, gathered from a run folder or a sweep folder (nothing is retrained)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..deception import read_deception
from ..errors import UserError
from ..store import path_problem
from ..eval.metrics import right
from ..run_folder import read_predictions, read_run, status_of
from ..sweeps import CONDITION_AXES, aggregate, read_sweep, read_sweep_info, run_summary, select

MAX_EXAMPLES = 15
MAX_TEXT = 500  # characters of an example text shown in the table
GAP_ORDER = ("small", "medium", "large", "lm-small", "lm-large")


@dataclass
class ReportData:
    kind: str  # "run" | "sweep"
    folder: Path
    rows: pd.DataFrame  # one row per cell (a single run: one row), as in sweep.parquet
    pooled: pd.DataFrame  # sweeps.aggregate(rows)
    run_dirs: dict[str, Path]  # run id -> folder, finished runs only
    deception: dict[str, dict]  # run id -> deception report
    metrics: dict[str, dict]  # run id -> metrics.json
    examples: dict[str, pd.DataFrame] = field(default_factory=dict)  # task -> missed examples
    example_notes: dict[str, str] = field(default_factory=dict)  # task -> why texts are missing
    label_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    sweep_info: dict = field(default_factory=dict)

    @property
    def done(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == "done"]

    def tasks(self) -> list[str]:
        return list(dict.fromkeys(self.done["task"]))

    def gaps(self) -> list[str]:
        gaps = list(dict.fromkeys(self.done["gap"]))
        if all(g in GAP_ORDER for g in gaps):
            gaps.sort(key=GAP_ORDER.index)
        return gaps

    def conditions(self) -> list[tuple]:
        """Combinations of ``CONDITION_AXES`` (paradigm, loss, method, conflict), in sweep order."""
        return list(dict.fromkeys(zip(*(self.done[k] for k in CONDITION_AXES))))

    def condition_label(self, condition: tuple) -> str:
        varying = [i for i in range(len(CONDITION_AXES)) if len({c[i] for c in self.conditions()}) > 1]
        return " / ".join(str(condition[i]) for i in varying) if varying else str(condition[CONDITION_AXES.index("loss")])

    def cells(self, task: str, gap: str, condition: tuple) -> pd.DataFrame:
        """The finished runs (one per seed) of one task, gap and condition."""
        return select(self.done, task, gap, condition)

    def stat(self, task: str, gap: str, condition: tuple, metric: str) -> dict | None:
        """Pooled mean and interval of one metric; None where there is nothing finished."""
        hit = select(self.pooled, task, gap, condition)
        hit = hit[hit["metric"] == metric]
        if hit.empty:
            return None
        row = hit.iloc[0]
        clean = {k: (None if pd.isna(row[k]) else row[k]) for k in ("mean", "ci_low", "ci_high", "sd", "ci_method", "note")
                 if k in row}
        return clean | {"n": int(row["n"]), "n_seeds": int(row["n_seeds"])}

    def models_for(self, task: str, gap: str) -> str:
        d = self.done[(self.done["task"] == task) & (self.done["gap"] == gap)]
        pairs = list(dict.fromkeys(zip(d.get("weak_model", []), d.get("strong_model", []))))
        return "; ".join(f"{w} → {s}" for w, s in pairs if w is not None and s is not None)


def _run_row(run_dir: Path) -> dict:
    run = read_run(run_dir)
    cfg, metrics = run.config, run.metrics
    row = {"task": metrics.get("task", cfg.get("task")), "gap": cfg.get("gap", "?"),
           "paradigm": metrics.get("paradigm", cfg.get("paradigm")), "loss": metrics.get("loss", (cfg.get("loss") or {}).get("name")),
           "method": metrics.get("method", "naive"), "conflict": cfg.get("conflict", "none"), "seed": cfg.get("seed", 0), "run_id": run_dir.name, "run_dir": ".",
           "status": "done", "reused": True, "error": None}
    row.update(run_summary(run_dir))
    return row


def collect(path: str | Path) -> ReportData:
    problem = path_problem(Path(path), want_folder=True)
    if problem:
        raise UserError(f"{path}: {problem}; expected a run or sweep folder")
    folder = Path(path).resolve()  # "." names no run: resolve it
    if (folder / "sweep.parquet").exists():
        rows = read_sweep(folder)
        kind = "sweep"
        info = read_sweep_info(folder)
    elif status_of(folder) is not None:
        rows = pd.DataFrame([_run_row(folder)])
        kind, info = "run", {}
    else:
        raise UserError(f"{folder}: neither a run folder (metrics.json) nor a sweep folder (sweep.parquet)")
    run_dirs, deception, metrics = {}, {}, {}
    for row in rows[rows["status"] == "done"].itertuples():
        run_dir = (folder / row.run_dir).resolve()
        run_dirs[row.run_id] = run_dir
        deception[row.run_id] = read_deception(run_dir)
        metrics[row.run_id] = read_run(run_dir).metrics
    data = ReportData(kind, folder, rows, aggregate(rows), run_dirs, deception, metrics, sweep_info=info)
    _collect_examples(data)
    return data


# -- examples the weak supervisor would miss -------------------------------------------------------

def _missed(run_dir: Path) -> pd.DataFrame:
    """Test rows of W_u ∩ S_k where the student is wrong."""
    p = read_predictions(run_dir)
    is_right = {role: right(p["label"], p[role]) for role in ("weak", "student", "ceiling")}
    return p[~is_right["weak"] & is_right["ceiling"] & ~is_right["student"]][["id", "label", "weak", "student", "ceiling"]]


def _task_texts(run_dir: Path) -> tuple[dict[str, str], tuple[str, str]]:
    """id -> text of the run's task data, and the task's label names.

    The run's config.yaml (fully resolved) is loaded with load_config and the task data with the
    protocol's own task resolution; ``protocol.prepare`` would do the same and also resolve (and
    maybe download) the models, which a report does not need.
    """
    from ..config import load_config
    from ..resolve import resolve_task

    cfg = load_config(str(run_dir / "config.yaml"))
    task = resolve_task(cfg)
    data_dir = cfg.data.data_dir
    if data_dir is None and not os.environ.get("W2S_DATA_DIR") and not cfg.data.file:
        # Read the texts where the run read them (its local mirror), not from the hub.
        source = read_run(run_dir).metrics.get("source", "")
        if source.endswith(task.local_subdir) and Path(source).is_dir():
            data_dir = source[: -len(task.local_subdir)]
    frame, _ = task.load(data_dir)
    return dict(zip(frame["id"].astype(str), frame["text"].astype(str))), tuple(task.label_names)


def _collect_examples(data: ReportData):
    done = data.done
    for task in data.tasks():
        runs = done[done["task"] == task]
        missed = [(_missed(data.run_dirs[r]).assign(run_id=r)) for r in runs["run_id"]]
        pooled = pd.concat(missed, ignore_index=True) if missed else pd.DataFrame()
        if pooled.empty:
            data.examples[task] = pooled
            continue
        grouped = pooled.groupby("id", sort=False).agg(
            label=("label", "first"), runs=("run_id", "nunique"), weak=("weak", "mean"),
            student=("student", "mean"), ceiling=("ceiling", "mean")).reset_index()
        grouped["n_runs"] = len(runs)
        # Most often missed first, then the student's confidence in its wrong answer.
        grouped["confidence"] = (grouped["student"] - 0.5).abs()
        grouped = grouped.sort_values(["runs", "confidence"], ascending=False, kind="stable")
        try:
            texts, names = _task_texts(data.run_dirs[runs["run_id"].iloc[0]])
            data.label_names[task] = names
            grouped["text"] = grouped["id"].astype(str).map(texts)
            if grouped["text"].isna().any():
                data.example_notes[task] = "some example ids are not in the task data any more; their text is left empty"
        except Exception as exc:  # the report still has every number without the texts
            grouped["text"] = None
            data.example_notes[task] = f"texts unavailable: {type(exc).__name__}: {exc}"
        data.examples[task] = grouped


def shorten(text, limit: int = MAX_TEXT) -> str:
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

