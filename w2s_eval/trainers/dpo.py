"""The ``dpo`` paradigm: a policy trained with TRL's DPOTrainer on preference pairs.

The pair order (which reply is "chosen") comes from the weak reward model for the student and from
the ground truth for the ceiling. With LoRA, TRL uses the base model with the adapters switched
off as the reference policy, so no second copy of the model is held. A policy's prediction is its
implicit reward preference: r(y) = β · (log π(y|x) − log π_ref(y|x)), P(A ≻ B) = σ(r(A) − r(B)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from trl import DPOConfig, DPOTrainer

from ..config import TrainConfig
from .lm import CausalLM
from .losses import check_loss

BETA = 0.1


def dpo_prompt(prompt: str) -> str:
    return f"Human: {prompt}\n\nAssistant:"


class DPOPolicy(CausalLM):
    paradigm = "dpo"
    losses = ("xent",)  # DPO's own loss on the weak model's hard orderings: no W2S loss applies

    def __init__(self, location: str, train: TrainConfig, seed: int = 0, *, _model=None):
        super().__init__(location, train, seed, _model=_model)
        self.beta = BETA

    def implicit_margins(self, frame) -> np.ndarray:
        prompts = [dpo_prompt(p) for p in frame["prompt"]] * 2
        replies = [" " + r for r in frame["reply_a"]] + [" " + r for r in frame["reply_b"]]
        policy = self.continuation_logprobs(prompts, replies)
        reference = self.continuation_logprobs(prompts, replies, reference=True)
        rewards = self.beta * (policy - reference)
        return rewards[: len(frame)] - rewards[len(frame):]

    def predict_proba(self, frame, progress: bool = False) -> np.ndarray:
        return 1 / (1 + np.exp(-self.implicit_margins(frame)))

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir: Path | None = None):
        check_loss(type(self), loss)
        rows = []
        for prompt, a, b, p in zip(frame["prompt"], frame["reply_a"], frame["reply_b"], soft_labels):
            chosen, rejected = (a, b) if p > 0.5 else (b, a)
            rows.append({"prompt": dpo_prompt(prompt), "chosen": " " + chosen, "rejected": " " + rejected})
        return self.train_with(DPOTrainer, DPOConfig, rows, val_frame, val_labels, work_dir, beta=self.beta)

    def extra_manifest(self) -> dict:
        return {"beta": self.beta}

    def restore_manifest(self, meta: dict):
        self.beta = meta.get("beta", BETA)
