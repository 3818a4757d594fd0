"""A causal LM with optional LoRA adapters, and the log-probabilities the generative paradigms
read their predictions from. Shared by ``sft`` and ``dpo``."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from .common import TrainedModel, quiet_progress, training_kwargs, val_callbacks


class CausalLM(TrainedModel):
    """Base class of the generative paradigms: scoring continuations, generation, and a TRL
    training run on prompt / completion or preference rows."""

    auto_class = AutoModelForCausalLM
    task_type = "CAUSAL_LM"
    train_head = False  # the LM head is pretrained: adapters go on the body only

    def train_with(self, trainer_class, config_class, rows: list[dict], val_frame, val_labels, work_dir, **config):
        import datasets

        args = config_class(**training_kwargs(self.train_cfg, self.seed, work_dir), max_length=self.train_cfg.max_length,
                            dataset_num_proc=None, **config)
        callbacks = val_callbacks(self.train_cfg, self.predict_proba, val_frame, val_labels)
        trainer = quiet_progress(trainer_class(model=self.model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                                               processing_class=self.tokenizer, callbacks=callbacks))
        trainer.train()
        self.finish_training(trainer, callbacks)
        return self

    @torch.inference_mode()
    def continuation_logprobs(self, prompts, continuations, batch_size: int = 16, reference: bool = False) -> np.ndarray:
        """Σ log p(continuation tokens | prompt) per pair, with the adapters off when ``reference``
        (the frozen base model: DPO's reference policy)."""
        was_training = self.model.training
        self.model.eval()
        pieces = []
        for prompt, cont in zip(prompts, continuations):
            p_ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
            c_ids = self.tokenizer(cont, add_special_tokens=False)["input_ids"]
            # Keep the whole continuation; cut the prompt from the left to fit the window.
            room = max(1, self.train_cfg.max_length - len(c_ids))
            pieces.append((p_ids[-room:], c_ids[: self.train_cfg.max_length - 1]))
        out = np.empty(len(pieces), dtype=np.float64)
        order = np.argsort([len(p) + len(c) for p, c in pieces], kind="stable")
        adapters_off = self.model.disable_adapter() if reference and hasattr(self.model, "disable_adapter") else nullcontext()
        with adapters_off:
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                seqs = [pieces[i][0] + pieces[i][1] for i in index]
                width = max(map(len, seqs))
                # Left padding lines the continuations up at the right end, so the LM head (262k
                # words for Gemma 3) runs only on the last `keep` positions, not on every prompt token.
                ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for row, seq in enumerate(seqs):
                    ids[row, width - len(seq):], mask[row, width - len(seq):] = torch.tensor(seq), 1
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                keep = max(len(pieces[i][1]) for i in index) + 1
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                    position_ids=positions.to(self.model.device), logits_to_keep=keep).logits
                logp = torch.log_softmax(logits[:, -keep:].float(), dim=-1).cpu()
                for row, i in enumerate(index):
                    n_cont = len(pieces[i][1])
                    targets = torch.tensor(pieces[i][1])
                    # Continuation token j sits at position width − n_cont + j and is predicted one
                    # position earlier: kept index keep − n_cont − 1 + j.
                    steps = logp[row, keep - n_cont - 1: keep - 1]
                    out[i] = float(steps.gather(1, targets[:, None]).sum())
        self.model.train(was_training)
        return out

    @torch.inference_mode()
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
