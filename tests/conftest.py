"""Test settings: offline, one thread, the real data slices in ../shared/data, models cached once.

Environment that CI (.ci/run) may set and these tests respect:
  W2S_DATA_DIR    the data mirror (default: ../shared/data beside the repository)
  W2S_CACHE_DIR   where zoo models are cached across tests (default: a session temp folder)
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

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("W2S_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("the real data is needed: set W2S_DATA_DIR to shared/data")
    return Path(value)
