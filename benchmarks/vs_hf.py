"""w2s-eval's classify trainer against a plain Hugging Face ``Trainer``, side by side.

    python benchmarks/vs_hf.py                       # minilm-l6, 256 ToxiGen statements, 3 repeats
    python benchmarks/vs_hf.py --model mpnet-base --n 128 --profile

The same model, data, split, batch size (32), one epoch and threads for each contender:

- ``w2s-eval``: ``TransformerClassifier.fit`` / ``predict_proba`` (the classify paradigm's trainer,
  as a run uses it: length-grouped training batches, length-sorted labelling batches);
- ``hf``: ``Trainer`` with ``DataCollatorWithPadding``, labelling with ``Trainer.predict``;
- ``hf-grouped``: the same with ``train_sampling_strategy="group_by_length"`` (transformers 5; the
  stronger baseline).

Contenders run interleaved (one of each per repeat, in turn), so a slow moment of the machine
costs each the same. Prints examples/s (min / median / max over repeats), the ratio of medians to
``hf-grouped``, and each one's test accuracy (trained on the same labels). ``--profile``: where
w2s-eval's training time goes (torch.profiler, top operators by self CPU time).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import table  # noqa: E402

CONTENDERS = ("w2s-eval", "hf", "hf-grouped")


def hf_trainer(location: str, train, grouped: bool, batch: int, max_length: int, seed: int, work: Path):
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    tokenizer = AutoTokenizer.from_pretrained(location)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(location, num_labels=2)
    encode = lambda frame: [dict(tokenizer(t, truncation=True, max_length=max_length), labels=int(y))  # noqa: E731
                            for t, y in zip(frame["text"], frame["label"])]
    args = TrainingArguments(output_dir=str(work), num_train_epochs=1, per_device_train_batch_size=batch,
                             per_device_eval_batch_size=batch, learning_rate=5e-5, warmup_steps=0.1, weight_decay=0.01,
                             lr_scheduler_type="linear", save_strategy="no",
                             train_sampling_strategy="group_by_length" if grouped else "random",
                             eval_strategy="no", report_to=[], seed=seed, use_cpu=True, disable_tqdm=True,
                             dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=encode(train),
                      data_collator=DataCollatorWithPadding(tokenizer))

    def label(frame):
        logits = trainer.predict(encode(frame)).predictions
        return torch.softmax(torch.from_numpy(np.asarray(logits)), -1)[:, 1].numpy()

    return trainer.train, label


def w2s_trainer(location: str, train, batch: int, max_length: int, seed: int, work: Path):
    from w2s_eval.config import TrainConfig
    from w2s_eval.trainers.classify import TransformerClassifier

    cfg = TrainConfig(finetune="full", epochs=1, lr=5e-5, batch_size=batch, max_length=max_length,
                      select_on_val=False, precision="fp32")
    model = TransformerClassifier(location, cfg, seed)
    return (lambda: model.fit(train, train["label"].to_numpy(float), work_dir=work),
            lambda frame: model.predict_proba(frame, batch_size=batch, progress=False))


def measure(name: str, location: str, train, test, batch: int, max_length: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        if name == "w2s-eval":
            fit, label = w2s_trainer(location, train, batch, max_length, seed, Path(work))
        else:
            fit, label = hf_trainer(location, train, name == "hf-grouped", batch, max_length, seed, Path(work))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its summary dict
            fit()
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        label(train)
        label_s = time.perf_counter() - start
        acc = float(((label(test) > 0.5) == test["label"].to_numpy()).mean())
    return {"train_ex_s": len(train) / train_s, "label_ex_s": len(train) / label_s, "acc": acc}


def profile_training(location: str, train, batch: int, max_length: int, seed: int, top: int = 12):
    from torch.profiler import ProfilerActivity, profile

    with tempfile.TemporaryDirectory() as work:
        fit, _ = w2s_trainer(location, train, batch, max_length, seed, Path(work))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm-l6", help="a zoo model (default: minilm-l6)")
    parser.add_argument("--n", type=int, default=256, help="training examples (labelled again to time labelling)")
    parser.add_argument("--n-test", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--profile", action="store_true", help="also profile w2s-eval's training")
    args = parser.parse_args()

    import torch

    from w2s_eval.cli import quiet_libraries
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.tasks import get_task

    quiet_libraries(progress_bars=False)
    torch.set_num_threads(args.threads)
    frame = get_task("toxicity").load()[0].sample(args.n + args.n_test, random_state=0)
    train, test = frame.iloc[:args.n], frame.iloc[args.n:]
    location = resolve_model(args.model).location
    results = {name: [] for name in CONTENDERS}
    for repeat in range(args.repeats):
        for name in CONTENDERS:
            results[name].append(measure(name, location, train, test, args.batch, args.max_length, seed=repeat))
            print(f"  repeat {repeat}: {name} {results[name][-1]}", file=sys.stderr)

    def spread(name, key):
        values = [r[key] for r in results[name]]
        return min(values), statistics.median(values), max(values)

    base = {key: spread("hf-grouped", key)[1] for key in ("train_ex_s", "label_ex_s")}
    rows = []
    for name in CONTENDERS:
        row = {"trainer": name}
        for key in ("train_ex_s", "label_ex_s"):
            low, mid, high = spread(name, key)
            row[key.replace("_ex_s", " ex/s (min/med/max)")] = f"{low:.1f} / {mid:.1f} / {high:.1f}"
            row[key.replace("_ex_s", " vs hf-grouped")] = f"{mid / base[key]:.2f}x"
        row["test acc (per repeat)"] = " ".join(f"{r['acc']:.3f}" for r in results[name])
        rows.append(row)
    print(f"\n{args.model}, {args.n} ToxiGen statements (test {args.n_test}), batch {args.batch}, max_length "
          f"{args.max_length}, 1 epoch, {args.threads} threads, {args.repeats} repeats, fp32\n")
    print(table(rows, list(rows[0])))
    if args.profile:
        profile_training(location, train, args.batch, args.max_length, seed=0)


if __name__ == "__main__":
    main()
