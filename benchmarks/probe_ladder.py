"""How strong each zoo model is on a task when it is read by a probe, mean-pooled or at the prompt's
last token: the measurement the causal-LM gaps in gaps.yaml are chosen by (docs/gaps.md).

    python benchmarks/probe_ladder.py --tasks toxicity --models smollm2-135m,gemma3-270m,qwen2.5-0.5b
    python benchmarks/probe_ladder.py --tasks toxicity,utility --poolings mean,last --seeds 0,1,2

Each row is the ceiling of `w2s-eval run --task T --weak tfidf --strong M --set
strong_train.finetune=probe --set strong_train.pooling=P` (a soft-label logistic regression on the
frozen model's states of split B with ground truth, its C chosen on val), so it is the same code a
run uses; the TF-IDF weak model and student are cheap by-products. Accuracy is pooled over seeds,
with a 95% percentile interval from resampling test examples within each seed. Embeddings are
cached on disk, so a second call only fits the probes. Its cost is that of the
embeddings: docs/gaps.md gives the measured seconds per model. The CPU and its bfloat16 units head the table.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from w2s_eval.config import load_config
from w2s_eval.eval.metrics import right
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_predictions

from published import publish
from throughput import cpu_model


def pooled_accuracy(rights: list[np.ndarray], n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean accuracy over seeds and its 95% percentile interval, resampling each seed's test examples."""
    rng = np.random.default_rng(seed)
    value = float(np.mean([r.mean() for r in rights]))
    samples = np.mean([[r[rng.integers(0, len(r), len(r))].mean() for _ in range(n_boot)] for r in rights], axis=0)
    low, high = np.percentile(samples, [2.5, 97.5])
    return value, float(low), float(high)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="toxicity")
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m,qwen2.5-0.5b")
    parser.add_argument("--poolings", default="mean,last")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default="runs/probe_ladder")
    parser.add_argument("--publish", action="store_true", help="write the table for the docs (benchmarks/published.py)")
    args = parser.parse_args()
    cpu = cpu_model()
    print(f"CPU: {cpu}")
    rows = ["| task | model | pooling | seeds | n test (per seed) | probe acc [95% CI] |", "|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    for task in args.tasks.split(","):
        for model in args.models.split(","):
            for pooling in args.poolings.split(","):
                rights, sizes = [], []
                for seed in args.seeds.split(","):
                    cfg = load_config(None, ["strong_train.finetune=probe", f"strong_train.pooling={pooling}"],
                                      {"task": task, "weak_model": "tfidf", "strong_model": model, "seed": int(seed)})
                    folder = run_experiment(cfg, args.out, quiet=True)
                    predictions: pd.DataFrame = read_predictions(folder)
                    rights.append(right(predictions["label"].to_numpy(), predictions["ceiling"].to_numpy()))
                    sizes.append(str(len(predictions)))
                value, low, high = pooled_accuracy(rights)
                rows.append(f"| {task} | {model} | {pooling} | {len(rights)} | {'/'.join(sizes)} | {value:.3f} [{low:.3f}, {high:.3f}] |")
                print(rows[-1], flush=True)
    print()
    print("\n".join(rows))
    if args.publish:
        print(f"published: {publish('probe_ladder', chr(10).join(rows), cpu)}")


if __name__ == "__main__":
    main()
