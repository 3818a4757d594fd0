"""The ``sft`` paradigm: the task as a question with a one-word answer, trained with TRL's SFTTrainer.

Each example becomes ``<text>\\n\\n<question>\\nAnswer:`` followed by one of the task's two answer
words (`` neutral`` / `` hateful``, ...). A model's *score* of an answer word is the mean
log-probability of its tokens (length-normalised, so a word of more tokens is not scored lower for
its length), and its prediction is P(label = 1) = σ((score(answer 1) − score(answer 0)) − threshold):
a softmax over the two answers with a decision threshold set on val (below).

Training uses soft targets: the model learns the supervisor's probability p as the target
distribution [1 − p, p] over the two answers, through the W2S loss on the two answers' scores
(``xent``: the cross-entropy of softmax(scores) against [1 − p, p]). The student so keeps the weak
model's confidence instead of a hard answer word; the ceiling's targets are the ground truth, 0 or
1, through the same code. The loss sits in ``SoftAnswerTrainer.compute_loss``, TRL's hook for a
custom loss; TRL's own dataset preparation (which tokenises one completion per example) is skipped
and a collator builds both answers of each example.

Calibration: after training, the threshold is the quantile of the val margins at which the share of
val examples predicted positive equals the mean of the training labels (the weak labels for a
student, the truth of its own split for the ceiling), so the two answer words' different priors do
not decide the class. It needs only the val inputs (no val or test label).

**The zero-shot model** (``zero_shot_model``; the protocol's zero-shot step) is this scorer on the
strong model before any training: the same prompt, answer words and length-normalised scores, with
threshold 0, i.e. whichever answer word the model itself finds likelier (no calibration: the share
the calibration would aim at is a training label's mean, and the zero-shot model has none). A pair
task (reward, utility) is asked as the sft paradigm asks it: its pairwise text (both replies, A and
B) and the task's question ("Which reply is more harmless, A or B?") with the answer words B / A.
DPO's implicit reward is no zero-shot answer: before training the policy is its own reference, so
every margin is 0.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import torch
from trl import SFTConfig, SFTTrainer

from ..config import TrainConfig
from .common import resolve_quant
from .lm import CausalLM, continuation_scores
from .top_layers import LowerPart
from .losses import LOSSES, check_loss, make_loss, optimizer_progress


def sft_prompt(text: str, question: str) -> str:
    return f"{text}\n\n{question}\nAnswer:"


def calibrated_threshold(margins, positive_share: float) -> float:
    """The margin above which a share ``positive_share`` of ``margins`` lies (``margins > t``)."""
    return float(np.quantile(np.asarray(margins, dtype=np.float64), 1 - positive_share))


class AnswerPairCollator:
    """Batches of (prompt, soft label) rows as the scores of both answers after each prompt
    (``SFTModel.answer_batch``: slots 2i and 2i + 1 are example i's answers 0 and 1)."""

    def __init__(self, model: "SFTModel"):
        self.model = model

    def __call__(self, rows: list[dict]) -> dict:
        batch = self.model.answer_batch([row["prompt"] for row in rows])
        batch["soft"] = torch.tensor([row["soft"] for row in rows], dtype=torch.float32)
        return batch


class SoftAnswerTrainer(SFTTrainer):
    """SFTTrainer whose loss is the W2S loss on the two answers' length-normalised scores, against
    the soft label of each example (``compute_loss`` is TRL's documented hook for a custom loss);
    with a ``lower_part`` (lora_layers: top-K) batches carry the frozen layers' cached output."""

    lower_part: LowerPart | None = None  # none unless lora_layers: top-K

    def __init__(self, *args, w2s_loss, lower_part: LowerPart | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.w2s_loss, self.lower_part = w2s_loss, lower_part

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        soft = inputs.pop("soft")
        two_answers = continuation_scores(model, inputs, per_token=True, lower_part=self.lower_part).view(-1, 2)
        loss = self.w2s_loss(two_answers, soft, optimizer_progress(self.state))
        return (loss, two_answers) if return_outputs else loss


class SFTModel(CausalLM):
    paradigm = "sft"
    # Every W2S loss: each acts on the two answers' scores as the two logits of a binary classifier
    # (softmax over them is σ(margin)). logconf hardens the student's predictions by their rank in
    # the batch, so the threshold calibrated after training does not enter the loss.
    losses = LOSSES
    top_layers = True  # lora_layers: top-K reads the frozen layers' cached output (top_layers.py)

    def __init__(self, location: str, train: TrainConfig, seed: int = 0, *, question: str = "",
                 answers: tuple[str, str] = ("no", "yes"), _model=None):
        super().__init__(location, train, seed, _model=_model)
        self.question, self.answers = question, tuple(answers)
        self.threshold = 0.0  # on the margin score(answer 1) − score(answer 0); set by calibrate

    def configure(self, task):
        self.question, self.answers = task.question, tuple(task.answers)
        return self

    def prompts(self, texts) -> list[str]:
        """Prompts whose text is cut so that question and answer always fit ``max_length``
        (the scorer would otherwise cut the prompt from the left, question first)."""
        reserve = len(self.tokenizer(sft_prompt("", self.question) + " " + max(self.answers, key=len))["input_ids"]) + 2
        budget = max(8, self.train_cfg.max_length - reserve)
        out = []
        for text in texts:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(sft_prompt(text if len(ids) <= budget else self.tokenizer.decode(ids[:budget]), self.question))
        return out

    def answer_batch(self, prompts) -> dict:
        """A ``left_padded`` batch that scores every answer word after each prompt (``answer_rows``)."""
        return self.left_padded(*self.answer_rows(prompts))

    def answer_rows(self, prompts) -> tuple[list, list, list]:
        """The rows (prompt ids, continuation ids), scored tokens and slot lengths of ``left_padded``
        that score every answer word after each prompt, running each prompt once per answer word of
        several tokens (not once per answer word).

        Every answer's first token is predicted at the prompt's last position, which is the same
        whatever follows it, so one row per prompt gives all first tokens; an answer of several
        tokens needs its own row for the rest (its later tokens see its earlier ones). So a prompt
        has one row per answer of several tokens, or a single row of the prompt alone when every
        answer is one token (Gemma 3's `` neutral`` / `` hateful``). Slot i · K + k sums example
        i's answer k (K answers).
        """
        answers = [self.tokenizer(" " + answer, add_special_tokens=False)["input_ids"] for answer in self.answers]
        own_rows = [k for k, ids in enumerate(answers) if len(ids) > 1] or [None]  # None: the prompt alone
        room = max(1, self.train_cfg.max_length - max(map(len, answers)))
        pieces, scored = [], []
        for i, prompt in enumerate(prompts):
            prompt_ids, first = self.tokenizer(prompt, add_special_tokens=True)["input_ids"][-room:], len(pieces)
            pieces += [(prompt_ids, [] if k is None else answers[k]) for k in own_rows]
            for k, ids in enumerate(answers):
                slot = i * len(answers) + k
                # The first token, from the prompt's last position: as many before the row's end as
                # the row's continuation is long.
                scored.append((first, len(pieces[first][1]), ids[0], slot))
                if len(ids) > 1:  # token j of its own row: len − j before the end
                    scored += [(first + own_rows.index(k), len(ids) - j, ids[j], slot) for j in range(1, len(ids))]
        return pieces, scored, [len(ids) for _ in prompts for ids in answers]

    def run_lower_layers(self, prompts):
        """lora_layers: top-K: every row of ``prompts`` through the frozen layers in one pass (one
        cache shard), before batches read them."""
        if self.lower_part is not None:
            self.lower_part.states([p + c for p, c in self.answer_rows(prompts)[0]])

    def margins(self, frame) -> np.ndarray:
        """score(answer 1) − score(answer 0) per example, scores being mean token log-probabilities."""
        prompts = self.prompts(frame["text"])
        self.run_lower_layers(prompts)
        scores = self.scores_in_batches([len(p) for p in prompts], lambda index: self.answer_batch([prompts[i] for i in index]),
                                        per_token=True)
        return scores[:, 1] - scores[:, 0]

    def predict_proba(self, frame, progress: bool = False) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.margins(frame) - self.threshold)))

    def calibrate(self, val_frame, positive_share: float):
        """Set the threshold so that a share ``positive_share`` of ``val_frame`` is predicted positive."""
        self.threshold = calibrated_threshold(self.margins(val_frame), positive_share)
        return self

    def fit(self, frame, soft_labels, val_frame=None, val_labels=None, loss=None, work_dir: Path | None = None):
        check_loss(type(self), loss)
        soft_labels = np.asarray(soft_labels, dtype=np.float64)
        prompts = self.prompts(frame["text"])
        self.run_lower_layers(prompts)
        rows = [{"prompt": prompt, "soft": float(p)} for prompt, p in zip(prompts, soft_labels)]
        trainer_class = functools.partial(SoftAnswerTrainer, data_collator=AnswerPairCollator(self),
                                          w2s_loss=loss or make_loss("xent"), lower_part=self.lower_part)
        self.threshold = 0.0  # epoch selection on val scores the uncalibrated margins
        self.train_with(trainer_class, SFTConfig, rows, val_frame, val_labels, work_dir,
                        dataset_kwargs={"skip_prepare_dataset": True}, remove_unused_columns=False)
        if val_frame is not None and len(val_frame):
            self.calibrate(val_frame, float(soft_labels.mean()))
        return self

    def extra_manifest(self) -> dict:
        return {"question": self.question, "answers": list(self.answers), "threshold": self.threshold}

    def restore_manifest(self, meta: dict):
        self.question, self.answers = meta["question"], tuple(meta["answers"])
        self.threshold = meta.get("threshold", 0.0)


def zero_shot_config(strong_train: TrainConfig) -> TrainConfig:
    """How the zero-shot model loads: as the student's strong model before its first step, with the
    same quantisation (4-bit under QLoRA on CUDA), precision and ``max_length``. Adapters only where
    the quantised weights need them: a fresh LoRA adapter adds exactly zero (its B matrix starts at 0),
    so with or without it the scores are the same."""
    quant = resolve_quant(strong_train.quant, strong_train.finetune)
    return dataclasses.replace(strong_train, finetune="lora" if quant != "none" else "full", quant=quant)


def zero_shot_model(location: str, strong_train: TrainConfig, task) -> SFTModel:
    """The untrained strong model answering ``task``'s question (module docstring, "The zero-shot model")."""
    return SFTModel(location, zero_shot_config(strong_train)).configure(task)
