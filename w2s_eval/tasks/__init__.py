"""The task registry: name -> Task. ``get_task`` is the one way to look a task up.

Registering a task is its one declaration: the shipped-data index (``embedded.shipped``) and the
lm-eval harness tasks and ``w2s`` group (``lm_eval_tasks``) are derived from this registry; only
per-task run defaults live apart, in ``configs/overrides.yaml``.
"""

from __future__ import annotations

from ..registry import Registry, instance_check
from . import legal, reward, safety, toxicity, utility
from .base import Task

TASKS: Registry[Task] = Registry("task", instance_check(Task), group="w2s_eval.tasks")
for _task in (safety.TASK, toxicity.TASK, legal.TASK, reward.TASK, utility.TASK):
    TASKS.register(_task.name)(_task)


def get_task(name: str) -> Task:
    return TASKS.get(name)


def pair_task_names() -> list[str]:
    """The tasks made of preference pairs (for the errors of paradigms and conflicts that need them)."""
    return [name for name, task in TASKS.items() if task.pairwise]
