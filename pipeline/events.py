"""Announcements of the pipeline's progress with PostgreSQL NOTIFY, for whoever LISTENs (the desktop app).

Each is sent on the connection and in the transaction that writes the ops.* row it announces, so a listener hears
of a change only once the change is committed (NOTIFY is delivered at commit, and dropped by a rollback), from
whichever process or machine ran the task. Payload: JSON {"event", "run", "task", "status"}."""

from __future__ import annotations

import json

CHANNEL = "pipeline_events"
EVENTS = ("task_started", "task_finished", "run_finished", "data_committed")


def payload(event: str, run: str | None, task: str | None = None, status: str | None = None) -> str:
    return json.dumps({"event": event, "run": run, "task": task, "status": status})


def announce(cur, event: str, run: str | None, task: str | None = None, status: str | None = None) -> None:
    """NOTIFY CHANNEL in cur's transaction (at once on an autocommit connection)."""
    cur.execute("SELECT pg_catalog.pg_notify(%s, %s)", (CHANNEL, payload(event, run, task, status)))


def parse(text: str) -> dict:
    """A payload as sent (an unreadable one as an event with no details: still a reason to look again)."""
    try:
        found = json.loads(text)
    except ValueError:
        return {"event": "unknown", "run": None, "task": None, "status": None}
    return found if isinstance(found, dict) else {"event": "unknown", "run": None, "task": None, "status": None}
