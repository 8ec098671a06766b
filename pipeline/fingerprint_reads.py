"""What task fingerprints read from the warehouse (active resolutions, forgotten part files): on one session per
process and warehouse, never waiting on a lock, and once per look at the graph."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import warehouse

_session: dict[tuple[int, str], Any] = {}
_busy_until = [0.0]  # monotonic time until which a restore is taken to hold the tables read here
BUSY_SECONDS = 10.0
_looks = threading.local()  # what the look at the graph under way has found (see once_per_look)


def once_per_look(key: tuple, make: Callable[[], Any]) -> Any:
    """make() once per look at the graph: the outermost call opens the look and the calls made within it share what
    it finds. A task's fingerprint holds its requirements', which overlap: Transform's asked 42 times for the 11
    heals' and read the resolutions as often (0.1-0.3 s, each time Luigi or the run history asked, measured)."""
    found = getattr(_looks, "found", None)
    if found is None:
        _looks.found = {}
        try:
            return once_per_look(key, make)
        finally:
            _looks.found = None
    if key not in found:
        found[key] = make()
    return found[key]


def read(look: Callable[[Any], dict[str, str]], table: str) -> str:
    """look(conn)[table] ('' when absent): look() asked once per look at the graph, for every table."""
    found = once_per_look((look.__module__, look.__qualname__), lambda: _read(look))
    return found if isinstance(found, str) else found.get(table, "")


def _read(look: Callable[[Any], dict[str, str]]) -> dict[str, str] | str:
    """look(conn), or why it could not be read ("busy", "unreachable"), on one session per process and warehouse: a
    new connection for each look cost 1.7 s per look at the graph (measured)."""
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
            return look(conn)
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
