"""The `utility` task (ETHICS utilitarianism pairs) on the real files, and conflicts on the linear judges."""

import json

import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.conflict import conflicting_preference
from w2s_eval.errors import UserError
from w2s_eval.deception import BASELINE
from w2s_eval.resolve import resolve_run, run_id_of
from w2s_eval.protocol import run_experiment
from w2s_eval.splits import assign_splits
from w2s_eval.tasks import get_task
from w2s_eval.tasks.utility import FILES, first_sentence, same_story, utility_frame

FRACTIONS = {"A": 0.3, "B": 0.3, "val": 0.1, "test": 0.3}
CAPS = {"A": 800, "B": 800, "val": 200, "test": 800}  # the task's defaults


@pytest.fixture(scope="module")
def raw_rows(data_dir) -> pd.DataFrame:
    folder = data_dir / "preference" / "ethics-utilitarianism"
    return pd.concat([pd.read_csv(folder / name, header=None, dtype=str, keep_default_na=False) for name in FILES],
                     ignore_index=True)


@pytest.fixture(scope="module")
def frame(data_dir) -> pd.DataFrame:
    return get_task("utility").load(data_dir)[0]


def test_loader_reads_every_file_with_the_first_column_preferred(raw_rows, frame):
    assert len(raw_rows) == 13_738 + 4_808 + 4_272
    # Rows left out are repeats (one of them with the preference reversed), or pairs with an
    # identical or empty side: 334 of 22,818.
    assert len(frame) == 22_484
    rows = set(zip(raw_rows[0].str.strip(), raw_rows[1].str.strip()))
    assert set(zip(frame["chosen"], frame["rejected"])) <= rows  # chosen = the file's first column
    assert (frame["label"] == (frame["reply_a"] == frame["chosen"])).all()
    assert ((frame["reply_a"] == frame["chosen"]) ^ (frame["reply_b"] == frame["chosen"])).all()
    assert (frame["prompt"] == "").all() and frame["text"].str.startswith("Scenario A: ").all()


def test_labels_are_balanced_and_the_order_is_a_function_of_the_pair(frame):
    assert abs(frame["label"].mean() - 0.5) < 0.02
    again = utility_frame(frame["chosen"].tolist()[:200], frame["rejected"].tolist()[:200])
    assert again["reply_a"].tolist() == frame["reply_a"].tolist()[:200]


def test_a_story_never_crosses_splits(frame):
    sandcastle = frame[frame["chosen"].str.startswith("I built a sandcastle with my nephew")]
    assert first_sentence("I built a sandcastle with my nephew") == first_sentence(
        "I built a sandcastle with my nephew. We made one small castle.")
    assert len(sandcastle) > 1 and sandcastle["group"].nunique() == 1
    assert same_story("I forgot my mask when I visited the pet store.", "I forgot my mask when I visited the nursing home.")
    assert not same_story("I went to a concert.", "My dog ran away.")
    one_story = frame[[same_story(a, b) for a, b in zip(frame["chosen"], frame["rejected"])]]
    assert 0.8 < len(one_story) / len(frame) < 0.9  # the rest: util_test.csv's cross-story comparisons
    assert frame["group"].value_counts().max() < 50  # no chain of stories swallows a split
    for seed in (0, 1):
        data = assign_splits(frame, seed, FRACTIONS, CAPS)
        assert data.groupby("group")["split"].nunique().max() == 1
        stories = data[data["id"].isin(one_story["id"])]
        openings = pd.concat([stories.assign(first=stories[side].map(first_sentence)) for side in ("chosen", "rejected")])
        assert openings.groupby("first")["split"].nunique().max() == 1  # no story's opening in two splits
        # A cross-story pair can share a scenario with another split: a few test pairs do.
        seen = set(data.loc[data["split"] != "test", ["chosen", "rejected"]].stack())
        test = data[data["split"] == "test"]
        assert (test["chosen"].isin(seen) | test["rejected"].isin(seen)).mean() < 0.05


def test_every_pair_paradigm_accepts_utility_and_conflicts_need_pairs():
    for paradigm in ("classify", "reward", "dpo", "sft"):
        run = resolve_run(load_config(None, [], {"task": "utility", "paradigm": paradigm, "profile": "cpu"}))
        assert run.task.pairwise and run.cfg.task == "utility"
    cfg = resolve_run(load_config(None, [], {"task": "utility", "conflict": "implicit", "profile": "cpu"})).cfg
    assert cfg.strong_train.finetune == "probe" and cfg.splits.max_per_split["test"] == 800
    with pytest.raises(UserError, match=r"--conflict implicit: .*task 'toxicity'.*reward, utility"):
        resolve_run(load_config(None, [], {"task": "toxicity", "conflict": "implicit", "profile": "cpu"}))


def test_verbosity_is_roughly_orthogonal_to_utility(frame):
    verbose = conflicting_preference(frame)
    decided = verbose != 0.5
    agreement = (verbose[decided] == frame["label"][decided]).mean()
    assert 0.4 < agreement < 0.55 and decided.mean() > 0.9


TINY = ["splits.max_per_split={A: 150, B: 150, val: 50, test: 150}", "eval.n_bootstrap=200", "threads=1"]


@pytest.mark.slow
def test_conflict_run_on_the_linear_judge(tmp_path):
    """classify with bag-of-words judges on φ(A) − φ(B): the implicit conflict adds verbosity-labelled
    pairs from outside the splits, and the student moves towards the longer scenario."""
    flags = {"task": "utility", "weak_model": "tfidf", "strong_model": "tfidf", "conflict": "implicit"}
    cfg = load_config(None, TINY, flags)
    assert "-classify-" in run_id_of(cfg) and "-conflict-implicit-" in run_id_of(cfg)
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["conflict"] == "implicit" and m["baseline"]["kind"] == "no conflict"
    assert m["steps"]["student"] != m["steps"]["baseline"]
    student_step = tmp_path / ".cache" / f"student-{m['steps']['student']}" / "step.json"
    assert json.loads(student_step.read_text())["n_train"] == 2 * 150  # B and as many conflicting pairs
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    test = get_task("utility").load()[0].set_index("id").loc[predictions["id"]]
    verbose = conflicting_preference(test)
    decided = verbose != 0.5

    def agrees_with_verbosity(column):
        return ((predictions[column].to_numpy() > 0.5) == (verbose == 1))[decided].mean()

    assert agrees_with_verbosity("student") > agrees_with_verbosity(BASELINE)
