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


# -- plug-ins own their knowledge: checked when registered, found through entry points ------------

def test_every_paradigm_model_declares_the_trainable_model_interface():
    from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier
    from w2s_eval.trainers.interface import check_model_class

    for cls in [p.model_class for p in PARADIGMS.values()] + [BowClassifier, ProbeClassifier]:
        assert check_model_class(cls, "test") is cls
        assert isinstance(cls.generates, bool) and set(cls.losses) <= set(LOSSES)
    assert PARADIGMS["sft"].model_class.generates and not PARADIGMS["classify"].model_class.generates


def test_registries_refuse_what_is_not_a_plug_in_of_their_kind():
    from w2s_eval.paradigms import Paradigm

    class NoPredictions:  # fit / save / load, but no predict_proba
        losses, generates, pretrained_folder, description = ("xent",), False, False, "a model that cannot predict"

        def configure(self, task):
            return self

        def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir=None):
            return self

        def save(self, folder):
            pass

        @classmethod
        def load(cls, folder):
            return cls()

    with pytest.raises(TypeError, match="paradigm 'blind': model class NoPredictions lacks 'predict_proba'"):
        PARADIGMS.register("blind")(Paradigm("blind", NoPredictions, "no predictions"))
    with pytest.raises(TypeError, match="subclass of w2s_eval.methods.base.Method"):
        METHODS.register("not-a-method")(object)
    with pytest.raises(TypeError, match="loss 'plain-function'"):
        LOSSES.register("plain-function")(lambda logits, soft, progress, weights=None: logits.mean())
    with pytest.raises(TypeError, match="expected a w2s_eval.tasks.base.Task"):
        TASKS.register("a-string")("toxicity")
    assert "blind" not in PARADIGMS and "not-a-method" not in METHODS and "plain-function" not in LOSSES


def test_the_method_shapes_the_run_plan_not_the_protocol():
    assert METHODS["naive"].plan([], ["m1"], "bootstrap") == ("bootstrap", ["m1"])  # the default bootstraps
    assert METHODS["naive"].plan([], [], "large") == ("naive", [])
    assert METHODS["bootstrap"].plan(["a", "b"], ["m1"], "bootstrap") == ("bootstrap", ["a", "b"])
    with pytest.raises(UserError, match="method bootstrap needs intermediate models.*gap 'large' has none"):
        METHODS["bootstrap"].plan([], [], "large")
    with pytest.raises(UserError, match="cannot be combined with method 'confident'"):
        METHODS["confident"].plan(["m1"], [], "large")
    assert METHODS["confident"].plan([], ["m1"], "bootstrap") == ("confident", [])  # rungs left unused


def _install_plugin(tmp_path, module_source: str, entry_points: str):
    """A real installed distribution (a module plus its .dist-info with entry_points.txt) on a path
    that the subprocess puts on sys.path: what `pip install` of another package leaves."""
    (tmp_path / "w2s_plugin_example.py").write_text(module_source)
    info = tmp_path / "w2s_plugin_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: w2s-plugin-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def _cli(tmp_path, *argv):
    import os

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "w2s_eval.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=300)


def test_another_package_adds_a_method_through_an_entry_point(tmp_path):
    _install_plugin(tmp_path, '''
from w2s_eval.methods import Method


class Echo(Method):
    """The weak labels as they are, from another package."""
    summary = "an example plug-in method from another package"
    paradigms = ("classify",)

    def training_set(self, ctx):
        return self.naive_set(ctx)
''', "[w2s_eval.methods]\necho = w2s_plugin_example:Echo\n")
    out = _cli(tmp_path, "methods")
    assert out.returncode == 0, out.stderr
    assert "echo          an example plug-in method from another package" in out.stdout
    assert "paradigms: classify" in out.stdout


def test_a_plug_in_that_fails_to_import_is_one_line_naming_its_entry_point(tmp_path):
    _install_plugin(tmp_path, "raise ImportError('needs a package that is not installed')\n",
                    "[w2s_eval.methods]\nbroken = w2s_plugin_example:Broken\n")
    out = _cli(tmp_path, "methods")
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and lines[-1].startswith("w2s-eval: error: method plug-in 'broken'")
    assert "w2s_plugin_example:Broken" in lines[-1] and "needs a package that is not installed" in lines[-1]
    assert "Traceback" not in out.stderr


# -- one versioned key schema ----------------------------------------------------------------------

def test_key_builders_keep_no_branch_for_older_keys():
    """Every step key goes through store.step_key (the schema version in it) and holds its settings
    whatever their value: no key builder leaves a default out to keep an older key alive."""
    import re
    from pathlib import Path

    import w2s_eval
    from w2s_eval.config import TrainConfig
    from w2s_eval.store import KEY_SCHEMA, step_key

    root = Path(w2s_eval.__file__).parent
    sources = {p: p.read_text() for p in root.rglob("*.py")}
    old_key_branches = re.compile(r"keys? (made )?before|old key|earlier (run )?ids|stays? what it always was|"
                                  r"keeps? (its|the) (old )?(keys?|id)")
    assert not [f"{p.relative_to(root)}" for p, text in sources.items() if old_key_branches.search(text)]
    step_keys = re.compile(r'content_hash\(\[\s*f?"(weak|label|student|ceiling|zero_shot|via|committee|'
                           r'co-supervise|selective|\{method\})')
    assert not [f"{p.relative_to(root)}" for p, text in sources.items() if step_keys.search(text)]
    identity = TrainConfig().cache_identity()
    assert {"precision", "lora_layers", "pooling", "train_args"} <= set(identity)
    assert step_key("weak", 1) != step_key("label", 1) and KEY_SCHEMA >= 3
