"""The Python API: the command line's ``run``, ``sweep`` and ``report`` as functions, with exactly the
CLI's defaults and layering (``configs/default.yaml`` → per-task and per-paradigm defaults →
``config`` file → ``sets`` → the named arguments), so ``w2s_eval.run(task="legal")`` trains what
``w2s-eval run --task legal`` trains.

    import w2s_eval

    run = w2s_eval.run(task="toxicity", gap="large", seed=1, method="confident:share=0.3")
    run.metrics["pgr"], run.predictions()          # a run_folder.Run: record, config, predictions
    table = w2s_eval.sweep(tasks=["toxicity", "utility"], methods=["naive", "confident"], seeds=3)
    w2s_eval.report("sweeps/default")

Nothing is changed for the rest of the process: torch's thread count is restored when a run ends,
and library logging is left as the caller set it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import RunConfig, load_config
from .run_folder import Run, read_run

# Named arguments -> config keys (the CLI's flags of the same names).
SETTINGS = {"task": "task", "gap": "gap", "profile": "profile", "paradigm": "paradigm", "seed": "seed",
            "weak": "weak_model", "strong": "strong_model", "threads": "threads", "loss": "loss.name",
            "conflict": "conflict", "via": "via", "data": "data.file", "data_dir": "data.data_dir",
            "text_field": "data.text_field", "label_field": "data.label_field", "id_field": "data.id_field",
            "group_field": "data.group_field", "prompt_field": "data.prompt_field",
            "chosen_field": "data.chosen_field", "rejected_field": "data.rejected_field",
            "data_config": "data.hub_config", "data_split": "data.hub_split", "report_to": "tracking.report_to"}


def run_config(*, config: str | None = None, sets: list[str] = (), method: str | None = None, **settings) -> RunConfig:
    """The resolved RunConfig of one run, as ``w2s-eval run`` builds it from the same arguments."""
    from .errors import UserError
    from .methods import parse_method_spec

    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise UserError(f"w2s_eval.run: unknown argument {unknown[0]!r}; valid: config, sets, method, "
                        f"{', '.join(SETTINGS)} (any other setting: sets=['key.sub=value'])")
    flags = {SETTINGS[name]: value for name, value in settings.items()}
    if method:
        flags["method"], options = parse_method_spec(method)
        flags["method_options"] = options or None
    return load_config(config, list(sets), flags)


def run(task: str | None = None, gap: str | None = None, *, out: str | Path = "runs", quiet: bool = True,
        config: str | None = None, sets: list[str] = (), method: str | None = None, **settings) -> Run:
    """Run (or resume) one experiment and return it as a ``run_folder.Run`` (``metrics``, ``config``,
    ``predictions()``, ``folder``). Arguments are the CLI's: ``task``, ``gap``, ``method``
    (``NAME[:OPTION=VALUE...]``), ``seed``, ``weak``, ``strong``, ``paradigm``, ``loss``, ``conflict``,
    ``via``, ``threads``, ``data``..., ``config`` (a YAML file) and ``sets`` (``["key.sub=value"]``)."""
    from .protocol import run_experiment

    cfg = run_config(config=config, sets=sets, method=method, task=task, gap=gap,
                     **{k: v for k, v in settings.items() if v is not None})
    return read_run(run_experiment(cfg, out, quiet=quiet))


def sweep(tasks: list[str] = ("toxicity",), gaps: list[str] = ("large",), *, paradigms: list[str] = ("classify",),
          losses: list[str] = ("xent",), methods: list[str] = ("naive",), conflicts: list[str] = ("none",),
          seeds: int | list[int] = 1, out: str | Path = "sweeps/default", quiet: bool = True,
          config: str | None = None, sets: list[str] = (), executor: str = "local", max_parallel: int | None = None,
          address: str | None = None, **settings) -> pd.DataFrame:
    """Run (or resume) a sweep as ``w2s-eval sweep`` does; return its table (one row per cell;
    ``w2s_eval.sweeps.aggregate`` pools the seeds). ``settings`` apply to every cell."""
    from .executors import make_executor
    from .sweeps import SweepGrid, read_sweep, run_sweep

    grid = SweepGrid(tasks=list(tasks), gaps=list(gaps), paradigms=list(paradigms), losses=list(losses),
                     methods=list(methods), conflicts=list(conflicts),
                     seeds=list(range(seeds)) if isinstance(seeds, int) else list(seeds))

    def base_config(task: str, paradigm: str) -> RunConfig:
        return run_config(config=config, sets=sets, task=task, paradigm=paradigm,
                          **{k: v for k, v in settings.items() if v is not None})

    folder = run_sweep(grid, out, base_config, quiet=quiet, executor=make_executor(executor, address, max_parallel))
    return read_sweep(folder)


def report(path: str | Path) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` of a run or sweep folder."""
    from .reports import build_report

    return build_report(path)
