"""The ``classify`` paradigm: a sequence-classification model trained with a W2S loss.

Any transformers checkpoint works, encoders (BERT, MPNet) and decoder LMs alike, through
``AutoModelForSequenceClassification``. Training is the stock HF ``Trainer`` with
``compute_loss`` swapped for the plug-in W2S loss (``losses.py``); batches are grouped by length
so little time goes to padding on a CPU. The model reads the example frame's ``text`` column.
With ``lora_layers: top-K`` the frozen layers below the adapters run once per text and their
output is cached (top_layers.py); training and predictions then run the top K layers alone.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

from ..precision import scoring
from .common import TrainedModel, bar_off, length_sorted_batches, quiet_progress, training_kwargs, val_callbacks
from .losses import LOSSES, check_loss, make_loss, optimizer_progress, warmup_warning
from .top_layers import LowerPart, cached_lower_layers


class LowerStatesCollator(DataCollatorWithPadding):
    """Pads a batch as ``DataCollatorWithPadding`` does, and adds the cached output of the frozen
    lower layers for its texts (``lower_states``, right-padded like the tokens)."""

    def __init__(self, tokenizer, lower_part: LowerPart):
        super().__init__(tokenizer)
        self.lower_part = lower_part

    def __call__(self, features):
        batch = super().__call__(features)
        batch["lower_states"] = self.lower_part.batch_states([f["input_ids"] for f in features],
                                                             batch["input_ids"].shape[1], "right")
        return batch


class W2STrainer(Trainer):
    """HF Trainer whose loss is a W2S loss on soft labels (``labels`` holds P(label = 1)); with a
    ``lower_part``, batches carry the frozen lower layers' cached output (``lower_states``)."""

    lower_part: LowerPart | None = None  # none unless lora_layers: top-K

    def __init__(self, *args, w2s_loss, lower_part: LowerPart | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.w2s_loss, self.lower_part = w2s_loss, lower_part

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        soft = inputs.pop("labels").float()
        weights = inputs.pop("weight", None)  # present only when a method weighs examples
        with cached_lower_layers(self.lower_part, inputs.pop("lower_states", None)):
            outputs = model(**inputs)
        extra = {"weights": weights} if weights is not None else {}
        loss = self.w2s_loss(outputs.logits, soft, optimizer_progress(self.state), **extra)
        return (loss, outputs) if return_outputs else loss


class TransformerClassifier(TrainedModel):
    paradigm = "classify"
    losses = LOSSES  # every registered W2S loss, plug-ins too: each acts on the logits of the Trainer's batches
    auto_class = AutoModelForSequenceClassification
    load_kwargs = {"num_labels": 2}
    top_layers = True

    def _encode(self, texts):
        return self.tokenizer(list(texts), truncation=True, max_length=self.train_cfg.max_length)

    @scoring
    def predict_proba(self, frame, batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """P(label = 1) per example of the frame."""
        was_training = self.model.training
        self.model.eval()
        encoded = self._encode(frame["text"])["input_ids"]
        if self.lower_part is not None:  # every text through the frozen layers in one pass (one shard)
            self.lower_part.states(encoded)
        out = np.empty(len(encoded), dtype=np.float32)
        for index in tqdm(length_sorted_batches([len(x) for x in encoded], batch_size), desc="predict",
                          leave=False, disable=bar_off(progress)):
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            states = None if self.lower_part is None else self.lower_part.batch_states(
                [encoded[i] for i in index], batch["input_ids"].shape[1], "right").to(self.model.device)
            with cached_lower_layers(self.lower_part, states):
                logits = self.model(**{k: v.to(self.model.device) for k, v in batch.items()}).logits.float()
            out[index] = torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()
        self.model.train(was_training)
        return out

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir: Path | None = None,
            weights=None):
        check_loss(type(self), loss)
        encoded = self._encode(frame["text"])
        if self.lower_part is not None:  # every text through the frozen layers in one pass (one shard)
            self.lower_part.states(encoded["input_ids"])
        # A plain list of dicts: the Trainer needs only len() and indexing, and the length-grouped
        # sampler reads each example's input_ids.
        train_set = [{"input_ids": ids, "attention_mask": mask, "labels": float(p)}
                     for ids, mask, p in zip(encoded["input_ids"], encoded["attention_mask"], soft_labels)]
        if weights is not None:
            for example, weight in zip(train_set, weights):
                example["weight"] = float(weight)
        args = TrainingArguments(**training_kwargs(self.train_cfg, self.seed, work_dir,
                                                   train_sampling_strategy="group_by_length", remove_unused_columns=False))
        callbacks = val_callbacks(self.train_cfg, lambda f: self.predict_proba(f, progress=False), val_frame, val_labels)
        trainer = quiet_progress(W2STrainer(
            model=self.model, args=args, train_dataset=train_set, callbacks=callbacks,
            data_collator=DataCollatorWithPadding(self.tokenizer) if self.lower_part is None
            else LowerStatesCollator(self.tokenizer, self.lower_part),
            w2s_loss=loss or make_loss("xent"), lower_part=self.lower_part))
        trainer.train()
        self.finish_training(trainer, callbacks)
        # Kept in the step's history (step.json) and shown: a warm-up of under two steps is none.
        warning = warmup_warning(trainer.w2s_loss, trainer.state.max_steps)
        if warning:
            warnings.warn(warning, stacklevel=2)
            self.history.append({"warning": warning})
        return self
