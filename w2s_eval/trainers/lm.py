"""A causal LM with optional LoRA adapters, and the log-probabilities the generative paradigms
read their predictions from. Shared by ``sft`` and ``dpo``."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from ..precision import scoring
from .common import TrainedModel, quiet_progress, training_kwargs, val_callbacks


class CausalLM(TrainedModel):
    """Base class of the generative paradigms: scoring continuations, generation, and a TRL
    training run on prompt / completion or preference rows."""

    auto_class = AutoModelForCausalLM
    task_type = "CAUSAL_LM"
    train_head = False  # the LM head is pretrained: adapters go on the body only

    def train_with(self, trainer_class, config_class, rows: list[dict], val_frame, val_labels, work_dir, **config):
        import datasets

        args = config_class(**training_kwargs(self.train_cfg, self.seed, work_dir, max_length=self.train_cfg.max_length,
                                              dataset_num_proc=None, **config))
        callbacks = val_callbacks(self.train_cfg, self.predict_proba, val_frame, val_labels)
        trainer = quiet_progress(trainer_class(model=self.model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                                               processing_class=self.tokenizer, callbacks=callbacks))
        trainer.train()
        self.finish_training(trainer, callbacks)
        return self

    def encode_continuations(self, prompts, continuations) -> list[tuple[list[int], list[int]]]:
        """(prompt ids, continuation ids) per pair: the whole continuation is kept, and the prompt is
        cut from the left to fit ``max_length``."""
        pieces = []
        for prompt, cont in zip(prompts, continuations):
            p_ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
            c_ids = self.tokenizer(cont, add_special_tokens=False)["input_ids"]
            room = max(1, self.train_cfg.max_length - len(c_ids))
            pieces.append((p_ids[-room:], c_ids[: self.train_cfg.max_length - 1]))
        return pieces

    def left_padded(self, pieces) -> dict:
        """A batch of prompt + continuation sequences, left-padded so that every continuation ends
        at the right edge; ``continuation_length`` says how many of the last tokens it holds."""
        seqs = [p + c for p, c in pieces]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq):], mask[row, width - len(seq):] = torch.tensor(seq), 1
        return {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
                "continuation_length": torch.tensor([len(c) for _, c in pieces])}

    @scoring
    def continuation_logprobs(self, prompts, continuations, batch_size: int = 16, reference: bool = False,
                              per_token: bool = False) -> np.ndarray:
        """Σ log p(continuation tokens | prompt) per pair, or their mean per token when
        ``per_token`` (so a continuation of more tokens is not scored lower for its length); with
        the adapters off when ``reference`` (the frozen base model: DPO's reference policy)."""
        was_training = self.model.training
        self.model.eval()
        pieces = self.encode_continuations(prompts, continuations)
        out = np.empty(len(pieces), dtype=np.float64)
        order = np.argsort([len(p) + len(c) for p, c in pieces], kind="stable")
        adapters_off = self.model.disable_adapter() if reference and hasattr(self.model, "disable_adapter") else nullcontext()
        with adapters_off:
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                batch = self.left_padded([pieces[i] for i in index])
                out[index] = continuation_scores(self.model, batch, per_token).cpu().numpy()
        self.model.train(was_training)
        return out

    @scoring
    def generate(self, prompts, max_new_tokens: int = 48) -> list[str]:
        """Greedy continuations, so a reader of the run sees behaviour, not only numbers."""
        self.model.eval()
        outputs = []
        for prompt in prompts:
            enc = self.tokenizer(prompt, return_tensors="pt").to(self.model.device)
            ids = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
            outputs.append(self.tokenizer.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
        return outputs


def continuation_scores(model, batch: dict, per_token: bool = False) -> torch.Tensor:
    """Σ (or, when ``per_token``, the mean of) the log-probabilities of each row's continuation
    tokens, for a ``left_padded`` batch; differentiable, so training losses use it too.

    Left padding lines the continuations up at the right end, so the LM head (262k words for
    Gemma 3) runs only on the last ``keep`` positions, not on every prompt token.
    """
    lengths = batch["continuation_length"].to(model.device)
    keep = int(lengths.max()) + 1
    ids = batch["input_ids"].to(model.device)
    logits = model(input_ids=ids, attention_mask=batch["attention_mask"].to(model.device),
                   position_ids=batch["position_ids"].to(model.device), logits_to_keep=keep).logits
    # Kept position j (of keep) predicts the token at the next position: the last keep − 1 tokens.
    logp = torch.log_softmax(logits[:, -keep:-1].float(), dim=-1)
    token_logp = logp.gather(-1, ids[:, -(keep - 1):, None]).squeeze(-1)
    # Of those keep − 1 tokens, a row's continuation is its last `length`.
    in_continuation = torch.arange(keep - 1, device=ids.device)[None, :] >= (keep - 1 - lengths)[:, None]
    total = (token_logp * in_continuation).sum(-1)
    return total / lengths if per_token else total
