"""``naive``: the student trains on the weak model's soft labels of B, as they are (Burns et al.
2023, the W2S baseline every method is compared with)."""

from __future__ import annotations

from .base import METHODS, Method, MethodContext, TrainingSet


@METHODS.register("naive")
class Naive(Method):
    summary = "the weak soft labels of B as they are (Burns et al. 2023)"
    def training_set(self, ctx: MethodContext) -> TrainingSet:
        return self.naive_set(ctx)
