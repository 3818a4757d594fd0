"""The controlled conflict (``--conflict controlled``): the target flipped on a known share of pairs
from outside every split (conflict.py, "Controlled disagreement").

On the real ETHICS utility pairs: the share realised on the conflict pairs is the configured one;
flipping the truth of B, val and test leaves the conflict's pairs and labels unchanged (and a
conflict that read B would be caught); a tiny run with bag-of-words models records the share in
deception.json and metrics.json and keys the student by it; bad values are one-line errors.
"""

import json

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.conflict import Controlled, conflict_record, make_conflict, outside_splits
from w2s_eval.errors import UserError
from w2s_eval.protocol import run_experiment
from w2s_eval.resolve import run_id_of
from w2s_eval.splits import assign_splits
from w2s_eval.sweeps import SweepGrid
from w2s_eval.tasks import get_task

from test_leaks import HELD_OUT, flip
from test_protocol import cached_steps

SPLIT_CAPS = "splits.max_per_split={A: 200, B: 300, val: 60, test: 200}"


@pytest.fixture(scope="module")
def utility(data_dir) -> pd.DataFrame:
    """Every utility pair, with the split a run with SPLIT_CAPS gives it (NaN: outside every split)."""
    cfg = load_config(None, [SPLIT_CAPS], {"task": "utility"})
    frame, _ = get_task("utility").load(data_dir)
    data = assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)
    return frame.assign(split=frame["id"].map(data.set_index("id")["split"]))


def student_set(frame: pd.DataFrame, disagreement: float, seed: int = 0, amount: float = 1.0):
    """The controlled conflict's (training pairs, targets, record) on ``frame``'s split B, with
    constant weak labels."""
    B = frame[frame["split"] == "B"].reset_index(drop=True)
    outside = outside_splits(frame, frame[frame["split"].notna()])
    conflict = make_conflict("controlled", amount, disagreement)
    pairs, targets = conflict.training_set(B, np.full(len(B), 0.5), outside, seed)
    return pairs, targets, conflict_record(conflict, pairs, targets, len(B))


@pytest.mark.parametrize("disagreement", [0.0, 0.3, 0.59, 1.0])
def test_the_realised_share_is_the_configured_one(utility, disagreement):
    pairs, targets, record = student_set(utility, disagreement)
    added, labels = pairs.iloc[300:], targets[300:]
    n = len(added)
    assert n == 300 and set(added["id"]).isdisjoint(utility.loc[utility["split"].notna(), "id"])
    realised = np.mean(labels != added["label"].to_numpy())
    # Within the binomial tolerance of a per-pair draw (3 standard errors); in fact exact up to rounding.
    assert abs(realised - disagreement) <= 3 * np.sqrt(disagreement * (1 - disagreement) / n) + 0.5 / n
    assert realised == round(disagreement * n) / n
    assert record == {"name": "controlled", "objective": Controlled.objective, "amount": 1.0,
                      "disagreement_configured": disagreement, "n_pairs": n, "disagreement": realised}
    assert set(np.unique(labels)) <= {0.0, 1.0}


def test_flipped_pairs_are_nested_and_independent_of_the_label(utility):
    flipped_at = {}
    for d in (0.3, 0.6):
        pairs, targets, _ = student_set(utility, d)
        added = pairs.iloc[300:]
        flipped_at[d] = set(added["id"][targets[300:] != added["label"].to_numpy()])
    assert flipped_at[0.3] < flipped_at[0.6]
    # Flips chosen by the id's hash, not the label: each label is flipped at about the same rate.
    pairs, targets, _ = student_set(utility, 0.5)
    added = pairs.iloc[300:].assign(flipped=targets[300:] != pairs["label"].iloc[300:].to_numpy())
    rates = added.groupby("label")["flipped"].mean()
    assert abs(rates[0] - rates[1]) < 0.15


def test_the_conflict_reads_no_label_of_B_val_or_test(utility):
    """The leak pattern of tests/test_leaks.py on the conflict alone: the truth of B, val and test
    flipped (with every column made from it), the conflict's pairs and labels are unchanged."""
    flipped = flip(utility, HELD_OUT)
    for d in (0.0, 0.3, 1.0):
        before, before_targets, _ = student_set(utility, d)
        after, after_targets, _ = student_set(flipped, d)
        np.testing.assert_array_equal(after_targets, before_targets)
        assert after["id"].iloc[300:].tolist() == before["id"].iloc[300:].tolist()


def test_the_flip_test_catches_a_conflict_that_reads_B(utility):
    """The same check has the power to find a leak: a controlled conflict drawing its pairs from B."""
    class FromB(Controlled):
        def source(self, B, outside):
            return B

    def targets_of(frame):
        B = frame[frame["split"] == "B"].reset_index(drop=True)
        return FromB(1.0, 0.3).training_set(B, np.full(len(B), 0.5), None, 0)[1]

    assert not np.array_equal(targets_of(utility), targets_of(flip(utility, HELD_OUT)))


# -- a tiny run ---------------------------------------------------------------------------------

TINY = ["splits.max_per_split={A: 120, B: 120, val: 40, test: 120}", "eval.n_bootstrap=200", "threads=1"]
FLAGS = {"task": "utility", "paradigm": "reward", "weak_model": "tfidf", "strong_model": "tfidf",
         "conflict": "controlled"}


def test_a_controlled_run_records_its_share_and_keys_the_student_by_it(tmp_path):
    """utility, reward paradigm, TF-IDF weak and strong: deception.json and metrics.json carry the
    realised share; another share is another student, with the same baseline."""
    runs = {d: run_experiment(load_config(None, TINY + [f"conflict_disagreement={d}"], FLAGS), tmp_path, quiet=True)
            for d in (0.3, 0.9)}
    metrics = {d: json.loads((r / "metrics.json").read_text()) for d, r in runs.items()}
    for d, run_dir in runs.items():
        assert "-conflict-controlled-" in run_dir.name
        recorded = json.loads((run_dir / "deception.json").read_text())["conflict"]
        assert recorded == metrics[d]["conflict_info"]
        assert recorded["name"] == "controlled" and recorded["disagreement_configured"] == d
        assert recorded["n_pairs"] == 120 and recorded["disagreement"] == pytest.approx(round(d * 120) / 120)
        assert metrics[d]["deception"]["deception"]["value"] is not None
    assert metrics[0.3]["steps"]["student"] != metrics[0.9]["steps"]["student"]
    assert metrics[0.3]["steps"]["baseline"] == metrics[0.9]["steps"]["baseline"]
    assert cached_steps(runs[0.9]) == {"weak", "label", "ceiling", "student"}  # the cached student: the baseline


def test_the_share_names_the_run_only_where_it_is_used():
    def run_id(conflict, *sets):
        return run_id_of(load_config(None, TINY + list(sets), FLAGS | {"conflict": conflict}))

    assert run_id("controlled", "conflict_disagreement=0.3") != run_id("controlled", "conflict_disagreement=0.7")
    # Unused by the other settings (a sweep can set it for its controlled cells): their runs are unchanged.
    assert run_id("implicit", "conflict_disagreement=0.3") == run_id("implicit")
    assert run_id("none", "conflict_disagreement=0.3") == run_id("none")


# -- bad values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sets", [["conflict_disagreement=1.5"], ["conflict_disagreement=-0.1"], []])
def test_bad_shares_are_one_line_errors_naming_the_option_and_range(sets):
    with pytest.raises(UserError) as error:
        run_id_of(load_config(None, TINY + sets, FLAGS))
    message = str(error.value)
    assert message.startswith("conflict_disagreement: ") and "in [0, 1]" in message and "\n" not in message


def test_a_sweep_checks_the_share_before_any_run():
    grid = SweepGrid(tasks=["utility"], paradigms=["reward"], conflicts=["none", "controlled"])
    with pytest.raises(UserError, match=r"conflict_disagreement: .*in \[0, 1\]"):
        grid.validate("cpu", conflict_disagreement=None)
    grid.validate("cpu", conflict_disagreement=0.7)
