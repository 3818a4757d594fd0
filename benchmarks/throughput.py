"""Training and labelling throughput, and peak memory, per model and per paradigm.

    python benchmarks/throughput.py                      # classify: every zoo model + tfidf (CPU)
    python benchmarks/throughput.py --paradigms          # sft / reward / dpo / classify on
                                                         # SmolLM2-135M, full precision vs 4-bit
    python benchmarks/throughput.py --cuda-1b            # CUDA: a random ~0.9B Llama, every
                                                         # paradigm, LoRA in bf16 vs QLoRA 4-bit

Each measurement runs in its own process, so the peak resident memory it reports (CPU) is that
run's alone; on CUDA, peak GPU memory is torch.cuda.max_memory_allocated. CPU measurements use
real data (ToxiGen statements; HH-RLHF pairs for the pair paradigms, W2S_DATA_DIR), one epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZOO_MODELS = ["tfidf", "minilm-l6", "mpnet-base", "smollm2-135m", "gemma3-270m"]
PARADIGM_TASK = {"classify": "toxicity", "sft": "toxicity", "reward": "reward", "dpo": "reward"}
RANDOM_1B = Path(tempfile.gettempdir()) / "w2s-llama-1b-random"


def train_and_label(paradigm_name: str, location_or_ref: str, cfg, frame, cuda: bool) -> dict:
    """Train one epoch on ``frame`` and label it; return seconds and sizes."""
    import torch

    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.paradigms import get_paradigm, new_model
    from w2s_eval.tasks import get_task

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    task = get_task(PARADIGM_TASK[paradigm_name])
    model = new_model(resolve_model(location_or_ref), get_paradigm(paradigm_name), cfg, 0, task)
    if hasattr(model, "answers") and location_or_ref == str(RANDOM_1B):
        model.answers = ("w5", "w6")  # words the random model's vocabulary has
    if cuda:
        if cfg.quant == "none":
            model.model.to("cuda")  # the Trainer would move it anyway; here so its size is measured
        weights_gb = torch.cuda.memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        model.fit(frame, frame["label"].to_numpy(float), work_dir=Path(work))
    sync()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    model.predict_proba(frame)
    sync()
    label_s = time.perf_counter() - start
    out = {"train_s": train_s, "label_s": label_s}
    if cuda:
        out.update(weights_gb=weights_gb, peak_gpu_gb=torch.cuda.max_memory_allocated() / 2**30,
                   gpu=torch.cuda.get_device_name())
    return out


def measure_cpu(model: str, paradigm: str, finetune: str, quant: str, n: int, threads: int) -> dict:
    import torch

    from w2s_eval.config import TrainConfig
    from w2s_eval.tasks import get_task

    torch.set_num_threads(threads)
    frame = get_task(PARADIGM_TASK[paradigm]).load()[0].head(n)
    cfg = TrainConfig(finetune=finetune if model != "tfidf" else "full", quant=quant, epochs=1,
                      lr=5e-4 if finetune == "lora" else 5e-5, batch_size=8, max_length=128, select_on_val=False)
    result = train_and_label(paradigm, model, cfg, frame, cuda=False)
    return {"model": model, "paradigm": paradigm, "finetune": finetune if model != "tfidf" else "-",
            "quant": quant, "n": n, "train_ex_s": n / result["train_s"], "label_ex_s": n / result["label_s"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def random_1b(hidden: int, layers: int) -> Path:
    """A randomly initialised Llama causal LM (~0.9B at width 2048, 16 layers), made once and saved
    with a word-level tokenizer, so no hub is needed."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = RANDOM_1B
    if (folder / "config.json").exists():
        return folder
    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(32000)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="w0", eos_token="w1").save_pretrained(folder)
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=((hidden * 11 // 4 + 255) // 256) * 256,
                         num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=16, pad_token_id=0,
                         eos_token_id=1, bos_token_id=2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    return folder


def measure_cuda(paradigm: str, quant: str, n: int, seq_len: int, batch: int, hidden: int, layers: int) -> dict:
    import pandas as pd
    import torch

    from w2s_eval.config import TrainConfig

    folder = random_1b(hidden, layers)
    rng = torch.Generator().manual_seed(0)

    def words(k):
        return " ".join(f"w{int(i)}" for i in torch.randint(10, 32000, (k,), generator=rng))

    half = seq_len // 2
    frame = pd.DataFrame({"text": [words(seq_len - 8) for _ in range(n)], "prompt": [words(half // 2) for _ in range(n)],
                          "reply_a": [words(half // 2) for _ in range(n)], "reply_b": [words(half // 2) for _ in range(n)],
                          "label": torch.randint(0, 2, (n,), generator=rng).tolist()})
    cfg = TrainConfig(finetune="lora", quant=quant, epochs=1, lr=2e-4, batch_size=batch, max_length=seq_len,
                      select_on_val=False)
    result = train_and_label(paradigm, str(folder), cfg, frame, cuda=torch.cuda.is_available())
    tokens = n * seq_len
    return {"model": f"llama-random-{hidden}x{layers}", "paradigm": paradigm, "quant": quant,
            "train_tok_s": tokens / result["train_s"], "label_tok_s": tokens / result["label_s"],
            **{k: result.get(k, 0.0) for k in ("weights_gb", "peak_gpu_gb")}, "gpu": result.get("gpu", "cpu")}


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
        return f"{v:,.1f}" if isinstance(v, float) else str(v)

    widths = {c: max(len(c), *(len(cell(r[c])) for r in rows)) for c in columns}
    lines = ["| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |",
             "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(r[c]).rjust(widths[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ZOO_MODELS))
    parser.add_argument("--modes", default="full,lora", help="finetune modes for the per-model table")
    parser.add_argument("--paradigms", action="store_true", help="per paradigm, with and without 4-bit")
    parser.add_argument("--paradigm-model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=64, help="examples per measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cuda-1b", action="store_true", help="every paradigm on a random ~1B Llama, on CUDA")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=2048, help="--cuda-1b model width (2048: ~0.9B)")
    parser.add_argument("--layers", type=int, default=16, help="--cuda-1b model depth")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        kind, *rest = args.child
        if kind == "cuda":
            result = measure_cuda(rest[0], rest[1], args.n, args.seq_len, args.batch, args.hidden, args.layers)
        else:
            result = measure_cpu(rest[0], rest[1], rest[2], rest[3], args.n, args.threads)
        print(json.dumps(result))
        return
    common = ["--n", str(args.n), "--threads", str(args.threads), "--seq-len", str(args.seq_len),
              "--batch", str(args.batch), "--hidden", str(args.hidden), "--layers", str(args.layers)]
    if args.cuda_1b:
        rows = [r for p in PARADIGM_TASK for q in ("none", "4bit") if (r := run_child(["cuda", p, q, *common]))]
        print(table(rows, ["model", "paradigm", "quant", "train_tok_s", "label_tok_s", "weights_gb", "peak_gpu_gb", "gpu"]))
        return
    if args.paradigms:
        jobs = [(args.paradigm_model, p, "lora", q) for p in PARADIGM_TASK for q in ("none", "4bit")]
    else:
        jobs = [(m, "classify", mode, "none") for m in args.models.split(",")
                for mode in (["full"] if m == "tfidf" else args.modes.split(","))]
    rows = [r for job in jobs if (r := run_child(["cpu", *job, *common]))]
    print(table(rows, ["model", "paradigm", "finetune", "quant", "n", "train_ex_s", "label_ex_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
