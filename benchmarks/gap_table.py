"""The table of measured weak-ceiling gaps (docs/gaps.md): the given tasks on the given gaps, default sizes.

    python benchmarks/gap_table.py                       # toxicity, safety, legal, reward; gaps small, large
    python benchmarks/gap_table.py --tasks toxicity --gaps large --out runs

Runs are the same as `w2s-eval run --task T --gap G` (cached steps are reused, so a second call
only reads the run folders) and the table is printed in Markdown.
"""

from __future__ import annotations

import argparse
import json

from w2s_eval.config import load_config
from w2s_eval.protocol import run_experiment


def fmt(x, digits=3):
    return "n/a" if x is None else f"{x:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="toxicity,safety,legal,reward")
    parser.add_argument("--gaps", default="small,large")
    parser.add_argument("--paradigm", default="classify")
    parser.add_argument("--out", default="runs")
    args = parser.parse_args()
    rows = ["| task | gap | weak → strong | n test | weak acc | student acc | ceiling acc | gap | PGR [95% CI] |",
            "|---|---|---|---|---|---|---|---|---|"]
    for gap in args.gaps.split(","):
        for task in args.tasks.split(","):
            cfg = load_config(None, [], {"task": task, "gap": gap, "paradigm": args.paradigm})
            m = json.loads((run_experiment(cfg, args.out, quiet=True) / "metrics.json").read_text())
            pgr = m["pgr"]
            pgr_text = (f"{fmt(pgr['value'], 2)} [{fmt(pgr['ci_low'], 2)}, {fmt(pgr['ci_high'], 2)}]"
                        if pgr["value"] is not None else "n/a (gap < min_gap)")
            rows.append(f"| {task} | {gap} | {m['models']['weak']} → {m['models']['strong']} | {m['n_test']} | "
                        f"{fmt(m['weak']['acc'])} | {fmt(m['student']['acc'])} | {fmt(m['ceiling']['acc'])} | "
                        f"{m['gap']:+.3f} | {pgr_text} |")
            print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
