"""Run configuration as typed dataclasses.

Layers, each overriding the one before: the packaged ``configs/default.yaml`` → a user's
``--config FILE`` → ``--set key.sub=value`` → dedicated CLI flags. An unknown key or a value of
the wrong type is an error that names the file (or flag) and the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import UserError
from .precision import PRECISIONS


@dataclass
class TrainConfig:
    """How one model is trained (classify paradigm)."""

    # full | lora | head (frozen body, trained head) | probe (frozen body, logistic regression on
    # mean-pooled hidden states; classify only)
    finetune: str = "full"
    quant: str = "auto"  # auto | none | 8bit | 4bit (auto: 4-bit QLoRA for LoRA on CUDA, else none)
    # auto | fp32 | bf16 for training and inference (auto: bf16 where the GPU or CPU computes it
    # natively, else fp32; precision.py)
    precision: str = "auto"
    epochs: float = 3.0
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of steps with a linear learning-rate warm-up
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # finetune: lora: all (adapters on every layer) | top-K (adapters on the top K layers only; the
    # frozen layers below are run once per text and their output cached: trainers/top_layers.py)
    lora_layers: str = "all"
    # Keep the epoch whose predictions fit the validation labels best. For the student those
    # are the weak model's labels on val: ground truth of val is never shown to it.
    select_on_val: bool = True
    # finetune: probe on preference pairs: reply (φ(A) − φ(B)) | prompt (each reply embedded after
    # its prompt, φ(P ⊕ A) − φ(P ⊕ B)); see trainers/bow.py ProbeClassifier.
    pair_context: str = "reply"
    # finetune: probe: how the frozen model's last hidden states are pooled: mean (over the text's
    # tokens) | last (the final token of the task's prompt; for causal LMs, which read left to right).
    pooling: str = "mean"
    # More fields of transformers' TrainingArguments (or of the paradigm's TRL config), passed as they
    # are and applied last: gradient_accumulation_steps, gradient_checkpointing, bf16, fsdp, report_to,
    # ... (e.g. --set strong_train.train_args.gradient_accumulation_steps=4). Fields that cannot change
    # results (TRAINER_ARGS_NOT_IN_KEY: logging, output, hub) stay out of the cache key. The bag-of-words
    # model and probes (finetune: probe) have no Trainer and ignore them.
    train_args: dict[str, typing.Any] = field(default_factory=dict)

    def cache_identity(self) -> dict:
        """The settings that can change what is trained, for cache keys: every field, ``precision``
        as resolved here, ``train_args`` without the fields that cannot change results (and none at
        all when empty, so keys made before ``train_args`` existed stay the same)."""
        from .precision import resolve

        identity = dataclasses.asdict(self)
        if self.lora_layers == "all":  # the one choice before the setting: its keys stay
            del identity["lora_layers"]
        identity["precision"] = resolve(self.precision)  # what it means on this machine
        if identity["precision"] == "fp32":  # the one precision before the setting: its keys stay
            del identity["precision"]
        if identity["pooling"] == "mean":  # the one pooling before the setting: its keys stay
            del identity["pooling"]
        kept = {k: v for k, v in self.train_args.items() if k not in TRAINER_ARGS_NOT_IN_KEY
                and not k.startswith(("logging_", "hub_", "push_to_hub", "save_"))}
        if kept:
            identity["train_args"] = kept
        else:
            del identity["train_args"]
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

    epochs: float | None = None
    lr: float | None = None
    batch_size: int | None = None

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
    fractions: dict[str, float] = field(default_factory=lambda: {"A": 0.3, "B": 0.3, "val": 0.1, "test": 0.3})
    max_per_split: dict[str, int] = field(default_factory=lambda: {"A": 800, "B": 800, "val": 200, "test": 800})


@dataclass
class EvalConfig:
    n_bootstrap: int = 1000
    min_gap: float = 0.05  # PGR is reported as null below this weak–ceiling accuracy gap
    level: float = 0.95


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
    profile: str = "auto"  # auto | cpu | gpu
    paradigm: str = "classify"
    weak_model: str | None = None  # overrides the gap ladder's weak model
    strong_model: str | None = None  # overrides the gap ladder's strong model
    seed: int = 0
    # Deception under a conflicting objective (pair tasks): none | implicit | explicit | controlled;
    # see conflict.py. conflict_amount: conflicting pairs per student pair. conflict_disagreement:
    # for controlled (and needed by it), the share of its pairs whose label disagrees with the
    # target, in [0, 1]; the other settings leave it unused (deception.json records every
    # conflict's realised share).
    conflict: str = "none"
    conflict_amount: float = 1.0
    conflict_disagreement: float | None = None
    # The W2S method (methods/): how the weak supervision becomes the student's training set, and
    # its options (the fields of that method's config class), e.g. {share: 0.3} for confident.
    method: str = "naive"
    method_options: dict[str, typing.Any] = field(default_factory=dict)
    # Bootstrapping (method bootstrap, chosen by setting these): intermediate models between weak
    # and strong, weakest first (W → via… → S).
    via: list[str] = field(default_factory=list)
    threads: int | None = None  # torch CPU threads; None: all cores
    # The zero-shot row (protocol.py): the untrained strong model's own answer to the task's question,
    # beside weak / student / ceiling. auto: when the strong model is a causal LM; none: never.
    zero_shot: str = "auto"
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


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"config file {path} is a folder; expected a YAML file") from None
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text; expected a YAML file") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path}: expected a mapping at the top level")
    return data


def packaged_yaml(name: str) -> dict:
    return yaml.safe_load(resources.files("w2s_eval.configs").joinpath(name).read_text())


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


ZERO_SHOT_MODES = ("auto", "none")
# Seeds reach numpy's and scikit-learn's random states, which take 32-bit unsigned integers.
MAX_SEED = 2**32 - 1
LORA_LAYERS_EXPECTED = "all or top-K, K a positive number of layers (e.g. top-2)"


def top_layer_count(lora_layers: str) -> int | None:
    """K of ``lora_layers: top-K``; None for ``all``. Anything else is an error naming what is
    expected (the caller prefixes the field)."""
    if lora_layers == "all":
        return None
    prefix, _, count = lora_layers.partition("top-")
    if prefix or not count.isdigit() or int(count) < 1:  # isdigit: no sign, no space
        raise UserError(f"lora_layers: expected {LORA_LAYERS_EXPECTED}, got {lora_layers!r}")
    return int(count)


# More epochs than this is a typo (1e9), not an experiment: the run would never end.
MAX_EPOCHS = 1000
# The bootstrap holds n_bootstrap resampled cell tables at once (eval/metrics.py resample_tables:
# up to 16 int64 counts each, ~130 MB at a million) and a statistic per resample.
MAX_BOOTSTRAP = 1_000_000


# (where, test, what is expected) for every numeric setting: checked before any work starts.
def _ranges(cfg: RunConfig) -> list[tuple[str, object, bool, str]]:
    checks = [("threads", cfg.threads, cfg.threads is None or cfg.threads >= 1, "a positive number of threads or null"),
              ("seed", cfg.seed, 0 <= cfg.seed <= MAX_SEED, f"a non-negative integer up to {MAX_SEED} (2**32 - 1)"),
              ("eval.n_bootstrap", cfg.eval.n_bootstrap, 10 <= cfg.eval.n_bootstrap <= MAX_BOOTSTRAP,
               f"from 10 to {MAX_BOOTSTRAP:,} bootstrap resamples (1000 for reported intervals)"),
              ("zero_shot", cfg.zero_shot, cfg.zero_shot in ZERO_SHOT_MODES,
               "auto (a zero-shot row when the strong model is a causal LM) or none"),
              ("eval.level", cfg.eval.level, 0 < cfg.eval.level < 1, "a confidence level between 0 and 1, e.g. 0.95"),
              ("eval.min_gap", cfg.eval.min_gap, 0 <= cfg.eval.min_gap < 1, "an accuracy gap in [0, 1)")]
    for role in ("weak_train", "strong_train"):
        t = getattr(cfg, role)
        checks += [(f"{role}.epochs", t.epochs, 0 < t.epochs <= MAX_EPOCHS, f"a positive number of epochs up to {MAX_EPOCHS}"),
                   (f"{role}.lr", t.lr, t.lr > 0, "a positive learning rate"),
                   (f"{role}.batch_size", t.batch_size, t.batch_size >= 1, "a positive batch size"),
                   (f"{role}.max_length", t.max_length, t.max_length >= 8, "at least 8 tokens"),
                   (f"{role}.weight_decay", t.weight_decay, t.weight_decay >= 0, "a non-negative weight decay"),
                   (f"{role}.warmup", t.warmup, t.warmup >= 0, "a non-negative warm-up"),
                   (f"{role}.lora_r", t.lora_r, t.lora_r >= 1, "a positive LoRA rank"),
                   (f"{role}.lora_alpha", t.lora_alpha, t.lora_alpha > 0, "a positive LoRA alpha"),
                   (f"{role}.lora_dropout", t.lora_dropout, 0 <= t.lora_dropout < 1, "a dropout in [0, 1)"),
                   (f"{role}.precision", t.precision, t.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}")]
    for name, cap in cfg.splits.max_per_split.items():
        checks.append((f"splits.max_per_split.{name}", cap, cap is None or cap >= 1,
                       "a positive number of examples or null (no cap)"))
    return checks


def check_values(cfg: RunConfig):
    """Every setting in its range and every split name known: a one-line error naming the key."""
    from .splits import SPLITS

    for mapping in ("max_per_split", "fractions"):
        unknown = sorted(set(getattr(cfg.splits, mapping)) - set(SPLITS))
        if unknown:
            raise UserError(f"splits.{mapping}: unknown split {unknown[0]!r}; the splits are {', '.join(SPLITS)}")
    for key, value, ok, expected in _ranges(cfg):
        if not ok:
            raise UserError(f"{key}: expected {expected}, got {value!r}")
    for role in ("weak_train", "strong_train"):
        t = getattr(cfg, role)
        try:
            top = top_layer_count(t.lora_layers)
        except UserError as exc:
            raise UserError(f"{role}.{exc}") from None
        if top is not None and t.finetune != "lora":
            raise UserError(f"{role}.lora_layers: {t.lora_layers} chooses where LoRA adapters go, so it needs "
                            f"{role}.finetune: lora (got {t.finetune})")


def _nest(key: str, value) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value
