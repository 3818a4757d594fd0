"""The fault table: every fault of tests/reliability/faults.py tried on this machine, counted.

    python benchmarks/faults.py            # ~15 min on 2 CPU cores (real MiniLM training)
    python benchmarks/faults.py --only bad-inputs   # the bad-input row alone (~2 min)

Bad inputs (exit 2, one line, nothing written), kills at every step of a real run (TF-IDF weak,
MiniLM-L6 student fully fine-tuned, tiny slice), determinism, two runs at once on one --out, a
disk filling up mid-run (a tmpfs of its own: root only), and corruptions of the step cache (on a
TF-IDF run, whose reruns take seconds) and of a zoo model.
Prints a markdown table for docs/reliability.md, then what went wrong, if anything. Needs the data mirror
(W2S_DATA_DIR) and the zoo model minilm-l6 (pulled on first use).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reliability import faults  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["bad-inputs"], help="try only this class of faults")
    only = parser.parse_args().only
    rows, failures = [], []
    mountable = faults.can_mount()
    started = time.time()

    with tempfile.TemporaryDirectory(prefix="w2s-faults-") as tmp:
        tmp = Path(tmp)
        cases = [c for c in faults.BAD_INPUTS if mountable or not c.needs_mount]
        handled = 0
        for i, case in enumerate(cases):
            problem = faults.try_bad_input(case, tmp / f"input-{i}")
            handled += problem is None
            if problem:
                failures.append(f"bad input {case.name!r}: {problem}")
        skipped = len(faults.BAD_INPUTS) - len(cases)
        rows.append(("bad inputs (exit 2, one line, nothing written)", len(cases), handled,
                     f"{skipped} need a tmpfs mount (root)" if skipped else ""))

        args = faults.REAL_RUN
        done = faults.run_to_end(tmp / "reference", args) if not only else None
        if only:
            pass
        elif done.returncode != 0:
            failures.append(f"the uninterrupted run failed: {done.stderr.strip()[-300:]}")
        else:
            reference = faults.outcome(tmp / "reference")
            # Two passes: kills as each step starts (loading, set-up) and 1.5 s into it (training).
            for delay in (0.0, 1.5):
                report = faults.kill_at_every_step(tmp / f"kills-{delay}", reference, args, work_for=delay)
                failures += [f"kills ({delay} s into each step): {p}" for p in report.problems]
                rows.append((f"SIGKILL {delay:g} s into each step and just after it (resumed to the end, identical)",
                             len(report.kills), len(report.kills) if report.identical and not report.problems else 0,
                             "; ".join(report.kills)))
            again = faults.run_to_end(tmp / "again", args)
            same = again.returncode == 0 and faults.outcome(tmp / "again") == reference
            rows.append(("same seed, another process: identical predictions", 1, int(same), ""))
            statuses = faults.run_concurrently(tmp / "together", 2, args)
            together = statuses == [0, 0] and faults.outcome(tmp / "together") == reference \
                and not faults.leftovers(tmp / "together")
            rows.append(("two identical runs at once on one --out (identical, nothing left)", 1, int(together),
                         f"exit {statuses}"))
            lost = faults.delete_the_run_folder_mid_run(tmp / "lost", reference, args=args)
            ok = lost.status == 2 and len(lost.message.splitlines()) == 1 and not lost.half_made \
                and lost.resumed_identical
            if not ok:
                failures.append(f"run folder deleted mid-run: {lost}")
            rows.append(("run folder deleted mid-run (one line, not half made again, resumed identical)", 1, int(ok),
                         ""))
            if mountable:
                disk = faults.fill_the_disk_mid_run(tmp / "disk", reference, args=args)
                ok = disk.status == 1 and len(disk.message.splitlines()) == 1 and not disk.leftovers \
                    and disk.resumed_identical
                if not ok:
                    failures.append(f"disk full: {disk}")
                rows.append(("disk full mid-run (one line, no tmp files, resumed identical)", 1, int(ok), ""))

        if only:
            return _print(rows, failures, started)
        fast_out = tmp / "corrupt-cache"
        faults.run_to_end(fast_out, faults.FAST_TINY_RUN)
        reference = faults.outcome(fast_out)
        results = faults.corrupt_the_cache(fast_out, reference, faults.FAST_TINY_RUN)
        failures += [f"cache corruption {what!r}: {p}" for what, p in results if p]
        rows.append(("corrupted step cache entries (recomputed with a warning, identical)", len(results),
                     sum(p is None for _, p in results), ", ".join(what for what, _ in results)))
        results = faults.corrupt_the_zoo()
        failures += [f"zoo corruption {what!r}: {p}" for what, p in results if p]
        rows.append(("corrupted zoo model files (refused in one line)", len(results),
                     sum(p is None for _, p in results), ", ".join(what for what, _ in results)))

    return _print(rows, failures, started)


def _print(rows, failures, started) -> int:
    print(f"\nfaults tried on this machine in {time.time() - started:.0f} s ({os.cpu_count()} CPUs)\n")
    print("| fault | tried | handled | notes |")
    print("|---|---:|---:|---|")
    for what, tried, ok, notes in rows:
        print(f"| {what} | {tried} | {ok} | {notes} |")
    for line in failures:
        print(f"FAILED: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
