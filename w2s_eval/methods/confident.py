"""``confident``: train only on the weak labels the weak model is most confident about.

The confidence thresholding of Burns et al. (2023, "Weak-to-Strong Generalization", appendix on
simple methods: training only on the weak labels whose confidence is above a threshold) and the
``train_only_on_confident_labels`` baseline of Anthropic's automated W2S research. Confidence is
|p − 0.5| of the weak soft label p; the ``share`` most confident examples *of each predicted
class* are kept, so a class the weak model predicts with lower confidence is not filtered away
(per-class selection as the issue and Anthropic's baseline define it; Burns et al. use one global
threshold). The student keeps the weak soft labels of the kept examples and chooses its epoch on
all of the weak labels of val, as the naive student.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Settings, setting
from .base import METHODS, Method, MethodContext, TrainingSet, class_of, training_set_key


@dataclass
class ConfidentConfig(Settings):
    # share of each predicted class kept, most confident first
    share: float = setting(0.5, gt=0, le=1, expected="a share in (0, 1]")


def most_confident(soft: np.ndarray, share: float) -> np.ndarray:
    """Indices (sorted) of the ``share`` most confident labels of each predicted class
    (at least one per class present; ties broken by position, so the choice is deterministic)."""
    soft = np.asarray(soft, float)
    predicted, confidence = class_of(soft), np.abs(soft - 0.5)
    keep = []
    for label in (0, 1):
        members = np.flatnonzero(predicted == label)
        if len(members) == 0:
            continue
        n_keep = max(1, int(round(share * len(members))))
        order = members[np.argsort(-confidence[members], kind="stable")]
        keep.append(order[:n_keep])
    return np.sort(np.concatenate(keep))


@METHODS.register("confident")
class Confident(Method):
    summary = "only the most confident weak labels of each class (Burns et al. 2023; Anthropic's automated W2S)"
    Config = ConfidentConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        keep = most_confident(ctx.weak_B, self.options.share)
        frame, targets = ctx.B.iloc[keep].reset_index(drop=True), ctx.weak_B[keep]
        return TrainingSet(frame, targets, ctx.weak_val,
                           key=training_set_key(self.name, self.options, frame, targets, ctx.weak_val),
                           info={"kept": int(len(keep)), "of": int(len(ctx.B)),
                                 "kept_positive_share": float(class_of(targets).mean())})
