"""What task fingerprints read from the warehouse (active resolutions, forgotten part files): on one session per
process and warehouse, never waiting on a lock."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from . import warehouse

_session: dict[tuple[int, str], Any] = {}
_busy_until = [0.0]  # monotonic time until which a restore is taken to hold the tables read here
BUSY_SECONDS = 10.0


def read(look: Callable[[Any], dict[str, str]], table: str) -> str:
    """look(conn)[table] ('' when absent), asked on one session per process and warehouse: a graph's fingerprints
    ask dozens of times (each heal's parents again), a new connection each time cost 1.7 s per look at the graph
    (measured)."""
    import psycopg2
    import psycopg2.errors

    key = (os.getpid(), warehouse.url())  # a forked worker must not share its parent's socket
    if time.monotonic() < _busy_until[0]:
        return "busy"
    for attempt in (1, 2):
        conn = _session.get(key)
        if conn is None or conn.closed:
            try:
                conn = _session[key] = warehouse.connect("fingerprint", timeout=10)
            except psycopg2.OperationalError:
                # Luigi makes tasks (and so fingerprints) before it asks the warehouse anything: an unreachable one
                # must fail there, as a scheduling error in one line, not here as an unexpected exception.
                return "unreachable"
            conn.autocommit = True  # no transaction left open between looks (restores and heals never wait)
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '200ms'")
        try:
            return look(conn).get(table, "")
        except psycopg2.errors.LockNotAvailable:
            # A restore holds the table while it replaces the warehouse: never wait here, silently (a graph asks
            # dozens of times), before the run has taken its lock and said that it waits. "busy" matches no
            # marker, so the task runs once the restore is done (on the restored warehouse), as after any change.
            _busy_until[0] = time.monotonic() + BUSY_SECONDS
            return "busy"
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
