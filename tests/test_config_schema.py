"""One schema for every input: bounds declared once on the fields (config.py ``setting``) of the run
config, a method's options, the sweep grid and the run record, checked before any work (and, for
the record, when it is written and read) and published as JSON Schema (docs/*.schema.json). The
checks and the published schemas must agree."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from w2s_eval.config import RunConfig, check_values, json_schema, load_config, published_schemas
from w2s_eval.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_the_published_schemas_are_the_ones_the_code_makes():
    for what, (file, schema) in published_schemas().items():
        jsonschema.Draft202012Validator.check_schema(schema)
        out = subprocess.run([sys.executable, "-m", "w2s_eval.cli", "config-schema", what], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == schema
        assert json.loads((ROOT / "docs" / file).read_text()) == schema, \
            f"docs/{file} is stale: w2s-eval config-schema {what} > docs/{file}"
    assert published_schemas()["run"][1] == json_schema()


def test_every_setting_is_in_the_schema_and_the_defaults_are_valid():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

    def fields(obj, props, prefix=""):
        import dataclasses

        for f in dataclasses.fields(obj):
            assert f.name in props, f"{prefix}{f.name} is not in the schema"
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                fields(value, props[f.name]["properties"], f"{prefix}{f.name}.")

    fields(RunConfig(), schema["properties"])
    for task, paradigm in (("toxicity", "classify"), ("utility", "reward"), ("legal", "sft"), ("safety", "dpo")):
        jsonschema.validate(load_config(None, [f"task={task}", f"paradigm={paradigm}"]).to_dict(), schema)


# (setting, a value just outside its bounds, the nearest value inside them)
EDGES = [
    ("seed", 2**32, 2**32 - 1),
    ("seed", -1, 0),
    ("threads", 0, 1),
    ("eval.n_bootstrap", 9, 10),
    ("eval.n_bootstrap", 1_000_001, 1_000_000),
    ("eval.level", 1.0, 0.99),
    ("eval.min_gap", 1.0, 0.5),
    ("strong_train.epochs", 0, 0.5),
    ("strong_train.epochs", 1001, 1000),
    ("strong_train.lr", 0, 1e-6),
    ("strong_train.lora_dropout", 1.0, 0.0),
    ("strong_train.max_length", 7, 8),
    ("weak_train.finetune", "sideways", "lora"),
    ("weak_train.precision", "fp16", "bf16"),
    ("strong_train.pooling", "max", "last"),
    ("strong_train.lora_layers", "top-0", "top-2"),
    ("student.epochs", 0, None),
    ("conflict_disagreement", 1.5, 1.0),
    ("conflict_amount", 0, 0.5),
    ("zero_shot", "always", "none"),
    ("splits.max_per_split", "{A: 0}", "{A: null}"),
    ("splits.max_per_split", "{tst: 5}", "{test: 5}"),
    ("splits.fractions", "{A: 1.5}", "{A: 1.0}"),
]


@pytest.mark.parametrize("key,outside,inside", EDGES, ids=[f"{k}={o}" for k, o, _ in EDGES])
def test_the_validator_and_the_json_schema_agree_at_each_bound(key, outside, inside):
    schema = json_schema()
    extra = ["strong_train.finetune=lora"] if key == "strong_train.lora_layers" else []

    def config(value):
        text = value if isinstance(value, str) else json.dumps(value)
        return load_config(None, [f"{key}={text}", *extra])

    good = config(inside)
    check_values(good)
    jsonschema.validate(good.to_dict(), schema)
    bad = config(outside)
    with pytest.raises(UserError, match=rf"^{key.split('.')[0]}.*expected .*got "):
        check_values(bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad.to_dict(), schema)


@pytest.mark.parametrize("method,options", [("confident", {"share": 2}), ("reliability", {"variant": "vote"}),
                                            ("selective", {"alpha": 1.0}), ("co-supervise", {"rounds": 0}),
                                            ("debate", {"max_new_tokens": 0}), ("naive", {"share": 0.3})])
def test_method_options_are_checked_by_the_same_schema(method, options):
    from w2s_eval.methods import METHODS, make_method

    schema = json_schema()
    with pytest.raises(UserError, match=f"method '{method}'[: ]"):
        make_method(method, options)
    cfg = RunConfig(method=method, method_options=options)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cfg.to_dict(), schema)
    for name in METHODS:  # every method's defaults are valid under it
        jsonschema.validate(RunConfig(method=name).to_dict(), schema)


# (sweep grid axis, a value outside its declared bounds, one inside them)
GRID_EDGES = [("seeds", [0, 2**32], [0, 2**32 - 1]), ("seeds", [], [0]), ("seeds", [-1], [0]),
              ("gaps", ["huge"], ["large"]), ("losses", ["nope"], ["logconf"]), ("conflicts", ["sneaky"], ["none"]),
              ("paradigms", ["poetry"], ["sft"]), ("tasks", [], ["legal"]), ("methods", [], ["naive"])]


@pytest.mark.parametrize("axis,outside,inside", GRID_EDGES, ids=[f"{a}={o}" for a, o, _ in GRID_EDGES])
def test_the_sweep_grid_is_checked_by_its_published_schema(axis, outside, inside):
    from w2s_eval.sweeps import SweepGrid

    schema = published_schemas()["sweep-grid"][1]
    jsonschema.validate({axis: inside}, schema)
    SweepGrid(**{axis: inside})
    with pytest.raises(UserError, match=rf"^sweep grid: {axis}.*expected .*got "):
        SweepGrid(**{axis: outside})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({axis: outside}, schema)


# (run record field, a value outside its declaration, one inside it)
RECORD_EDGES = [("status", "finished", "done"), ("schema", 99, 1), ("n_test", 0, 5), ("gap", "big", 0.2),
                ("steps", {"weak": 3}, {"weak": "abc"}), ("pgr", [0.5], {"value": 0.5}), ("task", 7, "legal")]


@pytest.mark.parametrize("field,outside,inside", RECORD_EDGES, ids=[f"{f}={o}" for f, o, _ in RECORD_EDGES])
def test_a_run_record_is_read_through_its_declared_schema(field, outside, inside, tmp_path):
    """A record is checked where it is read: a damaged field is one line naming the file and the
    field (not a traceback later in a report or export), as the published schema says."""
    from w2s_eval import run_folder

    schema = published_schemas()["run-record"][1]
    base = {"schema": run_folder.SCHEMA, "status": "done", "gap": 0.1, "extra": {"kept": True}}
    (tmp_path / "metrics.json").write_text(json.dumps(base | {field: inside}))
    jsonschema.validate(base | {field: inside}, schema)
    assert run_folder.read_run(tmp_path).metrics["extra"] == {"kept": True}  # other keys are the record's own
    (tmp_path / "metrics.json").write_text(json.dumps(base | {field: outside}))
    with pytest.raises(UserError, match=rf"^{tmp_path}/metrics.json: {field}.*expected .*; rerun"):
        run_folder.status_of(tmp_path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(base | {field: outside}, schema)


def test_a_record_that_is_not_an_object_is_one_line(tmp_path):
    from w2s_eval import run_folder

    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"metrics.json: expected a JSON object \(the run record\), got list"):
        run_folder.read_run(tmp_path)
