"""Run history in ops.runs and ops.task_runs, recorded from Luigi's task events (Luigi itself forgets finished tasks).

A run is one `luigi`/`python -m pipeline run` process and the workers it forks (they share markers.run_id()).
ops.runs has a row per run that started at least one task; ops.task_runs a row per attempt of a task: why it
ran (new, changed input, retry, forced), start, end, status, rows in/out/quarantined and the error. Rows are
inserted and updated here and never deleted: the history is kept for good.

Where each event fires:
- DEPENDENCY_DISCOVERED / DEPENDENCY_PRESENT: in the process that schedules, before any task runs. They give
  the run's plan (the incomplete tasks), which forked workers inherit: progress is "done of planned".
- START / SUCCESS / FAILURE: where the task runs (a forked worker when --workers > 1). The run's status is
  recomputed after each task, under a lock on its ops.runs row, so the last task to finish leaves the final
  status (done or failed) and finished_at, and writes the HTML report.
- PROCESS_FAILURE / TIMEOUT: in the scheduling process, when a worker died or was killed.
- When the scheduling process exits (atexit), a run that is still 'running' there is closed: its part is done
  (another worker of a shared luigid may do the rest), or 'interrupted' if a task never finished.

The run's plan and its end (closing runs whose process ended, the report) are in runs; retries of transient
database errors in retry; the progress lines in progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import socket
import sys
import time

import luigi

from .. import events, warehouse
from ..errors import failure_message, first_line
from . import console, markers, runs
from .progress import progress_enabled, progress_line

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- a task's attempts, in the process that runs it


@dataclasses.dataclass(frozen=True)
class Figures:
    """What a task did (PipelineTask.work returns them), written to its ops.task_runs row when it succeeds."""

    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    details: dict | None = None


@dataclasses.dataclass
class Attempt:
    """The task's current attempt, as the history knows it: its ops.task_runs row, when it started, which try it
    is (retry counts them) and, once its transaction committed, its figures."""

    row_id: int | None = None
    started: float = dataclasses.field(default_factory=time.monotonic)
    number: int = 1
    figures: Figures = Figures()


_attempts: dict[str, Attempt] = {}  # by task id: each task runs once in a process (a forked worker or the scheduler)


def attempt(task) -> Attempt:
    """The task's attempt in this process (a new one if none was opened here: e.g. in the scheduling process, which
    hears of a worker that died)."""
    return _attempts.setdefault(task.task_id, Attempt())


# ---------------------------------------------------------------- recording


def _connect(url: str | None = None):
    return contextlib.closing(warehouse.connect("history", url, ops=True, timeout=10))


def safe(handler):
    """History must never break a run: a failure to record is logged and the task goes on."""

    @functools.wraps(handler)
    def wrapper(task, *args):
        try:
            handler(task, *args)
        except Exception as exc:  # noqa: BLE001 - history must never break a run
            print(f"WARNING could not record the run history of {task}: {first_line(exc)}", file=sys.stderr, flush=True)

    return wrapper


def _reason(cur, task) -> str:
    """Why the task runs: new (never completed), changed input, retry (failed before), forced (was complete)."""
    # By family and parameters, not task_id: the id changes with the inputs (markers.Versioned)
    cur.execute(
        """SELECT status FROM ops.task_runs WHERE task_family = %s AND params - 'version' = %s::jsonb
                   ORDER BY id DESC LIMIT 1""",
        (task.task_family, json.dumps(identity(task))),
    )
    last = cur.fetchone()
    target = task.output()
    stored = target.stored_fingerprint() if hasattr(target, "stored_fingerprint") else None
    if last and last[0] in ("failed", "interrupted"):
        return "retry"
    if stored is None:
        return "new"
    return "changed input" if stored != task.fingerprint() else "forced"


def identity(task) -> dict:
    """A task's parameters without its inputs' version: the same task across runs, whatever its data."""
    return {name: value for name, value in task.to_str_params().items() if name != "version"}


def open_row(cur, task, reason: str) -> None:
    cur.execute(
        """INSERT INTO ops.task_runs (run_id, task_id, task_family, params, reason, status)
                   VALUES (%s, %s, %s, %s, %s, 'running') RETURNING id""",
        (markers.run_id(), task.task_id, task.task_family, json.dumps(task.to_str_params()), reason),
    )
    current = attempt(task)
    current.row_id, current.started, current.figures = cur.fetchone()[0], time.monotonic(), Figures()


def _started(task) -> None:
    _attempts[task.task_id] = Attempt()
    run = markers.run_id()
    plan = runs.planned(run)
    if plan is not None and task.task_id not in plan.seen:  # a root task without dependencies
        plan.seen[task.task_id] = task
    with _connect() as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO ops.runs (run_id, command, host, pid, tasks_planned) VALUES (%s, %s, %s, %s, %s)
                       ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL
                       RETURNING (xmax = 0)""",
            (
                run,
                console.command_line(),
                socket.gethostname(),
                plan.pid if plan else os.getpid(),
                len(plan.pending()) if plan else None,
            ),
        )
        if cur.fetchone()[0]:  # a new run: close the runs of this host whose process is gone
            runs.close_dead_runs(cur)
        open_row(cur, task, _reason(cur, task))
        events.announce(cur, "task_started", run, task.task_id, "running")


def _succeeded(task) -> None:
    _finish(task, "done", None)


def _failed(task, exc) -> None:
    message = failure_message(task, exc, attempt(task).number)
    print(f"ERROR {message}", file=sys.stderr, flush=True)
    _finish(task, "failed", message)


def _died(task, message) -> None:
    """PROCESS_FAILURE or TIMEOUT, in the scheduling process: the worker's row is still 'running'."""
    print(f"ERROR {task}: {message}; the task's transaction was rolled back: run again", file=sys.stderr, flush=True)
    _finish(task, "failed", f"{task}: {message}")


def _missing(task) -> None:
    """DEPENDENCY_MISSING after complete() raised while scheduling: Luigi logs only the traceback, so say it here."""
    exc = task.__dict__.pop("_complete_error", None)
    if exc is not None:
        print(f"ERROR {failure_message(task, exc)}", file=sys.stderr, flush=True)


def _remembering_errors(complete):
    """complete(), keeping on the task what it raised (the DEPENDENCY_MISSING event that follows carries nothing)."""

    @functools.wraps(complete)
    def wrapper(task):
        try:
            return complete(task)
        except Exception as exc:
            task._complete_error = exc
            raise

    return wrapper


def _broken(task, exc) -> None:
    """BROKEN_TASK: requires() or complete() raised while scheduling; nothing ran, so nothing is recorded."""
    print(f"ERROR {failure_message(task, exc)}", file=sys.stderr, flush=True)


def _finish(task, status: str, error: str | None) -> None:
    run = markers.run_id()
    current = attempt(task)
    figures = current.figures
    with _connect() as conn:
        with conn.cursor() as cur:  # committed at once: a finisher waiting for the lock below sees this row
            cur.execute(
                """UPDATE ops.task_runs SET status = %s, finished_at = clock_timestamp(), error = %s,
                                  rows_in = %s, rows_out = %s, rows_quarantined = %s, details = %s
                           WHERE id = coalesce(%s, (SELECT max(id) FROM ops.task_runs
                                                    WHERE run_id = %s AND task_id = %s AND status = 'running'))""",
                (
                    status,
                    error,
                    figures.rows_in,
                    figures.rows_out,
                    figures.rows_quarantined,
                    json.dumps(figures.details) if figures.details is not None else None,
                    current.row_id,
                    run,
                    task.task_id,
                ),
            )
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            # One finisher at a time decides the run's status: the last one sees every task's final row.
            cur.execute("SELECT 1 FROM ops.runs WHERE run_id = %s FOR UPDATE", (run,))
            state = runs.run_state(cur, run)
            cur.execute(
                """UPDATE ops.runs SET status = %s,
                                  finished_at = CASE WHEN %s = 'running' THEN NULL ELSE clock_timestamp() END
                           WHERE run_id = %s""",
                (state, state, run),
            )
            events.announce(cur, "task_finished" if state == "running" else "run_finished", run, task.task_id, status)
            totals = _totals(cur, run)
    if progress_enabled():
        print(
            progress_line(task, status, dataclasses.asdict(figures), totals, time.monotonic() - current.started),
            flush=True,
        )
    if state != "running":
        runs.ended(run)


def _totals(cur, run: str) -> dict:
    cur.execute(
        """SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed'),
                          coalesce(sum(rows_out) FILTER (WHERE task_family = 'LoadTable' AND status = 'done'), 0),
                          coalesce(sum(rows_quarantined) FILTER (WHERE status = 'done'), 0),
                          (SELECT tasks_planned FROM ops.runs WHERE run_id = %s),
                          extract(epoch FROM clock_timestamp() - (SELECT started_at FROM ops.runs WHERE run_id = %s))
                   FROM (SELECT DISTINCT ON (task_id) * FROM ops.task_runs WHERE run_id = %s
                         ORDER BY task_id, id DESC) latest""",
        (run, run, run),
    )
    done, failed, loaded, quarantined, planned, elapsed = cur.fetchone()
    return {
        "done": done,
        "failed": failed,
        "loaded": loaded,
        "quarantined": quarantined,
        "planned": planned,
        "elapsed": float(elapsed or 0),
    }


def record_result(task, figures: Figures) -> None:
    """A task's figures, written to its history row when it succeeds."""
    attempt(task).figures = figures


# ---------------------------------------------------------------- wiring


def register(task_class) -> None:
    """Record the history of every task of this class (and its subclasses) from Luigi's events."""
    handlers = {
        luigi.Event.DEPENDENCY_DISCOVERED: safe(runs.discovered),
        luigi.Event.DEPENDENCY_PRESENT: safe(runs.present),
        luigi.Event.START: safe(_started),
        luigi.Event.SUCCESS: safe(_succeeded),
        luigi.Event.FAILURE: safe(_failed),
        luigi.Event.PROCESS_FAILURE: safe(_died),
        luigi.Event.TIMEOUT: safe(_died),
        luigi.Event.BROKEN_TASK: safe(_broken),
        luigi.Event.DEPENDENCY_MISSING: safe(_missing),
    }
    registered = task_class.__dict__.get("_history_registered")
    if registered:
        return
    for event, handler in handlers.items():
        task_class.event_handler(event)(handler)
    task_class.complete = _remembering_errors(task_class.complete)
    task_class._history_registered = True
