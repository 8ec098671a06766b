"""A run as a whole: its plan (the incomplete tasks the scheduling process found), its status, and its end: closing
the runs whose process is gone, and writing the run's report.

Where each part runs:
- DEPENDENCY_DISCOVERED / DEPENDENCY_PRESENT: in the process that schedules, before any task runs. They give
  the run's plan (the incomplete tasks), which forked workers inherit: progress is "done of planned".
- When the scheduling process exits (atexit), a run that is still 'running' there is closed: its part is done
  (another worker of a shared luigid may do the rest), or 'interrupted' if a task never finished.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import socket

import luigi
import psycopg2

from .. import events, warehouse
from ..errors import first_line
from . import markers
from .lifeline import pid_alive
from .progress import progress_enabled

log = logging.getLogger(__name__)


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


def discovered(task, dependency) -> None:
    plan = _plan()
    plan.seen.setdefault(task.task_id, task)
    plan.seen.setdefault(dependency.task_id, dependency)


def present(task) -> None:
    plan = _plan()
    plan.seen.setdefault(task.task_id, task)
    plan.present.add(task.task_id)


def planned(run: str) -> Plan | None:
    """The plan of a run made in this process (the scheduling one, or a worker forked from it)."""
    return _plans.get(run)


def run_state(cur, run: str) -> str:
    """running while a task runs or a planned task is neither done here nor complete; else failed or done."""
    cur.execute(
        """SELECT DISTINCT ON (task_id) task_id, status FROM ops.task_runs WHERE run_id = %s
                   ORDER BY task_id, id DESC""",
        (run,),
    )
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


def close_dead_runs(cur) -> int:
    """Runs of this host still 'running' whose process is gone (killed): mark them and their tasks interrupted."""
    cur.execute(
        "SELECT run_id, pid FROM ops.runs WHERE status = 'running' AND host = %s AND pid IS NOT NULL",
        (socket.gethostname(),),
    )
    dead = [run for run, pid in cur.fetchall() if not pid_alive(pid)]
    for run in dead:  # killed in the middle of its run, whether or not a task was running then
        _close(cur, run, "the process ended before the task finished (killed?); run again", "interrupted")
    return len(dead)


def _close(cur, run: str, why: str, state: str | None = None) -> str:
    """Final status of a run whose process has ended: tasks still 'running' never finished."""
    cur.execute(
        """UPDATE ops.task_runs SET status = 'interrupted', finished_at = clock_timestamp(),
                          error = coalesce(error, %s) WHERE run_id = %s AND status = 'running'""",
        (why, run),
    )
    interrupted = cur.rowcount
    cur.execute(
        """SELECT bool_or(status = 'failed') FROM (SELECT DISTINCT ON (task_id) status FROM ops.task_runs
                   WHERE run_id = %s ORDER BY task_id, id DESC) latest""",
        (run,),
    )
    failed = cur.fetchone()[0]
    state = state or ("interrupted" if interrupted else "failed" if failed else "done")
    cur.execute(
        """UPDATE ops.runs SET status = %s, finished_at = coalesce(
                          (SELECT max(finished_at) FROM ops.task_runs WHERE run_id = %s), clock_timestamp())
                   WHERE run_id = %s""",
        (state, run, run),
    )
    events.announce(cur, "run_finished", run, None, state)
    return state


def finish_run(run: str | None = None, url: str | None = None) -> str | None:
    """Close a run whose process is ending (still 'running' only if it stopped early: then write its report).
    Returns the run's final status, or None when the run never started a task or the warehouse is unreachable
    (then the run's own error says so)."""
    run = run or markers.run_id()
    try:
        closing = contextlib.closing(warehouse.connect("history", url, ops=True, timeout=10))
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
        ended(run, url)
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


def ended(run: str, url: str | None = None) -> None:
    """What follows a run's end, in the process that closed it: its report, then its alerts ([alerts])."""
    write_report(run, url)
    from .. import alerts

    try:
        with contextlib.closing(warehouse.connect("alerts", url, ops=True, timeout=10)) as conn:
            alerts.send(conn, run)
    except Exception as exc:  # noqa: BLE001 - an alert must never fail a run
        log.warning("could not send the alerts of run %s: %s", run, first_line(exc))


def write_report(run: str, url: str | None = None) -> None:
    from .. import report

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
