"""The embedded PostgreSQL: started on demand, started again when found dead or stale, one line when it cannot."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from .errors import UserError

log = logging.getLogger(__name__)

# The embedded warehouse is one local server doing bulk work: without replication, a table created or
# truncated in a transaction skips the WAL (loads, clean tables, indexes); the rest gives a scale-1.0
# warehouse room in shared memory and spaces checkpoints out. Backups are pg_dump archives, not WAL.
EMBEDDED_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "maintenance_work_mem": "256MB",
}
STARTS = 3  # tries; a start after a crash can fail once and work the next time (see start())
READY_SECONDS = 300  # crash recovery of a big warehouse takes a while


class StartError(UserError):
    """The embedded server did not start; the message says why (PostgreSQL's own words) and what to do."""


def tune_embedded(server) -> None:
    """Apply EMBEDDED_SETTINGS to a pgserver server; restart it for them when no one else is connected."""
    with contextlib.closing(psycopg2.connect(server.get_uri("postgres"))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", (list(EMBEDDED_SETTINGS),)
            )
            differ = {name: EMBEDDED_SETTINGS[name] for name, now in cur.fetchall() if now != EMBEDDED_SETTINGS[name]}
            if not differ:
                return
            for name, value in differ.items():
                cur.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            )
            (others,) = cur.fetchone() or (0,)
    if others:
        log.info("embedded warehouse: %s take effect when the server next starts", ", ".join(differ))
        return
    from pgserver._commands import create_command_function  # pg_ctl itself is set on the module at import
    from pgserver.utils import PostmasterInfo

    pg_ctl = create_command_function("pg_ctl")
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(server.log), "restart"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=60,
    )
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # so that its cleanup stops this one


# ---------------------------------------------------------------- is it running?


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _ours(pid: int, pgdata: Path) -> bool:
    """pid is a PostgreSQL process of this data folder (not a process that got the pid of a dead one)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return (
            process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE and Path(process.cwd()) == pgdata
        )
    except (psutil.Error, OSError):
        return False


def running(pgdata: Path) -> bool:
    """The postmaster that postmaster.pid names is alive and is this folder's (cheap: done on every connect)."""
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _ours(pid, pgdata)


def _clear_stale(pgdata: Path) -> None:
    """After a crash of the postmaster (kill -9): end its orphaned backends, which hold its shared memory and make
    the next start fail, and remove a postmaster.pid whose process is gone or is not PostgreSQL any more."""
    import psutil

    pid = _postmaster_pid(pgdata)
    if pid is not None and _ours(pid, pgdata):
        return  # alive (perhaps still starting): not stale
    orphans = [
        p for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "postgres" and _ours(p.pid, pgdata)
    ]
    if any("-D" in (p.info["cmdline"] or []) for p in orphans):
        return  # a postmaster of this folder is alive after all (its backends are titled "postgres: ...")
    for orphan in orphans:
        with contextlib.suppress(psutil.Error):
            orphan.send_signal(signal.SIGKILL)
    psutil.wait_procs(orphans, timeout=10)
    if orphans:
        log.info("embedded warehouse: ended %d orphaned PostgreSQL process(es) of a server that died", len(orphans))
    if pid is not None:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        if len(lines) >= 5 and lines[3].strip() and lines[4].strip():  # the dead server's socket and its lock
            for leftover in (f".s.PGSQL.{lines[3].strip()}.lock", f".s.PGSQL.{lines[3].strip()}"):
                (Path(lines[4].strip()) / leftover).unlink(missing_ok=True)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _wait_ready(pgdata: Path, seconds: float) -> bool:
    """Until postmaster.pid says 'ready' (a server that is still recovering from a crash says 'starting')."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        if not running(pgdata):
            return False
        time.sleep(0.2)
    return False


# ---------------------------------------------------------------- starting


def _reason(pgdata: Path, since: int, exc: BaseException) -> str:
    """PostgreSQL's own words for a failed start: the last FATAL or PANIC line it logged during the start."""
    try:
        with open(pgdata / "log", "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    found = [line.strip() for line in text.splitlines() if "FATAL:" in line or "PANIC:" in line]
    if found:
        return found[-1][found[-1].find("FATAL:") if "FATAL:" in found[-1] else found[-1].find("PANIC:") :]
    if isinstance(exc, subprocess.TimeoutExpired):
        return "it did not get ready in time"
    from .errors import first_line

    return first_line(exc)


@contextlib.contextmanager
def _starting(pgdata: Path):
    """One process at a time checks and starts this folder's server (forked workers may all find it dead)."""
    import fcntl

    with open(pgdata.parent / f".{pgdata.name}.start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start(pgdata: Path):
    """The pgserver server of this folder, running: started (again) if it is not, with up to STARTS tries."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver
    from pgserver.postgres_server import PostgresServer

    logging.getLogger("pgserver").setLevel(logging.CRITICAL)  # it logs the whole server log; _reason says why
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata.resolve()
    reason = "unknown"
    with _starting(pgdata):
        for attempt in range(1, STARTS + 1):
            log_size = (pgdata / "log").stat().st_size if (pgdata / "log").exists() else 0
            try:
                _clear_stale(pgdata)
                if running(pgdata) and not _wait_ready(pgdata, READY_SECONDS):
                    raise TimeoutError("the server is still starting")
                server = PostgresServer._instances.get(pgdata)
                if server is None:  # the first start in this process (pgserver keeps it even when it fails)
                    server = pgserver.get_server(pgdata, cleanup_mode=None)  # left running for later runs, the app
                else:
                    with server._lock:
                        server.ensure_postgres_running()
                with contextlib.closing(psycopg2.connect(server.get_uri("postgres"), connect_timeout=10)):
                    pass
                return server
            except (subprocess.SubprocessError, OSError, AssertionError, psycopg2.OperationalError) as exc:
                reason = _reason(pgdata, log_size, exc)
                log.info("embedded warehouse: start %d of %d failed: %s", attempt, STARTS, reason)
                if not (running(pgdata) and _wait_ready(pgdata, READY_SECONDS)):  # pg_ctl may give up too soon
                    time.sleep(attempt)
    raise StartError(
        f"the embedded PostgreSQL in {pgdata} did not start ({reason}); see {pgdata / 'log'}, end "
        "any program still using that folder, then run again"
    )


_known: dict[str, str] = {}  # pgdata -> its URI (for a database), while its postmaster runs
_first_use = threading.Lock()  # the app's panels ask for the warehouse from several threads at once


def url(pgdata: Path, database: str) -> str:
    """The URI of `database` on the embedded server of `pgdata`, starting the server (again) when it is not
    running: after a crash, every command and every retry of a task brings it back."""
    key = f"{pgdata}\x1f{database}"
    if key in _known and running(pgdata.resolve()):
        return _known[key]
    with _first_use:
        return _started_url(pgdata, database, key)


def _started_url(pgdata: Path, database: str, key: str) -> str:
    if key in _known and running(pgdata.resolve()):
        return _known[key]
    server = start(pgdata)
    tune_embedded(server)
    with contextlib.closing(psycopg2.connect(server.get_uri("postgres"))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                    pass  # another process made it first (at the same instant PostgreSQL says UniqueViolation)
    _known[key] = server.get_uri(database)
    return _known[key]
