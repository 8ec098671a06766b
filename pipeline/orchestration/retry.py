"""Retries of transient database errors: a dropped or refused connection, a deadlock, a server restart make a task
run again after [retries] delay seconds, up to [retries] attempts in all; any other failure (a bad source file, a
broken rule) fails the task at once with one line saying what to do."""
from __future__ import annotations

import contextlib
import functools
import sys
import time

from .. import config, warehouse
from ..errors import database_error, first_line, transient
from .history import open_row, safe


def retry_transient(run):
    """Decorate a task's run(): a transient database error closes the attempt's history row as failed, waits
    [retries] delay seconds and runs again (reason 'retry'), up to [retries] attempts; other errors pass."""
    @functools.wraps(run)
    def wrapper(task):
        policy = config.retries()
        task._history_attempt = 1
        while True:
            try:
                return run(task)
            except Exception as exc:
                if not transient(exc) or task._history_attempt >= policy.attempts:
                    raise
                note = (f"{task}: transient database error ({first_line(database_error(exc))}); attempt "
                        f"{task._history_attempt} of {policy.attempts}, trying again in {policy.delay:g} s")
                print(f"WARNING {note}", file=sys.stderr, flush=True)
                safe(_reopen)(task, note)
                time.sleep(policy.delay)
                task._history_attempt += 1
    return wrapper


def _reopen(task, note: str) -> None:
    with contextlib.closing(warehouse.connect("history", ops=True, timeout=10)) as conn, conn.cursor() as cur:
        cur.execute("""UPDATE ops.task_runs SET status = 'failed', finished_at = clock_timestamp(), error = %s
                       WHERE id = %s""", (note, getattr(task, "_history_id", None)))
        open_row(cur, task, "retry")
