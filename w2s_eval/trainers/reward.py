"""The ``reward`` paradigm: a scalar reward model on preference pairs, trained with TRL.

Each example is a pair (prompt, reply A, reply B) with a soft preference p = P(A ≻ B): the weak
model's for the student, 0/1 ground truth for the weak model and the ceiling. ``W2SRewardTrainer``
is TRL's ``RewardTrainer`` with one change: its loss is the binary cross-entropy of the reward
margin r(A) − r(B) against p, so a weak supervisor's uncertainty reaches the student (with p ∈ {0, 1}
it is exactly TRL's Bradley–Terry loss). Replies are shown in the task's randomised A/B order,
never in ground-truth chosen/rejected order, so nothing of the truth leaks into a student.

Predictions are P(A ≻ B) = σ(r(A) − r(B)); pairwise accuracy is then the usual accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from ..precision import scoring
from .losses import check_loss
from .common import (TrainedModel, bar_off, length_sorted_batches, quiet_progress, training_kwargs, undo_bf16_on_cpu,
                     val_callbacks)


def soft_preference_loss(margin: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """−[p · log σ(m) + (1 − p) · log σ(−m)], averaged: BCE of the margin against P(A ≻ B)."""
    return F.binary_cross_entropy_with_logits(margin.float(), soft.float())


def reward_input(prompt: str, reply: str) -> str:
    return f"Human: {prompt}\n\nAssistant: {reply}"


class SoftPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator (A ids then B ids in one batch), carrying the soft label along."""

    def torch_call(self, examples):
        out = super().torch_call(examples)
        out["soft_label"] = torch.tensor([e["soft_label"] for e in examples], dtype=torch.float)
        return out


class W2SRewardTrainer(RewardTrainer):
    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["chosen_ids", "rejected_ids", "soft_label"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        soft = inputs.pop("soft_label")
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        reward_a, reward_b = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(reward_a - reward_b, soft)
        return (loss, outputs) if return_outputs else loss


class RewardModel(TrainedModel):
    paradigm = "reward"
    # Trained by the soft-label BCE on reward margins (soft_preference_loss), which is xent on P(A ≻ B).
    losses = ("xent",)
    auto_class = AutoModelForSequenceClassification
    load_kwargs = {"num_labels": 1}

    def _encode(self, prompts, replies) -> list[list[int]]:
        eos = self.tokenizer.eos_token or ""
        texts = [reward_input(p, r) + eos for p, r in zip(prompts, replies)]
        return self.tokenizer(texts, truncation=True, max_length=self.train_cfg.max_length)["input_ids"]

    @scoring
    def rewards(self, prompts, replies, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        encoded = self._encode(prompts, replies)
        out = np.empty(len(encoded), dtype=np.float32)
        for index in tqdm(length_sorted_batches([len(x) for x in encoded], batch_size), desc="reward",
                          leave=False, disable=bar_off(progress)):
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in index]}, return_tensors="pt")
            logits = self.model(**{k: v.to(self.model.device) for k, v in batch.items()}).logits
            out[index] = logits.float().squeeze(-1).cpu().numpy()
        self.model.train(was_training)
        return out

    def margins(self, frame, progress: bool = False) -> np.ndarray:
        prompts = list(frame["prompt"]) * 2
        rewards = self.rewards(prompts, list(frame["reply_a"]) + list(frame["reply_b"]), progress=progress)
        return rewards[: len(frame)] - rewards[len(frame):]

    def predict_proba(self, frame, progress: bool = True) -> np.ndarray:
        """P(A ≻ B) = σ(r(A) − r(B)) per pair."""
        return 1 / (1 + np.exp(-self.margins(frame, progress).astype(np.float64)))

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir: Path | None = None):
        import datasets

        check_loss(type(self), loss)
        ids_a, ids_b = self._encode(frame["prompt"], frame["reply_a"]), self._encode(frame["prompt"], frame["reply_b"])
        train_set = datasets.Dataset.from_list([
            {"chosen_ids": a, "rejected_ids": b, "soft_label": float(p)} for a, b, p in zip(ids_a, ids_b, soft_labels)])
        args = RewardConfig(**training_kwargs(self.train_cfg, self.seed, work_dir, max_length=self.train_cfg.max_length,
                                              remove_unused_columns=False, center_rewards_coefficient=None))
        callbacks = val_callbacks(self.train_cfg, lambda f: self.predict_proba(f, progress=False), val_frame, val_labels)
        trainer = quiet_progress(W2SRewardTrainer(
            model=self.model, args=args, train_dataset=train_set, processing_class=self.tokenizer,
            data_collator=SoftPreferenceCollator(pad_token_id=self.tokenizer.pad_token_id), callbacks=callbacks))
        undo_bf16_on_cpu(trainer.model, self.quant)
        trainer.train()
        self.finish_training(trainer, callbacks)
        return self
