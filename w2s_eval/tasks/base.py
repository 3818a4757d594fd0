"""What a task is: a named loader of labelled examples, with its data sources.

Every task yields one table, the *example frame*, with these columns:

- ``id``    unique string id of the example (stable across runs: it seeds the split hash);
- ``text``  the model input (for preference pairs: both responses, order randomised);
- ``label`` 0/1 ground truth;
- ``group`` the unit that could leak between splits (statement, focus, clause, prompt):
  all examples of one group land in the same split.

Tasks may add metadata columns (``source``, ``subset``, ``target_group``) and, for preference
data, ``prompt`` / ``reply_a`` / ``reply_b`` (what the models read) and ``chosen`` / ``rejected``
(the original pair, which holds the label). A W2S method sees only ``SUPERVISOR_COLUMNS`` and the
task's own ``supervisor_columns`` (methods/base.py ``supervisor_view``): never a column that holds
or is derived from the ground truth.

Data resolves, in order: an explicit folder (``--data-dir``) → the local mirror named by
``W2S_DATA_DIR`` (laid out like ``shared/data``) → the copy shipped in the package (``embedded.py``;
the built-in tasks) → the task's Hugging Face hub dataset.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import UserError
from .embedded import load_embedded

REQUIRED_COLUMNS = ("id", "text", "label", "group")
# The columns of any task that a supervisor may see (a method reads): what the models read, the
# id and leak group (neither may be made from the label: tasks/reward.py pair_id), and the split.
SUPERVISOR_COLUMNS = ("id", "split", "text", "group", "prompt", "reply_a", "reply_b")


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    # Folder under the local mirror (W2S_DATA_DIR) that holds this task's files.
    local_subdir: str
    # The real dataset on the Hugging Face hub, for users with internet.
    hub_dataset: str
    load_local: Callable[[Path], pd.DataFrame]
    load_hub: Callable[[], pd.DataFrame]
    label_names: tuple[str, str] = ("negative", "positive")
    # For generative paradigms (sft): the question asked after the text, and the answer words for
    # label 0 and label 1 (each read off by its log-probability).
    question: str = "Is the label positive? Answer yes or no."
    answers: tuple[str, str] = ("no", "yes")
    pairwise: bool = False
    # Metadata columns of this task a method may read besides SUPERVISOR_COLUMNS (e.g. ToxiGen's
    # target_group, co-supervise's teacher domains). Only columns that carry no label: safety's
    # XSTest ``subset`` does (its contrast_* types are exactly the unsafe prompts) and is not here.
    supervisor_columns: tuple[str, ...] = ()
    # The upstream licence files in the mirror's task folder (``local_subdir``). A task that names
    # them ships its example frame in the package with them beside it (``embedded.py``): only sources
    # whose licence allows redistribution name any.
    licence_files: tuple[str, ...] = ()
    # As an lm-evaluation-harness multiple-choice task (``lm_eval_tasks``, generated from this):
    # the context the choices are scored after, a Jinja template over a harness document (the
    # example's columns plus ``choices``: the label names, or for a pair task its two replies).
    # None: the text, then ``question``. ``harness_note`` says why it is phrased so (the
    # generated YAML's header).
    harness_prompt: str | None = None
    harness_note: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def load(self, data_dir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, str]:
        """Return (example frame, human-readable source)."""
        root = resolve_data_dir(data_dir)
        if root is not None:
            folder = root / self.local_subdir
            if not folder.is_dir():
                raise UserError(
                    f"task {self.name!r}: data folder {folder} does not exist "
                    f"(expected the layout of shared/data: <dir>/{self.local_subdir}/...)"
                )
            frame, source = self.load_local(folder), str(folder)
        elif (embedded := load_embedded(self.name)) is not None:
            frame, source = embedded, f"embedded:{self.name} (w2s_eval/data, built from {self.local_subdir})"
        else:
            frame, source = _from_hub(self), f"hf://{self.hub_dataset}"
        return check_frame(frame, source), source


def resolve_data_dir(explicit: str | os.PathLike | None) -> Path | None:
    """The local data mirror: an explicit folder, else $W2S_DATA_DIR, else None (use the hub)."""
    value = explicit or os.environ.get("W2S_DATA_DIR")
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        origin = "--data-dir" if explicit else "W2S_DATA_DIR"
        raise UserError(f"{origin}={value}: not a folder")
    return root


def _from_hub(task: Task) -> pd.DataFrame:
    try:
        return task.load_hub()
    except UserError:
        raise
    except Exception as exc:  # network, auth, offline mode: say what to do instead
        raise UserError(
            f"task {task.name!r}: no local data (set W2S_DATA_DIR or --data-dir to a folder "
            f"laid out like shared/data) and loading the hub dataset {task.hub_dataset!r} "
            f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def check_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{source}: missing columns {missing}; a task needs {list(REQUIRED_COLUMNS)}")
    if frame.empty:
        raise UserError(f"{source}: no examples")
    if frame["id"].duplicated().any():
        dup = frame.loc[frame["id"].duplicated(), "id"].iloc[0]
        raise UserError(f"{source}: duplicate example id {dup!r}")
    bad = ~frame["label"].isin([0, 1])
    if bad.any():
        raise UserError(f"{source}: labels must be 0/1, found {frame.loc[bad, 'label'].iloc[0]!r}")
    if frame["label"].nunique() < 2:
        raise UserError(f"{source}: every label is {int(frame['label'].iloc[0])}; a task needs examples of both classes "
                        f"(0 and 1)")
    frame = frame.reset_index(drop=True)
    frame["label"] = frame["label"].astype(int)
    frame["id"] = frame["id"].astype(str)
    frame["group"] = frame["group"].astype(str)
    return frame


def text_key(text: str) -> str:
    """A short stable key for a text (used as id or leak group)."""
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()[:16]


def hub_frame(hub_id: str, **kwargs) -> pd.DataFrame:
    """Load a hub dataset (every split, or the one ``split=`` names) into one pandas frame (needs
    internet, or the dataset in the local hub cache)."""
    import datasets

    loaded = datasets.load_dataset(hub_id, **kwargs)
    if isinstance(loaded, datasets.Dataset):  # one split asked for
        return loaded.to_pandas()
    return pd.concat([split.to_pandas() for split in loaded.values()], ignore_index=True)
