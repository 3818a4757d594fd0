"""A sweep's wall time with one and with several cells at once, on this machine.

    python benchmarks/sweep_scaling.py                  # 4 cells; local, then Ray with 1 and 2 in flight
    python benchmarks/sweep_scaling.py --cells 8 --parallel 1,2,4 --repeats 2

Each cell is a real run: toxicity, TF-IDF labels a tiny slice for a MiniLM-L6 student trained with
LoRA (and its ceiling), one thread per cell, one epoch. Every configuration runs the same cells in
a fresh sweep folder (no step is shared between configurations), one after another, so they do
not compete for the machine. The table gives the wall time (min / median / max over repeats), the
cells per minute, and the speed-up over the local executor. Ray's start-up (a few seconds) is in
the Ray rows' time: it is what a user waits for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from w2s_eval.cli import quiet_libraries
from w2s_eval.config import load_config
from w2s_eval.executors import make_executor
from w2s_eval.sweeps import SweepGrid, read_sweep, run_sweep

SETTINGS = ["splits.max_per_split={A: 96, B: 96, val: 32, test: 96}", "eval.n_bootstrap=200", "threads=1",
            "strong_train.finetune=lora", "strong_train.epochs=1"]


def one_sweep(executor_name: str, parallel: int, cells: int, root: Path) -> float:
    config = load_config(None, SETTINGS, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    executor = make_executor(executor_name, max_parallel=parallel if executor_name == "ray" else None)
    out = Path(tempfile.mkdtemp(dir=root))
    start = time.perf_counter()
    run_sweep(SweepGrid(tasks=["toxicity"], seeds=list(range(cells))), out, config, quiet=True, executor=executor)
    seconds = time.perf_counter() - start
    table = read_sweep(out)
    if not (table["status"] == "done").all():
        raise SystemExit(f"{executor_name} x{parallel}: cells did not finish: {table['error'].dropna().tolist()}")
    return seconds


def ray_start_up() -> float:
    """Seconds to start a local Ray instance and stop it again (part of every Ray row above)."""
    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, logging_level="ERROR")
    ray.shutdown()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--parallel", default="1,2", help="Ray cells in flight, comma list")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    quiet_libraries()
    configurations = [("local", 1)] + [("ray", int(n)) for n in args.parallel.split(",")]
    times = {c: [] for c in configurations}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for executor_name, parallel in configurations:  # interleaved across repeats
                times[(executor_name, parallel)].append(one_sweep(executor_name, parallel, args.cells, Path(tmp)))
    start_up = ray_start_up()
    local = statistics.median(times[("local", 1)])
    print(f"{args.cells} cells (toxicity, tfidf -> minilm-l6 LoRA, tiny slice, 1 thread each); "
          f"{os.cpu_count()} CPUs; {args.repeats} repeat(s)")
    print("| executor | cells in flight | wall s (min / median / max) | cells per minute | speed-up vs local |")
    print("|---|---|---|---|---|")
    for (executor_name, parallel), values in times.items():
        median = statistics.median(values)
        print(f"| {executor_name} | {parallel} | {min(values):.1f} / {median:.1f} / {max(values):.1f} | "
              f"{60 * args.cells / median:.1f} | {local / median:.2f}× |")
    print(f"(starting and stopping a local Ray instance alone: {start_up:.1f} s)")


if __name__ == "__main__":
    main()
