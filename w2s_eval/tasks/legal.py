"""legal: does this contract clause belong to the named CUAD clause type? (LegalBench CUAD_*)

The 38 CUAD tasks pooled give 18k balanced Yes/No examples, but the same clause is labelled under
different clause types, so a model that sees only the clause is at chance. The input therefore
carries the question (the clause type) with the clause, and the leak group is the clause text:
one clause never sits in two splits.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .base import Task, hub_frame, text_key


def format_input(clause_type: str, clause: str) -> str:
    return f"Clause type: {clause_type}\nClause: {clause}"


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["group"] = frame["clause"].map(text_key)
    frame["id"] = "cuad-" + frame["group"] + "-" + frame["subset"].map(text_key).str[:6]
    frame["text"] = [format_input(t, c) for t, c in zip(frame["subset"], frame["clause"])]
    frame["source"] = "legalbench-cuad"
    return frame.drop(columns="clause").drop_duplicates("id")


def load_local(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(folder.glob("tasks/CUAD_*/test.tsv")):
        clause_type = path.parent.name.removeprefix("CUAD_")
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        rows += [{"subset": clause_type, "clause": text, "label": int(label.strip() == "Yes")}
                 for label, text in zip(raw["label"], raw["text"])]
    return _frame(rows)


# The CUAD clause types, as named by LegalBench (hub configs are these, lower-cased).
CLAUSE_TYPES = (
    "Affiliate License-Licensee", "Affiliate License-Licensor", "Anti-Assignment", "Audit Rights",
    "Cap On Liability", "Change Of Control", "Competitive Restriction Exception", "Covenant Not To Sue",
    "Effective Date", "Exclusivity", "Expiration Date", "Governing Law", "Insurance",
    "Ip Ownership Assignment", "Irrevocable Or Perpetual License", "Joint Ip Ownership",
    "License Grant", "Liquidated Damages", "Minimum Commitment", "Most Favored Nation",
    "No-Solicit Of Customers", "No-Solicit Of Employees", "Non-Compete", "Non-Disparagement",
    "Non-Transferable License", "Notice Period To Terminate Renewal", "Post-Termination Services",
    "Price Restrictions", "Renewal Term", "Revenue-Profit Sharing", "Rofr-Rofo-Rofn",
    "Source Code Escrow", "Termination For Convenience", "Third Party Beneficiary",
    "Uncapped Liability", "Unlimited-All-You-Can-Eat-License", "Volume Restriction",
    "Warranty Duration",
)


def load_hub() -> pd.DataFrame:
    rows = []
    for clause_type in CLAUSE_TYPES:
        config = "cuad_" + clause_type.lower().replace(" ", "_")
        raw = hub_frame("nguha/legalbench", name=config)
        rows += [{"subset": clause_type, "clause": text, "label": int(str(answer).strip() == "Yes")}
                 for answer, text in zip(raw["answer"], raw["text"])]
    return _frame(rows)


TASK = Task(
    name="legal",
    description="contract review: does the clause match the clause type? (LegalBench CUAD, split by clause)",
    local_subdir="legal/legalbench",
    hub_dataset="nguha/legalbench",
    load_local=load_local,
    load_hub=load_hub,
    label_names=("no", "yes"),
    question='Does the clause match the clause type? Answer yes or no.',
    answers=('no', 'yes'),
    supervisor_columns=("subset",),  # the clause type, which the text shows too
    licence_files=("LICENSE-NOTE.txt",),
    harness_prompt="{{text}}\nQuestion: Does the clause match the clause type, {{choices[1]}} or {{choices[0]}}?"
                   "\nAnswer:",
    harness_note="CUAD clause review: does the clause belong to the named clause type? (text already holds "
                 "\"Clause type: T\\nClause: C\").",
)
