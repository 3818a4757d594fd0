"""The fault catalogue: bad inputs, kills and corruptions, each with the outcome w2s-eval owes.

``tests/reliability/`` asserts every entry; ``benchmarks/faults.py`` tries them all and prints the
counts for the fault table of docs/reliability.md. One catalogue serves both, so the table counts what the tests
check.

- A **bad input** must give exit status 2 and one line ``w2s-eval: error: ...`` saying what was
  expected, with no traceback, before anything is written.
- A **kill** (SIGKILL at every step, while it works and just after it finished) must lose nothing:
  rerunning the command finishes the run with predictions identical to an uninterrupted run.
- A **corruption** of a cached step or a zoo model must be detected: a damaged step is computed
  again (same result), a damaged zoo model is refused with a one-line error.
- A **full disk** mid-run must give one line, leave no temporary file, and resume after space is freed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.epochs=1",
        "strong_train.batch_size=16", "strong_train.max_length=48", "eval.n_bootstrap=100", "threads=1"]
FAST_RUN = ["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf"]
FAST_TINY_RUN = [*FAST_RUN, "--quiet", *(a for s in TINY for a in ("--set", s))]
REAL_RUN = ["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "minilm-l6", "--quiet",
            *(a for s in TINY for a in ("--set", s))]


# -- bad inputs ----------------------------------------------------------------------------------

@dataclass
class BadInput:
    name: str
    args: Callable[[Path], list[str]]  # builds what the case needs under a temp folder; the arguments
    expected: str  # what the one-line error must say
    needs_mount: bool = False  # a tmpfs of its own (read-only, small): root only


def _flags(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*FAST_RUN, "--out", str(tmp / "runs"), *extra]


def _data_file(content: bytes, name: str = "mine.csv", *extra: str) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        (tmp / name).write_bytes(content)
        return ["run", "--data", str(tmp / name), "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp / "runs"),
                *extra]
    return args


def _out_on_a_file(tmp: Path) -> list[str]:
    (tmp / "afile").write_text("")
    return [*FAST_RUN, "--out", str(tmp / "afile")]


def _out_under_a_file(tmp: Path) -> list[str]:
    (tmp / "afile").write_text("")
    return [*FAST_RUN, "--out", str(tmp / "afile" / "runs")]


def _out_read_only(tmp: Path) -> list[str]:
    mount_tmpfs(tmp / "ro", "1m", read_only=True)
    return [*FAST_RUN, "--out", str(tmp / "ro" / "runs")]


def _out_nearly_full(tmp: Path) -> list[str]:
    mount_tmpfs(tmp / "small", "8m")
    return [*FAST_RUN, "--out", str(tmp / "small" / "runs")]


def _sweep_out_read_only(tmp: Path) -> list[str]:
    mount_tmpfs(tmp / "ro", "1m", read_only=True)
    return ["sweep", "--tasks", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp / "ro" / "sweep")]


def _config_not_utf8(tmp: Path) -> list[str]:
    (tmp / "c.yaml").write_bytes(b"\xff\xfe\x00task: toxicity")
    return [*FAST_RUN, "--out", str(tmp / "runs"), "--config", str(tmp / "c.yaml")]


def _report_corrupt_record(tmp: Path) -> list[str]:
    (tmp / "run").mkdir()
    (tmp / "run" / "metrics.json").write_text("{half a record")
    return ["report", str(tmp / "run")]


def _report_not_a_run(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["report", str(tmp / "empty")]


def _data_special(kind: str) -> Callable[[Path], list[str]]:
    """--data naming something that is not a regular file: refused before it is opened (a FIFO
    would block the read forever)."""
    def args(tmp: Path) -> list[str]:
        target = tmp / "mine.csv"
        if kind == "folder":
            target.mkdir()
        elif kind == "fifo":
            os.mkfifo(target)
        elif kind == "loop":
            os.symlink(tmp / "other.csv", target)
            os.symlink(target, tmp / "other.csv")
        elif kind == "broken link":
            os.symlink(tmp / "gone.csv", target)
        return ["run", "--data", str(target), "--out", str(tmp / "runs")]
    return args


def _finished_run(tmp: Path) -> Path:
    """A finished TF-IDF run under tmp/done (a few seconds)."""
    from w2s_eval.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*FAST_TINY_RUN, "--out", str(tmp / "done")]) == 0
    return run_folder_of(tmp / "done")


def _damaged_run(command: str, damage: Callable[[Path], None], *extra: str) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        run = _finished_run(tmp)
        damage(run)
        return [command, str(run), *extra]
    return args


def _export_onto_a_file(tmp: Path) -> list[str]:
    run = _finished_run(tmp)
    (tmp / "afile").write_text("")
    return ["export-model", str(run), str(tmp / "afile")]


def _sweep(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["sweep", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp / "runs"), *extra]


_GOOD_CSV = ("text,label\n" + "".join(f"text number {i},{i % 2}\n" for i in range(60))).encode()


def _config_text(text: str) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        (tmp / "c.yaml").write_text(text)
        return [*FAST_RUN, "--out", str(tmp / "runs"), "--config", str(tmp / "c.yaml")]
    return args


def _special_path(kind: str, command: Callable[[str], list[str]]) -> Callable[[Path], list[str]]:
    """A FIFO (reading it would wait forever) or a symbolic link loop, handed to ``command``."""
    def args(tmp: Path) -> list[str]:
        path = tmp / "special"
        if kind == "fifo":
            os.mkfifo(path)
        else:
            os.symlink(tmp / "other", path)
            os.symlink(path, tmp / "other")
        out = command(str(path))
        return out + (["--out", str(tmp / "runs")] if out[0] == "run" and "--out" not in out else [])
    return args


def _fifo_record(tmp: Path) -> list[str]:
    (tmp / "run").mkdir()
    os.mkfifo(tmp / "run" / "metrics.json")
    return ["report", str(tmp / "run")]


def _touched(tmp: Path) -> Path:
    (tmp / "afile").write_text("")
    return tmp / "afile"


def _damaged_sweep(damage: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        from w2s_eval.cli import main

        out = tmp / "sweep"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["sweep", "--weak", "tfidf", "--strong", "tfidf", "--quiet", "--out", str(out),
                         *(a for s in TINY for a in ("--set", s))]) == 0
        damage(out)
        return ["report", str(out)]
    return args


def _edit_record(run: Path, **changes):
    import json

    record = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(record | changes))


def try_bad_input(case: BadInput, tmp: Path) -> str | None:
    """Run one bad input in this process; None when handled as promised, else what went wrong."""
    from w2s_eval.cli import main

    tmp.mkdir(parents=True, exist_ok=True)
    try:
        args = case.args(tmp)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(args)
            except SystemExit as exc:  # argparse
                status = exc.code
            except Exception as exc:  # a traceback for the user
                return f"raised {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        for folder in tmp.iterdir():  # whatever tmpfs the case mounted
            unmount(folder)
    lines = err.getvalue().strip().splitlines()
    if status != 2:
        return f"exit status {status}, expected 2 ({lines[-1:] or 'no message'})"
    if len(lines) != 1 or not lines[0].startswith("w2s-eval: error: ") or case.expected not in lines[0]:
        return f"message {lines!r}, expected one line with {case.expected!r}"
    if (tmp / "runs").exists():
        return "wrote a runs folder before refusing"
    return None


# -- file systems of our own (root only) ---------------------------------------------------------

class CannotMount(RuntimeError):
    pass


def mount_tmpfs(folder: Path, size: str, read_only: bool = False):
    """A tmpfs of ``size`` at ``folder`` (read-only, or small enough to fill), or CannotMount."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        raise CannotMount(f"mount -t tmpfs needs root (CAP_SYS_ADMIN): {done.stderr.strip()[:200]}")


def unmount(folder: Path):
    if folder.exists() and os.path.ismount(folder):
        subprocess.run(["umount", str(folder)], check=True)


def can_mount() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            mount_tmpfs(Path(tmp) / "m", "1m")
        except CannotMount:
            return False
        unmount(Path(tmp) / "m")
        return True


def fill(folder: Path) -> Path:
    """Write zeros under ``folder`` until its file system is full; returns the filler file."""
    filler = folder / "filler"
    handle = open(filler, "wb", buffering=0)
    try:
        for size in (1 << 20, 4096, 1):  # big blocks, then the last few pages
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    finally:
        try:
            handle.close()
        except OSError:
            pass
    return filler


# -- real runs in a subprocess -------------------------------------------------------------------

def command(out: Path, args: list[str] = REAL_RUN) -> list[str]:
    return [sys.executable, "-m", "w2s_eval.cli", *args, "--out", str(out)]


def run_folder_of(out: Path) -> Path | None:
    folders = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.is_dir() else []
    return folders[0] if len(folders) == 1 else None


def log_events(out: Path) -> list[dict]:
    folder = run_folder_of(out)
    path = folder / "log.jsonl" if folder else None
    if path is None or not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:  # the line a kill cut short
            pass
    return events


def outcome(out: Path) -> dict:
    """What a finished run produced, to compare runs: its test predictions and its headline metrics."""
    folder = run_folder_of(out)
    record = json.loads((folder / "metrics.json").read_text())
    predictions = pd.read_parquet(folder / "predictions.parquet")
    return {"status": record["status"], "predictions": predictions.to_dict("list"),
            **{k: record.get(k) for k in ("weak", "student", "ceiling", "pgr", "deception")}}


def leftovers(out: Path) -> list[str]:
    """Temporary files and folders a run must not leave: ``.tmp-`` files, ``.partial`` steps, locks."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if ".tmp-" in p.name or p.name.endswith((".partial", ".lock")))


def run_to_end(out: Path, args: list[str] = REAL_RUN, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(command(out, args), capture_output=True, text=True, timeout=timeout)


@dataclass
class KillReport:
    kills: list[str] = field(default_factory=list)  # where each kill landed: "in <step>" / "after <step>"
    identical: bool = False
    problems: list[str] = field(default_factory=list)


def kill_at_every_step(out: Path, reference: dict, args: list[str] = REAL_RUN, work_for: float = 1.0,
                       timeout: float = 900) -> KillReport:
    """SIGKILL the run at every step twice — ``work_for`` seconds into its work, and just after it
    finished (while the next files are written) — rerunning the command after each kill, until a
    rerun finishes by itself; then compare with ``reference`` (``outcome`` of an uninterrupted run)."""
    report, visits = KillReport(), {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = len(log_events(out))
        proc = subprocess.Popen(command(out, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = None
        while proc.poll() is None and killed is None and time.time() < deadline:
            for event in log_events(out)[seen:]:
                step = event.get("step")
                if event["event"] == "step_start" and visits.get(step, 0) == 0:
                    time.sleep(work_for)
                    killed = f"{step} working"
                elif event["event"] == "step_done" and visits.get(step, 0) == 1:
                    killed = f"{step} just done"
                if killed:
                    proc.send_signal(signal.SIGKILL)
                    visits[step] = visits.get(step, 0) + 1
                    break
            time.sleep(0.05)
        stderr = proc.communicate()[1]
        if killed and proc.returncode == -signal.SIGKILL:
            report.kills.append(where_it_stopped(log_events(out)[seen:]))
            continue
        if proc.returncode != 0:
            report.problems.append(f"a rerun failed with status {proc.returncode}: {stderr.strip()[-300:]}")
            return report
        break  # finished by itself (a kill that came too late counts as no kill)
    else:
        report.problems.append("timed out")
        return report
    report.identical = outcome(out) == reference
    if not report.identical:
        report.problems.append("the resumed run differs from the uninterrupted one")
    if leftovers(out):
        report.problems.append(f"left behind: {leftovers(out)}")
    return report


def where_it_stopped(events: list[dict]) -> str:
    """Where a killed run was, from its last step event (a step quicker than the kill's delay was
    already over, so the kill is named by where it landed, not by what it aimed at)."""
    last = ([e for e in events if e["event"] in ("step_start", "step_done")] or [None])[-1]
    if last is None:
        return "before its first step"
    return f"{'in' if last['event'] == 'step_start' else 'after'} {last.get('step')}"


def run_concurrently(out: Path, copies: int = 2, args: list[str] = REAL_RUN, timeout: float = 900) -> list[int]:
    """``copies`` identical runs started together on one --out; their exit statuses."""
    procs = [subprocess.Popen(command(out, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(copies)]
    return [proc.wait(timeout=timeout) for proc in procs]


@dataclass
class DiskFullReport:
    status: int = 0
    message: str = ""
    leftovers: list[str] = field(default_factory=list)
    resumed_identical: bool = False


def fill_the_disk_mid_run(mount: Path, reference: dict, at_step: str = "student", args: list[str] = REAL_RUN,
                          timeout: float = 900) -> DiskFullReport:
    """A run on a tmpfs of its own, which fills up (another writer) when ``at_step`` starts; after
    it stops, space is freed and the same command resumes it."""
    mount_tmpfs(mount, "96m")
    proc = None
    try:
        out = mount / "runs"
        proc = subprocess.Popen(command(out, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        filler = None
        deadline = time.time() + timeout
        while proc.poll() is None and filler is None and time.time() < deadline:
            if any(e["event"] == "step_start" and e.get("step") == at_step for e in log_events(out)):
                filler = fill(mount)
            time.sleep(0.05)
        stderr = proc.communicate(timeout=timeout)[1]
        report = DiskFullReport(proc.returncode, stderr.strip(),
                                [p for p in leftovers(out) if not p.endswith(".lock")])
        if filler is not None:
            filler.unlink()
        again = run_to_end(out, args, timeout)
        report.resumed_identical = again.returncode == 0 and outcome(out) == reference and not leftovers(out)
        return report
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        unmount(mount)


@dataclass
class LostFolderReport:
    status: int = 0
    message: str = ""
    half_made: bool = False  # a run folder made again without its config.yaml
    resumed_identical: bool = False


def delete_the_run_folder_mid_run(out: Path, reference: dict, at_step: str = "student", args: list[str] = REAL_RUN,
                                  timeout: float = 900) -> LostFolderReport:
    """The run folder (not the step cache) is deleted when ``at_step`` starts; the run must notice at
    its next write, stop with one line, and the same command must then finish it as if nothing happened."""
    proc = subprocess.Popen(command(out, args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + timeout
        deleted = False
        while proc.poll() is None and not deleted and time.time() < deadline:
            if any(e["event"] == "step_start" and e.get("step") == at_step for e in log_events(out)):
                shutil.rmtree(run_folder_of(out))
                deleted = True
            time.sleep(0.05)
        stderr = proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    folder = run_folder_of(out)
    report = LostFolderReport(proc.returncode, stderr.strip(),
                              half_made=folder is not None and not (folder / "config.yaml").exists())
    again = run_to_end(out, args, timeout)
    report.resumed_identical = again.returncode == 0 and outcome(out) == reference and not leftovers(out)
    return report


# -- corruptions ---------------------------------------------------------------------------------

def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def _flip_a_byte(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _other_valid_parquet(path: Path):
    frame = pd.read_parquet(path)
    numeric = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    frame[numeric] = 1 - frame[numeric]  # same rows, other (still valid) probabilities
    frame.to_parquet(path, index=False)


def _garbage_json(path: Path):
    path.write_text("{not json")


# (what, step, file in the step folder, how): damaged entries of a finished run's step cache.
CACHE_CORRUPTIONS = [
    ("truncated predictions", "student", "test.parquet", _truncate),
    ("truncated weak labels", "label", "labels.parquet", _truncate),
    ("predictions edited into another valid file", "ceiling", "test.parquet", _other_valid_parquet),
    ("weak labels edited into another valid file", "label", "labels.parquet", _other_valid_parquet),
    ("a deleted file", "weak", "test.parquet", Path.unlink),
    ("a garbled manifest", "student", "step.json", _garbage_json),
    ("one flipped byte", "ceiling", "test.parquet", _flip_a_byte),
]

# (what, file of the zoo model, how): damaged zoo files, refused before use.
ZOO_CORRUPTIONS = [
    ("truncated weights", "model.safetensors", _truncate),
    ("one flipped byte in the weights", "model.safetensors", _flip_a_byte),
    ("a deleted tokenizer file", "tokenizer.json", Path.unlink),
]


def corrupt_the_cache(out: Path, reference: dict, args: list[str]) -> list[tuple[str, str | None]]:
    """Each cache corruption in turn on a finished run in ``out``, then the same command again:
    (what, None when the damaged step was recomputed with a warning and the run came out identical,
    else what went wrong)."""
    results = []
    for what, step, name, how in CACHE_CORRUPTIONS:
        folder = run_folder_of(out)
        key = json.loads((folder / "metrics.json").read_text())["steps"][step]
        how(out / ".cache" / f"{step}-{key}" / name)
        done = run_to_end(out, args)
        events = log_events(out)
        latest = events[max(i for i, e in enumerate(events) if e["event"] == "start"):]
        warned = [e.get("step") for e in latest if e["event"] == "step_corrupt"]
        problem = None
        if done.returncode != 0:
            problem = f"the rerun failed: {done.stderr.strip()[-300:]}"
        elif step not in warned:
            problem = f"not detected (warnings for {warned})"
        elif outcome(out) != reference:
            problem = "recomputed, but the run differs"
        results.append((what, problem))
    return results


def damaged_zoo_copy(cache: Path, how: Callable[[Path], None], name: str, model: str = "minilm-l6") -> Path:
    """A copy of the pulled zoo ``model`` in the cache base ``cache`` (for W2S_CACHE_DIR), with its
    file ``name`` damaged by ``how``; copied with sizes and times kept, so only the damage differs."""
    from w2s_eval.models import zoo

    source = zoo.model_path(model) or zoo.pull(model, progress=None)
    shutil.copytree(source, cache / "zoo" / model)
    how(cache / "zoo" / model / name)
    return cache


def corrupt_the_zoo(model: str = "minilm-l6") -> list[tuple[str, str | None]]:
    """Each zoo corruption on a private copy of a pulled zoo model: (what, None when a run refuses
    it with a one-line error naming the file, else what went wrong)."""
    results = []
    for what, name, how in ZOO_CORRUPTIONS:
        with tempfile.TemporaryDirectory() as tmp:
            cache = damaged_zoo_copy(Path(tmp) / "cache", how, name, model)
            env = os.environ | {"W2S_CACHE_DIR": str(cache)}
            done = subprocess.run(command(Path(tmp) / "runs", [*REAL_RUN]), capture_output=True, text=True, env=env,
                                  timeout=600)
            lines = done.stderr.strip().splitlines()
            ok = (done.returncode == 2 and len(lines) == 1 and "changed since it was pulled" in lines[0]
                  and name in lines[0])
            results.append((what, None if ok else f"status {done.returncode}: {lines[-3:]}"))
    return results


BAD_INPUTS = [
    BadInput("--threads -1", _flags("--threads", "-1"), "threads: expected a number of threads from 1"),
    BadInput("--seed -2", _flags("--seed", "-2"), "seed: expected a non-negative integer"),
    BadInput("eval.n_bootstrap=0", _flags("--set", "eval.n_bootstrap=0"), "eval.n_bootstrap: expected from 10 to"),
    BadInput("eval.level=1.5", _flags("--set", "eval.level=1.5"), "eval.level: expected a confidence level between 0 and 1"),
    BadInput("strong_train.epochs=-1", _flags("--set", "strong_train.epochs=-1"),
             "strong_train.epochs: expected a positive number of epochs"),
    BadInput("weak_train.lr=0", _flags("--set", "weak_train.lr=0"), "weak_train.lr: expected a positive learning rate"),
    BadInput("strong_train.batch_size=0", _flags("--set", "strong_train.batch_size=0"),
             "strong_train.batch_size: expected a positive batch size"),
    BadInput("unknown key in a mapping", _flags("--set", "splits.max_per_split={A: 60, tst: 5}"),
             "splits.max_per_split: expected keys among A, B, val, test, got 'tst'"),
    BadInput("negative split cap", _flags("--set", "splits.max_per_split={A: -3}"),
             "splits.max_per_split.A: expected a positive number"),
    BadInput("malformed YAML value", _flags("--set", "splits.max_per_split={A: 60"), "the value is not valid YAML"),
    BadInput("unknown trainer argument", _flags("--set", "strong_train.train_args.no_such_field=1"),
             "'no_such_field' is not a field"),
    BadInput("unknown tracker", _flags("--set", "tracking.report_to=[comet]"), "expected none or any of tensorboard"),
    BadInput("unknown precision", _flags("--set", "strong_train.precision=fp16"),
             "strong_train.precision: expected one of auto, fp32, bf16"),
    BadInput("unknown finetune mode", _flags("--set", "strong_train.finetune=sideways"),
             "strong_train.finetune: expected one of full, lora, head, probe, got 'sideways'"),
    BadInput("method option out of range", _flags("--method", "confident:share=2"), "share"),
    BadInput("conflict on a task without pairs", _flags("--conflict", "implicit"), "judges reply pairs"),
    BadInput("--config is a folder", _flags("--config", "."), "a folder; expected a YAML file"),
    BadInput("--config not UTF-8", _config_not_utf8, "not UTF-8"),
    BadInput("labels all one class", _data_file(b"text,label\na,1\nb,1\n"),
             "every label is 1; a task needs examples of both classes"),
    BadInput("data file not UTF-8", _data_file(b"\xff\xfe\x00bad"), "cannot read it"),
    BadInput("empty text cell", _data_file(b"text,label\nhello,1\n,0\nfoo,0\nbar,1\n"),
             "column 'text' (--text-field) has an empty cell in row 1"),
    BadInput("missing label column", _data_file(b"text,class\nhello,1\nfoo,0\n"), "missing column(s) ['label']"),
    BadInput("labels not binary", _data_file(b"text,label\nhello,2\nfoo,0\n"), "must hold binary labels"),
    BadInput("data file without rows", _data_file(b"text,label\n"), "no rows"),
    BadInput("unsupported data file type", _data_file(b"<xml/>", "mine.xml"), "unsupported file type '.xml'"),
    BadInput("hub dataset offline", lambda tmp: ["run", "--data", "owner/name", "--out", str(tmp / "runs")],
             "cannot load it from the hub"),
    BadInput("--out is a file", _out_on_a_file, "is a file; expected a folder"),
    BadInput("--out under a file", _out_under_a_file, "which is a file; expected a folder"),
    BadInput("--out read-only", _out_read_only, "cannot write there (read-only file system)", needs_mount=True),
    BadInput("--out nearly full", _out_nearly_full, "MiB free; a run needs at least", needs_mount=True),
    BadInput("sweep --out read-only", _sweep_out_read_only, "cannot write there (read-only file system)",
             needs_mount=True),
    BadInput("report of a corrupt record", _report_corrupt_record, "metrics.json is not valid JSON"),
    BadInput("report of a folder without runs", _report_not_a_run, "neither a run folder"),
    # Values that pass a hand-written check and fail later inside a library, after the work is done.
    BadInput("--seed beyond numpy's range", _flags("--seed", "4294967296"), "seed: expected a non-negative integer up to"),
    BadInput("eval.n_bootstrap beyond memory", _flags("--set", "eval.n_bootstrap=1000000000"),
             "eval.n_bootstrap: expected from 10 to 1,000,000"),
    BadInput("strong_train.epochs=1e9", _flags("--set", "strong_train.epochs=1e9"),
             "strong_train.epochs: expected a positive number of epochs up to 1000"),
    BadInput("a number field given a word", _flags("--set", "strong_train.lr=fast"),
             "strong_train.lr: expected a number, got 'fast'"),
    # User data that would be silently rewritten.
    BadInput("an empty id cell", _data_file(b"id,text,label\na,hello,1\n,foo,0\nc,bar,1\nd,baz,0\n", "mine.csv",
                                            "--id-field", "id"),
             "column 'id' (--id-field) has an empty cell in row 1"),
    BadInput("a repeated id", _data_file(b"id,text,label\n7,hello,1\n07,foo,0\n7,bar,1\n8,baz,0\n", "mine.csv",
                                         "--id-field", "id"),
             "column 'id' (--id-field) repeats the id '7' in row 2"),
    BadInput("an empty group cell", _data_file(b"g,text,label\na,hello,1\nb,foo,0\n,bar,1\nd,baz,0\n", "mine.csv",
                                               "--group-field", "g"),
             "column 'g' (--group-field) has an empty cell in row 2"),
    BadInput("a column named twice", _data_file(b"text,label,text\nhello,1,x\nfoo,0,y\n"),
             "the header names column 'text' more than once"),
    BadInput("--data is a folder", _data_special("folder"), "mine.csv: a folder; expected a .csv"),
    BadInput("--data is a FIFO", _data_special("fifo"), "mine.csv: a FIFO (named pipe); expected a .csv"),
    BadInput("--data is a symbolic link loop", _data_special("loop"), "mine.csv: a symbolic link loop"),
    BadInput("--data is a broken symbolic link", _data_special("broken link"), "mine.csv: a broken symbolic link"),
    # Verify and list commands that would give a false all-clear.
    BadInput("cache verify of no folder", lambda tmp: ["cache", "verify", str(tmp / "nope")],
             "nope: no such folder"),
    BadInput("cache verify of a folder without a cache", lambda tmp: ["cache", "verify", "--fix", str(tmp)],
             "no step cache there"),
    BadInput("models verify of an unknown model", lambda tmp: ["models", "verify", "nosuchmodel"],
             "unknown model 'nosuchmodel'"),
    BadInput("sweep --tasks ''", _sweep("--tasks", ""), "--tasks '': expected a comma list of at least one name"),
    BadInput("sweep --methods ''", _sweep("--methods", ""), "--methods '': expected a comma list"),
    BadInput("sweep --seeds ''", _sweep("--seeds", ""), "--seeds '': a count (3) or a list"),
    # Malformed options and damaged run folders: one line, not a traceback.
    BadInput("method option not valid YAML", _flags("--method", "confident:share=[0.5"),
             "the value of 'share' is not valid YAML"),
    BadInput("method option without a value", _flags("--method", "confident:share"), "expected NAME or NAME:OPTION=VALUE"),
    BadInput("report of a run whose predictions are damaged",
             _damaged_run("report", lambda run: (run / "predictions.parquet").write_bytes(b"not parquet")),
             "predictions.parquet: damaged (not a readable Parquet file"),
    BadInput("report of a run whose predictions are missing",
             _damaged_run("report", lambda run: (run / "predictions.parquet").unlink()), "predictions.parquet: missing"),
    BadInput("report of a run whose config.yaml is malformed",
             _damaged_run("report", lambda run: (run / "config.yaml").write_text("task: [unclosed")),
             "config.yaml is not valid YAML"),
    BadInput("export of a run whose predictions are damaged",
             _damaged_run("export", lambda run: (run / "predictions.parquet").write_bytes(b"x")),
             "predictions.parquet: damaged"),
    BadInput("export-model onto a file", _export_onto_a_file, "afile: a file is there; expected a folder"),
    # Inputs checked by their declared schema: the sweep grid and the run record.
    BadInput("sweep seed beyond what numpy accepts", _sweep("--seeds", "0,4294967296"),
             "sweep grid: seeds[1]: expected a non-negative integer up to 4294967295"),
    BadInput("sweep of an unknown loss", _sweep("--losses", "xent,nope"), "sweep grid: losses[1]: expected one of"),
    BadInput("report of a run whose record has an unknown status",
             _damaged_run("report", lambda run: _edit_record(run, status="finished")),
             "metrics.json: status: expected one of running, done, failed, got 'finished'"),
    BadInput("export of a run whose record's steps are not keys",
             _damaged_run("export", lambda run: _edit_record(run, steps=["weak"])),
             "metrics.json: steps: expected a mapping"),
    BadInput("report of a run whose record is a list", _damaged_run("report", lambda run: (
        run / "metrics.json").write_text("[]")), "metrics.json: expected a JSON object (the run record), got list"),
    BadInput("export of a run whose record has an accuracy above 1",
             _damaged_run("export", lambda run: _edit_record(run, student={"acc": 7.5, "auroc": 0.5})),
             "metrics.json: student.acc: expected an accuracy or AUROC in [0, 1]"),
    # Values no comparison bounds: NaN and infinity, a count beyond what the machine holds.
    BadInput("a setting of NaN", _flags("--set", "eval.level=.nan"), "eval.level: expected a confidence level"),
    BadInput("a share of NaN in a mapping", _flags("--set", "splits.fractions={A: .nan}"),
             "splits.fractions.A: expected a share"),
    BadInput("an infinite learning rate", _flags("--set", "strong_train.lr=.inf"), "strong_train.lr: expected a positive"),
    BadInput("a method option of NaN", _flags("--method", "confident:share=.nan"), "share: expected a share in (0, 1]"),
    BadInput("a method option given twice", _flags("--method", "confident:share=0.5:share=0.2"),
             "option 'share' is given twice"),
    BadInput("threads beyond a C int", _flags("--set", "threads=10000000000000"), "threads: expected a number of threads"),
    BadInput("a method that needs hidden states, with tfidf", _flags("--method", "selective"),
             "reads the strong model's hidden states, and strong model 'tfidf' has none"),
    BadInput("tracking.dir a file", _flags("--report-to", "tensorboard", "--set", "tracking.dir=/etc/passwd"),
             "tracking.dir /etc/passwd: is a file; expected a folder"),
    BadInput("sweep seed count of 0", _sweep("--seeds", "0"), "--seeds 0: expected a count from 1 to"),
    BadInput("sweep seed count beyond memory", _sweep("--seeds", "100000000000"), "expected a count from 1 to"),
    BadInput("sweep --max-parallel 0", _sweep("--max-parallel", "0"), "--max-parallel: expected a positive number"),
    BadInput("sweep cell that a run would refuse", _sweep("--paradigms", "dpo"),
             "sweep: cell 1/1 (task=toxicity gap=large paradigm=dpo"),
    # Config files: YAML read strictly, and only from a regular file.
    BadInput("config with a key given twice", _config_text("task: toxicity\ntask: safety\n"),
             "key 'task' is given twice (line 2, column 1)"),
    BadInput("config with two documents", _config_text("task: toxicity\n---\ntask: safety\n"),
             "expected a single document in the stream"),
    BadInput("config with a list as a key", _config_text("? [a, b]\n: 1\n"), "a key that is a list or a mapping"),
    BadInput("config that is a FIFO", _special_path("fifo", lambda p: [*FAST_RUN, "--config", p]),
             "a FIFO (named pipe); expected a YAML file"),
    BadInput("config that is a device", lambda tmp: [*FAST_RUN, "--out", str(tmp / "runs"), "--config", "/dev/zero"],
             "config file /dev/zero: a character device"),
    BadInput("config that is a link loop", _special_path("loop", lambda p: [*FAST_RUN, "--config", p]),
             "a symbolic link loop; expected a YAML file"),
    BadInput("run --out a link loop", _special_path("loop", lambda p: [*FAST_RUN, "--out", p]),
             "a symbolic link loop; expected a folder"),
    BadInput("report of a link loop", _special_path("loop", lambda p: ["report", p]), "a symbolic link loop"),
    BadInput("report of a folder whose record is a FIFO", _fifo_record, "metrics.json: a FIFO (named pipe)"),
    BadInput("export --out a file", lambda tmp: ["export", str(_finished_run(tmp)), "--out", str(_touched(tmp))],
             "is a file; expected a folder"),
    # User data: fields named as written, rows read as written.
    BadInput("--label-field ''", _data_file(_GOOD_CSV, "mine.csv", "--label-field", ""),
             "--label-field '': expected a column name"),
    BadInput("--text-field naming the label column", _data_file(_GOOD_CSV, "mine.csv", "--text-field", "label"),
             "--text-field and --label-field both name column 'label'"),
    BadInput("jsonl with a row that is a list", _data_file(b'{"text": "a", "label": 0}\n[1, 2]\n', "mine.jsonl"),
             "cannot read it as a .jsonl file"),
    # Verify commands: a name that is no zoo model's is an error, not an all-clear.
    BadInput("models verify ''", lambda tmp: ["models", "verify", ""], "unknown model ''"),
    BadInput("models verify of a built-in model", lambda tmp: ["models", "verify", "tfidf"],
             "a built-in model, with no weights to verify"),
    # Damaged sweep folders.
    BadInput("report of a sweep whose table is damaged", _damaged_sweep(lambda s: (s / "sweep.parquet").write_text("x")),
             "sweep.parquet: damaged (not a readable Parquet file"),
    BadInput("report of a sweep whose sweep.json is a list", _damaged_sweep(lambda s: (s / "sweep.json").write_text("[]")),
             "sweep.json: expected a JSON object, got list"),
]
