"""Where a sweep's cells run: one after another in this process (``local``), or as Ray tasks on this
machine or a cluster (``ray``).

An executor gets the cells that still have to run, as ``Job`` s (the cell's index, its resolved
config and the resources it declares) and a function that runs one job and returns its row
fields (``sweeps.run_cell``); it yields ``(job, outcome)`` as cells finish, in whatever order they
finish. The sweep keeps the table and the log, so both executors give the same table; finished
cells are never rerun whichever executor ran them.

Every cell is an ordinary run in the shared runs folder, and steps are cached by content under
file locks (``store.StepCache``), so two cells that need the same weak model train it once even
when they run at the same time, on one machine or on several that share the file system.

``ray``: with no address, a Ray instance starts on this machine (``num_cpus``: the CPUs it may
use; default all) and stops with the sweep; with an address (``ray://host:10001``, or ``auto`` for
the cluster this machine belongs to), the cells go to that cluster, which must see the same
``--out`` folder and cache folder (a shared file system) and have w2s-eval installed. A cell asks
for ``threads`` CPUs (1 when unset, so cells do not oversubscribe) and, on the ``gpu`` profile, one
GPU; Ray starts a cell when its resources are free, and ``max_parallel`` caps the cells in flight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

from .errors import UserError

EXECUTORS = ("local", "ray")
# Passed to Ray's workers so that they read the same data, cache and offline settings as this process.
FORWARDED_ENV = ("W2S_DATA_DIR", "W2S_CACHE_DIR", "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
                 "TRANSFORMERS_OFFLINE", "OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM")


@dataclass
class Job:
    index: int  # the cell's position in the grid
    args: tuple  # what the job function takes
    cpus: float = 1
    gpus: float = 0


class LocalExecutor:
    """The cells one after another, in this process (KeyboardInterrupt stops the sweep at once)."""

    name = "local"

    def run(self, fn: Callable[..., dict], jobs: list[Job], on_start: Callable[[Job], None]) -> Iterator[tuple[Job, dict]]:
        for job in jobs:
            on_start(job)
            yield job, fn(*job.args)


class RayExecutor:
    """The cells as Ray tasks, at most ``max_parallel`` in flight (default: as many as fit)."""

    name = "ray"

    def __init__(self, address: str | None = None, max_parallel: int | None = None, num_cpus: int | None = None):
        if max_parallel is not None and max_parallel < 1:
            raise UserError(f"--max-parallel: expected a positive number of cells, got {max_parallel}")
        self.address, self.max_parallel, self.num_cpus = address, max_parallel, num_cpus

    def _start(self):
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'w2s-eval[ray]' (or pip install ray)") from None
        if ray.is_initialized():
            return ray, False
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        try:
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus, include_dashboard=False,
                     runtime_env={"env_vars": env}, log_to_driver=True, logging_level="ERROR")
        except ConnectionError as exc:
            raise UserError(f"--address {self.address}: no Ray cluster there ({exc})") from None
        return ray, True

    def run(self, fn: Callable[..., dict], jobs: list[Job], on_start: Callable[[Job], None]) -> Iterator[tuple[Job, dict]]:
        if not jobs:
            return
        ray, started_here = self._start()
        remote = ray.remote(max_retries=0)(fn)
        queue, in_flight = list(jobs), {}
        limit = self.max_parallel or len(jobs)
        try:
            while queue or in_flight:
                while queue and len(in_flight) < limit:
                    job = queue.pop(0)
                    in_flight[remote.options(num_cpus=job.cpus, num_gpus=job.gpus).remote(*job.args)] = job
                    on_start(job)
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    job = in_flight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # the worker died (killed, out of memory): the cell failed
                        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                                   "traceback": str(exc)}
                    yield job, outcome
        except BaseException:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started_here:
                ray.shutdown()


def make_executor(name: str, address: str | None = None, max_parallel: int | None = None,
                  num_cpus: int | None = None):
    if max_parallel is not None and max_parallel < 1:
        raise UserError(f"--max-parallel: expected a positive number of cells, got {max_parallel}")
    if name == "local":
        if address or (max_parallel or 1) > 1:
            raise UserError("--address and --max-parallel are options of --executor ray; the local executor runs one "
                            "cell at a time")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, max_parallel, num_cpus)
    raise UserError(f"--executor {name!r}: expected one of {', '.join(EXECUTORS)}")
