"""The ``w2s-eval`` command line.

  w2s-eval run --task toxicity --gap large     one weak-to-strong experiment
  w2s-eval tasks                               the tasks, their sizes and sources
  w2s-eval models [list | pull NAME | path NAME]   the offline zoo

User mistakes (unknown names, bad files, bad config keys) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import UserError


def _run(args) -> int:
    from .config import load_config
    from .protocol import run_experiment

    flags = {
        "task": args.task, "gap": args.gap, "profile": args.profile, "paradigm": args.paradigm,
        "seed": args.seed, "weak_model": args.weak, "strong_model": args.strong, "threads": args.threads,
        "loss.name": args.loss, "data.file": args.data, "data.text_field": args.text_field,
        "data.label_field": args.label_field, "data.id_field": args.id_field,
        "data.group_field": args.group_field, "data.data_dir": args.data_dir,
    }
    cfg = load_config(args.config, args.set or [], flags)
    run_dir = run_experiment(cfg, args.out, quiet=args.quiet)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from .protocol import summary_table

    print(summary_table(metrics))
    print(f"run folder: {run_dir}")
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
        print(f"{'name':<14}{'params':>10}  {'kind':<10} {'pulled':<7} source")
        for name, text in BUILTIN.items():
            print(f"{name:<14}{'-':>10}  {'builtin':<10} {'yes':<7} {text}")
        for row in zoo.list_models():
            print(f"{row['name']:<14}{row['params'] / 1e6:>9.1f}M  {row['kind']:<10} "
                  f"{'yes' if row['pulled'] else 'no':<7} {row['hub_id']}")
        print(f"cache: {zoo.cache_root()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w2s-eval", description="Weak-to-strong generalization evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one weak-to-strong experiment")
    run.add_argument("--task", help="safety | toxicity | legal | reward (default: toxicity)")
    run.add_argument("--gap", help="small | medium | large (default: large)")
    run.add_argument("--profile", help="auto | cpu | gpu (default: auto: gpu when CUDA is present)")
    run.add_argument("--paradigm", help="classify (default) | sft | reward | dpo")
    run.add_argument("--loss", help="the W2S loss of the student: xent | logconf (classify only) (default: xent)")
    run.add_argument("--weak", help="weak model (zoo name, folder or hub id), overriding the gap")
    run.add_argument("--strong", help="strong model, overriding the gap")
    run.add_argument("--seed", type=int)
    run.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    run.add_argument("--data", help="your own data: a CSV / JSONL / Parquet file or a hub dataset id")
    run.add_argument("--text-field", help="column of --data holding the input text (default: text)")
    run.add_argument("--label-field", help="column of --data holding the 0/1 label (default: label)")
    run.add_argument("--id-field", help="column of --data holding a unique id (default: row number)")
    run.add_argument("--group-field", help="column of --data whose values must not cross splits")
    run.add_argument("--data-dir", help="local data mirror laid out like shared/data (default: $W2S_DATA_DIR)")
    run.add_argument("--config", help="a YAML file of run settings (see w2s_eval/configs/default.yaml)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. strong_train.epochs=2")
    run.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    run.add_argument("--quiet", action="store_true", help="no progress messages")
    run.set_defaults(func=_run)

    tasks = sub.add_parser("tasks", help="list the tasks with sizes and sources")
    tasks.add_argument("--data-dir")
    tasks.add_argument("--splits", action="store_true", help="also show split sizes")
    tasks.set_defaults(func=_tasks)

    models = sub.add_parser("models", help="the offline model zoo: list, pull NAME, path NAME")
    models.add_argument("action", nargs="?", default="list", choices=["list", "pull", "path"])
    models.add_argument("name", nargs="?")
    models.set_defaults(func=_models)
    return parser


def quiet_libraries():
    """Keep the terminal for w2s-eval's own messages: library chatter goes to the run log or away."""
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*gguf.*")
    for name in ("transformers", "bitsandbytes", "peft", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except UserError as exc:
        print(f"w2s-eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("w2s-eval: interrupted; rerun the same command to resume from the last finished step", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
