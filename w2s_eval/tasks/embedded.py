"""The built-in tasks' data, shipped inside the package (``w2s_eval/data/``), so that
``w2s-eval run --task toxicity`` works on a fresh machine with no data folder and no hub access.

Each ``<task>.parquet`` is the task's example frame exactly as its ``load_local`` builds it from
the mirror laid out like ``shared/data`` (same rows, ids, groups and texts, so splits and results
are the same), with the upstream licence files beside it (``w2s_eval/data/licenses/``) and the
sources, commits, licences and changes in ``w2s_eval/data/SOURCES.md``. Only sources whose
licence allows redistribution with attribution are shipped; all five built-in tasks qualify.

Data resolves, in order: ``--data-dir`` → ``$W2S_DATA_DIR`` → the embedded copy → the hub
(``tasks/base.py``). To rebuild the embedded copies from a mirror::

    python -m w2s_eval.tasks.embedded ../shared/data
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# Per task: the licence files of its source folder, copied next to the embedded frame.
LICENCE_FILES = {"safety": ["LICENSE"], "toxicity": ["LICENSE.txt"], "legal": ["LICENSE-NOTE.txt"],
                 "reward": ["LICENSE"], "utility": ["LICENSE-NOTE.txt"]}


def embedded_path(task_name: str) -> Path:
    return DATA_DIR / f"{task_name}.parquet"


def load_embedded(task_name: str) -> pd.DataFrame | None:
    """The task's shipped example frame, or None when this task has none."""
    path = embedded_path(task_name)
    return pd.read_parquet(path) if path.exists() else None


def write_embedded(mirror: Path) -> list[Path]:
    """Rebuild every built-in task's embedded frame and licence files from a ``shared/data`` mirror."""
    from . import TASKS

    written = []
    for name, files in LICENCE_FILES.items():
        task = TASKS[name]
        folder = Path(mirror) / task.local_subdir
        frame, _ = task.load(mirror)
        frame.to_parquet(embedded_path(name), index=False, compression="zstd", compression_level=19)
        written.append(embedded_path(name))
        for file in files:
            target = DATA_DIR / "licenses" / f"{name}-{file}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / file, target)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in write_embedded(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")):
        print(path, f"{path.stat().st_size / 1e6:.2f} MB")
