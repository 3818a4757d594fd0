"""Resident memory of this process: now, and its peak over a stretch of work (a run's step, a
benchmark's phase).

Linux keeps the process's peak resident set (``VmHWM`` in /proc/self/status) and lets the process
reset it (writing 5 to /proc/self/clear_refs), so the peak of one stretch is measured by itself,
not hidden under an earlier, higher one. Elsewhere (or where the reset is refused) the peak is the
process's lifetime peak (``getrusage``), which bounds the stretch's from above. Stretches are
measured one after another, not nested: a stretch's start resets the peak of any stretch around it.
"""

from __future__ import annotations

import ctypes
import re
import resource
import sys
from contextlib import contextmanager
from pathlib import Path

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float | None:
    try:
        found = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def rss_mb() -> float | None:
    """Resident memory now, MiB (None where /proc is not there)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory since the last ``reset_peak`` (or the process's start), MiB."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB on Linux


def release_freed():
    """Hand memory that is freed but still held by the C allocator back to the system (glibc's
    ``malloc_trim``; nothing elsewhere). glibc keeps the heap that large tensors were freed from, so
    without this a process stays at its highest resident size after a big step (training) is done."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak() -> bool:
    """Start a new peak at the current resident memory; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def watch():
    """``with watch() as memory:`` measures the block: afterwards ``memory`` holds ``peak_rss_mb``
    (the process's peak during the block), ``rss_start_mb`` and ``peak_increase_mb`` (peak − start:
    what the block's own work added at its highest), and ``peak_since_start`` (False where the peak
    could not be reset, so it may be an earlier, higher one)."""
    memory: dict = {}
    release_freed()  # the block starts from the memory in use, not from what earlier work left held
    since_start = reset_peak()
    start = rss_mb() or peak_rss_mb()
    try:
        yield memory
    finally:
        peak = peak_rss_mb()
        memory.update(peak_rss_mb=round(peak, 1), rss_start_mb=round(start, 1),
                      peak_increase_mb=round(max(0.0, peak - start), 1), peak_since_start=since_start)
