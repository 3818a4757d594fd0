"""Each task loader on the real data in shared/data, the splits, and the constructions' invariants."""

import pandas as pd
import pytest

from w2s_eval.errors import UserError
from w2s_eval.splits import SPLITS, assign_splits, balance
from w2s_eval.tasks import TASKS, embedded, get_task
from w2s_eval.tasks.reward import split_dialogue

FRACTIONS = {"A": 0.3, "B": 0.3, "val": 0.1, "test": 0.3}


@pytest.fixture(scope="module")
def frames(data_dir):
    return {name: task.load(data_dir)[0] for name, task in TASKS.items()}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_loader_yields_a_valid_binary_task(frames, name):
    frame = frames[name]
    assert {"id", "text", "label", "group"} <= set(frame.columns)
    assert frame["id"].is_unique
    assert set(frame["label"]) == {0, 1}
    assert 0.3 < frame["label"].mean() < 0.7, "every task is roughly balanced"
    assert frame["text"].str.len().min() > 0


def test_toxicity_is_statement_level_and_consistent(frames):
    frame = frames["toxicity"]
    # ~720 unique statements in 31,000 prompt lines: dedup must have happened.
    assert 600 < len(frame) < 800
    assert not frame["text"].str.contains(r"\\n", regex=False).any()
    assert frame["text"].str.lower().str.split().str.join(" ").is_unique
    assert frame["target_group"].nunique() >= 15


def test_safety_keeps_contrast_twins_in_one_group(frames):
    frame = frames["safety"]
    assert len(frame) == 450
    kill = frame[frame["group"] == "kill"]
    assert set(kill["label"]) == {0, 1}, "the safe homonym and its unsafe contrast share a group"


def test_legal_input_carries_the_question(frames):
    frame = frames["legal"]
    assert frame["text"].str.startswith("Clause type: ").all()
    assert frame["subset"].nunique() == 38
    # A clause labelled under two clause types stays in one leak group.
    assert frame.groupby("group")["subset"].nunique().max() > 1


def test_reward_pairs_are_pairwise_and_order_randomised(frames):
    frame = frames["reward"]
    assert 0.45 < frame["label"].mean() < 0.55
    row = frame.iloc[0]
    first, second = row["text"].split("\n\nReply A: ")[1].split("\n\nReply B: ")
    preferred = first if row["label"] == 1 else second
    assert preferred.startswith(row["chosen"][:50])
    assert split_dialogue("\n\nHuman: hi there\n\nAssistant: hello") == ("hi there", "hello")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_are_disjoint_grouped_and_deterministic(frames, name):
    frame = frames[name]
    caps = {"A": 300, "B": 300, "val": 80, "test": 300}
    one = assign_splits(frame, seed=0, fractions=FRACTIONS, max_per_split=caps)
    again = assign_splits(frame, seed=0, fractions=FRACTIONS, max_per_split=caps)
    pd.testing.assert_frame_equal(one, again)
    assert one["id"].is_unique, "no example in two splits"
    assert (one.groupby("group")["split"].nunique() == 1).all(), "no leak group in two splits"
    sizes = balance(one)
    assert all(sizes[s]["n"] > 0 for s in SPLITS)
    assert all(sizes[s]["n"] <= caps[s] for s in SPLITS)
    other = assign_splits(frame, seed=1, fractions=FRACTIONS, max_per_split=caps)
    assert not one[one.split == "test"]["id"].equals(other[other.split == "test"]["id"].reset_index(drop=True))


def test_bad_split_fractions_are_rejected(frames):
    with pytest.raises(UserError, match="sum to at most 1"):
        assign_splits(frames["safety"], 0, {"A": 0.5, "B": 0.5, "val": 0.1, "test": 0.3})
    with pytest.raises(UserError, match="exactly"):
        assign_splits(frames["safety"], 0, {"A": 0.5, "B": 0.5})


def test_unknown_task_lists_valid_names():
    with pytest.raises(UserError, match="legal, reward, safety, toxicity"):
        get_task("sarcasm")


def test_missing_data_folder_names_the_folder(tmp_path):
    with pytest.raises(UserError, match=r"toxicity/toxigen-prompts"):
        get_task("toxicity").load(tmp_path)



@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_builtin_task_resolves_its_shipped_data_without_a_data_folder(frames, name, monkeypatch):
    """A fresh machine with no W2S_DATA_DIR and no hub: the copy in w2s_eval/data is the task's
    frame exactly as the loader builds it from the mirror (so splits and results are the same)."""
    monkeypatch.delenv("W2S_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    frame, source = get_task(name).load()
    assert source.startswith(f"embedded:{name}")
    pd.testing.assert_frame_equal(frame, frames[name])
    assert all(path.is_file() for path in embedded.shipped()[name].licences)
