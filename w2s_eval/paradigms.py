"""The paradigms: how "train" is done (docs/design.md, "Paradigms"), one registry entry each.

Every paradigm's model has the one interface of ``trainers/interface.py`` (``TrainableModel``:
fit / predict_proba / save / load / configure, and the capabilities it declares: which losses it
trains with, whether it generates), checked when the paradigm registers, so the protocol runs them
all alike. A run whose student cannot use its loss fails at validation
(``trainers.losses.check_loss`` on ``model_class``), before any training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .models.resolve import BUILTIN, ResolvedModel
from .registry import Registry, instance_check
from .trainers.bow import BowClassifier, ProbeClassifier
from .trainers.classify import TransformerClassifier
from .trainers.dpo import DPOPolicy, dpo_prompt
from .trainers.interface import check_model_class, load_saved
from .trainers.reward import RewardModel
from .trainers.sft import SFTModel, sft_prompt


@dataclass(frozen=True)
class Paradigm:
    name: str
    model_class: type
    description: str
    needs_pairs: bool = False  # trains on (prompt, reply A, reply B)
    causal_lm: bool = False  # its models are causal LMs: the gap's `lm` ladder applies
    weak_paradigm: str = ""  # how a transformer weak model is trained ("" = this paradigm)
    # Bumped when the paradigm's training or scoring changes results, so cached steps of the old
    # code are not reused (2 for sft: soft targets, length-normalised calibrated scoring).
    version: int = 1
    # Its trainers take per-example loss weights (methods such as reliability's reweight need them).
    example_weights: bool = False

    def prompts(self, frame, task) -> list[str]:
        """The prompt this paradigm's model answers for each row of ``frame`` (a run keeps the
        greedy continuations of a few test prompts for a reader)."""
        if self.needs_pairs:
            return [dpo_prompt(q) for q in frame["prompt"]]
        return [sft_prompt(t, task.question) for t in frame["text"]]


def _check_paradigm(name: str, paradigm):
    instance_check(Paradigm)(name, paradigm)
    check_model_class(paradigm.model_class, f"paradigm {name!r}")


PARADIGMS: Registry[Paradigm] = Registry("paradigm", _check_paradigm, group="w2s_eval.paradigms")
for _paradigm in (
    Paradigm("classify", TransformerClassifier, "sequence classifier + W2S loss (HF Trainer)", example_weights=True),
    Paradigm("sft", SFTModel, "answer word by a causal LM (TRL SFTTrainer)", causal_lm=True, version=2),
    Paradigm("reward", RewardModel, "scalar reward model, soft-label BCE on margins (TRL RewardTrainer)",
             needs_pairs=True, causal_lm=True),
    Paradigm("dpo", DPOPolicy, "policy on weak-ordered pairs (TRL DPOTrainer); weak model: a reward model",
             needs_pairs=True, causal_lm=True, weak_paradigm="reward"),
):
    PARADIGMS.register(_paradigm.name)(_paradigm)


def get_paradigm(name: str) -> Paradigm:
    return PARADIGMS.get(name)


def check_supported(paradigm: Paradigm, task, pair_tasks: list[str]):
    if paradigm.needs_pairs and not task.pairwise:
        raise UserError(f"paradigm {paradigm.name!r} trains on preference pairs, which task {task.name!r} "
                        f"does not have; tasks with pairs: {', '.join(pair_tasks)}")


def model_class(ref: str, paradigm: Paradigm, train_cfg) -> type:
    """The class that trains model ``ref`` in ``paradigm`` with ``train_cfg``: the builtin
    bag-of-words model classifies in any paradigm (on pairs it reads the pairwise text and says
    whether A is preferred); ``finetune: probe`` is a linear read-out of a frozen model (classify
    only); anything else is the paradigm's own model. Known from the names alone, so the run's
    settings are checked against it before any model is pulled."""
    if ref in BUILTIN:
        return BowClassifier
    if train_cfg.finetune == "probe":
        if paradigm.name != "classify":
            raise UserError(f"finetune: probe (a frozen model with a linear read-out) is a classify mode; "
                            f"paradigm {paradigm.name!r} trains the model itself")
        return ProbeClassifier
    return paradigm.model_class


def new_model(model: ResolvedModel, paradigm: Paradigm, train_cfg, seed: int, task):
    """A fresh model of ``model_class``."""
    cls = model_class(model.ref, paradigm, train_cfg)
    if cls is BowClassifier:
        return BowClassifier(seed)
    if cls is ProbeClassifier:
        return ProbeClassifier.of(model.location, train_cfg, seed, task)
    return cls(model.location, train_cfg, seed).configure(task)


def linear_model_version(model: ResolvedModel, train_cfg) -> list:
    """The feature version of the bag-of-words model and the probe, for the cache keys of the steps
    that fit one (so a change of their features retrains them)."""
    from .trainers.bow import FEATURES_VERSION

    return [f"linear-features-v{FEATURES_VERSION}"] if model.kind == "builtin" or train_cfg.finetune == "probe" else []


def load_trained(folder: Path):
    """A model a step saved, loaded by the class its manifest names (trainers/interface.py)."""
    return load_saved(folder)
