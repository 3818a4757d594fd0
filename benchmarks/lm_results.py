"""Weak-to-strong with causal LMs: weak, student and ceiling pooled over seeds, per task, paradigm and
gap (docs/llm-results.md).

    python benchmarks/lm_results.py --rows toxicity:sft:lm-small --seeds 0,1,2
    python benchmarks/lm_results.py --rows toxicity:sft:lm-small utility:reward:lm-large \
        toxicity:classify:lm-small:weak_train.finetune=probe,strong_train.finetune=probe --seeds 0,1,2 --publish

A row is ``task:paradigm:gap``, optionally followed by ``:`` and config overrides of that row alone
(comma-separated ``key=value``, as ``--set``), which the table shows beside the gap.

Each row is a sweep of ordinary runs (`w2s-eval run --task T --paradigm P --gap G --seed S`, the
packaged per-task and per-paradigm defaults), cached and resumable under ``--out``: a second call
only reads the run folders. Accuracies, gap and PGR are pooled over the seeds by pooling the runs'
cell tables, with the 95% hierarchical bootstrap over seeds and test examples of
``w2s_eval.sweeps.aggregate``; PGR is "not identified" where the pooled gap's interval includes
zero. ``s/run`` is the mean wall time of a run that trained all its steps (cached steps excluded),
read from the runs' logs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from w2s_eval.config import load_config
from w2s_eval.eval.catalogue import CATALOGUE
from w2s_eval.eval.metrics import interval_text
from w2s_eval.sweeps import SweepGrid, aggregate, read_sweep, run_sweep

from published import publish
from throughput import cpu_model

COLUMNS = ("weak_acc", "zero_shot_acc", "student_acc", "ceiling_acc", "acc_gap", "pgr")


def value_with_interval(row: pd.Series | None, signed: bool = False) -> str:
    if row is None or row["mean"] is None or pd.isna(row["mean"]):
        return "n/a" if row is None or not row.get("note") else f"n/a ({row['note']})"
    fmt = "{:+.3f}".format if signed else "{:.3f}".format
    interval = interval_text(row["ci_low"], row["ci_high"], fmt)
    return f"{fmt(row['mean'])} {interval}" if interval else f"{fmt(row['mean'])} ({row['note'] or 'no interval'})"


def run_seconds(run_dir: Path) -> float | None:
    """Seconds from the run's start to its end, in its log (None if a step came from the cache)."""
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    if any(e.get("event") == "step_cached" for e in events):
        return None
    times = [e["time"] for e in events if "time" in e]
    return max(times) - min(times) if len(times) > 1 else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=["toxicity:sft:lm-small"],
                        help="task:paradigm:gap[:key=value,...] per row")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", action="append", default=[], help="a config override for every run")
    parser.add_argument("--out", default="runs/lm_results")
    parser.add_argument("--publish", action="store_true", help="write the table for the docs (benchmarks/published.py)")
    args = parser.parse_args()
    cpu = cpu_model()
    print(f"CPU: {cpu}")
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = ["| task | paradigm | gap (weak → strong) | seeds | n test | weak | zero-shot | student | ceiling | "
             "gap [95% CI] | PGR [95% CI] | s/run |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for spec in args.rows:
        task, paradigm, gap, *overrides = spec.split(":", 3)
        row_sets = overrides[0].split(",") if overrides else []
        folder = Path(args.out) / "-".join([task, paradigm, gap, *(s.replace("=", "_") for s in row_sets)])

        def base_config(task_name: str, paradigm_name: str):
            return load_config(None, args.set + row_sets, {"task": task_name, "paradigm": paradigm_name,
                                                          "profile": "cpu"})

        run_sweep(SweepGrid(tasks=[task], paradigms=[paradigm], gaps=[gap], seeds=seeds), folder, base_config,
                  quiet=True, runs_dir=Path(args.out) / "runs")
        cells = read_sweep(folder)
        done = cells[cells["status"] == "done"]
        pooled = aggregate(done, metrics=tuple(m for m in COLUMNS if m in CATALOGUE))
        stat = {row["metric"]: row for _, row in pooled.iterrows()}
        metrics = json.loads((folder / done["run_dir"].iloc[0] / "metrics.json").read_text())
        seconds = [s for s in (run_seconds(folder / d) for d in done["run_dir"]) if s is not None]
        wall = f"{sum(seconds) / len(seconds):.0f}" if seconds else "—"
        lines.append(
            f"| {task} | {paradigm} | {gap} ({metrics['models']['weak']} → {metrics['models']['strong']}"
            f"{'; ' + ', '.join(row_sets) if row_sets else ''}) | "
            f"{len(done)} | {metrics['n_test']} | {value_with_interval(stat.get('weak_acc'))} | "
            f"{value_with_interval(stat.get('zero_shot_acc'))} | {value_with_interval(stat.get('student_acc'))} | "
            f"{value_with_interval(stat.get('ceiling_acc'))} | {value_with_interval(stat.get('acc_gap'), True)} | "
            f"{value_with_interval(stat.get('pgr'))} | {wall} |")
        print(lines[-1], flush=True)
    print()
    print("\n".join(lines))
    if args.publish:
        print(f"published: {publish('lm_results', chr(10).join(lines), cpu)}")


if __name__ == "__main__":
    main()
