"""W2S losses, chosen by name as a plug-in (``--loss``).

Each loss maps (logits [N, 2], soft labels p = P(label = 1) [N], training progress in [0, 1]) to a
scalar. ``progress`` is optimizer steps done / total steps, so warm-ups follow the optimizer, not
the number of batches seen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import unknown_name


def soft_xent(logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets [1 − p, p]."""
    targets = torch.stack([1 - soft, soft], dim=-1)
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


@dataclass
class XentLoss:
    """Plain cross-entropy on the supervisor's soft labels (the naive W2S baseline)."""

    def __call__(self, logits, soft, progress: float) -> torch.Tensor:
        return soft_xent(logits, soft)


@dataclass
class LogConfLoss:
    """Auxiliary confidence loss (Burns et al. 2023, eq. 1).

    L = (1 − α) · CE(f(x), weak) + α · CE(f(x), hardened f(x)), where the student's own predictions
    are hardened at the threshold that gives them the weak labels' class balance in this batch,
    so the student is pushed to be confident in its own view without collapsing to one class.
    α rises linearly from 0 to ``aux_coef`` over the first ``warmup_frac`` of training (then stays),
    so early on the student first learns from the weak labels.
    """

    aux_coef: float = 0.75
    warmup_frac: float = 1.0

    def coefficient(self, progress: float) -> float:
        if self.warmup_frac <= 0:
            return self.aux_coef
        return self.aux_coef * min(1.0, progress / self.warmup_frac)

    def __call__(self, logits, soft, progress: float) -> torch.Tensor:
        alpha = self.coefficient(progress)
        p_student = F.softmax(logits.float(), dim=-1)[:, 1].detach()
        # Threshold at the quantile that reproduces the weak labels' positive share in the batch.
        positive_share = (soft > 0.5).float().mean()
        threshold = torch.quantile(p_student, (1 - positive_share).clamp(0, 1))
        hardened = (p_student > threshold).float()
        return (1 - alpha) * soft_xent(logits, soft) + alpha * soft_xent(logits, hardened)


LOSSES = {"xent": XentLoss, "logconf": LogConfLoss}


def make_loss(name: str, **params):
    """The loss called ``name``, given the parameters it declares (others are ignored)."""
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    cls = LOSSES[name]
    return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params})
