"""toxicity: implicit hate speech (ToxiGen statements), hate vs neutral.

Why not Davidson toxic-vs-neither: its labels follow slurs and profanity, so TF-IDF (0.92) solves
it as well as the encoders and there is no weak–strong gap. ToxiGen statements were written to
avoid surface cues, so recognising the hate takes understanding: capability matters.

The labels come from the file a statement sits in (``hate_<group>`` / ``neutral_<group>``).
The 31,000 prompt lines repeat ~720 statements, so we split each prompt line into statements,
deduplicate, and use the statement as the leak group. Statements found under both labels are
dropped as contradictory.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd

from .base import Task, hub_frame, text_key

_FILE = re.compile(r"^(hate|neutral)_(.+?)(?:_1k|_sentences)?\.txt(?:\.gz)?$")


def _statements(line: str) -> list[str]:
    # Prompt lines are "- s1\n- s2\n-" with a literal backslash-n between statements.
    parts = line.strip().split("\\n")
    return [p.strip()[1:].strip() for p in parts if p.strip().startswith("-") and len(p.strip()) > 2]


def load_local(folder: Path) -> pd.DataFrame:
    rows: dict[str, dict] = {}
    conflicts: set[str] = set()
    files = sorted(folder.glob("prompts/*.txt.gz")) + sorted(folder.glob("demonstrations/*/*.txt"))
    for path in files:
        match = _FILE.match(path.name)
        if not match:
            continue
        label, group = int(match.group(1) == "hate"), match.group(2)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                for statement in _statements(line) if "\\n" in line else [line.strip().lstrip("- ").strip()]:
                    if len(statement) < 5:
                        continue
                    key = text_key(statement)
                    if key in rows and rows[key]["label"] != label:
                        conflicts.add(key)
                    rows.setdefault(key, {"id": f"toxigen-{key}", "text": statement, "label": label,
                                          "group": key, "target_group": group, "source": "toxigen"})
    return pd.DataFrame([r for k, r in rows.items() if k not in conflicts])


def load_hub() -> pd.DataFrame:
    # The human-annotated ToxiGen set: toxicity_human is a 1-5 rating; > 3 is hateful.
    frame = hub_frame("toxigen/toxigen-data", name="annotated")
    keys = frame["text"].map(text_key)
    return pd.DataFrame({
        "id": "toxigen-" + keys, "text": frame["text"], "group": keys,
        "label": (frame["toxicity_human"] > 3).astype(int),
        "target_group": frame["target_group"], "source": "toxigen-annotated",
    }).drop_duplicates("id")


TASK = Task(
    name="toxicity",
    description="implicit hate speech: is this statement hateful? (ToxiGen, split by statement)",
    local_subdir="toxicity/toxigen-prompts",
    hub_dataset="toxigen/toxigen-data",
    load_local=load_local,
    load_hub=load_hub,
    label_names=("neutral", "hateful"),
    question='Is this statement hateful or neutral?',
    answers=('neutral', 'hateful'),
    supervisor_columns=("target_group",),  # whom a statement is about, not whether it is hateful
    licence_files=("LICENSE.txt",),
    harness_prompt="Statement: {{text}}\nQuestion: Is this statement {{choices[1]}} or {{choices[0]}}?\nAnswer:",
    harness_note="Implicit hate (ToxiGen statements): is the statement hateful? Choices are the task's label words "
                 "(label_names), scored by log-likelihood after \"Answer:\".",
)
