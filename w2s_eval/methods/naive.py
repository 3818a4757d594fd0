"""``naive``: the student trains on the weak model's soft labels of B, as they are (Burns et al.
2023, the W2S baseline every method is compared with)."""

from __future__ import annotations

from .base import METHODS, Method, MethodContext, TrainingSet


@METHODS.register("naive")
class Naive(Method):
    summary = "the weak soft labels of B as they are (Burns et al. 2023)"
    is_baseline = True
    named_by_models = True

    @classmethod
    def plan(cls, via, gap_via, gap):
        """The default method: with intermediate models (``--via`` or the gap's via rungs) the weak
        supervision reaches the student through them, which is bootstrapping."""
        models = list(via or gap_via)
        return ("bootstrap", models) if models else (cls.name, [])

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        return self.naive_set(ctx)
