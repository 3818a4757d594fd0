"""``ensemble``: soft labels from the mean of k weak models.

The weak ensembles of EnsemW2S (Agrawal et al. 2024, "EnsemW2S: Can an Ensemble of LLMs be
Leveraged to Obtain a Stronger LLM?") and of Lang et al. (2025, "Debate Helps Weak-to-Strong
Generalization", the ensemble of weak models over samples). The members are the run's weak model
and k − 1 copies trained on bootstrap resamples of A (``committee.py``); EnsemW2S also reweights
members AdaBoost-style over rounds, which this plain mean does not do.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings, setting
from .base import METHODS, Method, MethodContext, TrainingSet, training_set_key
from .committee import committee_labels


@dataclass
class EnsembleConfig(Settings):
    k: int = setting(4, ge=2, expected="at least 2 weak models")  # the run's weak model included


@METHODS.register("ensemble")
class Ensemble(Method):
    summary = "mean soft labels of k weak models on resamples of A (EnsemW2S; Lang et al. 2025)"
    Config = EnsembleConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        labels_B, labels_val = committee_labels(ctx, self.options.k)
        targets, val_targets = labels_B.mean(0), labels_val.mean(0)
        return TrainingSet(ctx.B, targets, val_targets,
                           key=training_set_key(self.name, self.options, ctx.B, targets, val_targets),
                           info={"k": self.options.k, "member_agreement_B": float(
                               ((labels_B > 0.5) == (labels_B[:1] > 0.5)).all(0).mean())})
