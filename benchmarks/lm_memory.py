"""Peak resident memory of the causal-LM paradigms (sft, dpo, reward): loading the model, one
training epoch, and scoring, each measured by itself (w2s_eval/memory.py resets the peak between).

    python benchmarks/lm_memory.py                                  # sft on gemma3-270m, 32 prompts
    python benchmarks/lm_memory.py --paradigms sft,dpo --model smollm2-135m --n 16
    python benchmarks/lm_memory.py --train-args '{"gradient_checkpointing": true}'

Each (paradigm, model) runs in its own process, so nothing of one measurement stays resident in
the next. Training is as a run trains the strong model (the paradigm's defaults in
configs/overrides.yaml: LoRA, its batch size and max_length) for one epoch, without epoch selection;
scoring is ``predict_proba`` on the same examples (sft: both answer words after each prompt; dpo:
both replies under the policy and the reference). Real data: ToxiGen statements for sft, HH-RLHF
pairs for dpo and reward (W2S_DATA_DIR). Times are wall seconds, only a rough guide on a shared CPU.
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

PARADIGM_TASK = {"sft": "toxicity", "dpo": "reward", "reward": "reward"}


def measure(paradigm: str, model_ref: str, n: int, precision: str, threads: int, train_args: dict) -> dict:
    import dataclasses

    import torch

    from w2s_eval.config import TrainConfig, packaged_yaml
    from w2s_eval.memory import watch
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.paradigms import get_paradigm, new_model
    from w2s_eval.precision import resolve
    from w2s_eval.tasks import get_task

    torch.set_num_threads(threads)
    task = get_task(PARADIGM_TASK[paradigm])
    frame = task.load()[0].head(n)
    defaults = TrainConfig(finetune="lora", epochs=2, lr=5.0e-4, batch_size=16, max_length=128)
    overrides = packaged_yaml("overrides.yaml")["paradigms"][paradigm]["strong_train"]
    cfg = dataclasses.replace(defaults, **(overrides | dict(epochs=1, select_on_val=False, precision=precision,
                                                            train_args=train_args)))
    row = {"paradigm": paradigm, "model": model_ref, "precision": resolve(precision), "n": n,
           "batch": cfg.batch_size, "train_args": json.dumps(train_args) if train_args else "-", "threads": threads}
    with watch() as load:
        model = new_model(resolve_model(model_ref), get_paradigm(paradigm), cfg, 0, task)
    started = time.perf_counter()
    with watch() as train, tempfile.TemporaryDirectory() as work:
        model.fit(frame, frame["label"].to_numpy(float), work_dir=Path(work))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    with watch() as score:
        model.predict_proba(frame)
    score_s = time.perf_counter() - started
    row.update(load_rss_mb=load["peak_rss_mb"], train_peak_mb=train["peak_rss_mb"],
               train_increase_mb=train["peak_increase_mb"], score_peak_mb=score["peak_rss_mb"],
               score_increase_mb=score["peak_increase_mb"], train_s=train_s, score_s=score_s)
    return row


def run_child(args: list[str]) -> dict | None:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n    ".join(done.stderr.strip().splitlines()[-12:])
        print(f"  failed: {' '.join(args)}:\n    {tail}", file=sys.stderr)
        return None
    print(f"  done: {' '.join(args)}", file=sys.stderr)
    return json.loads(lines[-1])


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:,.0f}" if isinstance(v, float) else str(v)

    widths = {c: max(len(c), *(len(cell(r[c])) for r in rows)) for c in columns}
    lines = ["| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |",
             "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(r[c]).rjust(widths[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paradigms", default="sft", help="comma list of sft | dpo | reward")
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=32, help="examples (prompts or pairs)")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | bf16 (precision.py)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--train-args", default="{}", help="JSON of TrainingArguments fields, as strong_train.train_args "
                        "(e.g. '{\"gradient_checkpointing\": true}')")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        print(json.dumps(measure(args.child[0], args.model, args.n, args.precision, args.threads,
                                 json.loads(args.train_args))))
        return
    common = ["--model", args.model, "--n", str(args.n), "--precision", args.precision, "--threads", str(args.threads),
              "--train-args", args.train_args]
    rows = [r for p in args.paradigms.split(",") if (r := run_child([*common, "--child", p]))]
    if rows:
        print(table(rows, ["paradigm", "model", "precision", "n", "batch", "train_args", "load_rss_mb", "train_peak_mb",
                           "train_increase_mb", "score_peak_mb", "score_increase_mb", "train_s", "score_s"]))


if __name__ == "__main__":
    main()
