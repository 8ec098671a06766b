"""Run history in ops.task_runs, recorded from Luigi's task events (Luigi itself forgets finished tasks)."""
from __future__ import annotations

import json
import logging
import socket
import sys

import luigi
import psycopg2

from . import markers, warehouse
from .ingest import SourceError

log = logging.getLogger(__name__)


def failure_message(task: luigi.Task, exc: BaseException) -> str:
    """One line saying what failed and, where we know it, what to do."""
    if isinstance(exc, psycopg2.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        return (f"{task}: cannot reach the warehouse {warehouse.describe()} ({first}); "
                "check that PostgreSQL is running and the URL is right, then run again")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, SourceError):
        return f"{task}: {text}"
    return f"{task}: {type(exc).__name__}: {text}"


def _execute(query: str, params: tuple) -> list:
    conn = psycopg2.connect(warehouse.url(), application_name="insurance-pipeline-history")
    try:
        conn.autocommit = True
        warehouse.bootstrap(conn)
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _reason(task) -> str:
    stored = task.output().stored_fingerprint()
    if stored is None:
        return "new"
    retried = _execute("SELECT 1 FROM ops.task_runs WHERE run_id = %s AND task_id = %s AND status = 'failed'",
                       (markers.run_id(), task.task_id))
    if retried:
        return "retry"
    return "changed input" if stored != task.fingerprint() else "forced"


def _safe(handler):
    """History must never break a run: a failure to record is logged and the task goes on."""
    def wrapper(task, *args):
        try:
            handler(task, *args)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not record run history for %s: %s", task.task_id, exc)
    return wrapper


def register(task_class) -> None:
    """Record START, SUCCESS and FAILURE of every task of this class (and its subclasses)."""

    @task_class.event_handler(luigi.Event.START)
    @_safe
    def started(task):
        run = markers.run_id()
        _execute("INSERT INTO ops.runs (run_id, command, host) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                 (run, " ".join(sys.argv)[:500], socket.gethostname()))
        rows = _execute("""INSERT INTO ops.task_runs (run_id, task_id, task_family, params, reason, status)
                           VALUES (%s, %s, %s, %s, %s, 'running') RETURNING id""",
                        (run, task.task_id, task.task_family, json.dumps(task.to_str_params()), _reason(task)))
        task._history_id = rows[0][0]

    @task_class.event_handler(luigi.Event.SUCCESS)
    @_safe
    def succeeded(task):
        _finish(task, "done", None)

    @task_class.event_handler(luigi.Event.FAILURE)
    @_safe
    def failed(task, exc):
        message = failure_message(task, exc)
        print(f"ERROR {message}", file=sys.stderr, flush=True)
        _finish(task, "failed", message)


def _finish(task, status: str, error: str | None) -> None:
    figures = getattr(task, "_history_figures", {})
    _execute("""UPDATE ops.task_runs SET status = %s, finished_at = now(), error = %s, rows_in = %s, rows_out = %s,
                       rows_quarantined = %s, details = %s WHERE id = %s""",
             (status, error, figures.get("rows_in"), figures.get("rows_out"), figures.get("rows_quarantined"),
              json.dumps(figures.get("details")) if figures.get("details") is not None else None,
              getattr(task, "_history_id", None)))
    _execute("UPDATE ops.runs SET finished_at = now(), status = CASE WHEN %s = 'failed' THEN 'failed' "
             "WHEN status = 'failed' THEN status ELSE 'done' END WHERE run_id = %s", (status, markers.run_id()))


def record_result(task, rows_in=None, rows_out=None, rows_quarantined=None, details=None) -> None:
    """A task's figures, written to its history row when it succeeds."""
    task._history_figures = {"rows_in": rows_in, "rows_out": rows_out, "rows_quarantined": rows_quarantined,
                             "details": details}
