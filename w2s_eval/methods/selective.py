"""``selective``: Lang, Huang & Li (2025), "Selective Weak-to-Strong Generalization" (arXiv
2511.14166, AAAI 2026).

The paper avoids weak supervision where the strong model does not need it. A binary classifier
P(IK) ("probability that I know") predicts, from the strong model's hidden states, whether the
strong model answers a question right; it is trained where the supervisor has ground truth. On
the student's training questions the strong model's *own* answers replace the weak labels where
P(IK) is high, and the remaining weak labels are refined by graph smoothing over the strong
model's representations. Here:

1. **First round** (cached step ``selective-first``): the strong model (``ctx.strong``, the student's
   paradigm and training settings, plain cross-entropy) trained on the weak labels of B, choosing
   its epoch / C on the weak labels of val, as the naive student does. Its predictions on A, B and
   val are the strong model's "own answers"; its test predictions are kept as the run's column
   ``selective:first-round``.
2. **P(IK)** (cached step ``selective-pik``): a logistic regression on the strong model's frozen
   features (``ctx.features``) with target "the first-round answer is right" (hard answer p > 0.5
   against the ground truth of A), fitted on ``A_fit``, C chosen on ``A_select`` by cross-entropy
   (``trainers.bow.fit_soft_logistic``, the probes' own fit), then applied to B and val.
3. **Selection**: where P(IK) ≥ ``threshold`` the target is the first-round prediction, elsewhere
   the weak label (``selective_targets``).
4. **Graph smoothing** (``knn_graph`` + ``graph_smooth``): each example's k nearest neighbours by
   cosine similarity of the strong features (itself excluded), and ``iterations`` rounds of label
   spreading F ← (1 − α)·Y + α·(mean of the neighbours' F), starting from F = Y (Zhou et al. 2004's
   iteration on a row-normalised kNN graph). The paper refines the *weak* labels, so self-labelled
   examples stay clamped to their own answers (they still inform their neighbours) unless
   ``smooth_self_labels``. val's targets are made the same way on a graph over val.

The student trains on all of B with these targets. It never sees the ground truth of B, val or
test: P(IK) learns from A only, and every step reads B, val and test without labels.

Adaptations (each forced by our setting, or a choice the paper's text available here left open):

- **Source**: only the paper's abstract and introduction could be found (arXiv HTML, AAAI page);
  no code release. The method section, the P(IK) model, the threshold, and the smoothing's graph,
  k, weight and iterations were not available: P(IK) is a logistic regression on mean-pooled
  hidden states (the usual P(IK) probe), the threshold defaults to 0.5, and smoothing is label
  spreading with k = 10, α = 0.5, 10 iterations (our defaults, not the paper's).
- **Own answers**: the paper's strong models answer zero-shot; ours are encoders without a
  zero-shot answer, so the first-round student (trained on the weak labels) answers instead. Its
  answers on B are in-sample (it was fit to B's weak labels), while P(IK) learns from its
  out-of-sample answers on A, so P(IK) may overrate how often a B answer departs rightly from the
  weak label; self-labels can therefore stay close to the weak labels.
- **Hard self-labels, soft weak labels**: a self-label is the first round's answer (1 iff its
  probability > 0.5), as the paper's generated answers are (``hard_self_labels``; false takes its
  probability); the weak labels stay the weak model's probabilities, as for the naive student.
  Smoothing works on these values. On utility the first round's probabilities lie within a few
  hundredths of 0.5 (its C is chosen by cross-entropy on weak labels that are 57% right), so soft
  self-labels would ask the student for near-0.5 targets.
- **Pairs**: for pairs the features are φ(A) − φ(B); whether an answer is right does not change
  when A and B swap, so P(IK) reads |φ(A) − φ(B)| (element-wise), which does not either. The kNN
  graph uses φ(A) − φ(B) itself (a pair and its swap have opposite labels and opposite features).
- **Held-out accuracy**: P(IK)'s accuracy is reported on ``A_select``, the part of A its C was
  chosen on (A holds no third part), beside the majority-class rate on the same examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Settings, setting
from ..paradigms import linear_model_version
from ..store import atomic_write_json, atomic_write_parquet, step_key
from ..trainers.bow import FEATURES_VERSION, fit_soft_logistic, is_pairwise
from .base import METHODS, Method, MethodContext, TrainingSet, class_of, training_set_key

FIRST_ROUND_COLUMN = "selective:first-round"


@dataclass
class SelectiveConfig(Settings):
    # P(IK) at or above which the student learns the strong model's own label
    threshold: float = setting(0.5, ge=0, le=1, expected="a number in [0, 1]")
    # neighbours per example in the smoothing graph (capped at the split's size − 1)
    k: int = setting(10, ge=1, expected="a whole number of neighbours, at least 1")
    # smoothing weight of the neighbours' labels against the example's own
    alpha: float = setting(0.5, ge=0, lt=1, expected="a number in [0, 1)")
    iterations: int = setting(10, ge=0, expected="a whole number, at least 0")  # rounds of label spreading; 0: none
    smooth_self_labels: bool = False  # also smooth the self-labelled examples (the paper smooths weak labels)
    hard_self_labels: bool = True  # self-labels as the first round's hard answer (0/1, as the paper's generated
    #                                answers); false: its probability


def selective_targets(weak: np.ndarray, own: np.ndarray, pik: np.ndarray,
                      threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(targets, self_labelled): the strong model's own label where P(IK) ≥ threshold, else the weak label."""
    self_labelled = np.asarray(pik, float) >= threshold
    return np.where(self_labelled, np.asarray(own, float), np.asarray(weak, float)), self_labelled


def own_labels(first_round: np.ndarray, hard: bool) -> np.ndarray:
    """The strong model's own labels from its first-round probabilities: its answer (0/1) when ``hard``."""
    return class_of(first_round).astype(float) if hard else np.asarray(first_round, float)


def knn_graph(features: np.ndarray, k: int) -> np.ndarray:
    """Indices [n, k] of each row's k nearest other rows by cosine similarity (ties: lower index first)."""
    x = np.asarray(features, float)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def graph_smooth(labels: np.ndarray, neighbours: np.ndarray, alpha: float, iterations: int,
                 clamped: np.ndarray | None = None) -> np.ndarray:
    """Label spreading on a kNN graph: F ← (1 − α)·Y + α·mean(F of the neighbours), ``iterations``
    times from F = Y; rows marked ``clamped`` keep their label Y throughout."""
    y = np.asarray(labels, float)
    smoothed = y.copy()
    for _ in range(iterations):
        smoothed = (1 - alpha) * y + alpha * smoothed[neighbours].mean(1)
        if clamped is not None:
            smoothed = np.where(clamped, y, smoothed)
    return smoothed


def pik_features(features: np.ndarray, pairwise: bool) -> np.ndarray:
    """What P(IK) reads: the strong features; for pairs |φ(A) − φ(B)|, unchanged when A and B swap."""
    return np.abs(features) if pairwise else features


@METHODS.register("selective")
class Selective(Method):
    reads_strong_features = True
    summary = "self-labels where a P(IK) probe trusts the strong model, kNN graph smoothing (Lang et al. 2025)"
    Config = SelectiveConfig

    def training_set(self, ctx: MethodContext) -> TrainingSet:
        o, keys = self.options, ctx.split_keys
        first_key, first = self.first_round(ctx)
        own_B, own_val = (own_labels(ctx.read(first, name), o.hard_self_labels) for name in ("B", "val"))
        # P(IK) reads the strong features (their settings are in the first round's key) of A, B and val.
        pik_key = step_key("selective-pik", first_key, f"features-v{FEATURES_VERSION}", keys["A"], keys["B"],
                           keys["val"], ctx.seed)
        pik_dir = ctx.run_step("selective-pik", pik_key, self.fit_pik(ctx, first))
        pik = pd.read_parquet(pik_dir / "pik.parquet")
        pik_B, pik_val = (pik.loc[pik["split"] == s].set_index("id")["prob"].loc[part["id"]].to_numpy()
                          for s, part in (("B", ctx.B), ("val", ctx.val)))
        selected_B, self_B = selective_targets(ctx.weak_B, own_B, pik_B, o.threshold)
        selected_val, self_val = selective_targets(ctx.weak_val, own_val, pik_val, o.threshold)
        targets, k_B = self.smooth(ctx.features(ctx.B), selected_B, self_B)
        val_targets, k_val = self.smooth(ctx.features(ctx.val), selected_val, self_val)
        info = {"threshold": o.threshold, "k_B": k_B, "k_val": k_val, "alpha": o.alpha, "iterations": o.iterations,
                "self_labelled_share_B": float(self_B.mean()), "self_labelled_share_val": float(self_val.mean()),
                # self-labels whose class differs from the weak label's: where the method overrules W
                "self_label_flips_weak_share_B": float((self_B & (class_of(own_B) != class_of(ctx.weak_B))).mean()),
                "smoothing_flipped_share_B": float((class_of(targets) != class_of(selected_B)).mean()),
                "smoothing_mean_abs_change_B": float(np.abs(targets - selected_B).mean()),
                "final_flips_weak_share_B": float((class_of(targets) != class_of(ctx.weak_B)).mean())}
        info.update(json.loads((pik_dir / "pik.json").read_text()))
        return TrainingSet(ctx.B, targets, val_targets, info=info, models={FIRST_ROUND_COLUMN: first},
                           key=training_set_key(self.name, o, ctx.B, targets, val_targets))

    def smooth(self, features: np.ndarray, selected: np.ndarray, self_labelled: np.ndarray) -> tuple[np.ndarray, int]:
        """The selected targets smoothed over the kNN graph of ``features``; and the k used."""
        o = self.options
        k = min(o.k, len(selected) - 1)
        if k < 1 or o.iterations == 0:
            return selected, max(k, 0)
        clamped = None if o.smooth_self_labels else self_labelled
        return graph_smooth(selected, knn_graph(features, k), o.alpha, o.iterations, clamped), k

    @staticmethod
    def first_round(ctx: MethodContext):
        """The strong model trained on the weak labels of B (epoch / C on the weak labels of val),
        predicting A, B and val: the strong model's own answers. Returns (key, step folder)."""
        cfg, keys = ctx.cfg, ctx.split_keys
        student_train = cfg.student.apply(cfg.strong_train)
        key = step_key("selective-first", ctx.label_key, ctx.strong.fingerprint, ctx.paradigm.name,
                       ctx.paradigm.version, *linear_model_version(ctx.strong, student_train),
                       student_train.cache_identity(), keys["A"], keys["B"], keys["val"], keys["test"],
                       ctx.seed)
        folder = ctx.train("selective-first", key, ctx.strong, ctx.paradigm, student_train, ctx.B, ctx.weak_B,
                           ctx.val, ctx.weak_val, predict_on={"A_fit": ctx.A_fit, "A_select": ctx.A_select,
                                                              "B": ctx.B, "val": ctx.val})
        return key, folder

    @staticmethod
    def fit_pik(ctx: MethodContext, first):
        """The work of the ``selective-pik`` step: P(IK) fitted on A_fit (C chosen on A_select),
        its probabilities of B and val (pik.parquet) and its accuracy on A_select (pik.json)."""
        def work(folder) -> dict:
            pairwise = is_pairwise(ctx.B)
            right = {name: (class_of(ctx.read(first, name)) == part["label"].to_numpy().astype(int)).astype(float)
                     for name, part in (("A_fit", ctx.A_fit), ("A_select", ctx.A_select))}
            features = {name: pik_features(ctx.features(part), pairwise) for name, part in
                        (("A_fit", ctx.A_fit), ("A_select", ctx.A_select), ("B", ctx.B), ("val", ctx.val))}
            history: list[dict] = []
            model = fit_soft_logistic(features["A_fit"], right["A_fit"], features["A_select"], right["A_select"],
                                      ctx.seed, history)
            predicted_select = model.predict_proba(features["A_select"])[:, 1]
            atomic_write_parquet(folder / "pik.parquet", pd.concat([
                pd.DataFrame({"id": part["id"], "split": name, "prob": model.predict_proba(features[name])[:, 1]})
                for name, part in (("B", ctx.B), ("val", ctx.val))], ignore_index=True))
            share_right = float(right["A_select"].mean())
            pik_right = (predicted_select >= 0.5) == (right["A_select"] == 1)
            info = {"first_round_acc_A_select": share_right, "first_round_acc_A_fit": float(right["A_fit"].mean()),
                    "pik_C": float(model.C), "pik_acc_A_select": float(pik_right.mean()),
                    # what P(IK) would score by always predicting the commoner outcome
                    "pik_majority_acc_A_select": max(share_right, 1 - share_right),
                    "n_A_select": int(len(ctx.A_select))}
            atomic_write_json(folder / "pik.json", info)
            return info | {"history": history}
        return work
