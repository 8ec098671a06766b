"""The task graph of a run, walked once: tasks.main_task() and everything it requires (loads, heals, Transform,
and Backup when luigi.cfg [backups] after_run is on). The status command and the app both count from it."""

from __future__ import annotations

import luigi
from luigi.task import flatten


def tasks() -> list[luigi.Task]:
    """Every task a run schedules, in the order the walk found them (no database needed)."""
    from .tasks import main_task

    found, todo = {}, [main_task()]
    while todo:
        task = todo.pop()
        if task.task_id not in found:
            found[task.task_id] = task
            todo.extend(flatten(task.requires()))
    return list(found.values())
