"""Run configuration as typed dataclasses.

Layers, each overriding the one before: the packaged ``configs/default.yaml`` → a user's
``--config FILE`` → ``--set key.sub=value`` → dedicated CLI flags. An unknown key or a value of
the wrong type is an error that names the file (or flag) and the key.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import UserError
from .precision import PRECISIONS

# -- one schema ----------------------------------------------------------------------------------
# Every setting's bounds are declared once, on its field (``setting``): ``check_values`` checks a
# config against them before any work starts, and ``json_schema`` publishes them for editors
# (docs/config.schema.json). Types are the dataclasses' own annotations, checked when a layer is
# merged (``merge_into``). The bounds are what the code and its libraries accept, so a value that
# passes them runs.

# Seeds reach numpy's and scikit-learn's random states, which take 32-bit unsigned integers.
MAX_SEED = 2**32 - 1
MAX_THREADS = 4096  # torch.set_num_threads takes a C int; no machine has more cores
# More epochs than this is a typo (1e9), not an experiment: the run would never end.
MAX_EPOCHS = 1000
# The bootstrap holds n_bootstrap resampled cell tables at once (eval/metrics.py resample_tables:
# up to 16 int64 counts each, ~130 MB at a million) and a statistic per resample.
MAX_BOOTSTRAP = 1_000_000
ZERO_SHOT_MODES = ("auto", "none")
LORA_LAYERS_EXPECTED = "all or top-K, K a positive number of layers (e.g. top-2)"
LORA_LAYERS_PATTERN = r"^(all|top-0*[1-9][0-9]*)$"  # what top_layer_count accepts


# Names that live in modules importing this one: read when a config is checked.
def _finetune_modes():
    from .trainers.common import FINETUNE_MODES

    return FINETUNE_MODES


def _quant_modes():
    from .trainers.common import QUANT_MODES

    return QUANT_MODES


def _pair_contexts():
    from .trainers.bow import PAIR_CONTEXTS

    return PAIR_CONTEXTS


def _poolings():
    from .trainers.bow import POOLINGS

    return POOLINGS


def _splits():
    from .splits import SPLITS

    return SPLITS


def setting(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING, expected: str = "",
            ge=None, gt=None, le=None, lt=None, choices=None, pattern=None, keys=None, min_items=None):
    """A config field with its bounds declared once. ``expected``: a valid value in words, for the
    error; ``ge`` / ``gt`` / ``le`` / ``lt``: numeric bounds; ``choices``: the valid values (a tuple, or
    a function returning one); ``pattern``: a regular expression a string matches; for a mapping, the
    bounds hold for each of its values and ``keys`` (a function) gives its valid keys; for a list, the
    bounds hold for each item and ``min_items`` is its least length. None is valid wherever the
    field's type allows it."""
    meta = {"expected": expected, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "pattern": pattern,
            "keys": keys, "min_items": min_items}
    return field(default=default, default_factory=default_factory,
                 metadata={k: v for k, v in meta.items() if v is not None and v != ""})


def _choices(meta: dict) -> tuple | None:
    choices = meta.get("choices")
    return tuple(choices()) if callable(choices) else choices


def _within(value, meta: dict) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes no comparison; inf no run
        return False
    choices = _choices(meta)
    if choices is not None and value not in choices:
        return False
    if "pattern" in meta and not re.match(meta["pattern"], value):
        return False
    return not (("ge" in meta and value < meta["ge"]) or ("gt" in meta and value <= meta["gt"])
                or ("le" in meta and value > meta["le"]) or ("lt" in meta and value >= meta["lt"]))


def _expected(meta: dict) -> str:
    if meta.get("expected"):
        return meta["expected"]
    return f"one of {', '.join(map(str, _choices(meta)))}" if _choices(meta) is not None else "a finite number"


class Settings:
    """Base of a plug-in's options dataclass (a method's config): on construction, each field's value
    is checked against its type and the bounds its ``setting`` declares, as the run config's are,
    then ``check`` applies the rules that tie fields together. Errors name the field; the registry
    (``registry.check_options``) prefixes the plug-in."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _check_value(getattr(self, f.name), hints[f.name], f.name))
        for key, value, expected in _setting_problems(self):
            raise UserError(f"{key}: expected {expected}, got {value!r}")
        self.check()

    def check(self):
        """Rules between fields (each field's own bounds are already checked)."""


@dataclass
class TrainConfig:
    """How one model is trained (classify paradigm)."""

    # full | lora | head (frozen body, trained head) | probe (frozen body, logistic regression on
    # mean-pooled hidden states; classify only)
    finetune: str = setting("full", choices=_finetune_modes)
    # auto | none | 8bit | 4bit (auto: 4-bit QLoRA for LoRA on CUDA, else none)
    quant: str = setting("auto", choices=_quant_modes)
    # auto | fp32 | bf16 for training and inference (auto: bf16 where the GPU or CPU computes it
    # natively, else fp32; precision.py)
    precision: str = setting("auto", choices=PRECISIONS)
    epochs: float = setting(3.0, gt=0, le=MAX_EPOCHS, expected=f"a positive number of epochs up to {MAX_EPOCHS}")
    lr: float = setting(5e-5, gt=0, expected="a positive learning rate")
    batch_size: int = setting(16, ge=1, expected="a positive batch size")
    max_length: int = setting(128, ge=8, expected="at least 8 tokens")
    weight_decay: float = setting(0.01, ge=0, expected="a non-negative weight decay")
    # share of steps with a linear learning-rate warm-up
    warmup: float = setting(0.1, ge=0, expected="a non-negative warm-up")
    lora_r: int = setting(16, ge=1, expected="a positive LoRA rank")
    lora_alpha: int = setting(32, gt=0, expected="a positive LoRA alpha")
    lora_dropout: float = setting(0.05, ge=0, lt=1, expected="a dropout in [0, 1)")
    # finetune: lora: all (adapters on every layer) | top-K (adapters on the top K layers only; the
    # frozen layers below are run once per text and their output cached: trainers/top_layers.py)
    lora_layers: str = setting("all", pattern=LORA_LAYERS_PATTERN, expected=LORA_LAYERS_EXPECTED)
    # Keep the epoch whose predictions fit the validation labels best. For the student those
    # are the weak model's labels on val: ground truth of val is never shown to it.
    select_on_val: bool = True
    # finetune: probe on preference pairs: reply (φ(A) − φ(B)) | prompt (each reply embedded after
    # its prompt, φ(P ⊕ A) − φ(P ⊕ B)); see trainers/bow.py ProbeClassifier.
    pair_context: str = setting("reply", choices=_pair_contexts)
    # finetune: probe: how the frozen model's last hidden states are pooled: mean (over the text's
    # tokens) | last (the final token of the task's prompt; for causal LMs, which read left to right).
    pooling: str = setting("mean", choices=_poolings)
    # More fields of transformers' TrainingArguments (or of the paradigm's TRL config), passed as they
    # are and applied last: gradient_accumulation_steps, gradient_checkpointing, bf16, fsdp, report_to,
    # ... (e.g. --set strong_train.train_args.gradient_accumulation_steps=4). Fields that cannot change
    # results (TRAINER_ARGS_NOT_IN_KEY: logging, output, hub) stay out of the cache key. The bag-of-words
    # model and probes (finetune: probe) have no Trainer and ignore them.
    train_args: dict[str, typing.Any] = field(default_factory=dict)

    def cache_identity(self) -> dict:
        """The settings that can change what is trained, for cache keys: every field, ``precision``
        as resolved here (what it means on this machine), ``train_args`` without the fields that
        cannot change results."""
        from .precision import resolve

        identity = dataclasses.asdict(self)
        identity["precision"] = resolve(self.precision)
        identity["train_args"] = {k: v for k, v in self.train_args.items() if k not in TRAINER_ARGS_NOT_IN_KEY
                                  and not k.startswith(("logging_", "hub_", "push_to_hub", "save_"))}
        return identity


# TrainingArguments fields that change how a training is watched or stored, never what it learns.
TRAINER_ARGS_NOT_IN_KEY = frozenset({"report_to", "run_name", "output_dir", "logging_dir", "logging_steps",
                                     "logging_strategy", "logging_first_step", "disable_tqdm", "log_level",
                                     "log_level_replica", "trackio_space_id", "project", "dataloader_num_workers",
                                     "dataloader_pin_memory", "dataloader_persistent_workers"})


@dataclass
class StudentConfig:
    """Where the student's training differs from the ceiling's; both otherwise follow
    ``strong_train`` (as openai/weak-to-strong's transfer_epochs / transfer_lr). null: the ceiling's
    value. Fewer epochs on weak labels leave the student less time to fit the weak model's errors."""

    epochs: float | None = setting(None, gt=0, le=MAX_EPOCHS, expected="a positive number or null (as the ceiling)")
    lr: float | None = setting(None, gt=0, expected="a positive number or null (as the ceiling)")
    batch_size: int | None = setting(None, ge=1, expected="a positive number or null (as the ceiling)")

    def apply(self, strong: TrainConfig) -> TrainConfig:
        """The student's TrainConfig: ``strong`` with the fields set here replaced."""
        return dataclasses.replace(strong, **{k: v for k, v in dataclasses.asdict(self).items() if v is not None})


@dataclass
class LossConfig:
    name: str = "xent"  # xent | logconf | product
    aux_coef: float = 0.5  # logconf: final weight of the confidence term
    warmup_frac: float = 0.1  # logconf: share of optimizer steps over which the weight rises from 0


@dataclass
class DataConfig:
    file: str | None = None  # a user's own data: CSV / JSONL / Parquet path or hub id
    text_field: str = "text"
    label_field: str = "label"
    id_field: str | None = None
    group_field: str | None = None
    # Preference pairs instead of labels: the columns of the prompt and of the preferred and the
    # other reply (a pair task for the pair paradigms; text_field and label_field are then unused).
    prompt_field: str | None = None
    chosen_field: str | None = None
    rejected_field: str | None = None
    data_dir: str | None = None  # local mirror laid out like shared/data (else $W2S_DATA_DIR)
    # A hub dataset as `file`: its configuration (subset) and split; None: the default configuration,
    # every split pooled (the protocol makes its own splits).
    hub_config: str | None = None
    hub_split: str | None = None


@dataclass
class SplitConfig:
    fractions: dict[str, float] = setting(default_factory=lambda: {"A": 0.3, "B": 0.3, "val": 0.1, "test": 0.3},
                                          ge=0, le=1, keys=_splits, expected="a share of the examples in [0, 1]")
    max_per_split: dict[str, int | None] = setting(
        default_factory=lambda: {"A": 800, "B": 800, "val": 200, "test": 800}, ge=1, keys=_splits,
        expected="a positive number of examples or null (no cap)")


@dataclass
class EvalConfig:
    n_bootstrap: int = setting(1000, ge=10, le=MAX_BOOTSTRAP,
                               expected=f"from 10 to {MAX_BOOTSTRAP:,} bootstrap resamples (1000 for reported intervals)")
    # PGR is reported as null below this weak–ceiling accuracy gap
    min_gap: float = setting(0.05, ge=0, lt=1, expected="an accuracy gap in [0, 1)")
    level: float = setting(0.95, gt=0, lt=1, expected="a confidence level between 0 and 1, e.g. 0.95")


@dataclass
class TrackingConfig:
    """Experiment tracking (tracking.py): where training curves and a run's final metrics go."""

    # none, or any of tensorboard | wandb | mlflow | trackio (each needs its package installed)
    report_to: list[str] = field(default_factory=list)
    project: str = "w2s-eval"  # the project / experiment name in wandb, mlflow and trackio
    dir: str | None = None  # tensorboard: the log folder (default: <out>/tracking)


@dataclass
class RunConfig:
    task: str = "toxicity"
    gap: str = "large"
    profile: str = setting("auto", choices=("auto", "cpu", "gpu"))
    paradigm: str = "classify"
    weak_model: str | None = None  # overrides the gap ladder's weak model
    strong_model: str | None = None  # overrides the gap ladder's strong model
    seed: int = setting(0, ge=0, le=MAX_SEED, expected=f"a non-negative integer up to {MAX_SEED} (2**32 - 1)")
    # Deception under a conflicting objective (pair tasks): none | implicit | explicit | controlled;
    # see conflict.py. conflict_amount: conflicting pairs per student pair. conflict_disagreement:
    # for controlled (and needed by it), the share of its pairs whose label disagrees with the
    # target, in [0, 1]; the other settings leave it unused (deception.json records every
    # conflict's realised share).
    conflict: str = "none"
    conflict_amount: float = setting(1.0, gt=0, expected="a positive number of conflicting pairs per student pair")
    conflict_disagreement: float | None = setting(None, ge=0, le=1, expected="a share of pairs in [0, 1], or null")
    # The W2S method (methods/): how the weak supervision becomes the student's training set, and
    # its options (the fields of that method's config class), e.g. {share: 0.3} for confident.
    method: str = "naive"
    method_options: dict[str, typing.Any] = field(default_factory=dict)
    # Bootstrapping (method bootstrap, chosen by setting these): intermediate models between weak
    # and strong, weakest first (W → via… → S).
    via: list[str] = field(default_factory=list)
    # torch CPU threads; None: all cores
    threads: int | None = setting(None, ge=1, le=MAX_THREADS, expected=f"a number of threads from 1 to {MAX_THREADS}, or null")
    # The zero-shot row (protocol.py): the untrained strong model's own answer to the task's question,
    # beside weak / student / ceiling. auto: when the strong model is a causal LM; none: never.
    zero_shot: str = setting("auto", choices=ZERO_SHOT_MODES,
                             expected="auto (a zero-shot row when the strong model is a causal LM) or none")
    data: DataConfig = field(default_factory=DataConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    weak_train: TrainConfig = field(default_factory=TrainConfig)
    strong_train: TrainConfig = field(default_factory=TrainConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Building dataclasses from nested dicts, with errors that name where the bad key came from.


def _check_value(value, hint, where: str):
    if hint is typing.Any:  # a plug-in's options: its own config class checks them
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, where)
            except UserError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if isinstance(value, str):  # "a,b" from a flag or --set
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise UserError(f"{where}: expected a list, got {value!r}")
        return [_check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _check_value(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e9 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise UserError(f"{where}: expected a number, got {value!r}") from None
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise UserError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def merge_into(obj, data: dict, where: str, prefix: str = ""):
    """Set the fields of dataclass ``obj`` from ``data``; unknown keys are errors."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping at {prefix or 'top level'}, got {data!r}")
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise UserError(f"{where}: unknown key {dotted!r}; valid keys here: {', '.join(sorted(names))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            merge_into(current, value, where, f"{dotted}.")
        elif isinstance(current, dict) and isinstance(value, dict):
            # Mappings merge key by key, so `--set method_options.a=1 --set method_options.b=2` keeps both.
            setattr(obj, key, {**current, **_check_value(value, hints[key], f"{where}: {dotted}")})
        else:
            setattr(obj, key, _check_value(value, hints[key], f"{where}: {dotted}"))
    return obj


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last one
    silently: ``seed: 1`` then ``seed: 2`` would run seed 2)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in seen
        except TypeError:  # an unhashable key ([a, b]: 1)
            raise yaml.constructor.ConstructorError(None, None, "a key that is a list or a mapping, not a name",
                                                    key_node.start_mark) from None
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line of a YAML error: what is wrong and where (PyYAML's own message spans several)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if getattr(exc, "context", None):
        problem = f"{exc.context}, {problem}"
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else str(problem)


def read_yaml(path: Path) -> dict:
    from .store import readable_file

    readable_file(Path(path), f"config file {path}", "a YAML file")
    try:
        data = yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text; expected a YAML file") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path}: expected a mapping at the top level")
    return data


def packaged_yaml(name: str) -> dict:
    return yaml.safe_load(resources.files("w2s_eval.configs").joinpath(name).read_text())


@functools.lru_cache(maxsize=1)
def gap_ladders() -> dict:
    """``configs/gaps.yaml``, read once: profile -> gap -> its weak, strong and via rungs (and ``lm``:
    the causal-LM ladder). Shared: callers copy before changing anything."""
    return packaged_yaml("gaps.yaml")


def parse_assignment(text: str) -> dict:
    """'strong_train.epochs=2' -> {'strong_train': {'epochs': 2}} (the value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UserError(f"--set {text!r}: expected KEY=VALUE, e.g. strong_train.epochs=2")
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise UserError(f"--set {text!r}: the value is not valid YAML ({problem}); e.g. "
                        f"'splits.max_per_split={{A: 60, B: 60}}'") from None
    return _nest(key, value)


def load_config(config_file: str | None = None, assignments: list[str] = (), flags: dict | None = None) -> RunConfig:
    layers = []  # (settings, where they came from), lowest precedence first
    if config_file:
        layers.append((read_yaml(Path(config_file)), str(config_file)))
    layers += [(parse_assignment(text), f"--set {text}") for text in assignments]
    layers += [(_nest(key, value), f"--{key.split('.')[-1].replace('_', '-')}")
               for key, value in (flags or {}).items() if value is not None]
    config = merge_into(RunConfig(), packaged_yaml("default.yaml"), "configs/default.yaml")
    # Per-task and per-paradigm defaults (configs/overrides.yaml) sit between the packaged
    # defaults and everything the user says, so the user can still override them.
    def chosen(key: str, default: str) -> str:
        values = [d[key] for d, _ in layers if isinstance(d, dict) and isinstance(d.get(key), str)]
        return values[-1] if values else default

    overrides = packaged_yaml("overrides.yaml")
    own_data = any(isinstance(d, dict) and (d.get("data") or {}).get("file") for d, _ in layers)
    task, paradigm = chosen("task", config.task), chosen("paradigm", config.paradigm)
    if not own_data:
        merge_into(config, overrides["tasks"].get(task) or {}, f"configs/overrides.yaml (task {task})")
    merge_into(config, overrides["paradigms"].get(paradigm) or {}, f"configs/overrides.yaml (paradigm {paradigm})")
    for data, where in layers:
        merge_into(config, data, where)
    return config


def top_layer_count(lora_layers: str) -> int | None:
    """K of ``lora_layers: top-K``; None for ``all``. Anything else is an error naming what is
    expected (the caller prefixes the field)."""
    if lora_layers == "all":
        return None
    prefix, _, count = lora_layers.partition("top-")
    if prefix or not count.isdigit() or int(count) < 1:  # isdigit: no sign, no space
        raise UserError(f"lora_layers: expected {LORA_LAYERS_EXPECTED}, got {lora_layers!r}")
    return int(count)


def _setting_problems(obj, prefix: str = ""):
    """(dotted key, value, what is expected) of each field of dataclass ``obj`` (nested ones too)
    outside the bounds its ``setting`` declares."""
    for f in dataclasses.fields(obj):
        value, dotted = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _setting_problems(value, f"{dotted}.")
            continue
        meta = f.metadata
        if isinstance(value, dict):
            keys = meta["keys"]() if "keys" in meta else None
            for key, item in value.items():
                if keys is not None and key not in keys:
                    yield dotted, key, f"keys among {', '.join(keys)}"
                elif not _within(item, meta):
                    yield f"{dotted}.{key}", item, _expected(meta)
        elif isinstance(value, list):
            if len(value) < meta.get("min_items", 0):
                yield dotted, value, f"a list of at least {meta['min_items']} item{'s' * (meta['min_items'] > 1)}"
            for i, item in enumerate(value):
                if not _within(item, meta):
                    yield f"{dotted}[{i}]", item, _expected(meta)
        elif not _within(value, meta):
            yield dotted, value, _expected(meta)


def check_values(cfg: RunConfig):
    """Every setting within the bounds its field declares, then the rules that tie two settings
    together: a one-line error naming the key, before any work starts."""
    for key, value, expected in _setting_problems(cfg):
        raise UserError(f"{key}: expected {expected}, got {value!r}")
    for role in ("weak_train", "strong_train"):
        t = getattr(cfg, role)
        if top_layer_count(t.lora_layers) is not None and t.finetune != "lora":
            raise UserError(f"{role}.lora_layers: {t.lora_layers} chooses where LoRA adapters go, so it needs "
                            f"{role}.finetune: lora (got {t.finetune})")


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _type_schema(hint) -> dict:
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(h) for h in typing.get_args(hint)]}
    if origin is list:
        return {"type": "array", "items": _type_schema(typing.get_args(hint)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(typing.get_args(hint)[1])}
    return {"type": _JSON_TYPES[hint]}


def _with_bounds(schema: dict, meta: dict) -> dict:
    """``schema`` with the field's bounds on its non-null part (null stays valid where the type allows it)."""
    bounds = {key: meta[k] for k, key in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"),
                                          ("lt", "exclusiveMaximum")) if k in meta}
    if _choices(meta) is not None:
        bounds["enum"] = list(_choices(meta))
    if "pattern" in meta:
        bounds["pattern"] = meta["pattern"]
    if not bounds:
        return schema
    if "anyOf" in schema:
        return {"anyOf": [s if s.get("type") == "null" else {**s, **bounds} for s in schema["anyOf"]]}
    return {**schema, **bounds}


def object_schema(cls, additional: bool = False) -> dict:
    """The JSON Schema of dataclass ``cls``: each field's type and the bounds its ``setting``
    declares (nested dataclasses in place); ``additional``: whether other keys are allowed."""
    hints, properties = typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        hint, meta = hints[f.name], f.metadata
        if dataclasses.is_dataclass(hint):
            properties[f.name] = object_schema(hint)
            continue
        schema = _type_schema(hint)
        if typing.get_origin(hint) is dict:
            schema["additionalProperties"] = _with_bounds(schema["additionalProperties"], meta)
            if "keys" in meta:
                schema["propertyNames"] = {"enum": list(meta["keys"]())}
        elif typing.get_origin(hint) is list:
            schema["items"] = _with_bounds(schema["items"], meta)
            if "min_items" in meta:
                schema["minItems"] = meta["min_items"]
        else:
            schema = _with_bounds(schema, meta)
        if meta.get("expected"):
            schema["description"] = meta["expected"]
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            schema["default"] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        properties[f.name] = schema
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    described = {"description": " ".join(doc.split())} if doc and not doc.startswith(cls.__name__ + "(") else {}
    return {"type": "object", **described, "properties": properties, "additionalProperties": additional}


def json_schema() -> dict:
    """The JSON Schema of a run config (a ``--config`` file), made from the dataclasses and the bounds
    their fields declare: the one schema, published as docs/config.schema.json."""
    of = object_schema

    # A method's options follow its own config class (methods/*.py, a Settings dataclass), chosen by
    # the method's name; a method without options takes none.
    from .methods import METHODS

    definitions, rules = {}, []
    for name, method in METHODS.items():
        options = of(method.Config) if method.Config else {"type": "object", "maxProperties": 0}
        definitions[f"method-{name}"] = options
        rules.append({"if": {"properties": {"method": {"const": name}}, "required": ["method"]},
                      "then": {"properties": {"method_options": {"$ref": f"#/$defs/method-{name}"}}}})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "w2s-eval run config",
            **of(RunConfig), "allOf": rules, "$defs": definitions}


def published_schemas() -> dict[str, tuple[str, dict]]:
    """Each declared input's JSON Schema and the docs/ file that publishes it (``w2s-eval
    config-schema WHAT`` prints one): a run config, a sweep grid, a run record."""
    from .run_folder import RunRecord
    from .sweeps import SweepGrid

    def titled(title: str, schema: dict) -> dict:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **schema}

    return {"run": ("config.schema.json", json_schema()),
            "sweep-grid": ("sweep-grid.schema.json", titled("w2s-eval sweep grid", object_schema(SweepGrid))),
            "run-record": ("run-record.schema.json",
                           titled("w2s-eval run record (metrics.json)", object_schema(RunRecord, additional=True)))}


def _nest(key: str, value) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value
