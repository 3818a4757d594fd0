"""The task registry: name -> Task. ``get_task`` is the one way to look a task up."""

from __future__ import annotations

from ..errors import unknown_name
from . import legal, reward, safety, toxicity, utility
from .base import Task

TASKS: dict[str, Task] = {t.name: t for t in (safety.TASK, toxicity.TASK, legal.TASK, reward.TASK,
                                             utility.TASK)}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise unknown_name("task", name, TASKS)
    return TASKS[name]
