"""A user's own preference pairs (--prompt-field / --chosen-field / --rejected-field) as a pair task.

The file is made of real rows: HH-RLHF single-turn harmlessness pairs (prompt, chosen, rejected) and
ETHICS utilitarianism pairs whose scenarios share their first sentence (that sentence as prompt), so
several pairs share a prompt.
"""

import gzip
import json

import pandas as pd
import pytest

from w2s_eval.cli import main
from w2s_eval.config import load_config
from w2s_eval.resolve import resolve_run
from w2s_eval.splits import assign_splits
from w2s_eval.tasks.base import text_key
from w2s_eval.tasks.custom import custom_task
from w2s_eval.tasks.reward import split_dialogue
from w2s_eval.tasks.utility import FILES, first_sentence

FIELDS = {"prompt_field": "question", "chosen_field": "better", "rejected_field": "worse"}
FLAGS = ["--prompt-field", "question", "--chosen-field", "better", "--rejected-field", "worse"]


def real_rows(data_dir, n_hh: int = 120, n_ethics: int = 120) -> list[dict]:
    rows = []
    with gzip.open(data_dir / "preference/hh-single-turn-w2s-deception/hh-single-turn/harmless_test.jsonl.gz",
                   "rt", encoding="utf-8") as handle:
        for record in map(json.loads, handle):
            prompt, better = split_dialogue(record["chosen"])
            _, worse = split_dialogue(record["rejected"])
            if better and worse and better != worse and len(rows) < n_hh:
                rows.append({"question": prompt, "better": better, "worse": worse})
    ethics = pd.read_csv(data_dir / "preference/ethics-utilitarianism" / FILES[0], header=None, dtype=str,
                         keep_default_na=False)
    opening = ethics[0].map(first_sentence)
    shared = ethics.assign(opening=opening)[(opening == ethics[1].map(first_sentence)) & opening.duplicated(keep=False)]
    for _, row in shared.sort_values("opening").head(n_ethics).iterrows():  # openings with 2+ pairs, together
        rows.append({"question": row["opening"], "better": row[0], "worse": row[1]})
    return rows


@pytest.fixture(scope="module")
def pairs_file(data_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in real_rows(data_dir)))
    return path


def test_pairs_round_trip_into_a_pair_task(pairs_file):
    task = custom_task(str(pairs_file), **FIELDS)
    frame, _ = task.load()
    raw = pd.read_json(pairs_file, lines=True)
    assert task.pairwise and len(frame) == len(raw.drop_duplicates())
    assert set(zip(frame["prompt"], frame["chosen"], frame["rejected"])) == set(zip(raw["question"], raw["better"], raw["worse"]))
    # A/B randomised per pair: label 1 exactly when reply A is the chosen one, about half the time.
    assert (frame["label"] == (frame["reply_a"] == frame["chosen"])).all()
    assert 0.4 < frame["label"].mean() < 0.6
    # Groups are the prompts: pairs sharing a prompt share a group, and a prompt never crosses splits.
    assert (frame["group"] == frame["prompt"].map(text_key)).all()
    assert frame["group"].value_counts().max() > 1
    data = assign_splits(frame, 0, {"A": 0.3, "B": 0.3, "val": 0.1, "test": 0.3})
    assert data.groupby("prompt")["split"].nunique().max() == 1
    assert frame["text"].str.contains("Reply A: ").all()


def test_a_group_field_overrides_the_prompt(pairs_file, tmp_path):
    raw = pd.read_json(pairs_file, lines=True).assign(topic=lambda f: [f"t{i % 5}" for i in range(len(f))])
    path = tmp_path / "topics.parquet"
    raw.to_parquet(path)
    frame, _ = custom_task(str(path), group_field="topic", **FIELDS).load()
    assert set(frame["group"]) == {f"t{i}" for i in range(5)}


def write_rows(tmp_path, rows, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


GOOD = {"question": "How do I bake bread?", "better": "Mix flour, water and yeast.", "worse": "No."}


@pytest.mark.parametrize("rows, flags, expected", [
    ([GOOD], ["--prompt-field", "prompt", "--chosen-field", "better", "--rejected-field", "worse"],
     r"missing column\(s\) \['prompt'\].*named by --prompt-field"),
    ([GOOD, {**GOOD, "better": ""}], FLAGS, r"column 'better' \(--chosen-field\) has an empty cell in row 1"),
    ([GOOD, {**GOOD, "worse": None}], FLAGS, r"column 'worse' \(--rejected-field\) has an empty cell in row 1"),
    ([{**GOOD, "better": [{"role": "assistant", "content": "hi"}]}], FLAGS,
     r"column 'better' \(--chosen-field\) has a list \(expected text\) in row 0"),
    ([GOOD, {**GOOD, "worse": GOOD["better"] + " "}], FLAGS,
     r"row 1: the chosen and rejected replies \(columns 'better', 'worse'\) are identical"),
    ([GOOD], ["--chosen-field", "better"], r"--prompt-field, --rejected-field: preference data needs all of"),
])
def test_bad_pair_files_give_one_line_naming_the_field(capsys, tmp_path, rows, flags, expected):
    path = write_rows(tmp_path, rows)
    assert main(["run", "--data", path, *flags, "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert __import__("re").search(expected, err), err


def test_an_unreadable_pair_file_names_the_flag(capsys, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "a", "better": \n')
    assert main(["run", "--data", str(path), *FLAGS, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--data {path}: cannot read it" in err and "Traceback" not in err


def test_pair_data_goes_to_the_pair_paradigms_and_conflicts(pairs_file):
    flags = {"data.file": str(pairs_file), "data.prompt_field": "question", "data.chosen_field": "better",
             "data.rejected_field": "worse", "profile": "cpu"}
    for paradigm in ("reward", "dpo"):
        task = resolve_run(load_config(None, [], flags | {"paradigm": paradigm})).task
        assert task.pairwise
    resolve_run(load_config(None, [], flags | {"conflict": "implicit"}))  # classify judges pairs too


@pytest.mark.slow
def test_a_tfidf_run_on_pair_data_finishes(capsys, pairs_file, tmp_path):
    argv = ["run", "--data", str(pairs_file), *FLAGS, "--weak", "tfidf", "--strong", "tfidf", "--threads", "1",
            "--set", "eval.n_bootstrap=200", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    run_dir = next(tmp_path.glob("custom-prefs-*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "custom:prefs.jsonl" and metrics["n_test"] > 20
    assert 0 <= metrics["weak"]["acc"] <= 1 and 0 <= metrics["ceiling"]["acc"] <= 1
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert predictions["weak"].between(0, 1).all() and predictions["weak"].nunique() > 1
