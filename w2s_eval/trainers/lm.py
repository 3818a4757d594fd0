"""A causal LM with optional LoRA adapters, and the log-probabilities the generative paradigms
read their predictions from. Shared by ``sft`` and ``dpo``."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from ..config import TrainConfig
from .common import (add_adapters, load_model, load_tokenizer, read_manifest, resolve_quant, write_manifest)


class CausalLM:
    """Base class of the generative paradigms: loading, scoring continuations, generation, saving."""

    paradigm = "lm"

    def __init__(self, location: str, train: TrainConfig, seed: int = 0, *, _model=None):
        self.location, self.train_cfg, self.seed, self.history = location, train, seed, []
        self.tokenizer = load_tokenizer(location)
        self.quant = resolve_quant(train.quant, train.finetune)
        if _model is None:
            torch.manual_seed(seed)
            model = load_model(location, AutoModelForCausalLM, self.quant)
            # The LM head is pretrained: adapters go on the body, the head stays as it is.
            _model = add_adapters(model, train, self.quant, task_type="CAUSAL_LM", train_head=False)
        self.model = _model

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
                ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for row, seq in enumerate(seqs):
                    ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)).logits
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()
                for row, i in enumerate(index):
                    n_prompt, n_cont = len(pieces[i][0]), len(pieces[i][1])
                    targets = torch.tensor(pieces[i][1])
                    # Token t is predicted at position t − 1.
                    steps = logp[row, n_prompt - 1: n_prompt - 1 + n_cont]
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

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        write_manifest(folder, paradigm=self.paradigm, base=self.location, finetune=self.train_cfg.finetune,
                       quant=self.quant, max_length=self.train_cfg.max_length, task_type="CAUSAL_LM",
                       **self.extra_manifest())

    def extra_manifest(self) -> dict:
        return {}

    @classmethod
    def load(cls, folder: Path):
        meta = read_manifest(folder)
        cfg = TrainConfig(finetune=meta["finetune"], max_length=meta["max_length"], quant=meta["quant"])
        if meta["finetune"] == "lora":
            from peft import PeftModel

            model = PeftModel.from_pretrained(load_model(meta["base"], AutoModelForCausalLM, meta["quant"]), folder)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder)
        out = cls(meta["base"], cfg, _model=model)
        out.tokenizer = load_tokenizer(folder)
        out.restore_manifest(meta)
        out.model.eval()
        return out

    def restore_manifest(self, meta: dict):
        pass
