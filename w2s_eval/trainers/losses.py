"""W2S losses, chosen by name as a plug-in (``--loss``).

Each loss maps (logits [N, 2], soft labels p = P(label = 1) [N], training progress in [0, 1], and
optional per-example weights [N]) to a scalar: the mean over the batch of weight × example loss
(weights as Guo & Yang's reliability reweighting applies them; none: every example weighs 1). ``progress`` is optimizer steps done / total optimizer steps (the Trainer's
``global_step / max_steps``, as openai/weak-to-strong's ``step_frac = step / nsteps``), so
warm-ups follow the optimizer, not the number of batches seen.

``logconf`` and ``product`` are the losses of Burns et al. (2023), "Weak-to-Strong Generalization:
Eliciting Strong Capabilities With Weak Supervision", as their code defines them
(openai/weak-to-strong, ``weak_to_strong/loss.py``), with the one fix stated in ``LogConfLoss``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..registry import Registry


def _check_loss_class(name: str, cls):
    """A loss is a dataclass (its fields are its parameters, in the student's cache key) that is
    called on (logits, soft, progress, weights) and declares its ``version``."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and callable(cls)
            and "__call__" in dir(cls) and isinstance(getattr(cls, "version", None), int)):
        raise TypeError(f"loss {name!r}: expected a dataclass with __call__(logits, soft, progress, weights) "
                        f"and an integer class attribute version, got {cls!r}")


LOSSES: Registry = Registry("loss", _check_loss_class, group="w2s_eval.losses")

# Below this many optimizer steps of warm-up, the weight of a warm-up loss jumps to its final
# value at once: the schedule exists on paper only.
MIN_WARMUP_STEPS = 2


def optimizer_progress(trainer_state) -> float:
    """The ``progress`` a loss gets: optimizer steps done / total, from a Trainer's state."""
    return trainer_state.global_step / max(1, trainer_state.max_steps)


def two_class(soft: torch.Tensor) -> torch.Tensor:
    """Soft labels P(label = 1) [N] as the two-class distributions [1 − p, p] [N, 2]."""
    soft = soft.float()
    return torch.stack([1 - soft, soft], dim=-1)


def soft_xent(logits: torch.Tensor, soft: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against soft targets [1 − p, p], averaged over the batch."""
    return target_xent(logits, two_class(soft), weights)


def target_xent(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against target distributions [N, 2] (``F.cross_entropy`` with probabilities),
    each example's multiplied by its weight, averaged over the batch."""
    per_example = -(targets * F.log_softmax(logits.float(), dim=-1)).sum(-1)
    if weights is not None:
        per_example = per_example * weights.float()
    return per_example.mean()


@LOSSES.register("xent")
@dataclass
class XentLoss:
    """Plain cross-entropy on the supervisor's soft labels (the naive W2S baseline)."""

    version = 1  # bumped when the loss's code changes its results (the student's cache key holds it)

    def __call__(self, logits, soft, progress: float, weights=None) -> torch.Tensor:
        return soft_xent(logits, soft, weights)


@LOSSES.register("logconf")
@dataclass
class LogConfLoss:
    """Auxiliary confidence loss (Burns et al. 2023, eq. 1; openai/weak-to-strong ``logconf_loss_fn``).

    The target is ``(1 − α) · weak labels + α · hardened student predictions`` and the loss is the
    cross-entropy of the student against it (the same as ``(1 − α)·CE(f, weak) + α·CE(f, f̂)``, CE
    being linear in its target). The student's predictions are hardened per batch at
    ``threshold = quantile(P_student(class 0), mean soft label)``: an example whose P(class 0) is at
    or above the threshold is hardened to class 0, the rest to class 1, so the hardened labels'
    positive share is the batch's mean weak soft label (the weak model's expected positive rate,
    not the share of its labels above 0.5).

    α rises linearly from 0 to ``aux_coef`` over the first ``warmup_frac`` of optimizer steps, then
    stays. Adaptation: the openai code computes ``coef = 1.0 if step_frac > warmup_frac else
    step_frac``, i.e. α = aux_coef · step_frac during the warm-up, which reaches only
    aux_coef · warmup_frac and then jumps to aux_coef (its issue / PR #33). This implements the fixed,
    intended schedule α = aux_coef · min(1, step_frac / warmup_frac), as the paper describes it.

    Defaults are the code's (aux_coef 0.5, warmup_frac 0.1); the paper uses aux_coef 0.75 for its
    largest students. The run's defaults are set in ``configs/default.yaml``.
    """

    aux_coef: float = 0.5
    warmup_frac: float = 0.1
    version = 2  # in the student's cache key: 2 is the fixed warm-up and the mean-soft-label quantile

    def __post_init__(self):
        for name in ("aux_coef", "warmup_frac"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise UserError(f"loss.{name}: expected a number in [0, 1], got {value!r}")

    def coefficient(self, progress: float) -> float:
        """α at ``progress`` (optimizer steps done / total steps)."""
        if self.warmup_frac == 0:
            return self.aux_coef
        return self.aux_coef * min(1.0, progress / self.warmup_frac)

    @staticmethod
    def hardened(probs: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        """The student's predictions [N, 2] hardened to one-hot at the mean-soft-label quantile."""
        threshold = torch.quantile(probs[:, 0], soft.float().mean())
        class_0 = (probs[:, 0] >= threshold).float()
        return torch.stack([class_0, 1 - class_0], dim=-1)

    def __call__(self, logits, soft, progress: float, weights=None) -> torch.Tensor:
        alpha = self.coefficient(progress)
        probs = F.softmax(logits.float(), dim=-1).detach()
        target = (1 - alpha) * two_class(soft) + alpha * self.hardened(probs, soft)
        return target_xent(logits, target, weights)


@LOSSES.register("product")
@dataclass
class ProductLoss:
    """Product loss (openai/weak-to-strong ``product_loss_fn``): the target is the normalised
    product of the student's predictions and the weak labels, ``P_student^beta · weak^alpha``,
    held fixed (no gradient through it), and the loss is the student's cross-entropy against it.

    alpha weighs the weak model, beta the student; both are 1 there, as here. The openai class
    also takes a ``warmup_frac`` it never uses; it is left out.
    """

    version = 1

    alpha: float = 1.0
    beta: float = 1.0

    def __call__(self, logits, soft, progress: float, weights=None) -> torch.Tensor:
        probs = F.softmax(logits.float(), dim=-1)
        target = probs.pow(self.beta) * two_class(soft).pow(self.alpha)
        target = (target / target.sum(dim=-1, keepdim=True)).detach()
        return target_xent(logits, target, weights)


def make_loss(name: str, **params):
    """The loss called ``name``, given the parameters it declares (others are ignored)."""
    cls = LOSSES.get(name)
    return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params})


def check_loss(model_class: type, loss, who: str = "") -> None:
    """A loss ``model_class`` cannot train with is an error, never a run labelled with a loss its
    student did not use. Each model class declares the losses its ``fit`` trains with (its class
    attribute ``losses``). ``loss``: a name or a loss object (None: the model's default, xent);
    ``who``: the role, for the message. Called at config validation (``resolve.resolve_run``)
    and again by each ``fit``, for callers of the Python API."""
    name = loss if isinstance(loss, str) or loss is None else loss.name
    if name is not None and name not in model_class.losses:
        role = f" as the {who}" if who else ""
        raise UserError(f"loss.name (--loss): {name!r} cannot train {model_class.__name__}{role}; it accepts: "
                        f"{', '.join(model_class.losses) or 'none'}")


def warmup_warning(loss, total_steps: int) -> str | None:
    """A warning when ``loss`` warms up over fewer than ``MIN_WARMUP_STEPS`` of the
    ``total_steps`` optimizer steps the model trains for (None when it has no warm-up or enough)."""
    warmup_frac = getattr(loss, "warmup_frac", 0)
    if not warmup_frac:
        return None
    steps = warmup_frac * total_steps
    if steps >= MIN_WARMUP_STEPS:
        return None
    return (f"loss warm-up: warmup_frac {warmup_frac} of {total_steps} optimizer steps is {steps:.1f} "
            f"step(s), so the weight reaches its final value almost at once; raise loss.warmup_frac, "
            f"the student's epochs or its examples, or lower its batch size")
