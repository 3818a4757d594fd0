"""The built-in tasks' data, shipped inside the package (``w2s_eval/data/``), so that
``w2s-eval run --task toxicity`` works on a fresh machine with no data folder and no hub access.

Each ``<task>.parquet`` is the task's example frame exactly as its ``load_local`` builds it from
the mirror laid out like ``shared/data`` (same rows, ids, groups and texts, so splits and results
are the same), with the upstream licence files beside it (``w2s_eval/data/licenses/``) and the
sources, commits, licences and changes in ``w2s_eval/data/SOURCES.md``. Only sources whose
licence allows redistribution with attribution are shipped (a task that names its licence files,
``Task.licence_files``); all five built-in tasks qualify. ``shipped()`` is the index.

Data resolves, in order: ``--data-dir`` → ``$W2S_DATA_DIR`` → the embedded copy → the hub
(``tasks/base.py``). To rebuild the embedded copies from a mirror::

    python -m w2s_eval.tasks.embedded ../shared/data
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Shipped:
    """One task's shipped data: its example frame and the upstream licence files beside it."""

    frame: Path
    licences: tuple[Path, ...]


def embedded_path(task_name: str) -> Path:
    return DATA_DIR / f"{task_name}.parquet"


def licence_path(task_name: str, file: str) -> Path:
    return DATA_DIR / "licenses" / f"{task_name}-{file}"


def shipped() -> dict[str, Shipped]:
    """The shipped-data index, from the registry: every registered task that names its licence
    files (``Task.licence_files``), with where its frame and licences live in the package."""
    from . import TASKS

    return {name: Shipped(embedded_path(name), tuple(licence_path(name, file) for file in task.licence_files))
            for name, task in TASKS.items() if task.licence_files}


def load_embedded(task_name: str) -> pd.DataFrame | None:
    """The task's shipped example frame, or None when this task has none."""
    path = embedded_path(task_name)
    return pd.read_parquet(path) if path.exists() else None


def write_embedded(mirror: Path, names: list[str] | None = None) -> list[Path]:
    """Rebuild the shipped frames and licence files (of every shipped task, or of ``names``) from
    a ``shared/data`` mirror."""
    from . import TASKS

    written = []
    for name, entry in shipped().items():
        if names is not None and name not in names:
            continue
        task = TASKS[name]
        frame, _ = task.load(mirror)
        entry.frame.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(entry.frame, index=False, compression="zstd", compression_level=19)
        written.append(entry.frame)
        for file, target in zip(task.licence_files, entry.licences):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(mirror) / task.local_subdir / file, target)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in write_embedded(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")):
        print(path, f"{path.stat().st_size / 1e6:.2f} MB")
