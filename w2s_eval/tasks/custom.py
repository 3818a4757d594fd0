"""A user's own data as a task: a CSV, JSONL or Parquet file, or a hub dataset id.

Two kinds: labelled texts (``--text-field``, ``--label-field``), or preference pairs
(``--prompt-field``, ``--chosen-field``, ``--rejected-field``), which become a pair task like
``reward``: the two replies in an order randomised per pair, label = reply A is the chosen one,
grouped by prompt (or ``--group-field``), for the pair paradigms and the linear pair judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..store import path_problem
from .base import Task, check_frame, hub_frame, text_key
from .reward import Pair, pairs_frame

def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    """Every cell as the text written (ids such as 007 or 12 stay strings, an empty cell is ""), and
    a header that names a column twice refused: pandas would rename the second one silently."""
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = header.iloc[0].tolist() if len(header) else []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--data {path}: the header names column {repeated[0]!r} more than once; expected each "
                        f"column once")
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


READERS = {
    ".csv": lambda p: _read_delimited(p, ","),
    ".tsv": lambda p: _read_delimited(p, "\t"),
    # dtype=False: values as JSON wrote them (pandas would turn the string "007" into 7).
    ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False, convert_dates=False),
    ".json": lambda p: pd.read_json(p, lines=str(p).endswith("l"), dtype=False, convert_dates=False),
    ".parquet": pd.read_parquet,
}
def _local_file(source: str) -> Path | None:
    """The regular file ``source`` names; None where nothing is there (a hub id, say). Anything else
    there is refused before it is opened: reading a FIFO would wait forever for a writer."""
    path = Path(source).expanduser()
    problem = path_problem(path)
    if problem == "no such file or folder":
        return None
    if problem:
        raise UserError(f"--data {source}: {problem}; expected a {', '.join(READERS)} file")
    return path


def read_table(source: str, hub_config: str | None = None, hub_split: str | None = None) -> pd.DataFrame:
    path = _local_file(source)
    if path is not None and (hub_config or hub_split):
        raise UserError(f"--data {source}: a local file; --data-config and --data-split choose a configuration and "
                        f"a split of a hub dataset (owner/name)")
    if path is not None:
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise UserError(f"--data {source}: unsupported file type {path.suffix!r}; "
                            f"expected one of {', '.join(READERS)}")
        try:
            table = reader(path)
        except Exception as exc:  # pandas' and pyarrow's readers share no base class for a bad file
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise UserError(f"--data {source}: cannot read it as a {path.suffix} file ({type(exc).__name__}: "
                            f"{first[:300]})") from None
        repeated = table.columns[table.columns.duplicated()]
        if len(repeated):
            raise UserError(f"--data {source}: column {repeated[0]!r} appears more than once; expected each column "
                            f"once")
        return table
    if "/" in source and not source.startswith((".", "/", "~")) and Path(source).suffix == "":  # a hub id: owner/name
        options = {k: v for k, v in (("name", hub_config), ("split", hub_split)) if v}
        try:
            return hub_frame(source, **options)
        except Exception as exc:  # offline, unknown dataset, configuration or split
            raise UserError(f"--data {source}: cannot load it from the hub ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); offline, give a local file") from None
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


# Flag of each field, for errors that name what the user typed.
FIELD_FLAGS = {"text_field": "--text-field", "label_field": "--label-field", "id_field": "--id-field",
               "group_field": "--group-field", "prompt_field": "--prompt-field",
               "chosen_field": "--chosen-field", "rejected_field": "--rejected-field"}
PAIR_FIELDS = ("prompt_field", "chosen_field", "rejected_field")


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or (isinstance(value, str) and not value.strip())


def _keys(raw: pd.DataFrame, column: str, flag: str, where: str, unique: bool) -> pd.Series:
    """Ids or groups as the text written: an empty cell (and, for ids, a repeated one) is an error
    naming its row; a number is written as it reads (12, not 12.0)."""
    values = raw[column]
    for row, value in values.items():
        if _is_empty(value):
            raise UserError(f"{where}: column {column!r} ({flag}) has an empty cell in row {row}")
        if isinstance(value, float) and not value.is_integer():
            raise UserError(f"{where}: column {column!r} ({flag}) has the number {value!r} in row {row}; "
                            f"expected text or whole numbers")
    keys = values.map(lambda v: str(int(v)) if isinstance(v, float) else str(v))
    if unique:
        repeated = keys[keys.duplicated()]
        if len(repeated):
            row = repeated.index[0]
            raise UserError(f"{where}: column {column!r} ({flag}) repeats the id {repeated.iloc[0]!r} in row {row}; "
                            f"expected each id once")
    return keys


def _texts(raw: pd.DataFrame, column: str, flag: str, where: str) -> pd.Series:
    """A column of non-empty strings; an empty or non-text cell is an error naming its row."""
    values = raw[column]
    for row, value in values.items():
        if not isinstance(value, str):
            kind = "an empty cell" if value is None or (isinstance(value, float) and pd.isna(value)) else \
                f"a {type(value).__name__} (expected text)"
            raise UserError(f"{where}: column {column!r} ({flag}) has {kind} in row {row}")
        if not value.strip():
            raise UserError(f"{where}: column {column!r} ({flag}) has an empty cell in row {row}")
    return values


@dataclass(frozen=True)
class FileTask(Task):
    """A task read from one user file (or hub id) rather than from the data mirror."""

    text_field: str = "text"
    label_field: str = "label"
    id_field: str | None = None
    group_field: str | None = None
    prompt_field: str | None = None
    chosen_field: str | None = None
    rejected_field: str | None = None
    hub_config: str | None = None
    hub_split: str | None = None

    def load(self, data_dir=None) -> tuple[pd.DataFrame, str]:
        source = self.hub_dataset
        where = f"--data {source}"
        raw = read_table(source, self.hub_config, self.hub_split)
        if raw.empty:
            raise UserError(f"{where}: the file has no rows")
        kind = PAIR_FIELDS if self.pairwise else ("text_field", "label_field")
        fields = {name: getattr(self, name) for name in (*kind, "id_field", "group_field") if getattr(self, name)}
        missing = {column: FIELD_FLAGS[name] for name, column in fields.items() if column not in raw.columns}
        if missing:
            raise UserError(f"{where}: missing column(s) {list(missing)}; the file has columns {list(raw.columns)} "
                            f"(named by {', '.join(missing.values())})")
        ids = _keys(raw, self.id_field, FIELD_FLAGS["id_field"], where, unique=True) if self.id_field else None
        groups = _keys(raw, self.group_field, FIELD_FLAGS["group_field"], where, unique=False) \
            if self.group_field else None
        frame = self._pairs(raw, where, ids, groups) if self.pairwise else self._labelled(raw, where, ids, groups)
        return check_frame(frame, where), source

    def _labelled(self, raw, where, ids, groups) -> pd.DataFrame:
        texts = _texts(raw, self.text_field, FIELD_FLAGS["text_field"], where)
        return pd.DataFrame({
            "id": ids if ids is not None else [f"row-{i}" for i in range(len(raw))],
            "text": texts,
            "label": _binary_labels(raw[self.label_field], where, self.label_field),
            # Without a group column, identical texts form one group so duplicates cannot leak.
            "group": groups if groups is not None else texts.map(text_key),
        })

    def _pairs(self, raw, where, ids, groups) -> pd.DataFrame:
        prompts, chosen, rejected = (_texts(raw, getattr(self, name), FIELD_FLAGS[name], where) for name in PAIR_FIELDS)
        same = chosen.str.strip() == rejected.str.strip()
        if same.any():
            raise UserError(f"{where}: row {same.idxmax()}: the chosen and rejected replies (columns "
                            f"{self.chosen_field!r}, {self.rejected_field!r}) are identical; a pair needs two replies")
        # Without a group column, pairs group by prompt: the replies to one prompt never cross splits.
        pairs = (Pair(p, c, r, group=None if groups is None else groups[i], id=None if ids is None else ids[i])
                 for i, p, c, r in zip(raw.index, prompts, chosen, rejected))
        return pairs_frame(pairs, f"user pairs from {self.hub_dataset}", id_prefix="pair")


def custom_task(source: str, text_field: str = "text", label_field: str = "label",
                id_field: str | None = None, group_field: str | None = None, prompt_field: str | None = None,
                chosen_field: str | None = None, rejected_field: str | None = None, hub_config: str | None = None,
                hub_split: str | None = None) -> FileTask:
    """The task of a user's file: labelled texts, or preference pairs when any pair field is given
    (then all three are needed)."""
    pair_fields = {"prompt_field": prompt_field, "chosen_field": chosen_field, "rejected_field": rejected_field}
    given = {"text_field": text_field, "label_field": label_field, "id_field": id_field, "group_field": group_field,
             **pair_fields}
    for name, column in given.items():
        if column is not None and not str(column).strip():
            raise UserError(f"{FIELD_FLAGS[name]} {column!r}: expected a column name of {source}")
    if text_field == label_field:
        raise UserError(f"--text-field and --label-field both name column {text_field!r} of {source}; expected the "
                        f"column of the texts and another of their labels")
    pairwise = any(pair_fields.values())
    if pairwise:
        absent = [FIELD_FLAGS[name] for name, column in pair_fields.items() if not column]
        if absent:
            raise UserError(f"{', '.join(absent)}: preference data needs all of --prompt-field, --chosen-field and "
                            f"--rejected-field (the columns of the prompt, the preferred reply and the other one)")

    def unused(*_):
        raise AssertionError("FileTask.load reads the file itself")

    kind = dict(label_names=("B preferred", "A preferred"), question="Which reply is better, A or B?",
                answers=("B", "A"), pairwise=True) if pairwise else {}
    return FileTask(name=f"custom:{Path(source).name}", description=f"user data from {source}",
                    local_subdir="", hub_dataset=source, load_local=unused, load_hub=unused,
                    text_field=text_field, label_field=label_field, id_field=id_field,
                    group_field=group_field, hub_config=hub_config, hub_split=hub_split, **pair_fields, **kind)
