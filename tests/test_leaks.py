"""Leak tests at the protocol level: ground truth of B, val and test never reaches the supervisor side.

The method: two real runs on the same real examples, the second with the ground truth of the
held-out splits flipped (label -> 1 - label; split A, the weak model's ground truth, unchanged).
Splits are a hash of each example's group and the seed, so flipping labels moves no example.
Everything the supervisor side produces (the weak model, its labels of B and val, every ``via:``
intermediate, the student and the plain baseline student) must come out bit-identical; only the
ceiling, which is trained on B's truth, and the metrics may change. Each run writes to its own
``--out``, so nothing is reused from the step cache: identical predictions come from retraining,
not from a cache hit (asserted).

Step keys are not compared: ``splits.fingerprint`` hashes the labels of B, val and test into the
keys of every step, so the flipped run's keys differ although no supervisor step reads those
labels. That costs a retrain when a held-out label is corrected; it carries no information into
a model, so the tests assert on what the models produce.

These tests found that the weak model chose its regularisation (TF-IDF, probes) or epoch on val's
ground truth; it now chooses on a held-out fifth of its own split A (protocol.WEAK_SELECT_SHARE), so
every run here flips B, val and test.

The flip rewrites every column made from the truth (for pairs: chosen / rejected and the id), so a
method reading any of them would change between the two runs. Section 4 shows that it would: a
deliberately leaking method, reading ``chosen`` or the id, is caught as soon as the guard against
it is undone (the context's column cut, methods/base.py ``supervisor_view``; ids made from the
unordered pair, tasks/reward.py ``pair_id``).
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.conflict import PARADIGMS_WITH_CONFLICT
from w2s_eval.deception import BASELINE
from w2s_eval.models.resolve import resolve_model
from w2s_eval.paradigms import get_paradigm
from w2s_eval.methods.bootstrap import relabel_cross_fitted
from w2s_eval.protocol import run_experiment
from w2s_eval.splits import assign_splits
from w2s_eval.tasks import TASKS, get_task
from w2s_eval.tasks.base import check_frame
from w2s_eval.tasks import reward as pair_rules  # pair_id / pair_sides, read at call time (tests patch them)

from test_protocol import cached_steps

pytestmark = pytest.mark.slow

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.epochs=1",
        "strong_train.batch_size=16", "strong_train.max_length=48", "eval.n_bootstrap=100", "threads=1"]
TINY_PROBE = TINY + ["strong_train.finetune=probe"]
TINY_PAIRS = ["splits.max_per_split={A: 96, B: 96, val: 32, test: 96}", "eval.n_bootstrap=100", "threads=1"]

# Everything whose ground truth the supervisor side must not see: the student's split, val and test.
HELD_OUT = ("B", "val", "test")


# -- flipped data ---------------------------------------------------------------------------------

def split_slice(task_name: str, sets: list[str], data_dir: Path) -> pd.DataFrame:
    """The examples a run of ``task_name`` with ``sets`` uses, with their split, as the run assigns them."""
    cfg = load_config(None, sets, {"task": task_name})
    frame, _ = get_task(task_name).load(data_dir)
    return assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)


def flip(frame: pd.DataFrame, splits: tuple[str, ...]) -> pd.DataFrame:
    """Ground truth flipped on the rows of ``splits``, with every column made from it rewritten as
    the task's loader makes it from the flipped truth, so that no column still tells the original
    truth and any column that carries the truth changes with it. For pairs: chosen and rejected
    swapped, the id remade by the loader's rule (``pair_id``; a rule that read the preference would
    give a new id here, and the runs' ids would differ), and the A/B order checked to be the
    loader's for the flipped pair (``pair_sides``; the text shows it, so it may not depend on the
    preference)."""
    out = frame.copy()
    rows = out["split"].isin(splits).to_numpy()
    out.loc[rows, "label"] = 1 - out.loc[rows, "label"]
    if {"chosen", "rejected"} <= set(out.columns):
        out.loc[rows, ["chosen", "rejected"]] = out.loc[rows, ["rejected", "chosen"]].to_numpy()
        flipped = out.loc[rows]
        prefixes = flipped["id"].str.rsplit("-", n=1).str[0]
        out.loc[rows, "id"] = [pair_rules.pair_id(prefix, p, c, r) for prefix, p, c, r in
                               zip(prefixes, flipped["prompt"], flipped["chosen"], flipped["rejected"])]
        sides = [pair_rules.pair_sides(p, c, r) for p, c, r in zip(flipped["prompt"], flipped["chosen"], flipped["rejected"])]
        assert [a for a, _ in sides] == flipped["reply_a"].tolist(), "the A/B order depends on the truth"
        assert (out["label"] == (out["reply_a"] == out["chosen"])).all()
    return out


def custom_file(slice_: pd.DataFrame, folder: Path) -> Path:
    """The slice as a user's data file (``--data``); its split assignment is the slice's own."""
    folder.mkdir(parents=True)
    path = folder / "statements.parquet"
    slice_[["id", "text", "label", "group"]].to_parquet(path, index=False)
    return path


def custom_run(slice_: pd.DataFrame, folder: Path, sets: list[str], **flags) -> Path:
    data = custom_file(slice_, folder / "data")
    cfg = load_config(None, sets, {"data.file": str(data), "data.id_field": "id", "data.group_field": "group",
                                   "weak_model": "tfidf", "strong_model": "minilm-l6"} | flags)
    run_dir = run_experiment(cfg, folder / "runs", quiet=True)
    splits = json.loads((run_dir / "metrics.json").read_text())["splits"]
    assert {s: v["n"] for s, v in splits.items()} == slice_["split"].value_counts().to_dict(), \
        "the data file re-splits exactly as the task did"
    return run_dir


def flipped_task_run(task_name: str, splits: tuple[str, ...], folder: Path, sets: list[str], monkeypatch,
                     **flags) -> Path:
    """A run of the real task whose loader returns the truth of ``splits`` flipped (pairwise tasks
    keep their extra columns, prompt / reply_a / reply_b / chosen / rejected, which a data file
    would drop)."""
    task = get_task(task_name)
    cfg = load_config(None, sets, {"task": task_name} | flags)

    def load_flipped(subdir: Path) -> pd.DataFrame:
        frame = check_frame(task.load_local(subdir), str(subdir))
        assigned = assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)
        split_of = assigned.set_index("id")["split"]
        return flip(frame.assign(split=frame["id"].map(split_of)), splits).drop(columns="split")

    with monkeypatch.context() as patch:
        if splits:
            patch.setitem(TASKS, task_name, dataclasses.replace(task, load_local=load_flipped))
        return run_experiment(cfg, folder / "runs", quiet=True)


# -- comparing two runs ---------------------------------------------------------------------------

def step_folder(run_dir: Path, step: str) -> Path:
    key = json.loads((run_dir / "metrics.json").read_text())["steps"][step]
    return run_dir.parent / ".cache" / f"{step}-{key}"


def via_folders(run_dir: Path) -> list[Path]:
    return sorted((run_dir.parent / ".cache").glob("via-*"))


def assert_supervisor_side_identical(original: Path, flipped: Path, flipped_splits: tuple[str, ...]):
    assert cached_steps(flipped) == set(), "the flipped run trained every step itself"
    p0, p1 = (pd.read_parquet(d / "predictions.parquet") for d in (original, flipped))
    assert p0["id"].tolist() == p1["id"].tolist(), "the ids changed with the truth: they are made from it"
    assert (p1["label"] == 1 - p0["label"]).all(), "test's truth is flipped"

    # In the order of the protocol, so the first failure names the earliest step that leaked.
    def same_predictions(column: str):
        np.testing.assert_array_equal(p1[column].to_numpy(), p0[column].to_numpy(),
                                      err_msg=f"{column}'s test predictions depend on {'/'.join(flipped_splits)} truth")

    same_predictions("weak")
    pd.testing.assert_frame_equal(pd.read_parquet(step_folder(flipped, "label") / "labels.parquet"),
                                  pd.read_parquet(step_folder(original, "label") / "labels.parquet"), check_exact=True,
                                  obj="the weak labels of B and val")
    via_columns = [c for c in p0.columns if c.startswith("via:")]
    vias = list(zip(via_folders(original), via_folders(flipped), strict=True))
    assert len(vias) == len(via_columns)
    for before, after in vias:
        pd.testing.assert_frame_equal(pd.read_parquet(after / "labels.parquet"),
                                      pd.read_parquet(before / "labels.parquet"), check_exact=True,
                                      obj=f"{before.name}: the labels of B and val")
    for column in via_columns + [c for c in (BASELINE, "student") if c in p0.columns]:
        same_predictions(column)

    # The flip reached B (the ceiling trains on its truth) and the metrics say so.
    assert not np.array_equal(p1["ceiling"], p0["ceiling"]), "the ceiling, trained on B's truth, changed"
    m0, m1 = (json.loads((d / "metrics.json").read_text()) for d in (original, flipped))
    assert m1["weak"]["acc"] == pytest.approx(1 - m0["weak"]["acc"])
    assert m1["weak_label_acc_B"] == pytest.approx(1 - m0["weak_label_acc_B"])
    assert m1["steps"]["ceiling"] != m0["steps"]["ceiling"]


# -- 1 & 3: flipped truth leaves the supervisor side unchanged --------------------------------------

@pytest.fixture(scope="module")
def toxigen(data_dir) -> pd.DataFrame:
    """ToxiGen statements as a tiny run splits them (the caps of TINY)."""
    return split_slice("toxicity", TINY, data_dir)


@pytest.fixture(scope="module")
def plain_original(toxigen, tmp_path_factory) -> Path:
    return custom_run(toxigen, tmp_path_factory.mktemp("plain-original"), TINY)


def test_plain_run_trains_the_same_weak_model_labels_and_student_on_flipped_truth(toxigen, plain_original, tmp_path):
    """tfidf -> minilm-l6 (fine-tuned, one student epoch) on ToxiGen statements. (Flipping val as
    well fails on the weak model, as in the cheaper runs below; not repeated here for time.)"""
    flipped = custom_run(flip(toxigen, HELD_OUT), tmp_path, TINY)
    assert_supervisor_side_identical(plain_original, flipped, HELD_OUT)


@pytest.fixture(scope="module")
def via_original(toxigen, tmp_path_factory) -> Path:
    return custom_run(toxigen, tmp_path_factory.mktemp("via-original"), TINY_PROBE, via="minilm-l6")


def test_bootstrapped_run_trains_the_same_chain_on_flipped_truth(toxigen, via_original, tmp_path, splits=HELD_OUT):
    """tfidf -> minilm-l6 (probe, cross-fitted) -> minilm-l6 (probe): weak, via:minilm-l6, the
    bootstrapped student and the direct (baseline) student."""
    flipped = custom_run(flip(toxigen, splits), tmp_path, TINY_PROBE, via="minilm-l6")
    assert {"via:minilm-l6", BASELINE} <= set(pd.read_parquet(flipped / "predictions.parquet").columns)
    assert_supervisor_side_identical(via_original, flipped, splits)


PAIRWISE_CONFLICT = {"task": "reward", "paradigm": "reward", "weak_model": "tfidf", "strong_model": "tfidf",
                     "conflict": "implicit"}


@pytest.fixture(scope="module")
def conflict_original(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        return flipped_task_run("reward", (), tmp_path_factory.mktemp("conflict-original"), TINY_PAIRS, patch,
                                **PAIRWISE_CONFLICT)


def test_pairwise_conflict_run_trains_the_same_student_on_flipped_truth(conflict_original, tmp_path, monkeypatch,
                                                                       splits=HELD_OUT):
    """HH pairs, reward paradigm, bag-of-words weak and strong, --conflict implicit (verbosity
    pairs from outside the splits mixed into the student's set): the conflict student and its
    no-conflict baseline."""
    flipped = flipped_task_run("reward", splits, tmp_path, TINY_PAIRS, monkeypatch, **PAIRWISE_CONFLICT)
    assert BASELINE in pd.read_parquet(flipped / "predictions.parquet").columns
    assert_supervisor_side_identical(conflict_original, flipped, splits)


def test_controlled_conflict_run_trains_the_same_student_on_flipped_truth(tmp_path, monkeypatch):
    """ETHICS utility pairs, reward paradigm, bag-of-words weak and strong, --conflict controlled:
    its labels are the ground truth of pairs outside every split, flipped on a share of them, so
    the truth of B, val and test must not reach it (conflict.py, "Controlled disagreement")."""
    flags = {"task": "utility", "paradigm": "reward", "weak_model": "tfidf", "strong_model": "tfidf",
             "conflict": "controlled"}
    sets = TINY_PAIRS + ["conflict_disagreement=0.7"]
    original = flipped_task_run("utility", (), tmp_path / "original", sets, monkeypatch, **flags)
    flipped = flipped_task_run("utility", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)
    m0, m1 = (json.loads((d / "metrics.json").read_text()) for d in (original, flipped))
    record = m0["conflict_info"]
    assert m1["conflict_info"] == record and record["disagreement"] == round(0.7 * record["n_pairs"]) / record["n_pairs"]


@pytest.mark.skipif("classify" not in PARADIGMS_WITH_CONFLICT, reason=(
    "conflict settings exist only for paradigms " + ", ".join(PARADIGMS_WITH_CONFLICT) + " (conflict.py "
    "PARADIGMS_WITH_CONFLICT); a classify student on pairs (tfidf -> minilm-l6 probe) has none yet"))
def test_pairwise_classify_conflict_run_trains_the_same_student_on_flipped_truth(tmp_path, monkeypatch):
    """HH pairs judged by a classify student, tfidf -> minilm-l6 probe, --conflict implicit."""
    flags = {"task": "reward", "weak_model": "tfidf", "strong_model": "minilm-l6", "conflict": "implicit"}
    sets = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.finetune=probe",
            "strong_train.max_length=64", "eval.n_bootstrap=100", "threads=1"]
    original = flipped_task_run("reward", (), tmp_path / "original", sets, monkeypatch, **flags)
    flipped = flipped_task_run("reward", HELD_OUT, tmp_path / "flipped", sets, monkeypatch, **flags)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


# -- 2: cross-fitting -------------------------------------------------------------------------------

def test_no_intermediate_labels_an_example_or_group_it_was_trained_on(toxigen, via_original):
    """From what each fold model of the via step was fit on and what it labelled (recorded as
    passed to it): the B label of every example comes from a model trained on the other fold, and
    no leak group is on both sides."""
    (folder,) = via_folders(via_original)
    cross_fit = json.loads((folder / "step.json").read_text())["cross_fit"]
    B = toxigen[toxigen["split"] == "B"].set_index("id")
    labels = pd.read_parquet(folder / "labels.parquet")
    labelled_B = labels.loc[labels["split"] == "B", "id"]

    assert len(cross_fit) == 2
    labelled = [set(fold["labelled"]) for fold in cross_fit]
    assert set.union(*labelled) == set(B.index) == set(labelled_B) and sum(map(len, labelled)) == len(B), \
        "every example of B is labelled by exactly one fold model"
    for fold in cross_fit:
        trained_on, held = set(fold["trained_on"]), set(fold["labelled"])
        assert trained_on and held and trained_on <= set(B.index)
        assert not trained_on & held, "a fold model labelled an example it was trained on"
        assert not set(B.loc[list(trained_on), "group"]) & set(B.loc[list(held), "group"]), \
            "a leak group is both in a fold model's training set and among the examples it labelled"
        assert trained_on | held == set(B.index), "each fold model trains on all of B it does not label"


def test_a_fold_models_labels_ignore_the_labels_of_the_examples_it_labels(toxigen, tmp_path):
    """Behaviourally: change the incoming labels of the examples fold model 0 labels; their new
    labels stay bit-identical (model 0 never saw them), while fold 1's change (model 1 trained on
    them). The real via step (relabel_cross_fitted) with the bag-of-words model as intermediate."""
    B, val, test = (toxigen[toxigen["split"] == s].reset_index(drop=True) for s in ("B", "val", "test"))
    cfg = load_config(None, TINY, {})

    def relabel(labels_B: np.ndarray, folder: Path) -> tuple[pd.Series, list[dict]]:
        work = relabel_cross_fitted(resolve_model("tfidf"), get_paradigm("classify"), cfg.strong_train, cfg.seed,
                                    get_task("toxicity"), B, val, test, labels_B, val["label"].to_numpy(float))
        info = work(folder)
        labels = pd.read_parquet(folder / "labels.parquet")
        return labels[labels["split"] == "B"].set_index("id")["prob"], info["cross_fit"]

    # Any incoming labels do; B's truth is one a linear model learns visibly.
    incoming = B["label"].to_numpy(float)
    before, cross_fit = relabel(incoming, tmp_path / "before")
    fold0, fold1 = (fold["labelled"] for fold in cross_fit)
    changed = incoming.copy()
    in_fold0 = B["id"].isin(fold0).to_numpy()
    changed[in_fold0] = 1 - changed[in_fold0]
    after, _ = relabel(changed, tmp_path / "after")

    np.testing.assert_array_equal(after.loc[fold0].to_numpy(), before.loc[fold0].to_numpy(),
                                  err_msg="a fold model's labels depend on the incoming labels of what it labels")
    assert not np.allclose(after.loc[fold1].to_numpy(), before.loc[fold1].to_numpy()), \
        "the other fold model, trained on the changed labels, changed"


# -- 4: pair tasks: no column carries the truth to a method -----------------------------------------
# A method that reads the truth through a column shows up in the flipped-truth comparison; the
# columns it could read are cut where the frames are handed to it (methods/base.py
# supervisor_view), and a pair's id is made from the unordered pair (tasks/reward.py pair_id). Each
# test below runs a method that does read them, once with the guard as it is (nothing leaks) and
# once with the guard undone (the leak is caught).

PAIR_FLAGS = {"data.prompt_field": "question", "data.chosen_field": "better", "data.rejected_field": "worse",
              "data.group_field": "group", "weak_model": "tfidf", "strong_model": "tfidf"}


@pytest.fixture(scope="module")
def pair_slice(data_dir, tmp_path_factory) -> pd.DataFrame:
    """Real preference pairs (HH-RLHF and ETHICS rows, as a user's file) as a tiny run splits them."""
    from test_preference_data import real_rows

    from w2s_eval.tasks.custom import custom_task

    path = tmp_path_factory.mktemp("pair-rows") / "rows.jsonl"
    pd.DataFrame(real_rows(data_dir)).to_json(path, orient="records", lines=True)
    frame, _ = custom_task(str(path), prompt_field="question", chosen_field="better", rejected_field="worse").load()
    cfg = load_config(None, TINY_PAIRS, {})
    return assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)


def pair_run(slice_: pd.DataFrame, folder: Path, sets: list[str], **flags) -> Path:
    """The slice as a user's pair file: only what a user has (prompt, the preferred reply, the other,
    the group); the loader makes the ids, the A/B order and the labels."""
    folder.mkdir(parents=True)
    path = folder / "pairs.jsonl"
    slice_.rename(columns={"prompt": "question", "chosen": "better", "rejected": "worse"})[
        ["question", "better", "worse", "group"]].to_json(path, orient="records", lines=True)
    run_dir = run_experiment(load_config(None, sets, PAIR_FLAGS | {"data.file": str(path)} | flags),
                             folder / "runs", quiet=True)
    splits = json.loads((run_dir / "metrics.json").read_text())["splits"]
    assert {s: v["n"] for s, v in splits.items()} == slice_["split"].value_counts().to_dict()
    return run_dir


class ReadsTheTruth:
    """A deliberately leaking W2S method (registered only by these tests): the student's targets
    are the truth of B read from a column — ``chosen`` (A is preferred iff reply_a is the chosen
    reply) when the context has it, else the id (A is preferred iff the id is the hash of the pair
    in the order (prompt, A, B), as an id made from the *ordered* pair would be)."""

    @staticmethod
    def targets(frame: pd.DataFrame) -> np.ndarray:
        from w2s_eval.tasks.base import text_key

        if "chosen" in frame.columns:
            return (frame["reply_a"] == frame["chosen"]).to_numpy(float)
        ordered = [text_key(p + "\x00" + a + "\x00" + b) for p, a, b in zip(frame["prompt"], frame["reply_a"], frame["reply_b"])]
        return np.array([i.endswith("-" + key) for i, key in zip(frame["id"], ordered)], dtype=float)


@pytest.fixture
def leaking_method(monkeypatch):
    from w2s_eval.methods import METHODS
    from w2s_eval.methods.base import Method, TrainingSet, training_set_key

    class Leaky(Method):
        def training_set(self, ctx):
            targets, val_targets = ReadsTheTruth.targets(ctx.B), ReadsTheTruth.targets(ctx.val)
            return TrainingSet(ctx.B, targets, val_targets,
                               key=training_set_key("reads-the-truth", None, ctx.B, targets, val_targets))

    monkeypatch.setitem(METHODS, "reads-the-truth", Leaky)
    Leaky.name = "reads-the-truth"
    return "reads-the-truth"


def leak_check(slice_: pd.DataFrame, folder: Path, method: str):
    original = pair_run(slice_, folder / "original", TINY_PAIRS, method=method)
    flipped = pair_run(flip(slice_, HELD_OUT), folder / "flipped", TINY_PAIRS, method=method)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)


def test_a_method_reading_chosen_is_caught_and_the_context_hides_the_column(pair_slice, leaking_method, tmp_path,
                                                                           monkeypatch):
    import w2s_eval.methods.base as base

    leak_check(pair_slice, tmp_path / "guarded", leaking_method)  # no chosen column: nothing to read
    with monkeypatch.context() as patch:  # the guard undone: the method sees chosen
        patch.setattr(base, "supervisor_view", lambda frame, task, with_label: frame)
        with pytest.raises(AssertionError, match="student's test predictions depend on B/val/test truth"):
            leak_check(pair_slice, tmp_path / "unguarded", leaking_method)


def test_a_method_reading_the_id_is_caught_and_pair_ids_carry_no_label(pair_slice, leaking_method, tmp_path,
                                                                      monkeypatch):
    import w2s_eval.tasks.reward as reward
    from w2s_eval.tasks.base import text_key

    frame = pair_slice
    even = frame["id"].str[-1].map(lambda c: int(c, 16) % 2 == 0)
    assert 0.3 < frame.loc[even, "label"].mean() < 0.7  # the old ids: 1.0 here, 0.0 on the odd ones
    leak_check(pair_slice, tmp_path / "unordered", leaking_method)  # unordered-pair ids: nothing to read
    with monkeypatch.context() as patch:  # ids of the ordered (prompt, chosen, rejected), as before
        patch.setattr(reward, "pair_id", lambda prefix, p, c, r: f"{prefix}-{text_key(p + chr(0) + c + chr(0) + r)}")
        with pytest.raises(AssertionError, match="the ids changed with the truth"):
            leak_check(pair_slice, tmp_path / "ordered", leaking_method)


def test_bootstrapped_run_on_a_users_pair_file_trains_the_same_chain_on_flipped_truth(pair_slice, tmp_path):
    """tfidf → minilm-l6 (probe, cross-fitted) → minilm-l6 (probe) on pairs: the chain's labels,
    the bootstrapped student and the direct one."""
    sets = TINY_PAIRS + ["strong_train.finetune=probe", "strong_train.max_length=64"]
    flags = {"strong_model": "minilm-l6", "via": "minilm-l6"}
    original = pair_run(pair_slice, tmp_path / "original", sets, **flags)
    flipped = pair_run(flip(pair_slice, HELD_OUT), tmp_path / "flipped", sets, **flags)
    assert {"via:minilm-l6", BASELINE} <= set(pd.read_parquet(flipped / "predictions.parquet").columns)
    assert_supervisor_side_identical(original, flipped, HELD_OUT)
