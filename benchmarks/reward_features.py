"""Which linear judges of the HH reward pairs separate from which? Pairwise accuracy, with intervals.

    python benchmarks/reward_features.py                                  # the older 800-pair rows (docs/gaps.md)
    python benchmarks/reward_features.py --models tfidf,minilm-l6 --features difference,prompt,prompt_and_reply \\
        --caps 1600,1600,400,1600 --sizes 800,1600 --results runs/reward_features.parquet
    python benchmarks/reward_features.py --table-only --results runs/reward_features.parquet

Each model (TF-IDF, or a frozen zoo model's mean-pooled states, max_length 256) is fitted by
soft-label logistic regression (C chosen on val) on split A (or B), for each training size, and
scored on test. Feature kinds of a pair (prompt P, replies A, B):

- ``difference``: φ(A) − φ(B), what the package's judges use by default (no intercept, so
  P(A ≻ B) = 1 − P(B ≻ A));
- ``prompt``: φ(P ⊕ A) − φ(P ⊕ B), each reply embedded after its prompt (the probe's
  ``pair_context: prompt``; contextual models only: a bag of words would cancel the prompt);
- ``prompt_and_reply``: both differences side by side (still antisymmetric);
- ``side_by_side``: [φ(A), φ(B)], weights per slot, with an intercept.

Splits are the task's own (grouped by prompt, seed 0). Every fitted judge's test correctness goes
to ``--results`` (a parquet file; rows of the same model, features, split and size are replaced),
so models can be measured in separate runs and compared afterwards (``--table-only``). The table
has each judge's accuracy and, per reference judge in ``--weak``, the gap acc(judge) − acc(reference)
on the same test pairs, both with a percentile bootstrap interval over test pairs (the package's
``eval.metrics.bootstrap``; the gap's is paired: both judges' correctness is resampled together).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import filelock
import numpy as np
import pandas as pd
from scipy.sparse import hstack, issparse

from w2s_eval.store import content_hash
from w2s_eval.config import SplitConfig
from w2s_eval.eval.metrics import accuracy, bootstrap, cell_counts, cell_sum, right
from w2s_eval.models.resolve import resolve_model
from w2s_eval.splits import assign_splits
from w2s_eval.tasks import get_task
from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier, fit_soft_logistic

FEATURE_KINDS = ("difference", "prompt", "prompt_and_reply", "side_by_side")
ANTISYMMETRIC = {"difference", "prompt", "prompt_and_reply"}
KEY = ["model", "features", "train_split", "n_train"]


def side_by_side(left, right):
    return hstack([left, right]).tocsr() if issparse(left) else np.hstack([left, right])


def feature_function(probe: ProbeClassifier | None, vectorizer, how: str):
    """part -> the pair features of kind ``how`` (None: not defined for this model)."""
    if probe is None:  # TF-IDF
        if how == "difference":
            return lambda part: vectorizer.transform(part["reply_a"]) - vectorizer.transform(part["reply_b"])
        if how == "side_by_side":
            return lambda part: side_by_side(vectorizer.transform(part["reply_a"]),
                                             vectorizer.transform(part["reply_b"]))
        return None

    def in_context(context: str):  # the package's own pair features (ProbeClassifier.features)
        def features(part):
            probe.pair_context = context
            return probe.features(part)
        return features

    if how == "difference":
        return in_context("reply")
    if how == "prompt":
        return in_context("prompt")
    if how == "prompt_and_reply":
        return lambda part: side_by_side(in_context("reply")(part), in_context("prompt")(part))
    return lambda part: side_by_side(probe.embed(list(part["reply_a"])), probe.embed(list(part["reply_b"])))


def measure(args, parts) -> list[dict]:
    labels = {name: part["label"].to_numpy() for name, part in parts.items()}
    test_key = content_hash(parts["test"]["id"].tolist())
    rows = []
    for model in args.models.split(","):
        started = time.time()
        probe = None if model == "tfidf" else ProbeClassifier(resolve_model(model).location, max_length=args.max_length)
        for train_split in args.train_splits.split(","):
            for n in map(int, args.sizes.split(",")):
                train = parts[train_split].iloc[:n]
                vectorizer = None
                if probe is None:  # the package's TF-IDF, its vocabulary from the training replies only
                    vectorizer = BowClassifier().vectorizer.fit(list(train["reply_a"]) + list(train["reply_b"]))
                for how in args.features.split(","):
                    features = feature_function(probe, vectorizer, how)
                    if features is None:
                        continue
                    history = []
                    judge = fit_soft_logistic(features(train), train["label"].to_numpy(float), features(parts["val"]),
                                              labels["val"], history=history, intercept=how not in ANTISYMMETRIC)
                    probs = judge.predict_proba(features(parts["test"]))[:, 1]
                    rows.append({"model": model, "features": how, "train_split": train_split, "n_train": len(train),
                                 "n_val": len(parts["val"]), "n_test": len(probs), "test_key": test_key,
                                 "acc": accuracy(labels["test"] > 0.5, probs),
                                 "val_acc": max(h["val_acc"] for h in history),
                                 "correct": right(labels["test"], probs).tolist()})
                    print(f"{model} {how} {train_split} {len(train)}: test acc {rows[-1]['acc']:.3f} "
                          f"({time.time() - started:.0f} s since the model started)", flush=True)
    return rows


def store(path: Path, rows: list[dict]) -> pd.DataFrame:
    """Add ``rows`` to the results file (under a file lock: several models may be measured at once)."""
    if not rows and not path.exists():
        return pd.DataFrame()
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{path}.lock"):
        new = pd.DataFrame(rows)
        if path.exists():
            old = pd.read_parquet(path)
            if len(new):
                replaced = old.set_index(KEY + ["test_key"]).index.isin(new.set_index(KEY + ["test_key"]).index)
                old = old[~replaced]
            new = pd.concat([old, new], ignore_index=True)
        temporary = path.with_suffix(".tmp")
        new.to_parquet(temporary)
        temporary.rename(path)
    return new


def accuracy_of(counts):
    """Accuracy from a one-judge cell table (batched)."""
    return cell_sum(counts, 1, m0=1) / np.asarray(counts, dtype=float).sum(-1)


def gap_of(counts):
    """acc(second judge) − acc(first judge) from a two-judge cell table (batched)."""
    return (cell_sum(counts, 2, m1=1) - cell_sum(counts, 2, m0=1)) / np.asarray(counts, dtype=float).sum(-1)


def table(results: pd.DataFrame, references: list[str], n_boot: int) -> str:
    """Markdown: accuracy [95% CI] per judge, and its gap over each reference judge [95% CI]."""
    header = ["model", "features", "train split", "n train", "n test", "test acc [95% CI]",
              *(f"− {ref} [95% CI]" for ref in references)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    results = results.sort_values(["test_key", "train_split", "n_train", "model", "features"])
    for _, row in results.iterrows():
        mine = np.asarray(row["correct"], dtype=bool)
        acc = bootstrap(cell_counts(mine), accuracy_of, n_boot=n_boot)
        cells = [row["model"], row["features"], row["train_split"], str(row["n_train"]), str(row["n_test"]),
                 f"{acc.value:.3f} [{acc.ci_low:.3f}, {acc.ci_high:.3f}]"]
        for ref in references:
            model, how = ref.split("/")
            match = results[(results["model"] == model) & (results["features"] == how)
                            & (results["train_split"] == row["train_split"]) & (results["n_train"] == row["n_train"])
                            & (results["test_key"] == row["test_key"])]
            if match.empty or (model, how) == (row["model"], row["features"]):
                cells.append("")
                continue
            gap = bootstrap(cell_counts(np.asarray(match.iloc[0]["correct"], dtype=bool), mine), gap_of, n_boot=n_boot)
            cells.append(f"{gap.value:+.3f} [{gap.ci_low:+.3f}, {gap.ci_high:+.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tfidf,minilm-l6,mpnet-base,gemma3-270m")
    parser.add_argument("--caps", default="800,800,200,800", help="A,B,val,test pairs")
    parser.add_argument("--sizes", default="800", help="training sizes (pairs of A or B)")
    parser.add_argument("--train-splits", default="A", help="A, B or A,B")
    parser.add_argument("--features", default="difference,side_by_side",
                        help=f"comma-separated, of: {', '.join(FEATURE_KINDS)}")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per embedded text")
    parser.add_argument("--results", default="runs/reward_features.parquet",
                        help="parquet file the measured rows are added to (and the table read from)")
    parser.add_argument("--weak", default="tfidf/difference,minilm-l6/difference,smollm2-135m/difference",
                        help="reference judges MODEL/FEATURES for the gap columns")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--table-only", action="store_true", help="print the table of --results, measure nothing")
    args = parser.parse_args()
    unknown = set(args.features.split(",")) - set(FEATURE_KINDS)
    if unknown:
        parser.error(f"--features: unknown {', '.join(sorted(unknown))}; valid: {', '.join(FEATURE_KINDS)}")

    rows = []
    if not args.table_only:
        frame, _ = get_task("reward").load()
        caps = dict(zip(("A", "B", "val", "test"), map(int, args.caps.split(","))))
        frame = assign_splits(frame, 0, SplitConfig().fractions, caps)
        parts = {name: frame[frame["split"] == name].reset_index(drop=True) for name in ("A", "B", "val", "test")}
        print(f"pairs: {', '.join(f'{k} {len(v)}' for k, v in parts.items())}")
        rows = measure(args, parts)
    results = store(Path(args.results), rows)
    if results.empty:
        raise SystemExit(f"--results {args.results}: no measured rows yet")
    print(table(results, args.weak.split(","), args.n_boot))


if __name__ == "__main__":
    main()
