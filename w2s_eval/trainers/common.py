"""What every transformers-based paradigm shares: loading (optionally in 4/8-bit), adapters,
training arguments, epoch selection on val, and the saved-model manifest.

One place for these so that classify, reward, SFT and DPO differ only in what they train.
"""

from __future__ import annotations

import os
import math
from pathlib import Path
from typing import Callable, Collection

import numpy as np
import torch
from transformers import AutoTokenizer, TrainerCallback
from transformers.trainer_callback import ProgressCallback

from .. import distributed
from ..config import TrainConfig, top_layer_count
from ..errors import UserError
from ..precision import resolve as resolve_precision
from .interface import read_manifest, write_manifest
from .top_layers import build_lower_part, check_top_k_supported, lower_layer_count, lower_linear_names

FINETUNE_MODES = ("full", "lora", "head", "probe")
QUANT_MODES = ("auto", "none", "8bit", "4bit")


def on_cuda() -> bool:
    return torch.cuda.is_available()


def resolve_quant(quant: str, finetune: str) -> str:
    """auto: 4-bit (QLoRA) for LoRA training on CUDA, full precision otherwise."""
    if quant not in QUANT_MODES:
        raise UserError(f"quant: unknown mode {quant!r}; valid: {', '.join(QUANT_MODES)}")
    if quant == "auto":
        return "4bit" if on_cuda() and finetune == "lora" else "none"
    if quant != "none" and finetune != "lora":
        raise UserError(f"quant: {quant} weights are frozen, so only finetune: lora can train them (got {finetune})")
    return quant


def load_tokenizer(location: str, padding_side: str = "right"):
    tokenizer = AutoTokenizer.from_pretrained(location)
    if tokenizer.pad_token is None:  # decoder LMs often ship without one
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def body_and_head(model) -> tuple[list[str], list[str]]:
    """Names of the linear layers in the model's body, and the top-level names of its head.

    The body is everything under ``base_model_prefix`` (``bert``, ``mpnet``, ``model``, ...); the
    rest (``classifier``, ``score``, ``lm_head``) is the head. Found from the model itself, so any
    architecture works without a hard-coded list of module names.
    """
    prefix = model.base_model_prefix
    body_linears = [name for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and name.startswith(prefix + ".")]
    # Modules, not parameters: a tied LM head (``lm_head`` sharing the input embeddings) owns no
    # parameter of its own but is still the head, and must stay out of 4-bit quantisation.
    head = sorted(name for name, module in model.named_children()
                  if name != prefix and next(module.parameters(), None) is not None)
    return body_linears, head


def head_modules(location: str, auto_class, **config_kwargs) -> list[str]:
    """The head's module names, read off an empty (meta-device) copy of the model."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, **config_kwargs)
    with torch.device("meta"):
        skeleton = auto_class.from_config(config)
    return body_and_head(skeleton)[1]


def load_model(location: str, auto_class, quant: str, **kwargs):
    """``auto_class.from_pretrained`` in full precision, or NF4 4-bit / 8-bit via bitsandbytes.

    The head stays in full precision: a new classification or reward head is trained, not adapted.
    """
    if quant in ("4bit", "8bit"):
        from transformers import BitsAndBytesConfig

        skip = head_modules(location, auto_class, **{k: v for k, v in kwargs.items() if k == "num_labels"})
        compute = torch.bfloat16 if on_cuda() else torch.float32
        # Unquantised modules (the head, norms) load in the compute dtype, so they meet the
        # 4-bit layers' outputs in one dtype whatever dtype the checkpoint was saved in.
        kwargs.setdefault("dtype", compute)
        if quant == "4bit":
            # Under several ranks the packed 4-bit weights are stored in the compute dtype, so FSDP
            # can shard them with the rest (the QLoRA-FSDP recipe); one process keeps the default.
            storage = {"bnb_4bit_quant_storage": compute} if distributed.world_size() > 1 else {}
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=skip, **storage)
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
        if on_cuda():  # each DDP rank holds its whole (quantised) model on its own GPU
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return auto_class.from_pretrained(location, **kwargs)


def add_adapters(model, cfg: TrainConfig, quant: str, task_type: str, train_head: bool = True):
    """Make ``model`` trainable as ``cfg.finetune`` says: LoRA on every body linear layer (QLoRA
    when quantised) — or, with ``lora_layers: top-K``, on every one above the lower L − K layers
    (trainers/top_layers.py) —, the head only, or everything."""
    body, head = body_and_head(model)
    n_lower = lower_layer_count(model, cfg.lora_layers) if cfg.finetune == "lora" else 0
    if n_lower:
        below = lower_linear_names(model, n_lower)
        body = [name for name in body if name not in below]
    if quant != "none":
        from peft import prepare_model_for_kbit_training

        # Casts norms and the head to fp32 and enables input grads, so adapters train stably on
        # top of frozen 4/8-bit weights.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                            target_modules=body, modules_to_save=head if train_head else None, task_type=task_type)
        return get_peft_model(model, config)
    if cfg.finetune == "head":
        for name, param in model.named_parameters():
            param.requires_grad = name.split(".")[0] in head
    return model


def undo_bf16_on_cpu(model, quant: str):
    """TRL casts the trainable parameters of a quantised model to bf16 (the QLoRA recipe, where
    autocast reconciles dtypes on CUDA). On a CPU there is no autocast, and a trained head in bf16
    meets fp32 activations: keep them fp32 there."""
    if quant != "none" and not on_cuda():
        for param in model.parameters():
            if param.requires_grad and param.dtype == torch.bfloat16:
                param.data = param.data.float()


def training_kwargs(cfg: TrainConfig, seed: int, work_dir: Path | None, **paradigm) -> dict:
    """TrainingArguments fields shared by every paradigm (TRL configs subclass TrainingArguments).

    bf16 (the Trainer's bfloat16 autocast) follows ``cfg.precision`` (precision.py: on CPU too);
    TRL 1.16's default of gradient checkpointing is turned off, memory not being the constraint
    at these sizes. Then the paradigm's own fields (``paradigm``), then ``cfg.train_args``, which
    override any of these.
    """
    cuda = on_cuda()
    return dict(
        output_dir=str(work_dir or Path.cwd() / ".trainer"), num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr, weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup, lr_scheduler_type="linear", save_strategy="no", eval_strategy="no",
        report_to=[], logging_steps=10, seed=seed, use_cpu=not cuda,
        bf16=resolve_precision(cfg.precision) == "bf16", fp16=False, gradient_checkpointing=False,
        dataloader_num_workers=0, disable_tqdm=False) | paradigm | dict(cfg.train_args)


def trainer_config_fields() -> set[str]:
    """The fields ``train_args`` may set: transformers' TrainingArguments and the TRL configs of the
    paradigms (reward, DPO, SFT), which subclass it."""
    import dataclasses

    from transformers import TrainingArguments
    from trl import DPOConfig, RewardConfig, SFTConfig

    return {f.name for cls in (TrainingArguments, RewardConfig, DPOConfig, SFTConfig) for f in dataclasses.fields(cls)}


def check_train_args(train_args: dict, where: str):
    """An unknown field of ``train_args`` is an error before any training, naming it."""
    if not isinstance(train_args, dict):
        raise UserError(f"{where}: expected a mapping of TrainingArguments fields, got {train_args!r}")
    unknown = sorted(set(train_args) - trainer_config_fields()) if train_args else []
    if unknown:
        raise UserError(f"{where}: {unknown[0]!r} is not a field of transformers' TrainingArguments or of TRL's "
                        f"Reward/DPO/SFT configs (see their docs for the valid fields)")


def bar_off(progress: bool = True) -> bool:
    """Whether a progress bar is off: when the caller asks, or when ``--quiet`` turned every bar off
    (``TQDM_DISABLE``, which the trainers' own bars read too)."""
    return not progress or bool(os.environ.get("TQDM_DISABLE"))


def quiet_progress(trainer):
    """Swap the Trainer's progress bar for one that does not print every log dict under it."""
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress)
    return trainer


class QuietProgress(ProgressCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


class SelectOnVal(TrainerCallback):
    """After each epoch, score the validation split; at the end, restore the best epoch's weights.

    ``predict(frame) -> P(label = 1)`` is the paradigm's own prediction, so selection works the same
    for classifiers, reward models and policies. Only trainable tensors are kept, in memory, so
    selection costs no checkpoint writes. For a student the val labels are the weak labels.
    """

    def __init__(self, predict: Callable, frame, soft_labels):
        self.predict, self.frame = predict, frame
        self.soft = np.asarray(soft_labels, dtype=np.float64)
        self.best_loss, self.best_state, self.history = math.inf, None, []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        probs = np.clip(np.asarray(self.predict(self.frame), dtype=np.float64), 1e-6, 1 - 1e-6)
        loss = float(-np.mean(self.soft * np.log(probs) + (1 - self.soft) * np.log(1 - probs)))
        acc = float(np.mean((probs > 0.5) == (self.soft > 0.5)))
        self.history.append({"epoch": round(state.epoch or 0, 2), "val_loss": round(loss, 4), "val_acc": round(acc, 4)})
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        model.train()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.best_state is not None:
            with torch.no_grad():
                params = dict(model.named_parameters())
                for name, value in self.best_state.items():
                    params[name].copy_(value)


def val_callbacks(cfg: TrainConfig, predict: Callable, val_frame, val_labels) -> list:
    if cfg.select_on_val and val_frame is not None and len(val_frame):
        return [SelectOnVal(predict, val_frame, val_labels)]
    return []


def length_sorted_batches(lengths, batch_size: int):
    """Index batches over examples sorted by length (little padding), for inference."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class TrainedModel:
    """A transformers model being trained in one paradigm: loading (quantised or not) with adapters,
    saving, and loading back. Subclasses set the model class and head, and add fit / predict_proba.

    ``auto_class`` / ``load_kwargs``: how the base loads (e.g. a 1-output sequence classifier for a
    reward model); ``task_type``: the peft task; ``train_head``: whether the head is trained (a new
    classification head) or left as is (a pretrained LM head).
    """

    paradigm = ""
    # The W2S losses (trainers/losses.py) this model's fit trains with; each model class says.
    losses: Collection[str] = ()
    generates = False  # CausalLM: True (trainers/interface.py)
    pretrained_folder = True
    description = "a transformers model"
    auto_class = None
    load_kwargs: dict = {}
    task_type = "SEQ_CLS"
    train_head = True
    # Whether its fit and predictions read cached lower layers (lora_layers: top-K, top_layers.py).
    top_layers = False

    def __init__(self, location: str, train: TrainConfig, seed: int = 0, *, _model=None):
        self.location, self.train_cfg, self.seed, self.history = location, train, seed, []
        self.precision = resolve_precision(train.precision)  # what inference computes in (precision.scoring)
        self.tokenizer = load_tokenizer(location)
        self.quant = resolve_quant(train.quant, train.finetune)
        if top_layer_count(train.lora_layers) is not None:
            check_top_k_supported(type(self), train.lora_layers, self.paradigm)
            if train.finetune != "lora":  # a trained lower part cannot be computed once
                raise UserError(f"lora_layers: {train.lora_layers} needs finetune: lora (got {train.finetune})")
        if _model is None:
            torch.manual_seed(seed)
            _model = add_adapters(self._load_base(location, self.quant), train, self.quant,
                                  task_type=self.task_type, train_head=self.train_head)
        self.model = _model
        # The frozen layers below the adapters, run once per input (None: nothing below them).
        self.lower_part = build_lower_part(_model, location, train.lora_layers, self.precision, self.quant)

    @classmethod
    def _load_base(cls, location: str, quant: str, pad_token_id: int | None = None):
        model = load_model(location, cls.auto_class, quant, **cls.load_kwargs)
        if "num_labels" in cls.load_kwargs:  # classifiers find the last real token by the pad id
            model.config.pad_token_id = pad_token_id if pad_token_id is not None else load_tokenizer(location).pad_token_id
        return model

    def configure(self, task):
        """Nothing to take from the task (an SFT policy takes its question and answer words)."""
        return self

    def finish_training(self, trainer, callbacks):
        """Keep the trained model and its loss / validation history."""
        self.model = trainer.model
        self.history = [h for h in trainer.state.log_history if "loss" in h] + (callbacks[0].history if callbacks else [])
        self.history.append({"optimizer_steps": int(trainer.state.max_steps)})

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        write_manifest(folder, type(self), paradigm=self.paradigm, base=self.location, finetune=self.train_cfg.finetune,
                       quant=self.quant, max_length=self.train_cfg.max_length, precision=self.precision,
                       task_type=self.task_type, lora_layers=self.train_cfg.lora_layers,
                       **self.extra_manifest())

    def extra_manifest(self) -> dict:
        return {}

    def restore_manifest(self, meta: dict):
        pass

    @classmethod
    def load(cls, folder: Path):
        meta = read_manifest(folder)
        cfg = TrainConfig(finetune=meta["finetune"], max_length=meta["max_length"], quant=meta["quant"],
                          precision=meta.get("precision", "fp32"), lora_layers=meta.get("lora_layers", "all"))
        tokenizer = load_tokenizer(folder)
        if meta["finetune"] == "lora":
            from peft import PeftModel

            base = cls._load_base(meta["base"], meta["quant"], tokenizer.pad_token_id)
            model = PeftModel.from_pretrained(base, folder)
        else:
            model = cls.auto_class.from_pretrained(folder)
        out = cls(meta["base"], cfg, _model=model)
        out.tokenizer = tokenizer
        out.restore_manifest(meta)
        out.model.eval()
        return out
