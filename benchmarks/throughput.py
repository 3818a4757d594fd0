"""Training and labelling throughput, utilisation of the machine's matmul peak, and peak memory,
per model, paradigm and precision.

    python benchmarks/throughput.py                      # classify: every zoo model + tfidf (CPU)
    python benchmarks/throughput.py --precision fp32,bf16   # ... in each precision (precision.py)
    python benchmarks/throughput.py --peak               # only the matmul peak, fp32 and bf16
    python benchmarks/throughput.py --paradigms          # sft / reward / dpo / classify on
                                                         # SmolLM2-135M, full precision vs 4-bit
    python benchmarks/throughput.py --cuda-1b            # CUDA: a random ~0.9B Llama, every
                                                         # paradigm, LoRA in bf16 vs QLoRA 4-bit

Each measurement runs in its own process, so the peak resident memory it reports (CPU) is that
run's alone; on CUDA, peak GPU memory is torch.cuda.max_memory_allocated. CPU measurements use
real data (ToxiGen statements; HH-RLHF pairs for the pair paradigms, W2S_DATA_DIR), one epoch.

Utilisation: the model's matmul work — 2 FLOPs per weight of its Linear layers per token forward,
3x that to train a full model (forward, input and weight gradients), 2x with LoRA (frozen weights
get no gradient; the adapters' own FLOPs are ignored), attention's own matmuls ignored — divided
by the time, as a share of the peak a large matmul reaches in the same process, threads and dtype
(``matmul_peak``: bf16 tensors for bf16, fp32 for fp32, the best of several sizes and repeats).
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
    out = {"train_s": train_s, "label_s": label_s,
           "linear_weights": linear_weights(model.model) if hasattr(model, "model") and hasattr(model.model, "modules")
           else linear_weights(model.encoder) if hasattr(model, "encoder") else 0}
    if cuda:
        out.update(weights_gb=weights_gb, peak_gpu_gb=torch.cuda.max_memory_allocated() / 2**30,
                   gpu=torch.cuda.get_device_name())
    return out


PEAK_SIZES = (1024, 2048, 4096)


def matmul_peak(precision: str, sizes=PEAK_SIZES, repeats: int = 5) -> float:
    """GFLOP/s of the fastest square ``a @ b`` with both tensors in ``precision``'s dtype (bfloat16
    tensors for bf16, float32 for fp32), over ``sizes`` and ``repeats`` calls each, in this process's
    threads: the most the machine's matmul units give in that dtype. Autocast is not used: it would
    time the fp32 -> bf16 casts of both operands with the matmul, which is what a model's layers do
    but not what the units can do (on an AMX CPU that understated the bf16 peak ~5x). A size is
    dropped where one call takes over 2 s (emulated bfloat16, slow CPUs)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        first = _timed(lambda: a @ b)  # also the warm-up: packing buffers, thread pool
        if first > 2.0:
            break
        seconds = min(_timed(lambda: a @ b) for _ in range(repeats))
        best = max(best, 2 * size**3 / seconds / 1e9)
    return best


def cpu_model() -> str:
    """The CPU's model name and its bf16 instruction sets (lscpu; /proc/cpuinfo's flags)."""
    from w2s_eval.precision import cpu_bf16_units

    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown CPU")
    except (OSError, subprocess.CalledProcessError):
        name = "unknown CPU"
    return f"{name}; bf16 units: {', '.join(cpu_bf16_units()) or 'none'}"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def linear_weights(model) -> int:
    """Weights of the model's matmuls (its Linear layers, any wrapping: LoRA, 4-bit)."""
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and hasattr(m, "weight")
               and m.weight is not None and m.weight.ndim == 2)


def measure_cpu(model: str, paradigm: str, finetune: str, quant: str, n: int, threads: int,
                precision: str = "fp32") -> dict:
    import torch

    from w2s_eval.config import TrainConfig
    from w2s_eval.memory import peak_rss_mb
    from w2s_eval.tasks import get_task

    torch.set_num_threads(threads)
    frame = get_task(PARADIGM_TASK[paradigm]).load()[0].head(n)
    cfg = TrainConfig(finetune=finetune if model != "tfidf" else "full", quant=quant, epochs=1,
                      lr=5e-4 if finetune == "lora" else 5e-5, batch_size=8, max_length=128, select_on_val=False,
                      precision=precision)
    peak = matmul_peak(precision) if model != "tfidf" else None
    result = train_and_label(paradigm, model, cfg, frame, cuda=False)
    row = {"model": model, "paradigm": paradigm, "finetune": finetune if model != "tfidf" else "-",
           "quant": quant, "precision": precision if model != "tfidf" else "-", "n": n,
           "train_ex_s": n / result["train_s"], "label_ex_s": n / result["label_s"],
           **({"peak_gflops": peak} if peak else {}), "peak_rss_mb": peak_rss_mb()}
    if model != "tfidf" and paradigm == "classify":
        from transformers import AutoTokenizer

        from w2s_eval.models.resolve import resolve_model

        tokens = sum(len(ids) for ids in AutoTokenizer.from_pretrained(resolve_model(model).location)(
            list(frame["text"]), truncation=True, max_length=cfg.max_length)["input_ids"])
        weights = result["linear_weights"]
        train_flops = (3 if cfg.finetune == "full" else 2) * 2 * weights * tokens
        row.update(train_tok_s=tokens / result["train_s"], label_tok_s=tokens / result["label_s"],
                   train_util=100 * train_flops / result["train_s"] / 1e9 / peak,
                   label_util=100 * 2 * weights * tokens / result["label_s"] / 1e9 / peak)
    return row


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
    parser.add_argument("--precision", default="fp32", help="comma list of fp32 | bf16 for the CPU tables")
    parser.add_argument("--peak", action="store_true", help="only the matmul peak in fp32 and bf16")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        kind, *rest = args.child
        if kind == "cuda":
            result = measure_cuda(rest[0], rest[1], args.n, args.seq_len, args.batch, args.hidden, args.layers)
        elif kind == "peak":
            import torch

            torch.set_num_threads(args.threads)
            result = {"threads": args.threads, **{f"{d}_gflops": matmul_peak(d) for d in ("fp32", "bf16")}}
        else:
            result = measure_cpu(rest[0], rest[1], rest[2], rest[3], args.n, args.threads, rest[4])
        print(json.dumps(result))
        return
    common = ["--n", str(args.n), "--threads", str(args.threads), "--seq-len", str(args.seq_len),
              "--batch", str(args.batch), "--hidden", str(args.hidden), "--layers", str(args.layers)]
    if args.cuda_1b:
        rows = [r for p in PARADIGM_TASK for q in ("none", "4bit") if (r := run_child(["cuda", p, q, *common]))]
        print(table(rows, ["model", "paradigm", "quant", "train_tok_s", "label_tok_s", "weights_gb", "peak_gpu_gb", "gpu"]))
        return
    print(f"CPU: {cpu_model()}")
    if args.peak:
        rows = [r for r in [run_child(["peak", *common])] if r]
        print(table(rows, ["threads", "fp32_gflops", "bf16_gflops"]))
        return
    precisions = args.precision.split(",")
    if args.paradigms:
        jobs = [(args.paradigm_model, p, "lora", q, x) for p in PARADIGM_TASK for q in ("none", "4bit") for x in precisions]
    else:
        jobs = [(m, "classify", mode, "none", x) for m in args.models.split(",")
                for mode in (["full"] if m == "tfidf" else args.modes.split(","))
                for x in (["fp32"] if m == "tfidf" else precisions)]
    rows = [r for job in jobs if (r := run_child(["cpu", *job, *common]))]
    columns = ["model", "paradigm", "finetune", "quant", "precision", "n", "train_ex_s", "label_ex_s"]
    if not args.paradigms:
        columns += ["train_tok_s", "label_tok_s", "peak_gflops", "train_util", "label_util"]
        for row in rows:  # tfidf has no matmuls to count
            row.update({c: "-" for c in columns if c not in row})
    print(table(rows, columns + ["peak_rss_mb"]))


if __name__ == "__main__":
    main()
