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

Transient database errors (a dropped or refused connection, a deadlock, a server restart) make a task run again
after [retries] delay seconds, up to [retries] attempts in all (retry_transient); any other failure (a bad
source file, a broken rule) fails the task at once with one line saying what to do.
"""
from __future__ import annotations

import atexit
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
import psycopg2

from pipeline import events  # absolute: stays right wherever this module lives

from . import markers, warehouse
from .console import clock, progress_enabled, progress_line  # noqa: F401 - history.clock etc. for callers
from .errors import database_error, failure_message, first_line, transient

log = logging.getLogger(__name__)


class retries(luigi.Config):  # the class name is the luigi.cfg section
    attempts = luigi.IntParameter(default=3, description="tries of a task in all when the database fails transiently")
    delay = luigi.FloatParameter(default=10.0, description="seconds between two tries")


# ---------------------------------------------------------------- the run's plan (scheduling process)

@dataclasses.dataclass
class Plan:
    url: str | None  # the warehouse, fixed when the run was planned (the exit hook never starts a server)
    pid: int  # the scheduling process
    seen: dict[str, luigi.Task] = dataclasses.field(default_factory=dict)
    present: set[str] = dataclasses.field(default_factory=set)

    def pending(self) -> list[luigi.Task]:
        return [t for task_id, t in self.seen.items() if task_id not in self.present]


_plans: dict[str, Plan] = {}


def _plan() -> Plan:
    run = markers.run_id()
    if run not in _plans:
        try:
            url = warehouse.url()
        except Exception:  # noqa: BLE001 - the START handler reports an unreachable warehouse
            url = None
        if not _plans:
            atexit.register(_close_planned_runs)
        _plans[run] = Plan(url=url, pid=os.getpid())
    return _plans[run]


def _discovered(task, dependency) -> None:
    plan = _plan()
    plan.seen.setdefault(task.task_id, task)
    plan.seen.setdefault(dependency.task_id, dependency)


def _present(task) -> None:
    plan = _plan()
    plan.seen.setdefault(task.task_id, task)
    plan.present.add(task.task_id)


# ---------------------------------------------------------------- recording

def ready(conn) -> bool:
    """The ops and quality tables exist as this code expects (then no bootstrap: its DDL would wait for every
    open transaction on those tables, e.g. a long heal in another worker)."""
    with conn.cursor() as cur:
        cur.execute("""SELECT to_regclass('quality.table_results') IS NOT NULL AND to_regclass('ops.markers') IS NOT NULL
                              AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'ops'
                                          AND table_name = 'runs' AND column_name = 'tasks_planned')""")
        return cur.fetchone()[0]


# The columns of ops.runs that the history adds to warehouses made before it had them (warehouse.BOOTSTRAP_SQL
# declares them too once it has them; then this never runs).
HISTORY_COLUMNS = """ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS pid integer,
                                    ADD COLUMN IF NOT EXISTS tasks_planned integer"""


def connect(url: str | None = None, name: str = "insurance-pipeline-history"):
    """An autocommit connection to the warehouse, its ops/quality tables made first if they are missing."""
    conn = psycopg2.connect(url or warehouse.url(), application_name=name, connect_timeout=10)
    try:
        conn.autocommit = True
        if not ready(conn):
            conn.autocommit = False
            with conn, conn.cursor() as cur:  # in a transaction: the advisory lock lasts until the DDL commits
                warehouse.bootstrap(conn)
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('pipeline.bootstrap'))")
                cur.execute(HISTORY_COLUMNS)
            conn.autocommit = True
    except BaseException:
        conn.close()
        raise
    return conn


def _connect(url: str | None = None):
    return contextlib.closing(connect(url))


def _safe(handler):
    """History must never break a run: a failure to record is logged and the task goes on."""
    @functools.wraps(handler)
    def wrapper(task, *args):
        try:
            handler(task, *args)
        except Exception as exc:  # noqa: BLE001 - history must never break a run
            print(f"WARNING could not record the run history of {task}: {first_line(exc)}", file=sys.stderr,
                  flush=True)
    return wrapper


def _reason(cur, task) -> str:
    """Why the task runs: new (never completed), changed input, retry (failed before), forced (was complete)."""
    # By family and parameters, not task_id: the id changes with the inputs (markers.Versioned)
    cur.execute("""SELECT status FROM ops.task_runs WHERE task_family = %s AND params - 'version' = %s::jsonb
                   ORDER BY id DESC LIMIT 1""", (task.task_family, json.dumps(identity(task))))
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


def _open_row(cur, task, reason: str) -> None:
    cur.execute("""INSERT INTO ops.task_runs (run_id, task_id, task_family, params, reason, status)
                   VALUES (%s, %s, %s, %s, %s, 'running') RETURNING id""",
                (markers.run_id(), task.task_id, task.task_family, json.dumps(task.to_str_params()), reason))
    task._history_id = cur.fetchone()[0]
    task._history_started = time.monotonic()
    task._history_figures = {}


def _started(task) -> None:
    run = markers.run_id()
    plan = _plans.get(run)
    if plan is not None and task.task_id not in plan.seen:  # a root task without dependencies
        plan.seen[task.task_id] = task
    with _connect() as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO ops.runs (run_id, command, host, pid, tasks_planned) VALUES (%s, %s, %s, %s, %s)
                       ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL
                       RETURNING (xmax = 0)""",
                    (run, command_line(), socket.gethostname(), plan.pid if plan else os.getpid(),
                     len(plan.pending()) if plan else None))
        if cur.fetchone()[0]:  # a new run: close the runs of this host whose process is gone
            close_dead_runs(cur)
        _open_row(cur, task, _reason(cur, task))
        events.announce(cur, "task_started", run, task.task_id, "running")


def command_line() -> str:
    """The command that started the run, as its user typed it (luigi's and our own entry points by name)."""
    program = sys.argv[0].replace("\\", "/")
    if program.endswith("luigi/__main__.py"):
        program = "luigi"
    elif program.endswith("pipeline/__main__.py"):
        program = "python -m pipeline"
    else:
        program = os.path.basename(program) or "python"
    return " ".join([program, *sys.argv[1:]])[:500]


def _succeeded(task) -> None:
    _finish(task, "done", None)


def _failed(task, exc) -> None:
    message = failure_message(task, exc)
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
    figures = getattr(task, "_history_figures", None) or {}
    details = figures.get("details")
    with _connect() as conn:
        with conn.cursor() as cur:  # committed at once: a finisher waiting for the lock below sees this row
            cur.execute("""UPDATE ops.task_runs SET status = %s, finished_at = clock_timestamp(), error = %s,
                                  rows_in = %s, rows_out = %s, rows_quarantined = %s, details = %s
                           WHERE id = coalesce(%s, (SELECT max(id) FROM ops.task_runs
                                                    WHERE run_id = %s AND task_id = %s AND status = 'running'))""",
                        (status, error, figures.get("rows_in"), figures.get("rows_out"),
                         figures.get("rows_quarantined"), json.dumps(details) if details is not None else None,
                         getattr(task, "_history_id", None), run, task.task_id))
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            # One finisher at a time decides the run's status: the last one sees every task's final row.
            cur.execute("SELECT 1 FROM ops.runs WHERE run_id = %s FOR UPDATE", (run,))
            state = _run_state(cur, run)
            cur.execute("""UPDATE ops.runs SET status = %s,
                                  finished_at = CASE WHEN %s = 'running' THEN NULL ELSE clock_timestamp() END
                           WHERE run_id = %s""", (state, state, run))
            events.announce(cur, "task_finished" if state == "running" else "run_finished", run, task.task_id, status)
            totals = _totals(cur, run)
    if progress_enabled():
        print(progress_line(task, status, figures, totals), flush=True)
    if state != "running":
        _write_report(run)


def _run_state(cur, run: str) -> str:
    """running while a task runs or a planned task is neither done here nor complete; else failed or done."""
    cur.execute("""SELECT DISTINCT ON (task_id) task_id, status FROM ops.task_runs WHERE run_id = %s
                   ORDER BY task_id, id DESC""", (run,))
    latest = dict(cur.fetchall())
    if "running" in latest.values():
        return "running"
    if "failed" in latest.values():
        return "failed"
    plan = _plans.get(run)
    remaining = [t for t in plan.pending() if latest.get(t.task_id) != "done"] if plan else []
    return "running" if any(not _complete(t) for t in remaining) else "done"


def _complete(task) -> bool:
    try:
        return task.complete()
    except Exception:  # noqa: BLE001 - cannot tell: not complete
        return False


def _totals(cur, run: str) -> dict:
    cur.execute("""SELECT count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed'),
                          coalesce(sum(rows_out) FILTER (WHERE task_family = 'LoadTable' AND status = 'done'), 0),
                          coalesce(sum(rows_quarantined) FILTER (WHERE status = 'done'), 0),
                          (SELECT tasks_planned FROM ops.runs WHERE run_id = %s),
                          extract(epoch FROM clock_timestamp() - (SELECT started_at FROM ops.runs WHERE run_id = %s))
                   FROM (SELECT DISTINCT ON (task_id) * FROM ops.task_runs WHERE run_id = %s
                         ORDER BY task_id, id DESC) latest""", (run, run, run))
    done, failed, loaded, quarantined, planned, elapsed = cur.fetchone()
    return {"done": done, "failed": failed, "loaded": loaded, "quarantined": quarantined,
            "planned": planned, "elapsed": float(elapsed or 0)}


def record_result(task, rows_in=None, rows_out=None, rows_quarantined=None, details=None) -> None:
    """A task's figures, written to its history row when it succeeds."""
    task._history_figures = {"rows_in": rows_in, "rows_out": rows_out, "rows_quarantined": rows_quarantined,
                             "details": details}


# ---------------------------------------------------------------- retries of transient database errors

def retry_transient(run):
    """Decorate a task's run(): a transient database error closes the attempt's history row as failed, waits
    [retries] delay seconds and runs again (reason 'retry'), up to [retries] attempts; other errors pass."""
    @functools.wraps(run)
    def wrapper(task):
        policy = retries()
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
                _safe(_reopen)(task, note)
                time.sleep(policy.delay)
                task._history_attempt += 1
    return wrapper


def _reopen(task, note: str) -> None:
    with _connect() as conn, conn.cursor() as cur:
        cur.execute("""UPDATE ops.task_runs SET status = 'failed', finished_at = clock_timestamp(), error = %s
                       WHERE id = %s""", (note, getattr(task, "_history_id", None)))
        _open_row(cur, task, "retry")


# ---------------------------------------------------------------- the end of a run

def close_dead_runs(cur) -> int:
    """Runs of this host still 'running' whose process is gone (killed): mark them and their tasks interrupted."""
    cur.execute("SELECT run_id, pid FROM ops.runs WHERE status = 'running' AND host = %s AND pid IS NOT NULL",
                (socket.gethostname(),))
    dead = [run for run, pid in cur.fetchall() if not pid_alive(pid)]
    for run in dead:  # killed in the middle of its run, whether or not a task was running then
        _close(cur, run, "the process ended before the task finished (killed?); run again", "interrupted")
    return len(dead)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _close(cur, run: str, why: str, state: str | None = None) -> str:
    """Final status of a run whose process has ended: tasks still 'running' never finished."""
    cur.execute("""UPDATE ops.task_runs SET status = 'interrupted', finished_at = clock_timestamp(),
                          error = coalesce(error, %s) WHERE run_id = %s AND status = 'running'""", (why, run))
    interrupted = cur.rowcount
    cur.execute("""SELECT bool_or(status = 'failed') FROM (SELECT DISTINCT ON (task_id) status FROM ops.task_runs
                   WHERE run_id = %s ORDER BY task_id, id DESC) latest""", (run,))
    failed = cur.fetchone()[0]
    state = state or ("interrupted" if interrupted else "failed" if failed else "done")
    cur.execute("""UPDATE ops.runs SET status = %s, finished_at = coalesce(
                          (SELECT max(finished_at) FROM ops.task_runs WHERE run_id = %s), clock_timestamp())
                   WHERE run_id = %s""", (state, run, run))
    events.announce(cur, "run_finished", run, None, state)
    return state


def finish_run(run: str | None = None, url: str | None = None) -> str | None:
    """Close a run whose process is ending (still 'running' only if it stopped early: then write its report).
    Returns the run's final status, or None when the run never started a task or the warehouse is unreachable
    (then the run's own error says so)."""
    run = run or markers.run_id()
    try:
        closing = _connect(url)
    except psycopg2.OperationalError:
        return None
    with closing as conn:
        conn.autocommit = False
        with conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM ops.runs WHERE run_id = %s FOR UPDATE", (run,))
            row = cur.fetchone()
            if row is None:
                return None
            state = row[0]
            if state == "running":
                state = _close(cur, run, "the run stopped before the task finished; run again")
    if row[0] == "running":
        _write_report(run, url)
    return state


def _close_planned_runs() -> None:
    """atexit of the scheduling process: close its runs that no task event closed (e.g. luigid gave the rest
    of the graph to another worker, or the run was interrupted)."""
    for run, plan in list(_plans.items()):
        if plan.pid != os.getpid() or not plan.url:
            continue
        try:
            finish_run(run, plan.url)
        except Exception as exc:  # noqa: BLE001 - the warehouse may be gone (a test's database)
            log.debug("could not close run %s: %s", run, exc)


def _write_report(run: str, url: str | None = None) -> None:
    from . import report
    if not report.reports().after_run:
        return
    try:
        path = report.write_report(run, url=url)
    except Exception as exc:  # noqa: BLE001 - a report must never fail a run
        log.warning("could not write the report of run %s: %s", run, first_line(exc))
        return
    if progress_enabled():
        print(f"report: {path}", flush=True)
    else:
        log.info("report of run %s: %s", run, path)


# ---------------------------------------------------------------- wiring

def register(task_class) -> None:
    """Record the history of every task of this class (and its subclasses) from Luigi's events."""
    handlers = {
        luigi.Event.DEPENDENCY_DISCOVERED: _safe(_discovered),
        luigi.Event.DEPENDENCY_PRESENT: _safe(_present),
        luigi.Event.START: _safe(_started),
        luigi.Event.SUCCESS: _safe(_succeeded),
        luigi.Event.FAILURE: _safe(_failed),
        luigi.Event.PROCESS_FAILURE: _safe(_died),
        luigi.Event.TIMEOUT: _safe(_died),
        luigi.Event.BROKEN_TASK: _safe(_broken),
        luigi.Event.DEPENDENCY_MISSING: _safe(_missing),
    }
    registered = task_class.__dict__.get("_history_registered")
    if registered:
        return
    for event, handler in handlers.items():
        task_class.event_handler(event)(handler)
    task_class.complete = _remembering_errors(task_class.complete)
    task_class._history_registered = True
