"""Retries of transient database errors: a dropped or refused connection, a deadlock, a server restart make a task
run again after [retries] delay seconds, up to [retries] attempts in all; any other failure (a bad source file, a
broken rule) fails the task at once with one line saying what to do."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from .. import config, warehouse
from ..errors import database_error, first_line, transient
from . import history

T = TypeVar("T")


def transient_retries(task, attempt: Callable[[], T]) -> T:
    """Call attempt() (one try of the task: its transaction); a transient database error closes the try's history
    row as failed, waits [retries] delay seconds and tries again (reason 'retry'), up to [retries] attempts in all;
    other errors pass."""
    policy = config.retries()
    current = history.attempt(task)
    current.number = 1
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not transient(exc) or current.number >= policy.attempts:
                raise
            note = (
                f"{task}: transient database error ({first_line(database_error(exc))}); attempt "
                f"{current.number} of {policy.attempts}, trying again in {policy.delay:g} s"
            )
            print(f"WARNING {note}", file=sys.stderr, flush=True)
            history.safe(_reopen)(task, note)
            time.sleep(policy.delay)
            current.number += 1


def _reopen(task, note: str) -> None:
    with contextlib.closing(warehouse.connect("history", ops=True, timeout=10)) as conn, conn.cursor() as cur:
        cur.execute(
            """UPDATE ops.task_runs SET status = 'failed', finished_at = clock_timestamp(), error = %s
                       WHERE id = %s""",
            (note, history.attempt(task).row_id),
        )
        history.open_row(cur, task, "retry")
