"""One schema for every run setting: bounds declared once on the config's fields (config.py
``setting``), checked by ``check_values`` before any work and published as JSON Schema
(docs/config.schema.json) that an editor checks a ``--config`` file against. The two must agree."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from w2s_eval.config import RunConfig, check_values, json_schema, load_config
from w2s_eval.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "docs" / "config.schema.json"


def test_the_published_schema_is_the_one_the_code_makes():
    out = subprocess.run([sys.executable, "-m", "w2s_eval.cli", "config-schema"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json_schema()
    assert json.loads(PUBLISHED.read_text()) == json_schema(), \
        "docs/config.schema.json is stale: w2s-eval config-schema > docs/config.schema.json"


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
