"""``debate`` and ``explain``: a strong *generating* model writes text that helps the weak model label.

Both methods put the strong model's words in the weak model's context, retrain the weak model on
A's ground truth with that context, and let it label B and val; the student then learns these
labels on B's *original* text (as the naive student learns the weak labels).

``debate`` — Lang, Huang & Li (2025), "Debate Helps Weak-to-Strong Generalization" (AAAI 2025,
arXiv 2501.13124). Two instances of a strong LM debate each example: one argues for one answer,
the other for the opposite one; the debate transcript is given as context to the weak model, which
is finetuned on ground truth with it and then labels the student's data ("debate can assist a
weak model in extracting trustworthy information from an untrustworthy strong model"). An
ensemble of weak models, each over its own sample of arguments, "helps exploit long arguments ...
and obtain a more robust supervision estimate" (option ``samples``).

``explain`` — Zakershahrak & Ghodratnama (2024), "Explanation, Debate, Align: A Weak-to-Strong
Framework for Language Model Generalization" (arXiv 2409.07335). The strong model *facilitates*
the weak one (their facilitation function Φ): it writes an explanation of each example, which the
weak model reads beside the example when it learns and when it labels.

What the generator sees: the example's text, the task's question and, for ``debate``, the answer
it must argue for — both answers are argued for every example, so no label of any split enters a
prompt (``debate_prompts`` / ``explain_prompts``; ``tests/test_debate.py`` checks B's prompts).
Generations for A, B and val are one cached step per argument sample (``debate-generate`` /
``explain-generate``, keyed by the generator's weights, the prompts, the generation settings, the
splits and the seed): ``generations.parquet`` (every prompt and output) and ``generations.json``
(the first few, to read) in that step's folder, whose path ``method_info.generations`` names.

Adaptations (each forced by our setting or by what the papers' text available here leaves open):

- **One turn per debater**: Lang et al. run a multi-turn debate in which each debater sees the
  other's previous arguments; here each debater writes one argument, independently (one prompt
  per answer), ``max_new_tokens`` long (16 by default: a CPU budget, see the numbers in docs/methods.md).
- **Generator**: the gap's causal-LM strong rung (``gemma3-270m`` on cpu), a small *base* model
  prompted with plain text; the papers use large instruction-tuned models. The student (the run's
  strong model) is usually an encoder, so the generator is a different model from the student.
- **Weak model**: our weak models are classifiers (TF-IDF or a small encoder), not LMs: the
  context is appended to the example's text, arguments in a fixed order (for label 1's answer,
  then label 0's), each behind a line naming the answer it argues for. A transformer weak model
  cuts its input at ``weak_train.max_length`` tokens, which may cut the arguments.
- **Pairs** (reward): the debaters argue "A is better" and "B is better"; the argument for A is
  appended to reply A and the one for B to reply B (and both to ``text``), so swapping the
  replies swaps the arguments and the pair model's antisymmetry holds. ``explain`` explains each
  reply on its own, for the same reason (one explanation appended to both replies would cancel
  in the pair models' difference φ(A) − φ(B)).
- **Ensemble**: ``samples`` > 1 weak models, sample i trained and labelling with arguments
  sampled (temperature > 0) with seed (run seed, i); their soft labels are averaged.
- **Val**: the student chooses its epoch on val labels made the same way (the weak model with
  context labels val), as the naive student uses the weak labels of val.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Settings, setting
from ..errors import UserError
from ..store import atomic_write_json, atomic_write_parquet, step_key
from ..trainers.bow import is_pairwise
from .base import METHODS, Method, MethodContext, TrainingSet, class_of, training_set_key

# Bump when prompts, cleaning or how context joins the weak model's input change: old caches then miss.
PROMPT_VERSION = 1
N_SHOWN = 8  # generations kept in generations.json for a reader


# -- options -------------------------------------------------------------------------------------

@dataclass
class GenerationConfig(Settings):
    # causal LM that writes (a zoo name, folder or hub id); None: the gap's causal-LM strong rung for
    # the run's profile (gemma3-270m on cpu)
    generator: str | None = None
    # tokens each argument / explanation may have (a CPU budget: docs/methods.md)
    max_new_tokens: int = setting(16, ge=1, expected="a whole number, at least 1")
    # 0: greedy; > 0: sampling at this temperature, seeded by (seed, sample)
    temperature: float = setting(0.0, ge=0, expected="a number, at least 0")
    batch_size: int = setting(16, ge=1, expected="a whole number, at least 1")  # prompts generated together
    # the example's text is cut to its first words in a prompt
    max_text_words: int = setting(200, ge=1, expected="a whole number, at least 1")

    def check(self):
        if self.generator is not None and not self.generator.strip():
            raise UserError(f"generator: expected a model name (zoo name, folder or hub id) or null, "
                            f"got {self.generator!r}")


@dataclass
class DebateConfig(GenerationConfig):
    # weak models, each over its own sample of arguments, averaged (Lang et al.'s ensemble); > 1
    # needs temperature > 0 (greedy arguments would all be one sample)
    samples: int = setting(1, ge=1, expected="a whole number, at least 1")

    def check(self):
        super().check()
        if self.samples > 1 and self.temperature == 0:
            raise UserError(f"samples={self.samples} needs temperature > 0 (greedy arguments are identical in every "
                            f"sample)")


@dataclass
class ExplainConfig(GenerationConfig):
    pass


# -- prompts and context (pure) -----------------------------------------------------------------

def clip_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text`` (whitespace collapsed)."""
    words = str(text).split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


def debate_prompts(frame: pd.DataFrame, question: str, answers: tuple[str, str],
                   max_words: int) -> dict[str, list[str]]:
    """For each row, one debater's prompt per answer: {"for_1": [...], "for_0": [...]}, arguing for
    ``answers[1]`` (label 1) and ``answers[0]`` (label 0). Only the text and the question go in."""
    def prompt(text: str, answer: str) -> str:
        return (f"{clip_words(text, max_words)}\n\nQuestion: {question}\n"
                f"You are a debater. Argue that the answer is \"{answer}\". Give your strongest reason.\n"
                f"Argument for \"{answer}\":")

    return {f"for_{label}": [prompt(t, answers[label]) for t in frame["text"]] for label in (1, 0)}


def explain_prompts(frame: pd.DataFrame, question: str, max_words: int) -> dict[str, list[str]]:
    """One explanation prompt per row ({"explanation": [...]}); for pairs one per reply
    ({"reply_a": [...], "reply_b": [...]}), each reply shown with its prompt alone."""
    def prompt(text: str) -> str:
        return (f"{clip_words(text, max_words)}\n\nQuestion: {question}\n"
                f"Explain what in the text above bears on this question, without answering it.\nExplanation:")

    if is_pairwise(frame):
        return {side: [prompt(f"{p}\n\nReply: {r}") for p, r in zip(frame["prompt"], frame[side])]
                for side in ("reply_a", "reply_b")}
    return {"explanation": [prompt(t) for t in frame["text"]]}


def clean_generation(output: str) -> str:
    """A generation as the weak model reads it: its first paragraph, whitespace collapsed."""
    return " ".join(output.strip().split("\n\n")[0].split())


def with_arguments(frame: pd.DataFrame, for_1: list[str], for_0: list[str], answers: tuple[str, str]) -> pd.DataFrame:
    """The frame with each row's two arguments appended to its text (label 1's first, each behind a
    line naming its answer); for pairs also the argument for A to reply A and for B to reply B."""
    out = frame.copy()
    out["text"] = [f"{t}\n\nArgument for {answers[1]}: {a1}\n\nArgument for {answers[0]}: {a0}"
                   for t, a1, a0 in zip(frame["text"], for_1, for_0)]
    if is_pairwise(frame):  # label 1 = A preferred: its debater argues for A
        out["reply_a"] = [f"{r}\n\nArgument for this reply: {a}" for r, a in zip(frame["reply_a"], for_1)]
        out["reply_b"] = [f"{r}\n\nArgument for this reply: {a}" for r, a in zip(frame["reply_b"], for_0)]
    return out


def with_explanations(frame: pd.DataFrame, generated: dict[str, list[str]]) -> pd.DataFrame:
    """The frame with each row's explanation appended to its text (for pairs: each reply's own to
    that reply, and both to ``text``)."""
    out = frame.copy()
    if is_pairwise(frame):
        for side in ("reply_a", "reply_b"):
            out[side] = [f"{r}\n\nExplanation: {e}" for r, e in zip(frame[side], generated[side])]
        out["text"] = [f"{t}\n\nExplanation of A: {a}\n\nExplanation of B: {b}"
                       for t, a, b in zip(frame["text"], generated["reply_a"], generated["reply_b"])]
    else:
        out["text"] = [f"{t}\n\nExplanation: {e}" for t, e in zip(frame["text"], generated["explanation"])]
    return out


# -- generation (a cached step) -------------------------------------------------------------------

def generate(location: str, prompts: list[str], max_new_tokens: int, temperature: float, seed: int,
             batch_size: int, precision: str = "fp32") -> list[str]:
    """Continuations of ``prompts`` by the causal LM at ``location``: greedy, or sampled at
    ``temperature`` with a torch seed per batch (so a batch's samples do not depend on the others).
    Batches are formed in order of prompt length, to pad little; computed in ``precision``."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..precision import autocast
    from ..trainers.common import load_tokenizer

    tokenizer = load_tokenizer(location, padding_side="left")
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the gpu profile's generators are large
    model = AutoModelForCausalLM.from_pretrained(location, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.to(device).eval()
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    order = np.argsort(lengths, kind="stable")
    outputs: list[str] = [""] * len(prompts)
    sampling = {"do_sample": True, "temperature": float(temperature), "top_k": 0, "top_p": 1.0} if temperature > 0 \
        else {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
    with torch.inference_mode(), autocast(precision):
        for number, start in enumerate(range(0, len(order), batch_size)):
            index = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in index], return_tensors="pt", padding=True).to(device)
            torch.manual_seed(seed * 1_000_003 + number)
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
            for i, row in zip(index, ids[:, enc["input_ids"].shape[1]:]):
                outputs[i] = tokenizer.decode(row, skip_special_tokens=True)
    return outputs


def default_generator(ctx: MethodContext) -> str:
    """The gap's causal-LM strong rung for the run's profile (gaps.yaml ``lm``)."""
    from ..config import gap_ladders

    return gap_ladders()[ctx.cfg.profile][ctx.cfg.gap]["lm"]["strong"]  # ctx.cfg: profile resolved


def supervisor_frames(ctx: MethodContext) -> dict[str, pd.DataFrame]:
    """The frames that get context: A (both parts, ground truth dropped) and B and val."""
    return {"A_fit": ctx.A_fit, "A_select": ctx.A_select, "B": ctx.B, "val": ctx.val}


def generation_step(ctx: MethodContext, method: str, options: GenerationConfig, prompts_of, sample: int):
    """The cached step that generates for every prompt of A, B and val; returns
    (key, folder, {frame name: {role: [clean outputs]}}). ``prompts_of(frame)`` -> {role: [prompt]}."""
    from ..models.resolve import resolve_model
    from ..precision import resolve as resolve_precision

    generator = resolve_model(options.generator or default_generator(ctx))
    frames = supervisor_frames(ctx)
    prompts = {name: prompts_of(frame) for name, frame in frames.items()}
    precision = resolve_precision(ctx.cfg.strong_train.precision)  # the generator is a strong-side model
    settings = {"max_new_tokens": options.max_new_tokens, "temperature": options.temperature,
                "batch_size": options.batch_size,  # batching changes padding, hence (slightly) the outputs
                "precision": precision}
    seed = [ctx.seed, sample]
    key = step_key(f"{method}-generate", f"prompts-v{PROMPT_VERSION}", generator.fingerprint, prompts, settings,
                   ctx.split_keys["A"], ctx.split_keys["B"], ctx.split_keys["val"], seed)
    rows = [(name, row_id, role, prompt) for name, frame in frames.items() for role, texts in prompts[name].items()
            for row_id, prompt in zip(frame["id"], texts)]

    def work(folder) -> dict:
        started = time.time()
        outputs = generate(generator.location, [r[3] for r in rows], options.max_new_tokens, options.temperature,
                           ctx.seed * 1000 + sample, options.batch_size, precision)
        seconds = time.time() - started
        table = pd.DataFrame(rows, columns=["frame", "id", "role", "prompt"]).assign(output=outputs)
        atomic_write_parquet(folder / "generations.parquet", table)
        atomic_write_json(folder / "generations.json", table.head(N_SHOWN).to_dict("records"))
        return {"generator": generator.ref, "n_generations": len(rows), "generation_seconds": round(seconds, 1),
                "seconds_per_generation": round(seconds / max(len(rows), 1), 3), **settings, "sample": sample}

    folder = ctx.run_step(f"{method}-generate", key, work)
    table = pd.read_parquet(folder / "generations.parquet")
    generated = {}
    for name, frame in frames.items():
        part = table[table["frame"] == name]
        generated[name] = {role: [clean_generation(o) for o in
                                  part[part["role"] == role].set_index("id")["output"].loc[frame["id"]]]
                           for role in prompts[name]}
    return key, folder, generated


def weak_with_context(ctx: MethodContext, method: str, generation_key: str, framed: dict[str, pd.DataFrame]):
    """The weak model retrained on A's ground truth with context (epoch / C chosen on A_select with
    context), labelling B and val with context: (soft labels of B, of val, step folder)."""
    key = step_key(f"{method}-weak", ctx.weak_key, generation_key, ctx.split_keys["B"], ctx.split_keys["val"],
                   f"prompts-v{PROMPT_VERSION}")
    folder = ctx.train(f"{method}-weak", key, ctx.weak, ctx.weak_paradigm, ctx.cfg.weak_train, framed["A_fit"],
                       ctx.A_fit["label"].to_numpy(float), framed["A_select"], ctx.A_select["label"].to_numpy(float),
                       predict_on={"B": framed["B"], "val": framed["val"], "A_select": framed["A_select"]})
    return ctx.read(folder, "B"), ctx.read(folder, "val"), folder


def context_training_set(method: Method, ctx: MethodContext, samples: int, prompts_of, join) -> TrainingSet:
    """Shared by both methods: per sample, generate, retrain the weak model with context, label B
    and val; average the samples' labels; the student learns them on B's original text."""
    labels_B, labels_val, steps, generation_info = [], [], [], None
    select_acc = []
    for sample in range(samples):
        key, gen_folder, generated = generation_step(ctx, method.name, method.options, prompts_of, sample)
        framed = {name: join(frame, generated[name]) for name, frame in supervisor_frames(ctx).items()}
        soft_B, soft_val, weak_folder = weak_with_context(ctx, method.name, key, framed)
        labels_B.append(soft_B)
        labels_val.append(soft_val)
        truth_select = ctx.A_select["label"].to_numpy().astype(int)
        select_acc.append(float((class_of(ctx.read(weak_folder, "A_select")) == truth_select).mean()))
        steps.append({"generations": str(gen_folder), "weak": str(weak_folder)})
        if generation_info is None:  # the step's manifest: how long the (first) generation took
            generation_info = json.loads((gen_folder / "step.json").read_text())
    targets, val_targets = np.mean(labels_B, 0), np.mean(labels_val, 0)
    info = {"generator": method.options.generator or default_generator(ctx), "samples": samples,
            "max_new_tokens": method.options.max_new_tokens, "temperature": method.options.temperature,
            "generations": steps[0]["generations"], "steps": steps,
            # the weak model's own accuracy on the held-out part of A, with context (A's truth: allowed)
            "weak_with_context_acc_A_select": float(np.mean(select_acc)),
            "flips_weak_share_B": float((class_of(targets) != class_of(ctx.weak_B)).mean())}
    info.update({k: v for k, v in (generation_info or {}).items() if k in ("generation_seconds", "n_generations",
                                                                           "seconds_per_generation")})
    return TrainingSet(ctx.B, targets, val_targets, info=info,
                       key=training_set_key(method.name, method.options, ctx.B, targets, val_targets))


@METHODS.register("debate")
class Debate(Method):
    summary = ("weak model retrained with a strong LM's arguments for both answers in context labels B "
               "(Lang et al. 2025)")
    Config = DebateConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        o, task = self.options, ctx.task
        return context_training_set(
            self, ctx, o.samples,
            lambda frame: debate_prompts(frame, task.question, task.answers, o.max_text_words),
            lambda frame, generated: with_arguments(frame, generated["for_1"], generated["for_0"], task.answers))


@METHODS.register("explain")
class Explain(Method):
    summary = ("weak model retrained with a strong LM's explanation of each example in context labels B "
               "(Zakershahrak & Ghodratnama 2024)")
    Config = ExplainConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        o, task = self.options, ctx.task
        return context_training_set(self, ctx, 1, lambda frame: explain_prompts(frame, task.question, o.max_text_words),
                                    with_explanations)
