"""Alerts when a run ends and needs a look (failed, a rule above its warn share, a clean share drop): e-mail, webhook."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import urllib.request

from . import config
from .errors import first_line
from .quality.trend import clean_share_drops

log = logging.getLogger(__name__)

# A secret never leaves in a message: passwords in URLs and conninfo strings are masked wherever they appear.
SECRETS = [
    (re.compile(r"(\w+://[^:/@\s]*):[^@\s]*@"), r"\1:***@"),
    (re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE), r"\1***"),
]


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str  # run_failed | rule_warning | clean_share_drop
    message: str


@dataclasses.dataclass(frozen=True)
class Notice:
    """What one run's end says: its alerts, and the command that shows more."""

    run_id: str
    status: str
    alerts: list[Alert]

    @property
    def see(self) -> str:
        return f"python -m pipeline runs {self.run_id}"

    @property
    def subject(self) -> str:
        if self.status in ("failed", "interrupted"):
            return f"insurance-pipeline: run {self.run_id} {self.status}"
        return f"insurance-pipeline: run {self.run_id} done with {len(self.alerts)} warning(s)"

    def text(self) -> str:
        lines = [f"run {self.run_id}: {self.status}", *(f"- {a.message}" for a in self.alerts), f"more: {self.see}"]
        return scrub("\n".join(lines))

    def json(self) -> bytes:
        return scrub(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "status": self.status,
                    "see": self.see,
                    "alerts": [dataclasses.asdict(a) for a in self.alerts],
                }
            )
        ).encode()


def scrub(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


def collect(conn, run_id: str) -> Notice:
    """The run's status and what in it needs a look, from ops.* and quality.* (the run has ended)."""
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM ops.runs WHERE run_id = %s", (run_id,))
        row = cur.fetchone()
        status = row[0] if row else "unknown"
        cur.execute(
            """SELECT DISTINCT ON (task_id) task_id, status, error, details FROM ops.task_runs
                       WHERE run_id = %s ORDER BY task_id, id DESC""",
            (run_id,),
        )
        latest = cur.fetchall()
    alerts = [
        Alert("run_failed", f"{task}: {first_line(error or state)}")
        for task, state, error, _ in latest
        if state in ("failed", "interrupted")
    ]
    alerts += [
        Alert("rule_warning", warning)
        for _, state, _, details in latest
        if state == "done"
        for warning in (details or {}).get("warnings", [])
    ]
    alerts += [Alert("clean_share_drop", drop.message) for drop in clean_share_drops(conn) if drop.run_id == run_id]
    return Notice(run_id, status, alerts)


def _unsent(conn, notice: Notice) -> Notice:
    """The notice with only the alerts not sent before (a run is closed again by each task that ends after a
    failure; every process that closes it sees the alerts already stored in ops.alerts)."""
    fresh = []
    with conn.cursor() as cur:
        for alert in notice.alerts:
            cur.execute(
                """INSERT INTO ops.alerts (run_id, kind, message) VALUES (%s, %s, %s)
                           ON CONFLICT DO NOTHING RETURNING 1""",
                (notice.run_id, alert.kind, scrub(alert.message)),
            )
            if cur.fetchone():
                fresh.append(alert)
    return dataclasses.replace(notice, alerts=fresh)


def _send_email(notice: Notice, recipients: list[str]) -> None:
    import luigi.notifications as notifications

    # Luigi's own SMTP sender (its [smtp] settings); send_email() itself would skip a run started from a terminal.
    notifications.send_email_smtp(notifications.email().sender, notice.subject, notice.text(), recipients, None)


def _post(notice: Notice, url: str, timeout: float) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"[alerts] webhook_url must be an http(s) URL, got {scrub(url)!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=notice.json(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the scheme is checked above
        response.read()


def send(conn, run_id: str) -> Notice | None:
    """Tell the configured receivers about a run that needs a look; None when nothing is configured or needed.

    A failure to deliver is logged as one line: an alert never fails the run it is about.
    """
    settings = config.alerts()
    recipients = [a.strip() for a in settings.email_to.split(",") if a.strip()]
    if not recipients and not settings.webhook_url:
        return None
    notice = _unsent(conn, collect(conn, run_id))
    if not notice.alerts:
        return None
    deliveries = []
    if recipients:
        deliveries.append(("e-mail", lambda: _send_email(notice, recipients)))
    if settings.webhook_url:
        deliveries.append(("webhook", lambda: _post(notice, settings.webhook_url, settings.timeout)))
    for name, deliver in deliveries:
        try:
            deliver()
        except Exception as exc:  # noqa: BLE001 - whatever the network does, the run's outcome stands
            log.warning("could not send the %s alert of run %s: %s", name, run_id, scrub(first_line(exc)))
    return notice
