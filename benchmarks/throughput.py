"""Training and labelling throughput, and peak memory, of each model in the classify paradigm.

    python benchmarks/throughput.py                 # every zoo model + tfidf, on this machine
    python benchmarks/throughput.py --models mpnet-base --n 128
    python benchmarks/throughput.py --cuda-1b       # on a CUDA machine: a random ~1B Llama,
                                                    # LoRA in bf16 vs QLoRA (4-bit NF4)

Each measurement runs in its own process, so the peak resident memory it reports (CPU) is that
model's alone; on CUDA the peak GPU memory comes from torch.cuda.max_memory_allocated. Texts are
real ToxiGen statements (W2S_DATA_DIR), trained one epoch with the packaged strong-model settings.
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


def measure(model: str, finetune: str, n: int, threads: int) -> dict:
    import torch

    from w2s_eval.config import TrainConfig
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.protocol import new_classifier
    from w2s_eval.tasks import get_task

    torch.set_num_threads(threads)
    frame, _ = get_task("toxicity").load()
    texts, labels = frame["text"].tolist()[:n], frame["label"].to_numpy(float)[:n]
    cfg = TrainConfig(finetune=finetune, epochs=1, lr=5e-4 if finetune == "lora" else 5e-5,
                      batch_size=16, max_length=128, select_on_val=False, quant="none")
    clf = new_classifier(resolve_model(model), cfg, seed=0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        clf.fit(texts, labels, work_dir=Path(work))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    clf.predict_proba(texts, progress=False)
    label_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model, "finetune": finetune if model != "tfidf" else "-", "n": n,
            "train_ex_s": n / train_s, "label_ex_s": n / label_s, "peak_rss_mb": peak_mb}


def measure_cuda_1b(quant: str, steps: int, seq_len: int, batch: int, hidden: int = 2048, layers: int = 16) -> dict:
    """A randomly initialised ~1B Llama classifier (no hub needed), LoRA trained on random text.

    ``hidden`` / ``layers`` shrink it for a smoke test on a CPU."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    from w2s_eval.config import TrainConfig
    from w2s_eval.trainers.classify import TransformerClassifier

    vocab = {f"w{i}": i for i in range(32000)}
    folder = Path(tempfile.mkdtemp()) / "llama-1b-random"
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="w0", eos_token="w1").save_pretrained(folder)
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=((hidden * 11 // 4 + 255) // 256) * 256,  # 5632 at 2048
                         num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=16,
                         num_labels=2, pad_token_id=0)
    cuda = torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).to(torch.bfloat16).save_pretrained(folder)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    cfg = TrainConfig(finetune="lora", quant=quant, epochs=1, lr=2e-4, batch_size=batch,
                      max_length=seq_len, select_on_val=False)
    clf = TransformerClassifier(str(folder), cfg, seed=0)
    params = sum(p.numel() for p in clf.model.parameters())
    if cuda and quant == "none":
        clf.model.to("cuda")  # the Trainer would move it anyway; here so its size is measured
    weights_gb = torch.cuda.memory_allocated() / 2**30 if cuda else 0.0  # the loaded model alone
    rng = torch.Generator().manual_seed(0)
    n = steps * batch
    texts = [" ".join(f"w{int(i)}" for i in torch.randint(2, 32000, (seq_len,), generator=rng)) for _ in range(n)]
    labels = torch.randint(0, 2, (n,), generator=rng).float().tolist()
    sync()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        clf.fit(texts, labels, work_dir=Path(work))
    sync()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    clf.predict_proba(texts, batch_size=batch * 2, progress=False)
    sync()
    label_s = time.perf_counter() - start
    weight_dtypes = sorted({str(p.dtype) for n_, p in clf.model.named_parameters() if "lora" not in n_})
    return {"model": "llama-1b-random", "quant": quant, "params_stored": params, "weights": ",".join(weight_dtypes),
            "train_tok_s": n * seq_len / train_s, "label_tok_s": n * seq_len / label_s,
            "weights_gb": weights_gb, "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
            "gpu": torch.cuda.get_device_name() if cuda else "cpu"}


def run_child(args: list[str]) -> dict | None:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n    ".join(done.stderr.strip().splitlines()[-12:])
        print(f"  failed: {' '.join(args)}:\n    {tail}", file=sys.stderr)
        return None
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
    parser.add_argument("--modes", default="full,lora", help="finetune modes to measure")
    parser.add_argument("--n", type=int, default=96, help="examples per measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cuda-1b", action="store_true", help="the 4-bit QLoRA benchmark on CUDA")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=2048, help="--cuda-1b model width (2048: ~1B)")
    parser.add_argument("--layers", type=int, default=16, help="--cuda-1b model depth")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        kind, *rest = args.child
        result = measure_cuda_1b(rest[0], args.steps, args.seq_len, args.batch, args.hidden, args.layers) if kind == "cuda" else \
            measure(rest[0], rest[1], args.n, args.threads)
        print(json.dumps(result))
        return
    if args.cuda_1b:
        rows = [r for q in ("none", "4bit") if (r := run_child(["cuda", q, "--steps", str(args.steps),
                "--seq-len", str(args.seq_len), "--batch", str(args.batch), "--hidden", str(args.hidden),
                "--layers", str(args.layers)]))]
        print(table(rows, ["model", "quant", "params_stored", "weights", "train_tok_s", "label_tok_s", "weights_gb", "peak_gpu_gb", "gpu"]))
        return
    rows = []
    for model in args.models.split(","):
        for mode in (["-"] if model == "tfidf" else args.modes.split(",")):
            result = run_child(["cpu", model, mode, "--n", str(args.n), "--threads", str(args.threads)])
            if result:
                rows.append(result)
                print(f"  {model} {mode}: done", file=sys.stderr)
    print(table(rows, ["model", "finetune", "n", "train_ex_s", "label_ex_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
