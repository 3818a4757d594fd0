"""One registry shape for tasks, paradigms, losses, methods and conflicts; help texts from the
registries; one catalogue of reported metrics; conflicts as plug-ins; a sweep with a failed cell
exits non-zero."""

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from w2s_eval import __version__, protocol
from w2s_eval.cli import main, registry_names
from w2s_eval.conflict import CONFLICTS, Conflict, conflicting_preference, make_conflict, student_training_set
from w2s_eval.errors import UserError
from w2s_eval.eval.catalogue import CATALOGUE
from w2s_eval.eval.metrics import TABLES, cell_counts
from w2s_eval.methods import METHODS
from w2s_eval.paradigms import PARADIGMS
from w2s_eval.registry import Registry
from w2s_eval.sweeps import METRICS
from w2s_eval.tasks import TASKS, get_task
from w2s_eval.trainers.losses import LOSSES

from test_sweep import TINY, Counting

REGISTRIES = {"task": TASKS, "paradigm": PARADIGMS, "loss": LOSSES, "method": METHODS, "conflict": CONFLICTS}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_registry_has_one_shape_and_lists_valid_names(kind):
    registry = REGISTRIES[kind]
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) >= 3
    first = registry.names()[0]
    assert registry.get(first) is registry[first] and first in registry and list(registry) == registry.names()
    with pytest.raises(UserError, match=f"unknown {kind} 'nope'; valid choices: .*{first}"):
        registry.get("nope")
    with pytest.raises(UserError, match=f"unknown {kind} 'nope'"):
        registry["nope"]  # the mapping lookup gives the same one-line error, not a KeyError


def test_register_refuses_a_second_entry_and_names_classes():
    registry = Registry("widget")

    @registry.register("one")
    class One:
        pass

    assert One.name == "one" and registry.choices() == "one"
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("one")(object)


def test_a_task_can_be_replaced_for_a_test_like_a_dict_entry(monkeypatch):
    toxicity = get_task("toxicity")
    monkeypatch.setitem(TASKS, "toxicity", dataclasses.replace(toxicity, description="patched"))
    assert get_task("toxicity").description == "patched"
    monkeypatch.undo()
    assert get_task("toxicity") is toxicity


def test_help_texts_list_the_registered_names(capsys):
    names = registry_names()
    assert names["{tasks}"] == " | ".join(TASKS) and names["{methods}"] == " | ".join(METHODS)
    assert "bootstrap" in names["{gaps}"] and names["{conflicts}"] == "none | implicit | explicit | controlled"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in [*TASKS, *PARADIGMS, *LOSSES, *CONFLICTS, "bootstrap", "co-supervise"]:
        assert name in text
    assert not [placeholder for placeholder in names if placeholder in text]  # every placeholder filled


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "w2s_eval.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"w2s-eval {__version__}"


# -- the metric catalogue ------------------------------------------------------------------------

def test_every_pooled_metric_has_one_catalogue_entry_with_a_table_or_bounds():
    assert METRICS == tuple(CATALOGUE)
    for key, metric in CATALOGUE.items():
        assert metric.meaning and metric.name, key
        if metric.statistic is not None:
            assert metric.table in TABLES, key
        else:
            assert key.startswith("baseline_"), key  # only the baseline columns are pooled by t over seeds


def test_catalogue_statistics_stay_within_their_bounds_on_random_tables():
    rng = np.random.default_rng(0)
    for key, metric in CATALOGUE.items():
        if metric.statistic is None or metric.bounds is None:
            continue
        models = len(TABLES[metric.table])
        rights = rng.random((models, 200)) < rng.random(models)[:, None]
        value = float(metric.statistic(cell_counts(*rights)))
        low, high = metric.bounds
        assert np.isnan(value) or low <= value <= high, (key, value)


# -- conflicts are plug-ins ------------------------------------------------------------------------

def test_conflict_settings_check_their_own_options_and_paradigms():
    with pytest.raises(UserError, match="at most 1"):
        make_conflict("explicit", 2.0)
    with pytest.raises(UserError, match="positive number"):
        make_conflict("implicit", 0)
    with pytest.raises(UserError, match="paradigms classify, reward, dpo, not 'sft'"):
        make_conflict("implicit").check_paradigm("sft")
    make_conflict("none").check_paradigm("sft")  # no conflict runs everywhere
    with pytest.raises(UserError, match="none left"):
        make_conflict("implicit").training_set(pd.DataFrame({"id": ["a"]}), [0.5], None, seed=0)


def test_a_new_conflict_is_one_registered_class(monkeypatch):
    class Shorter(Conflict):
        """Prefers the shorter reply: the conflicting labels flipped (a registered plug-in)."""
        summary = "B's pairs again, preferring the shorter reply"

        def source(self, B, outside):
            return B.assign(reply_a=B["reply_b"], reply_b=B["reply_a"])

    monkeypatch.setitem(CONFLICTS, "shorter", Shorter)
    Shorter.name = "shorter"
    B = pd.DataFrame({"id": [f"p{i}" for i in range(6)], "reply_a": ["xx", "x", "xxx", "x", "xx", "x"],
                      "reply_b": ["x", "xx", "x", "xxx", "xx", "xx"]})
    frame, targets = student_training_set("shorter", 1.0, B, np.full(6, 0.9), None, seed=0)
    extra = frame.iloc[6:]
    assert len(extra) == 5  # the tie (xx, xx) has no preference
    assert targets[6:].tolist() == conflicting_preference(extra).tolist()
    original = B.set_index("id").loc[extra["id"]]
    assert (targets[6:] == 1 - conflicting_preference(original.reset_index())).all()


# -- a sweep with a failed cell exits non-zero -------------------------------------------------------

def test_a_sweep_with_a_failed_cell_exits_non_zero_and_names_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(protocol, "run_experiment", Counting(fail_on=1, error=RuntimeError))
    argv = ["sweep", "--tasks", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--seeds", "2",
            "--out", str(tmp_path / "sweep"), "--no-report", "--quiet", *[a for s in TINY for a in ("--set", s)]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cell task=toxicity gap=large paradigm=classify loss=xent method=naive conflict=none seed=0 failed: " \
           "RuntimeError: simulated" in err and "1 of 2 cells did not finish" in err and "seed=1" not in err
    monkeypatch.setattr(protocol, "run_experiment", Counting())  # the rerun retries the failed cell only
    assert main(argv) == 0


def test_every_argument_of_every_command_has_help():
    import argparse

    from w2s_eval.cli import build_parser

    commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0].choices
    missing = [f"{name} {action.option_strings or action.dest}" for name, parser in commands.items()
               for action in parser._actions if not action.help]
    assert missing == []
