"""What a method × loss sweep computes, and what it reuses, on this machine.

    python benchmarks/sweep_reuse.py                   # 6 methods x 2 losses, 1 seed (12 cells)
    python benchmarks/sweep_reuse.py --seeds 2 --methods naive,confident,ensemble

Every cell of a sweep is a whole run (weak → label → method → student → ceiling), but the steps
are cached by content across the sweep folder, so a cell computes only what no earlier cell has:
the weak model, its labels and the ceiling once per seed, a method's own models once per method,
and one student per distinct training set and loss. The table reads each run's log (``step_start``
= computed, ``step_cached`` = reused) and compares the steps computed with what the cells would
compute each on their own, with the time each kind of step took. Real runs: toxicity, TF-IDF weak,
MiniLM-L6 probe students (fast enough for many cells), one thread.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

from w2s_eval.cli import quiet_libraries
from w2s_eval.config import load_config
from w2s_eval.run_folder import find_runs
from w2s_eval.sweeps import SweepGrid, run_sweep

SETTINGS = ["splits.max_per_split={A: 160, B: 160, val: 48, test: 160}", "eval.n_bootstrap=200", "threads=1",
            "strong_train.finetune=probe"]


def step_events(run_dir: Path) -> list[dict]:
    return [e for e in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines())
            if e["event"] in ("step_start", "step_done", "step_cached")]


def kind(step: str) -> str:
    """Group steps by what they train: the method's own models under the method's name."""
    return step if step in ("weak", "label", "student", "ceiling", "baseline") else "method models"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="naive,confident,ensemble,reliability,reliability:variant=reweight,selective")
    parser.add_argument("--losses", default="xent,logconf")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    quiet_libraries(progress_bars=False)
    grid = SweepGrid(tasks=["toxicity"], methods=args.methods.split(","), losses=args.losses.split(","),
                     seeds=list(range(args.seeds)))
    config = load_config(None, SETTINGS, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    with tempfile.TemporaryDirectory(prefix="w2s-sweep-reuse-") as out:
        start = time.perf_counter()
        run_sweep(grid, out, config, quiet=True)
        wall = time.perf_counter() - start
        runs = find_runs(out)
        computed, reused, seconds = collections.Counter(), collections.Counter(), collections.Counter()
        for run in runs:
            for event in step_events(run):
                if event["event"] == "step_start":
                    computed[kind(event["step"])] += 1
                elif event["event"] == "step_cached":
                    reused[kind(event["step"])] += 1
                elif event["event"] == "step_done":
                    seconds[kind(event["step"])] += event["seconds"]
    kinds = [k for k in ("weak", "label", "method models", "baseline", "student", "ceiling") if computed[k] + reused[k]]
    print(f"\n{len(runs)} cells ({len(grid.methods)} methods x {len(grid.losses)} losses x {len(grid.seeds)} seeds), "
          f"toxicity, tfidf -> minilm-l6 probes; sweep wall time {wall:.0f} s\n")
    print("| step | needed by the cells alone | computed | reused | seconds computing |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        print(f"| {k} | {computed[k] + reused[k]} | {computed[k]} | {reused[k]} | {seconds[k]:.1f} |")
    total_c, total_r = sum(computed.values()), sum(reused.values())
    print(f"| all | {total_c + total_r} | {total_c} | {total_r} | {sum(seconds.values()):.1f} |")


if __name__ == "__main__":
    main()
