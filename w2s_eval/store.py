"""Atomic files, content-hashed step cache, and the run log.

Every file is written to a temporary name and renamed into place, so a killed process leaves
either the old file or the new one, never half of one. A cached step is a folder named by the
hash of everything it depends on; it appears (by one rename) only when the step has finished,
so a rerun after a kill redoes the unfinished step and reuses every finished one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

import filelock
import pandas as pd
import yaml

from . import memory
from .errors import UserError

# Below this much free space under --out a run is refused before it starts: a full disk mid-run
# costs a restart, not results (every finished step is kept), but it is cheaper to say so first.
MIN_FREE_BYTES = 64 << 20

# errno values of a file system that cannot take more writes: full, over quota, read-only, denied.
UNWRITABLE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM: "not permitted"}


def exception_chain(exc: BaseException | None):
    """``exc`` and the exceptions it was raised from or during, innermost last (each once)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def unwritable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` (or an exception it was raised from) is a refused write, or None. Libraries wrap
    the OSError (pyarrow, torch and safetensors raise their own types), so their text is read too."""
    for link in exception_chain(exc):
        if isinstance(link, OSError) and link.errno in UNWRITABLE:
            return UNWRITABLE[link.errno]
        text = str(link)
        if "No space left on device" in text or "file write failed" in text:
            return UNWRITABLE[errno.ENOSPC]
        if "Read-only file system" in text:
            return UNWRITABLE[errno.EROFS]
    return None


def refused_file(exc: BaseException) -> str | None:
    """The file the refused write was for, where an exception of the chain names it."""
    return next((link.filename for link in exception_chain(exc) if getattr(link, "filename", None)), None)


SPECIAL_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                 (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def path_problem(path: Path, want_folder: bool = False) -> str | None:
    """What is wrong with reading ``path`` as a regular file (or, ``want_folder``, as a folder):
    "no such file", "a broken symbolic link", "a symbolic link loop", or the kind of special file
    there (a FIFO would block a read forever, /dev/zero never ends); None when it is one."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"a broken symbolic link (to {os.readlink(path)})" if path.is_symlink() else "no such file or folder"
    except NotADirectoryError:  # a file where a folder of the path should be: nothing is there
        return "no such file or folder"
    except OSError as exc:
        return "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror
    if want_folder:
        return None if stat.S_ISDIR(mode) else ("a file" if stat.S_ISREG(mode) else _special_kind(mode))
    return None if stat.S_ISREG(mode) else _special_kind(mode)


def _special_kind(mode: int) -> str:
    return next((kind for is_kind, kind in SPECIAL_KINDS if is_kind(mode)), "not a regular file")


def readable_file(path: Path, label: str, expected: str) -> Path:
    """``path`` if it is a regular file, else a one-line error: ``label`` names the flag or file
    (e.g. "config file x.yaml"), ``expected`` what should be there."""
    problem = path_problem(path)
    if problem:
        raise UserError(f"{label}: {problem}; expected {expected}")
    return Path(path)


def check_writable(folder: Path, flag: str = "--out", min_free: int = MIN_FREE_BYTES) -> Path:
    """``folder`` can be written (it, or the nearest folder above it that exists, takes a file) and
    has ``min_free`` bytes free; otherwise a one-line error naming ``flag``. Called before any data
    or model is loaded; creates nothing."""
    folder = Path(folder)
    problem = path_problem(folder, want_folder=True)
    if problem and problem not in ("no such file or folder", "a file"):  # a loop, a FIFO, a device
        raise UserError(f"{flag} {folder}: {problem}; expected a folder")
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == folder.absolute() else f"is under {existing}, which is a file"
        raise UserError(f"{flag} {folder}: {where}; expected a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".w2s-write-check-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot write there ({unwritable_reason(exc) or exc.strerror}); "
                        f"expected a writable folder") from None
    free = shutil.disk_usage(existing).free
    if free < min_free:
        raise UserError(f"{flag} {folder}: only {free / 2**20:.0f} MiB free; a run needs at least "
                        f"{min_free / 2**20:.0f} MiB")
    return folder


def check_outputs_writable(out: Path, flag: str = "--out") -> None:
    """Where a run writes — ``out`` and the model cache shared across runs — before any work."""
    from .models.zoo import cache_base

    check_writable(out, flag)
    check_writable(cache_base(), "the model cache (set W2S_CACHE_DIR to move it)")


def _replace_atomically(path: Path, write: Callable[[Path], None]):
    """``write(tmp)`` then rename it onto ``path``; a failed write (disk full) leaves no tmp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_orphaned_tmp_files(folder: Path) -> list[str]:
    """Remove the tmp files that ``_replace_atomically`` left in ``folder`` when its process was
    killed mid-write (``kill -9`` cannot be cleaned up after); a tmp file of a live process (another
    run writing the same folder) stays. Returns the names removed."""
    removed = []
    for tmp in folder.glob(".*.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def atomic_write_text(path: Path, text: str):
    _replace_atomically(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: Path, data):
    atomic_write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def atomic_write_yaml(path: Path, data):
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def atomic_write_parquet(path: Path, frame: pd.DataFrame):
    _replace_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def content_hash(payload) -> str:
    text = json.dumps(payload, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# The shape of every cache key (steps, run ids, embedding and hidden-state caches). A key holds
# every setting that can change its result, always, whatever its value; when what keys hold must
# change, this number is bumped once instead of keeping older keys alive inside the key builders.
# Entries made under another schema are not reused: their steps are computed once more.
KEY_SCHEMA = 3


def step_key(step: str, *parts) -> str:
    """The cache key of a step (``StepCache``): a content hash of the key schema, the step's name
    and ``parts``, everything its result depends on."""
    return content_hash([f"key-schema-{KEY_SCHEMA}", step, *parts])


class RunLog:
    """Human lines on stderr, and the same events as JSON lines in the run's log.jsonl."""

    def __init__(self, path: Path | None = None, quiet: bool = False):
        self.path, self.quiet, self.start = path, quiet, time.time()
        self.written = False

    def __call__(self, event: str, message: str = "", **fields):
        record = {"time": round(time.time() - self.start, 2), "event": event, **fields}
        if message:
            record["message"] = message
        if self.path is not None:
            if self.written and not self.path.parent.is_dir():
                # Made again it would lack its config.yaml and the events so far: stop and say so.
                raise UserError(f"{self.path.parent} was deleted while w2s-eval was writing to it; finished steps "
                                f"are kept in the step cache: rerun the same command to continue from the last of "
                                f"them")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.written = True
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record, default=_jsonable) + "\n")
        if message and not self.quiet:
            print(f"[w2s-eval] {message}", file=sys.stderr, flush=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every file under ``folder`` (but ``skip``): [size, sha256, mtime_ns], to check it later."""
    records = {}
    for f in sorted(Path(folder).rglob("*")):
        name = str(f.relative_to(folder))
        if f.is_file() and name not in skip:
            stat = f.stat()
            records[name] = [stat.st_size, file_sha256(f), stat.st_mtime_ns]
    return records


def _is_file_records(records) -> bool:
    """``records`` as ``record_files`` writes them: name -> [size, sha256, mtime in ns]."""
    return isinstance(records, dict) and all(
        isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], int) and isinstance(entry[1], str)
        and isinstance(entry[2], int) for entry in records.values())


def record_problems(folder: Path, records: dict[str, list]) -> list[str]:
    """Files of ``folder`` that no longer match ``records``: missing, resized, or changed (a file
    whose modification time moved is hashed again; an untouched one is not re-read)."""
    out = []
    for name, (size, digest, mtime) in records.items():
        path = Path(folder) / name
        if not path.is_file():
            out.append(f"{name}: missing")
            continue
        stat = path.stat()
        if stat.st_size != size:
            out.append(f"{name}: {stat.st_size} bytes, {size} recorded")
        elif stat.st_mtime_ns != mtime and file_sha256(path) != digest:
            out.append(f"{name}: content changed (sha256 differs)")
    return out


def verify_cache(out_dir: Path, fix: bool = False) -> list[tuple[str, list[str]]]:
    """Every finished step under ``out_dir/.cache`` checked against its recorded checksums; returns
    the damaged ones with what is wrong, and with ``fix`` removes them (the next run recomputes them)."""
    damaged = []
    for manifest in sorted((Path(out_dir) / ".cache").glob(f"*/{StepCache.MANIFEST}")):
        problems = StepCache.problems(manifest.parent)
        if problems:
            damaged.append((manifest.parent.name, problems))
            if fix:
                shutil.rmtree(manifest.parent)
    return damaged


class Step(NamedTuple):
    """A finished cached step: its key and its folder (and, for a student trained under a
    conflict, the conflict's record)."""

    key: str
    folder: Path
    record: dict | None = None


class StepCache:
    """Finished steps under ``root/<step>-<key>/``, each holding a ``step.json`` manifest."""

    MANIFEST = "step.json"

    def __init__(self, root: Path, shared: Path | None = None):
        # ``shared``: a cache this process may read but never writes (a distributed run's rank other
        # than 0 reads rank 0's finished steps there and computes the rest under ``root``).
        self.root, self.shared = root, shared

    def folder(self, step: str, key: str) -> Path:
        return self.root / f"{step}-{key}"

    def is_done(self, step: str, key: str) -> bool:
        return (self.folder(step, key) / self.MANIFEST).exists()

    @classmethod
    def problems(cls, folder: Path) -> list[str]:
        """What is wrong with a finished step's files against the checksums its manifest recorded
        (missing, resized or changed files); [] when they match, or for an entry written before
        checksums were recorded (nothing to check against)."""
        try:
            manifest = json.loads((folder / cls.MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            return [f"{cls.MANIFEST}: unreadable ({exc})"]
        recorded = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(manifest, dict) or not _is_file_records(recorded or {}):
            return [f"{cls.MANIFEST}: not a step manifest (expected an object whose files map each name to "
                    f"[size, sha256, mtime])"]
        return record_problems(folder, recorded or {})

    def run(self, step: str, key: str, work: Callable[[Path], dict], log: RunLog) -> Path:
        """Run ``work(tmp_folder) -> info`` unless the step is cached; return the step folder."""
        final = self.folder(step, key)
        if self.shared is not None and (self.shared / final.name / self.MANIFEST).exists():
            log("step_cached", f"{step}: reusing cached result {final.name}", step=step, key=key)
            return self.shared / final.name
        self.root.mkdir(parents=True, exist_ok=True)
        # One process per step at a time: a second one waits, then finds the step done.
        lock = self.root / f".{step}-{key}.lock"
        with filelock.FileLock(str(lock)):
            if self.is_done(step, key):
                problems = self.problems(final)
                if not problems:
                    log("step_cached", f"{step}: reusing cached result {final.name}", step=step, key=key)
                    lock.unlink(missing_ok=True)
                    return final
                # A damaged entry is never trusted: say so, and compute the step again.
                log("step_corrupt", f"{step}: warning: cached result {final.name} is damaged ({'; '.join(problems[:3])}); "
                    f"computing it again", step=step, key=key, problems=problems)
            tmp = self.root / f".{step}-{key}.partial"
            shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run
            tmp.mkdir(parents=True)
            started = time.time()
            log("step_start", f"{step}: running ({final.name})", step=step, key=key)
            try:
                # The step's peak resident memory (and what it added over the memory it started
                # with): a record of what it needed, never part of its key.
                with memory.watch() as used:
                    info = work(tmp) or {}
                info.update(step=step, key=key, seconds=round(time.time() - started, 2), memory=used)
                info["files"] = file_records(tmp)  # a reuse re-reads only files whose time moved
                atomic_write_json(tmp / self.MANIFEST, info)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)  # a failed step (disk full, an error) leaves nothing
                raise
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            # The step is done, so whoever takes this lock next (even on the unlinked file) finds
            # it done: removing the file now leaves no lock files behind and is race-free.
            lock.unlink(missing_ok=True)
            log("step_done", f"{step}: done in {info['seconds']:.0f}s, peak memory {used['peak_rss_mb'] / 1024:.1f} GB "
                f"(+{used['peak_increase_mb'] / 1024:.1f} GB)", step=step, key=key, seconds=info["seconds"], memory=used)
            return final
