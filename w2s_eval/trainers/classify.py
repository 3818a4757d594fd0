"""The ``classify`` paradigm: a sequence-classification model trained with a W2S loss.

Any transformers checkpoint works, encoders (BERT, MPNet) and decoder LMs alike, through
``AutoModelForSequenceClassification``. Fine-tuning is ``full``, ``lora`` (peft adapters on every
linear layer of the body, found from the model itself, plus a trained head) or ``head`` (frozen
body). Training is the stock HF ``Trainer`` with ``compute_loss`` swapped for the plug-in W2S loss;
batches are grouped by length so little time goes to padding on a CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.trainer_callback import ProgressCallback
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          Trainer, TrainerCallback, TrainingArguments)

from ..config import TrainConfig
from ..errors import UserError
from .losses import make_loss, soft_xent

FINETUNE_MODES = ("full", "lora", "head")


class W2STrainer(Trainer):
    """HF Trainer whose loss is a W2S loss on soft labels (``labels`` holds P(label = 1))."""

    def __init__(self, *args, w2s_loss, **kwargs):
        super().__init__(*args, **kwargs)
        self.w2s_loss = w2s_loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        soft = inputs.pop("labels").float()
        outputs = model(**inputs)
        progress = self.state.global_step / max(1, self.state.max_steps)
        loss = self.w2s_loss(outputs.logits, soft, progress)
        return (loss, outputs) if return_outputs else loss


class QuietProgress(ProgressCallback):
    """The Trainer's progress bar, without printing every log dict under it (the run log has them)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


class SelectOnVal(TrainerCallback):
    """After each epoch, score the validation split; at the end, restore the best epoch's weights.

    Only trainable tensors are kept (the LoRA adapters and head, or the whole model when fully
    fine-tuned), in memory, so selection costs no checkpoint writes.
    """

    def __init__(self, classifier: "TransformerClassifier", texts, soft_labels):
        self.classifier, self.texts = classifier, texts
        self.soft = torch.tensor(np.asarray(soft_labels, dtype=np.float32))
        self.best_loss, self.best_state, self.history = math.inf, None, []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        probs = torch.tensor(self.classifier.predict_proba(self.texts, progress=False), dtype=torch.float32)
        logits = torch.stack([torch.zeros_like(probs), torch.logit(probs.clamp(1e-6, 1 - 1e-6))], dim=-1)
        loss = float(soft_xent(logits, self.soft))
        acc = float(((probs > 0.5) == (self.soft > 0.5)).float().mean())
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


def body_and_head(model) -> tuple[list[str], list[str]]:
    """Names of the linear layers in the model's body, and the top-level names of its head.

    The body is everything under ``base_model_prefix`` (``bert``, ``mpnet``, ``model``, ...); the
    rest (``classifier``, ``score``, ``pooler`` outside the body) is the freshly initialised head.
    """
    prefix = model.base_model_prefix
    body_linears = [name for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and name.startswith(prefix + ".")]
    head = sorted({name.split(".")[0] for name, _ in model.named_parameters() if not name.startswith(prefix + ".")})
    return body_linears, head


QUANT_MODES = ("auto", "none", "8bit", "4bit")


def resolve_quant(quant: str, finetune: str) -> str:
    """auto: 4-bit (QLoRA) for LoRA training on CUDA, full precision otherwise."""
    if quant not in QUANT_MODES:
        raise UserError(f"quant: unknown mode {quant!r}; valid: {', '.join(QUANT_MODES)}")
    if quant == "auto":
        return "4bit" if torch.cuda.is_available() and finetune == "lora" else "none"
    if quant != "none" and finetune != "lora":
        raise UserError(f"quant: {quant} weights are frozen, so only finetune: lora can train them (got {finetune})")
    return quant


def head_modules(location: str) -> list[str]:
    """The classification head's module names, read off an empty (meta-device) copy of the model."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, num_labels=2)
    with torch.device("meta"):
        skeleton = AutoModelForSequenceClassification.from_config(config)
    return body_and_head(skeleton)[1]


def load_sequence_classifier(location: str, quant: str):
    """A 2-class sequence classifier from a folder or hub id; NF4 4-bit or 8-bit via bitsandbytes.

    The freshly initialised head stays in full precision: it is trained, not adapted.
    """
    kwargs = {"num_labels": 2}
    if quant in ("4bit", "8bit"):
        from transformers import BitsAndBytesConfig

        skip = head_modules(location)
        if quant == "4bit":
            compute = torch.bfloat16 if torch.cuda.is_available() else torch.float32
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=skip)
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
        if torch.cuda.is_available():
            kwargs["device_map"] = {"": 0}
    return AutoModelForSequenceClassification.from_pretrained(location, **kwargs)


class TransformerClassifier:
    def __init__(self, location: str, train: TrainConfig, seed: int = 0):
        self.location, self.train_cfg, self.seed = location, train, seed
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        if self.tokenizer.pad_token is None:  # decoder LMs often ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch.manual_seed(seed)
        self.quant = resolve_quant(train.quant, train.finetune)
        self.model = load_sequence_classifier(location, self.quant)
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.history: list[dict] = []
        self._prepare(train.finetune)

    def _prepare(self, finetune: str):
        body, head = body_and_head(self.model)
        if self.quant != "none":
            from peft import prepare_model_for_kbit_training

            # Casts norms and the head to fp32 and enables input grads, so adapters train stably
            # on top of frozen 4/8-bit weights (QLoRA).
            self.model = prepare_model_for_kbit_training(self.model, use_gradient_checkpointing=False)
        if finetune == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(r=self.train_cfg.lora_r, lora_alpha=self.train_cfg.lora_alpha,
                                lora_dropout=self.train_cfg.lora_dropout, target_modules=body,
                                modules_to_save=head)
            self.model = get_peft_model(self.model, config)
        elif finetune == "head":
            for name, param in self.model.named_parameters():
                param.requires_grad = name.split(".")[0] in head

    # -- inference -------------------------------------------------------------------------

    def _encode(self, texts):
        return self.tokenizer(list(texts), truncation=True, max_length=self.train_cfg.max_length)

    @torch.inference_mode()
    def predict_proba(self, texts, batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """P(label = 1) per text; batches are formed from length-sorted texts, then unsorted."""
        was_training = self.model.training
        self.model.eval()
        encoded = self._encode(texts)["input_ids"]
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.empty(len(encoded), dtype=np.float32)
        batches = range(0, len(order), batch_size)
        for start in tqdm(batches, desc="predict", leave=False, disable=not progress):
            index = order[start:start + batch_size]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            batch = {k: v.to(self.model.device) for k, v in batch.items()}
            logits = self.model(**batch).logits.float()
            out[index] = torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()
        self.model.train(was_training)
        return out

    # -- training --------------------------------------------------------------------------

    def fit(self, texts, soft_labels, val_texts=None, val_labels=None, loss=None, work_dir: Path | None = None):
        cfg = self.train_cfg
        encoded = self._encode(texts)
        # A plain list of dicts: the Trainer needs only len() and indexing, and the length-grouped
        # sampler reads each example's input_ids.
        train_set = [{"input_ids": ids, "attention_mask": mask, "labels": float(p)}
                     for ids, mask, p in zip(encoded["input_ids"], encoded["attention_mask"], soft_labels)]
        on_cpu = not torch.cuda.is_available()
        args = TrainingArguments(
            output_dir=str(work_dir or Path.cwd() / ".trainer"), num_train_epochs=cfg.epochs,
            per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr, weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup, lr_scheduler_type="linear", train_sampling_strategy="group_by_length",
            save_strategy="no", eval_strategy="no", report_to=[], logging_steps=10, seed=self.seed,
            use_cpu=on_cpu, bf16=not on_cpu and torch.cuda.is_bf16_supported(), fp16=False, remove_unused_columns=False, dataloader_num_workers=0,
            disable_tqdm=False)
        callbacks = []
        if cfg.select_on_val and val_texts is not None and len(val_texts):
            callbacks.append(SelectOnVal(self, val_texts, val_labels))
        trainer = W2STrainer(model=self.model, args=args, train_dataset=train_set,
                             data_collator=DataCollatorWithPadding(self.tokenizer), callbacks=callbacks,
                             w2s_loss=loss or make_loss("xent"))
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(QuietProgress)
        trainer.train()
        self.history = [h for h in trainer.state.log_history if "loss" in h] + (callbacks[0].history if callbacks else [])
        return self

    # -- persistence -----------------------------------------------------------------------

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        meta = {"base": self.location, "finetune": self.train_cfg.finetune, "quant": self.quant,
                "max_length": self.train_cfg.max_length}
        (folder / "w2s_model.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> "TransformerClassifier":
        meta = json.loads((folder / "w2s_model.json").read_text())
        out = cls.__new__(cls)
        out.location, out.seed, out.history = meta["base"], 0, []
        out.train_cfg = TrainConfig(finetune=meta["finetune"], max_length=meta["max_length"], quant=meta["quant"])
        out.quant = meta["quant"]
        out.tokenizer = AutoTokenizer.from_pretrained(folder)
        if meta["finetune"] == "lora":
            from peft import PeftModel

            base = load_sequence_classifier(meta["base"], out.quant)
            base.config.pad_token_id = out.tokenizer.pad_token_id
            out.model = PeftModel.from_pretrained(base, folder)
        else:
            out.model = AutoModelForSequenceClassification.from_pretrained(folder)
        out.model.eval()
        return out
