"""LoRA on every layer vs on the top K layers with the frozen layers below cached
(``strong_train.lora_layers``, w2s_eval/trainers/top_layers.py): the student's and the ceiling's
accuracy and step time in a whole run.

    python benchmarks/top_k_lora.py                                   # toxicity, --gap small, seed 0
    python benchmarks/top_k_lora.py --settings all,top-2,top-4 --seeds 0,1 --threads 2

Each (seed, setting) is one ``w2s-eval run --task T --gap G --seed S --set
strong_train.lora_layers=X``, in one run folder per seed, so the weak model and its labels are
computed once per seed and every setting trains its own student and ceiling. Step times are the
run log's (``step_done``): the student's includes running the frozen layers over B, val and test
once (the hidden-state cache starts empty: a fresh cache folder with the zoo linked in); the
ceiling, which reads the same texts, finds them cached. The machine's load average is printed
with each row: on a shared CPU the times are only as steady as it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import cpu_model


def run_once(task: str, gap: str, seed: int, lora_layers: str, threads: int, out: Path, env: dict) -> dict:
    before = os.getloadavg()[0]
    started = time.time()
    command = ["w2s-eval", "run", "--task", task, "--gap", gap, "--seed", str(seed), "--threads", str(threads),
               "--set", f"strong_train.lora_layers={lora_layers}", "--out", str(out), "--quiet"]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)  # the table alone on stdout
    wall = time.time() - started
    run_dir = max((d for d in out.iterdir() if (d / "metrics.json").exists()), key=lambda d: (d / "metrics.json").stat().st_mtime)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    seconds = {}
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "step_done":
            seconds[event["step"]] = event["seconds"]
    return {"seed": seed, "lora_layers": lora_layers, "student_acc": metrics["student"]["acc"],
            "ceiling_acc": metrics["ceiling"]["acc"], "weak_acc": metrics["weak"]["acc"],
            "pgr": metrics["pgr"]["value"], "student_s": seconds.get("student"), "ceiling_s": seconds.get("ceiling"),
            "run_s": wall, "load": f"{before:.1f}-{os.getloadavg()[0]:.1f}", "n_test": metrics["n_test"],
            "precision": metrics["precision"]["strong"], "models": f"{metrics['models']['weak']} -> {metrics['models']['strong']}"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="toxicity")
    parser.add_argument("--gap", default="small")
    parser.add_argument("--settings", default="all,top-2,top-4", help="lora_layers values, comma-separated")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    from w2s_eval.models.zoo import cache_root

    rows = []
    with tempfile.TemporaryDirectory(prefix="w2s-top-k-") as scratch:
        # An empty hidden-state cache (the first top-K student pays for the frozen layers' pass),
        # with the zoo's models where they already are.
        cache = Path(scratch) / "cache"
        cache.mkdir()
        (cache / "zoo").symlink_to(cache_root().resolve())
        env = os.environ | {"W2S_CACHE_DIR": str(cache)}
        for seed in (int(s) for s in args.seeds.split(",")):
            out = Path(scratch) / f"runs-s{seed}"
            for setting in args.settings.split(","):
                rows.append(run_once(args.task, args.gap, seed, setting, args.threads, out, env))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(f"{args.task}, --gap {args.gap} ({rows[0]['models']}), {rows[0]['n_test']} test examples, "
          f"strong precision {rows[0]['precision']}; {args.threads} threads; {cpu_model()}")
    columns = ["seed", "lora_layers", "weak_acc", "student_acc", "ceiling_acc", "pgr", "student_s", "ceiling_s", "run_s", "load"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{row[c]:.3f}" if c.endswith("acc") or c == "pgr" and row[c] is not None
                 else f"{row[c]:.0f}" if c.endswith("_s") else str(row[c]) for c in columns]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
