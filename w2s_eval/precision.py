"""Numeric precision of training and inference: ``precision: auto | fp32 | bf16`` (per model, in
``weak_train`` / ``strong_train``).

``bf16`` trains with the Trainer's bfloat16 autocast (``TrainingArguments(bf16=True)``, on CPU too)
and scores, embeds and generates under ``torch.autocast`` in bfloat16; weights stay fp32. ``auto``
is bf16 where the hardware computes bfloat16 natively — a CUDA GPU that supports it, or a CPU with
AMX or AVX512-BF16 units — and fp32 elsewhere: emulated bfloat16 is slower than fp32 (measured in
``benchmarks/throughput.py --peak``). A run records the precision each model used, and the cache
keys hold it.

Reproducibility: ``auto`` makes the same command compute differently on CPUs with and without
bfloat16 units — slightly different probabilities, and so different run ids and cache keys. Pin
``precision: fp32`` (``--set weak_train.precision=fp32 --set strong_train.precision=fp32``) to
reproduce a number exactly across machines. ``W2S_NATIVE_BF16=1`` (or ``0``) makes ``auto`` resolve
as on a machine with (without) the units: the test suite's ``--native-bf16`` option sets it, so
one machine can run the suite as the other kind would.
"""

from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
NATIVE_BF16_ENV = "W2S_NATIVE_BF16"  # "1" / "0": resolve auto as if bfloat16 were (not) native here


@functools.lru_cache(maxsize=1)
def cpu_bf16_units() -> tuple[str, ...]:
    """The CPU's native bfloat16 instruction sets (from /proc/cpuinfo; none known elsewhere)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ()
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bf16() -> bool:
    import torch

    forced = os.environ.get(NATIVE_BF16_ENV)
    if forced is not None:
        if forced not in ("0", "1"):
            from .errors import UserError

            raise UserError(f"{NATIVE_BF16_ENV}: expected 1 (bfloat16 native) or 0 (not), got {forced!r}")
        return forced == "1"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(cpu_bf16_units())


def resolve(setting: str) -> str:
    """``auto`` -> ``bf16`` where bfloat16 is native here, else ``fp32``; the others as they are."""
    if setting not in PRECISIONS:
        from .errors import UserError

        raise UserError(f"precision: expected one of {', '.join(PRECISIONS)}, got {setting!r}")
    if setting == "auto":
        return "bf16" if native_bf16() else "fp32"
    return setting


def autocast(precision: str):
    """The context that computes in ``precision`` (resolved): bf16 autocast, or nothing for fp32."""
    if resolve(precision) == "bf16":
        import torch

        return torch.autocast(device_type=device(), dtype=torch.bfloat16)
    return nullcontext()


def scoring(method):
    """For a model's inference methods: no autograd, and autocast in the object's ``precision``."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        import torch

        with torch.inference_mode(), autocast(self.precision):
            return method(self, *args, **kwargs)
    return wrapper
