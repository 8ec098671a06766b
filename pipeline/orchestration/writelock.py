"""The one lock on writing the warehouse: runs share it, a restore or bundle import takes it alone."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import re

import psycopg2

from .. import warehouse
from ..errors import PipelineError
from . import markers

# One advisory lock, hashtext('pipeline.run'), on the warehouse database (advisory locks belong to a database: a
# restore into another one, --target-db, does not touch it).
# - A run holds it SHARED in a session of its scheduling process, from before its first completeness check until it
#   ends: `python -m pipeline run` around luigi.build (running()); `luigi --module pipeline Transform` from the first
#   PipelineTask.complete() until the process exits (luigi_run()). So nothing can replace the warehouse between two
#   tasks of a run, while runs never block one another through it (several workers can still share one luigid).
# - Each task also takes it SHARED for its own transaction (in_task()), with a try: a worker whose scheduling process
#   is gone (killed) cannot write while a restore holds it.
# - A restore or bundle import into the warehouse takes it EXCLUSIVE with a try, for its whole duration
#   (replacing()): refused at once while any run holds it; a run that starts meanwhile waits for it, saying so.
KEY = "pipeline.run"
APP = "insurance-pipeline-lock"  # application_name of a holding session: "<APP> <what> <pid>[ <run id>]"
HOLDER = re.compile(rf"{APP} (?P<what>[a-z ]+) (?P<pid>\d+)(?: (?P<run>\S+))?")

HOLDERS_SQL = """
SELECT a.application_name, a.pid FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND a.pid <> pg_catalog.pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND l.classid = ((pg_catalog.hashtext(%(key)s)::bigint >> 32) & 4294967295)::oid
  AND l.objid = (pg_catalog.hashtext(%(key)s)::bigint & 4294967295)::oid
ORDER BY a.application_name NOT LIKE %(app)s, a.backend_start"""


class Busy(PipelineError):  # noqa: N818 - the state the user is told about, not a failure of ours
    """Another process holds the warehouse: the message says which, and what to do."""

    retcode = "already_running"


@dataclasses.dataclass
class _Hold:
    pid: int  # the process that took it (a forked Luigi worker inherits the entry, not the lock)
    conn: psycopg2.extensions.connection
    exclusive: bool
    until_exit: bool  # taken by a Luigi run's first completeness check: held until the process exits


_held: dict[str, _Hold] = {}


def _session(url: str, what: str, run: str = ""):
    conn = warehouse.connect(address=url, name=f"{APP} {what} {os.getpid()} {run}".strip(), timeout=10)
    conn.autocommit = True
    return conn


def holder(cur) -> str:
    """Who holds the lock, as a user reads it: 'a run (pid N, run R) is writing the warehouse'."""
    cur.execute(HOLDERS_SQL, {"key": KEY, "app": f"{APP} %"})
    for application, backend in cur.fetchall():
        found = HOLDER.fullmatch(application or "")
        if found and found["what"] == "run":
            return f"a run (pid {found['pid']}, run {found['run']}) is writing the warehouse"
        if found:
            return f"a {found['what']} (pid {found['pid']}) is replacing the warehouse"
        return f"a task of a run (server process {backend}) is writing the warehouse"
    return "another process is using the warehouse"


def current_holder(url: str | None = None) -> str | None:
    """Who holds the lock now, in words ('a run (pid N, run R) is writing the warehouse'), or None: for asking
    before a restore or a backup is even offered (the restore itself still takes the lock with a try). A hold left by
    a Luigi run this process scheduled earlier does not count: that run has ended (replacing() releases it)."""
    url = url or warehouse.url()
    mine = _mine(url)
    own = mine.conn.get_backend_pid() if mine and mine.until_exit and not mine.conn.closed else None
    conn = psycopg2.connect(url, application_name=f"{APP}-probe", connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(HOLDERS_SQL, {"key": KEY, "app": f"{APP} %"})
            if not [backend for _, backend in cur.fetchall() if backend != own]:
                return None
            if own is None:
                return holder(cur)
            _release(url)  # replacing() would release it too
            return current_holder(url)
    finally:
        conn.close()


def _share(url: str) -> psycopg2.extensions.connection:
    """A session holding the lock shared for this process's run; waits (saying so) while a restore holds it."""
    conn = _session(url, "run", markers.run_id())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_try_advisory_lock_shared(pg_catalog.hashtext(%s))", (KEY,))
            if not cur.fetchone()[0]:
                print(f"{holder(cur)}; the run waits for it to finish", flush=True)
                cur.execute("SELECT pg_catalog.pg_advisory_lock_shared(pg_catalog.hashtext(%s))", (KEY,))
    except BaseException:
        conn.close()
        raise
    return conn


def _mine(url: str) -> _Hold | None:
    hold = _held.get(url)
    return hold if hold is not None and hold.pid == os.getpid() else None


def _release(url: str) -> None:
    hold = _held.pop(url)
    hold.conn.close()  # ends the session, and with it the lock


@contextlib.contextmanager
def running(url: str | None = None):
    """Hold the lock shared while this process runs the graph (python -m pipeline run)."""
    url = url or warehouse.url()
    if _mine(url):
        yield
        return
    _held[url] = _Hold(os.getpid(), _share(url), exclusive=False, until_exit=False)
    try:
        yield
    finally:
        _release(url)


def luigi_run() -> None:
    """Called by every completeness check: the first one in a scheduling process takes the lock shared, kept until
    the process exits (Luigi has no hook for a run's end). Worker processes rely on the scheduler's lock."""
    if multiprocessing.parent_process() is not None:
        return
    url = warehouse.url()
    if url not in _held:
        _held[url] = _Hold(os.getpid(), _share(url), exclusive=False, until_exit=True)


def in_task(conn) -> None:
    """Share the lock for this task's transaction. Never waits: a restore can only hold it when this task's run
    lost its own hold (its scheduling process was killed), and then the run's plan no longer fits the warehouse."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_catalog.pg_try_advisory_xact_lock_shared(pg_catalog.hashtext(%s))", (KEY,))
        if not cur.fetchone()[0]:
            raise Busy(f"{holder(cur)}; this task did not run: run again when it has finished")


@contextlib.contextmanager
def replacing(what: str, url: str | None = None):
    """Hold the lock alone while `what` (a restore, a bundle import) replaces the warehouse; Busy at once if any
    run or other restore holds it."""
    url = url or warehouse.url()
    mine = _mine(url)
    if mine and mine.exclusive:  # a bundle import's own restore
        yield
        return
    if mine and mine.until_exit:
        _release(url)  # a Luigi run that this process scheduled earlier has ended: it is restoring now
    conn = _session(url, what)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext(%s))", (KEY,))
            if not cur.fetchone()[0]:
                raise Busy(f"{holder(cur)}; {what} refused: wait for it to finish or stop it")
    except BaseException:
        conn.close()
        raise
    _held[url] = _Hold(os.getpid(), conn, exclusive=True, until_exit=False)
    try:
        yield
    finally:
        _release(url)
