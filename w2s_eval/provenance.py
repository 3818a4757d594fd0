"""What produced a run: the software (versions of w2s-eval and of the libraries that train and
score, the git commit of a source checkout), and the machine (Python, OS, CPU, GPUs, threads) — as
lm-evaluation-harness records them, so a number that does not reproduce can be traced to a
difference. Written into ``metrics.json`` as ``provenance``; never part of a run id or cache key.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("w2s-eval", "torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets",
            "lm-eval", "scikit-learn", "numpy", "pandas", "ray")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_state(folder: Path) -> dict | None:
    """The commit of the checkout holding ``folder``, and whether it has uncommitted changes; None
    when w2s-eval was not installed from a git checkout."""
    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> dict:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_state(Path(__file__).resolve().parent),
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "cuda": torch.version.cuda if gpus else None,
        "torch_threads": torch.get_num_threads(),
    }
