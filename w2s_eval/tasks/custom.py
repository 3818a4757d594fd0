"""A user's own data as a task: a CSV, JSONL or Parquet file, or a hub dataset id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import UserError
from .base import Task, check_frame, hub_frame, text_key

READERS = {
    ".csv": pd.read_csv,
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".jsonl": lambda p: pd.read_json(p, lines=True),
    ".json": lambda p: pd.read_json(p, lines=str(p).endswith("l")),
    ".parquet": pd.read_parquet,
}


def read_table(source: str) -> pd.DataFrame:
    path = Path(source).expanduser()
    if path.exists():
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise UserError(f"--data {source}: unsupported file type {path.suffix!r}; "
                            f"expected one of {', '.join(READERS)}")
        try:
            return reader(path)
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise UserError(f"--data {source}: cannot read it: {exc}") from None
    if "/" in source and not source.startswith((".", "/", "~")) and path.suffix == "":
        return hub_frame(source)  # looks like a hub id: owner/name
    raise UserError(f"--data {source}: no such file")


def _binary_labels(values: pd.Series, source: str, field: str) -> pd.Series:
    """0/1, true/false, yes/no -> 0/1; anything else is an error naming the values found."""
    mapping = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1, "0.0": 0, "1.0": 1}
    lowered = values.astype(str).str.strip().str.lower()
    unknown = sorted(set(lowered) - set(mapping))
    if unknown:
        raise UserError(f"{source}: column {field!r} must hold binary labels (0/1, true/false, "
                        f"yes/no); found {unknown[:5]}")
    return lowered.map(mapping).astype(int)


@dataclass(frozen=True)
class FileTask(Task):
    """A task read from one user file (or hub id) rather than from the data mirror."""

    text_field: str = "text"
    label_field: str = "label"
    id_field: str | None = None
    group_field: str | None = None

    def load(self, data_dir=None) -> tuple[pd.DataFrame, str]:
        source = self.hub_dataset
        where = f"--data {source}"
        raw = read_table(source)
        if raw.empty:
            raise UserError(f"{where}: the file has no rows")
        needed = [f for f in (self.text_field, self.label_field, self.id_field, self.group_field) if f]
        missing = [f for f in needed if f not in raw.columns]
        if missing:
            raise UserError(f"{where}: missing column(s) {missing}; the file has columns {list(raw.columns)}")
        texts = raw[self.text_field].astype(str)
        frame = pd.DataFrame({
            "id": raw[self.id_field].astype(str) if self.id_field else [f"row-{i}" for i in range(len(raw))],
            "text": texts,
            "label": _binary_labels(raw[self.label_field], where, self.label_field),
            # Without a group column, identical texts form one group so duplicates cannot leak.
            "group": raw[self.group_field].astype(str) if self.group_field else texts.map(text_key),
        })
        return check_frame(frame, where), source


def custom_task(source: str, text_field: str = "text", label_field: str = "label",
                id_field: str | None = None, group_field: str | None = None) -> FileTask:
    def unused(*_):
        raise AssertionError("FileTask.load reads the file itself")

    return FileTask(name=f"custom:{Path(source).name}", description=f"user data from {source}",
                    local_subdir="", hub_dataset=source, load_local=unused, load_hub=unused,
                    text_field=text_field, label_field=label_field, id_field=id_field,
                    group_field=group_field)
