"""A causal LM with optional LoRA adapters, and the log-probabilities the generative paradigms
read their predictions from. Shared by ``sft`` and ``dpo``."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from peft import PeftModel
from torch.utils.checkpoint import checkpoint
from transformers import AutoModelForCausalLM

from ..precision import scoring
from .common import TrainedModel, quiet_progress, training_kwargs, val_callbacks
from .top_layers import cached_lower_layers, without_adapters


class CausalLM(TrainedModel):
    """Base class of the generative paradigms: scoring continuations, generation, and a TRL
    training run on prompt / completion or preference rows."""

    auto_class = AutoModelForCausalLM
    generates = True
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

    def left_padded(self, pieces, scored=None, slot_length=None) -> dict:
        """A batch of prompt + continuation sequences, left-padded so that every continuation ends
        at the right edge, and the tokens to score (``continuation_scores``).

        ``scored``: (row, d, token, slot) per scored token: the output at column width − 1 − d of
        the row (d positions before its last) predicts ``token``, whose log-probability adds to sum
        ``slot``; ``slot_length``: the number of tokens of each slot. By default each row's
        continuation tokens, summed per row.
        """
        if scored is None:  # token j of a continuation of L tokens is predicted L − j before the end
            scored = [(row, len(c) - j, token, row) for row, (_, c) in enumerate(pieces) for j, token in enumerate(c)]
            slot_length = [len(c) for _, c in pieces]
        seqs = [p + c for p, c in pieces]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq):], mask[row, width - len(seq):] = torch.tensor(seq), 1
        batch = {"input_ids": ids, "attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
                 "scored": torch.tensor(scored, dtype=torch.long).view(-1, 4),
                 "slot_length": torch.tensor(slot_length, dtype=torch.long)}
        if self.lower_part is not None:  # lora_layers: top-K: the frozen layers' cached output
            batch["lower_states"] = self.lower_part.batch_states(seqs, width, "left")
        return batch

    @scoring
    def scores_in_batches(self, lengths, make_batch, per_token: bool, batch_size: int = 16,
                          reference: bool = False) -> np.ndarray:
        """``continuation_scores`` of ``make_batch(indices)`` over items batched by ``lengths``
        (little padding), as [items, slots per item]; with the adapters off when ``reference``
        (the frozen base model: DPO's reference policy)."""
        was_training = self.model.training
        self.model.eval()
        order = np.argsort(lengths, kind="stable")
        out = None
        adapters_off = self.model.disable_adapter() if reference and isinstance(self.model, PeftModel) else nullcontext()
        with adapters_off:
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                scores = continuation_scores(self.model, make_batch(index), per_token,
                                             self.lower_part).view(len(index), -1)
                if out is None:
                    out = np.empty((len(order), scores.shape[1]), dtype=np.float64)
                out[index] = scores.cpu().numpy()
        self.model.train(was_training)
        return out

    def continuation_logprobs(self, prompts, continuations, batch_size: int = 16, reference: bool = False,
                              per_token: bool = False) -> np.ndarray:
        """Σ log p(continuation tokens | prompt) per pair, or their mean per token when
        ``per_token`` (so a continuation of more tokens is not scored lower for its length); with
        the adapters off when ``reference`` (the frozen base model: DPO's reference policy)."""
        pieces = self.encode_continuations(prompts, continuations)
        return self.scores_in_batches([len(p) + len(c) for p, c in pieces],
                                      lambda index: self.left_padded([pieces[i] for i in index]),
                                      per_token, batch_size, reference)[:, 0]

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


def continuation_scores(model, batch: dict, per_token: bool = False, lower_part=None) -> torch.Tensor:
    """The sums of the log-probabilities of a ``left_padded`` batch's scored tokens, one per slot
    (or, when ``per_token``, their means); differentiable, so training losses use it too. With a
    ``lower_part`` (lora_layers: top-K) the batch's ``lower_states`` stand in for the frozen layers.

    Only what the scored tokens need is computed: the model's final hidden states at the last
    positions (left padding lines the continuations up at the right end), and there each scored
    token's log-probability alone (``token_logprobs``), never the (rows × positions × vocabulary)
    logits — 262k words for Gemma 3.
    """
    scored = batch["scored"].to(model.device)
    row, before_end, token, slot = scored.unbind(-1)
    keep = int(before_end.max()) + 1
    hidden, head = final_hidden_states(model, batch, keep, lower_part)
    inner = getattr(model, "module", model)  # under DDP, the model it wraps
    logp = token_logprobs(hidden[row, keep - 1 - before_end], head, token,
                          getattr(inner.config.get_text_config(), "final_logit_softcapping", None))
    lengths = batch["slot_length"].to(model.device)
    total = torch.zeros(len(lengths), dtype=logp.dtype, device=logp.device).index_add(0, slot, logp)
    return total / lengths if per_token else total


class HeadInputs(torch.nn.Module):
    """Stands in for a causal LM's head during one forward pass: keeps the final hidden states it is
    given and returns no logits, so the head's (vocabulary × width) weights are neither multiplied
    nor, under autocast, copied whole into the compute dtype."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        self.hidden = hidden
        return hidden[..., :0]


def final_hidden_states(model, batch: dict, keep: int, lower_part=None) -> tuple[torch.Tensor, torch.nn.Module]:
    """The final (normed) hidden states at the last ``keep`` positions of each row, and the LM head.

    The model's own forward runs (not its body's alone, so DDP and adapters see an ordinary call),
    with ``HeadInputs`` in the place of its head for that call, and with a ``lower_part`` the
    batch's ``lower_states`` in the place of the frozen lower layers (top_layers.py).
    """
    states = batch.get("lower_states")
    inner = getattr(model, "module", model)
    base = without_adapters(inner)
    head, recorder = base.get_output_embeddings(), HeadInputs()
    base.set_output_embeddings(recorder)
    try:
        with cached_lower_layers(lower_part, None if states is None else states.to(model.device)):
            model(input_ids=batch["input_ids"].to(model.device), attention_mask=batch["attention_mask"].to(model.device),
                  position_ids=batch["position_ids"].to(model.device), logits_to_keep=keep, use_cache=False)
    finally:
        base.set_output_embeddings(head)
    return recorder.hidden, head


# Logits computed at once in token_logprobs: positions × words ≤ 2^24 (64 MiB in fp32), and at most
# this many words, so that a chunk's copy of the head's weights in the compute dtype stays small.
LOGITS_PER_CHUNK = 1 << 24
WORDS_PER_CHUNK = 32768


def token_logprobs(hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor,
                   softcap: float | None = None) -> torch.Tensor:
    """log p(target_i | hidden_i) for each row i of ``hidden`` (positions × width) under the LM head
    ``head``: the target's logit minus the log-sum-exp of all the logits of the row.

    The log-sum-exp is computed over the vocabulary a chunk of words at a time, so no position's
    full logits are ever held; in training each chunk is recomputed in the backward pass
    (checkpointed) rather than kept. Logits are computed as the head computes them (its dtype, or
    autocast's), in float32 from there on, with Gemma's final soft-capping where the model has it.
    """
    def capped(z):
        z = z.float()
        return softcap * torch.tanh(z / softcap) if softcap else z

    def chunk_logsumexp(h, weight, bias):
        return torch.logsumexp(capped(torch.nn.functional.linear(h, weight, bias)), dim=-1)

    weight, bias = head.weight, head.bias
    recompute = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    words = max(1, min(WORDS_PER_CHUNK, LOGITS_PER_CHUNK // max(1, len(hidden))))
    parts = []
    for start in range(0, weight.shape[0], words):
        chunk = (hidden, weight[start:start + words], None if bias is None else bias[start:start + words])
        parts.append(checkpoint(chunk_logsumexp, *chunk, use_reentrant=False) if recompute else chunk_logsumexp(*chunk))
    normaliser = torch.logsumexp(torch.stack(parts, dim=-1), dim=-1)
    # Each target's logit: its row of the head's weights against its position's hidden state, a
    # batched matmul so it is computed in the same dtype as the chunks'.
    own = torch.bmm(hidden[:, None, :], weight[targets][:, :, None]).view(-1)
    return capped(own if bias is None else own + bias[targets]) - normaliser
