"""The ``sft`` paradigm: the task as a question with a one-word answer, trained with TRL's SFTTrainer.

Each example becomes ``<text>\\n\\n<question>\\nAnswer:`` → `` <answer word>`` (prompt-completion
data, loss on the completion only). The weak model answers split B; the strong model is
fine-tuned on those answers (student) or on the true ones (ceiling). A model's prediction is the
probability of the label-1 answer word against the label-0 word, from their log-probabilities,
so accuracy, AUROC and PGR read exactly as in ``classify``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from trl import SFTConfig, SFTTrainer

from ..config import TrainConfig
from .lm import CausalLM


def sft_prompt(text: str, question: str) -> str:
    return f"{text}\n\n{question}\nAnswer:"


class SFTModel(CausalLM):
    paradigm = "sft"

    def __init__(self, location: str, train: TrainConfig, seed: int = 0, *, question: str = "",
                 answers: tuple[str, str] = ("no", "yes"), _model=None):
        super().__init__(location, train, seed, _model=_model)
        self.question, self.answers = question, tuple(answers)

    def configure(self, task):
        self.question, self.answers = task.question, tuple(task.answers)
        return self

    def prompts(self, texts) -> list[str]:
        """Prompts whose text is cut so that question and answer always fit ``max_length``
        (TRL truncates from the end, which would cut the answer away and drop the example)."""
        reserve = len(self.tokenizer(sft_prompt("", self.question) + " " + max(self.answers, key=len))["input_ids"]) + 2
        budget = max(8, self.train_cfg.max_length - reserve)
        out = []
        for text in texts:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(sft_prompt(text if len(ids) <= budget else self.tokenizer.decode(ids[:budget]), self.question))
        return out

    def predict_proba(self, frame, progress: bool = False) -> np.ndarray:
        prompts = self.prompts(frame["text"])
        n = len(prompts)
        scores = self.continuation_logprobs(prompts * 2, [" " + self.answers[0]] * n + [" " + self.answers[1]] * n)
        no, yes = scores[:n], scores[n:]
        return 1 / (1 + np.exp(no - yes))  # softmax over the two answers

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir: Path | None = None):
        # The supervisor's answer: the more likely word under its (soft) label.
        rows = [{"prompt": prompt, "completion": " " + self.answers[int(p > 0.5)]}
                for prompt, p in zip(self.prompts(frame["text"]), soft_labels)]
        return self.train_with(SFTTrainer, SFTConfig, rows, val_frame, val_labels, work_dir,
                               packing=False, completion_only_loss=True)

    def extra_manifest(self) -> dict:
        return {"question": self.question, "answers": list(self.answers)}

    def restore_manifest(self, meta: dict):
        self.question, self.answers = meta["question"], tuple(meta["answers"])
