"""Runs launched on several processes by ``torchrun`` or ``accelerate launch`` (DDP; FSDP or
DeepSpeed through ``train_args`` or an accelerate config).

Every rank runs the whole protocol, because a training step is collective: the HF and TRL
trainers split each batch across the ranks and average gradients, so all ranks must enter it
together. Only rank 0 writes: its steps go to the shared step cache and its run folder is the
run. Every other rank reads finished steps from that shared cache and computes the rest in a
scratch folder of its own (identical results: the same seed, the same synchronised model), which
it deletes at the end. All ranks leave the run together, so when any returns the run folder is
complete.
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init_process_group():
    """Join the launcher's process group (gloo on CPU, NCCL on CUDA) when launched on several ranks;
    the trainers find it joined and use it."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")


def barrier():
    if world_size() > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
