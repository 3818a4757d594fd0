"""Every test here is marked ``reliability`` (``pytest -m reliability`` runs the suite alone)."""

import pytest

from .faults import can_mount


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/reliability/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def mounts():
    """Cases that need a file system of their own (read-only, small, filling up) mount a tmpfs."""
    if not can_mount():
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
