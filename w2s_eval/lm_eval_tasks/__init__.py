"""The W2S tasks as lm-evaluation-harness tasks, generated from the task registry.

Every registered task (``w2s_eval.tasks.TASKS``) is the multiple-choice harness task
``w2s_<name>`` and a member of the ``w2s`` group. Nothing here is written by hand: a task says
how it is phrased (``Task.harness_prompt``, ``label_names``, ``pairwise``) and ``config_files``
turns that into the YAMLs. ``configs_folder()`` (``harness.tasks_path()``) writes the YAMLs of the
tasks registered now into a cache folder named by their content, so a task is a harness task as
soon as it is registered, and the installed package is never written to.

Load them with ``lm-eval run --include_path $(w2s-eval lm-eval-tasks-path) --tasks w2s ...`` or
``TaskManager(include_path=w2s_eval.harness.tasks_path())``.

The documents are the task's *test* split exactly as ``w2s-eval run`` makes it (same registry,
same seeded split hashing, the packaged split fractions and caps), built by ``utils.load_w2s``.
The validation split is there only as a few-shot pool, so ``--num_fewshot`` never shows a test
example. Override the split with ``--metadata '{"w2s_seed": 1}'`` (also ``w2s_fractions``,
``w2s_max_per_split``, ``w2s_data_dir``).

Choices are the task's label words, or for a pair task its two replies in w2s-eval's randomised
per-pair order (reply A, reply B). ``acc`` compares summed log-likelihoods; pair tasks also report
``acc_norm``, which divides by each reply's length in bytes, because the two replies differ in
length.

To see the files: ``ls $(w2s-eval lm-eval-tasks-path)``.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import yaml

GROUP = "w2s"
# The YAMLs live outside the package, so lm-eval imports the data hook by its module name (it
# tries a file beside the YAML first, then ``import``).
DATA_HOOK = "w2s_eval.lm_eval_tasks.utils.load_w2s"
SETTINGS = {"output_type": "multiple_choice", "test_split": "test", "fewshot_split": "validation",
            "doc_to_choice": "choices", "doc_to_target": "gold", "target_delimiter": " "}
ACC = {"metric": "acc", "aggregation": "mean", "higher_is_better": True}
# Pair tasks also report acc_norm: their two replies differ in length, which a summed
# log-likelihood (acc) punishes.
ACC_NORM = {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}
GROUP_NOTE = ("Every W2S task. The group's acc is the unweighted mean over tasks (weight_by_size: false): "
              "test splits differ in size (safety ~130 examples, toxicity ~250, the others 800), and each task "
              "is one alignment property, so none should count more because it has more examples.")
GENERATED = "# Generated from the task registry by w2s_eval.lm_eval_tasks: edit the Task, not this file."


def harness_name(task_name: str) -> str:
    """The harness task of a W2S task: ``w2s_<name>``."""
    return f"{GROUP}_{task_name}"


def doc_to_text(task) -> str:
    """The context the choices are scored after: the task's own template, else its text and question."""
    if task.harness_prompt is not None:
        return task.harness_prompt
    return "{{text}}\nQuestion: " + task.question + "\nAnswer:"


class _Function(str):
    """A YAML ``!function`` reference: lm-eval imports the function it names."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, lambda dumper, value: dumper.represent_scalar("!function", str(value)))
# Prompts with line breaks as literal blocks, so the YAML reads as the prompt does.
_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def task_config(task) -> dict:
    """The harness config of one task: the shared settings, its data hook call, prompt and metrics."""
    return {"task": harness_name(task.name), "custom_dataset": _Function(DATA_HOOK),
            "dataset_kwargs": {"w2s_task": task.name}, **SETTINGS, "doc_to_text": doc_to_text(task),
            "metric_list": [ACC, ACC_NORM] if task.pairwise else [ACC], "metadata": {"version": 1.0}}


def group_config(tasks) -> dict:
    return {"group": GROUP, "task": [harness_name(task.name) for task in tasks],
            "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": False}],
            "metadata": {"version": 1.0}}


def _yaml(config: dict, note: str) -> str:
    header = [GENERATED] + [f"# {line}" for line in textwrap.wrap(note, 96)]
    body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


def config_files() -> dict[str, str]:
    """File name -> YAML text: one file per registered task and the group's (in registry order,
    which is the group's order)."""
    from w2s_eval.tasks import TASKS

    tasks = list(TASKS.values())
    files = {f"{harness_name(task.name)}.yaml": _yaml(task_config(task), task.harness_note) for task in tasks}
    files[f"{GROUP}.yaml"] = _yaml(group_config(tasks), GROUP_NOTE)
    return files


def configs_folder() -> Path:
    """The folder of the registered tasks' YAMLs: ``<cache>/lm_eval_tasks/<content hash>``.

    Named by content, so a folder is never rewritten once there (a harness reading it is never
    disturbed), registering a task gives another folder, and concurrent writers of the same
    content agree: each writes a temporary folder and renames it into place; a loser drops its copy.
    """
    from w2s_eval.models.zoo import cache_base
    from w2s_eval.store import content_hash

    files = config_files()
    folder = cache_base() / "lm_eval_tasks" / content_hash(files)
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=folder.parent))
    for name, text in files.items():
        (staging / name).write_text(text)
    try:
        staging.rename(folder)
    except OSError:  # written meanwhile by another process
        shutil.rmtree(staging, ignore_errors=True)
        if not folder.is_dir():
            raise
    return folder

