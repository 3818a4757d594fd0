"""Does any cpu rung separate from TF-IDF on the reward pairs? Pairwise accuracy of linear judges.

    python benchmarks/reward_features.py                                  # README's 800-pair rows
    python benchmarks/reward_features.py --models tfidf,gemma3-270m --caps 3000,3000,400,1600 --sizes 800,1600,3000

Each model (TF-IDF, or a frozen zoo model's mean-pooled states) is fitted by soft-label logistic
regression (C chosen on val) on split A, and on split B too, for each training size, and scored on
test. Pairs are read two ways: the difference φ(A) − φ(B) that the package uses (no intercept, so
P(A ≻ B) = 1 − P(B ≻ A)), and side by side, [φ(A), φ(B)], with weights per slot. Splits are the
task's own (grouped by prompt, seed 0). Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.sparse import hstack, issparse

from w2s_eval.config import SplitConfig
from w2s_eval.eval.metrics import accuracy
from w2s_eval.models.resolve import resolve_model
from w2s_eval.splits import assign_splits
from w2s_eval.tasks import get_task
from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier, fit_soft_logistic


def pair_features(encode_a, encode_b, how: str):
    if how == "difference":
        return encode_a - encode_b
    return hstack([encode_a, encode_b]).tocsr() if issparse(encode_a) else np.hstack([encode_a, encode_b])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tfidf,minilm-l6,mpnet-base,gemma3-270m")
    parser.add_argument("--caps", default="800,800,200,800", help="A,B,val,test pairs")
    parser.add_argument("--sizes", default="800", help="training sizes (pairs of A or B)")
    parser.add_argument("--train-splits", default="A", help="A, B or A,B")
    parser.add_argument("--features", default="difference,side_by_side")
    args = parser.parse_args()

    frame, _ = get_task("reward").load()
    caps = dict(zip(("A", "B", "val", "test"), map(int, args.caps.split(","))))
    frame = assign_splits(frame, 0, SplitConfig().fractions, caps)
    parts = {name: frame[frame["split"] == name].reset_index(drop=True) for name in ("A", "B", "val", "test")}
    labels = {name: part["label"].to_numpy() for name, part in parts.items()}
    print(f"pairs: {', '.join(f'{k} {len(v)}' for k, v in parts.items())}")
    rows = ["| model | features | train split | n train | test acc |", "|---|---|---|---|---|"]
    for model in args.models.split(","):
        probe = None if model == "tfidf" else ProbeClassifier(resolve_model(model).location, max_length=256)
        for train_split in args.train_splits.split(","):
            for n in map(int, args.sizes.split(",")):
                train = parts[train_split].iloc[:n]
                if probe is None:  # the package's TF-IDF, its vocabulary from the training replies only
                    vectorizer = BowClassifier().vectorizer.fit(list(train["reply_a"]) + list(train["reply_b"]))
                    encode = vectorizer.transform
                else:
                    encode = lambda texts: probe.embed(list(texts))  # noqa: E731 (cached per text)
                for how in args.features.split(","):
                    def features(part):
                        return pair_features(encode(part["reply_a"]), encode(part["reply_b"]), how)

                    judge = fit_soft_logistic(features(train), train["label"].to_numpy(float), features(parts["val"]),
                                              labels["val"], intercept=how != "difference")
                    acc = accuracy(labels["test"] > 0.5, judge.predict_proba(features(parts["test"]))[:, 1])
                    rows.append(f"| {model} | {how} | {train_split} | {len(train)} | {acc:.3f} |")
                    print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
