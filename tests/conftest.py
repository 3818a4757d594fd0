"""Test settings: offline, one thread, the real data slices in ../shared/data, models cached once.

Environment that CI (.ci/run) may set and these tests respect:
  W2S_DATA_DIR    the data mirror (default: ../shared/data beside the repository)
  W2S_CACHE_DIR   where zoo models are cached across tests (default: a session temp folder)

``pytest --native-bf16=yes`` (or ``no``) runs the suite as a CPU with (without) bfloat16 units would:
``precision: auto`` then resolves to bf16 (fp32) whatever this machine has (W2S_NATIVE_BF16, read by
w2s_eval/precision.py, so subprocesses follow it too). Tests whose numbers depend on the precision
pin it, or check each precision against the tolerance it warrants.
"""

import os
import tempfile
from pathlib import Path

# Before anything imports transformers / datasets: without these a hub lookup hangs 30-45 s.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="w2s-hf-home-"))
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
if "W2S_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["W2S_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("W2S_CACHE_DIR", tempfile.mkdtemp(prefix="w2s-cache-"))

import pytest  # noqa: E402
import torch  # noqa: E402

from w2s_eval.precision import NATIVE_BF16_ENV  # noqa: E402

torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--native-bf16", choices=["yes", "no"], default=None,
                     help="run as a CPU with (yes) or without (no) bfloat16 units would: what precision: auto "
                          "resolves to (default: this machine's)")


def pytest_configure(config):
    choice = config.getoption("--native-bf16")
    if choice is not None:
        os.environ[NATIVE_BF16_ENV] = "1" if choice == "yes" else "0"


def pytest_report_header(config):
    from w2s_eval.precision import cpu_bf16_units, resolve

    units = ", ".join(cpu_bf16_units()) or "none"
    forced = os.environ.get(NATIVE_BF16_ENV)
    return (f"w2s-eval: CPU bfloat16 units: {units}; precision auto -> {resolve('auto')}"
            + (f" ({NATIVE_BF16_ENV}={forced})" if forced is not None else ""))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("W2S_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("the real data is needed: set W2S_DATA_DIR to shared/data")
    return Path(value)
