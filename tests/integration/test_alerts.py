"""Alerts at the end of a run, to a real SMTP server and a real HTTP listener on loopback started here."""

from __future__ import annotations

import contextlib
import email
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import luigi.configuration
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiosmtpd.controller import Controller

from pipeline import alerts
from pipeline.orchestration.tasks import Transform

from tests.support import build, query


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self):
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks it is up by connecting to its port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield received, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


@contextlib.contextmanager
def settings(values: dict[tuple[str, str], str]):
    """luigi.cfg settings for the block (the run is in this process, so it reads them)."""
    config = luigi.configuration.get_config()
    for (section, option), value in values.items():
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, option, value)
    try:
        yield
    finally:
        for section, option in values:
            config.remove_option(section, option)


def break_customer_ids(data_dir, share: float) -> int:
    """Give a share of the customers an id of another shape (the contract's regex quarantines them)."""
    path = data_dir / "customers.parquet"
    table = pq.read_table(path)
    ids = table["customer_id"].to_pylist()
    n = int(len(ids) * share)
    ids[:n] = [f"X-{i}" for i in range(n)]
    pq.write_table(table.set_column(table.schema.get_field_index("customer_id"), "customer_id", pa.array(ids)), path)
    return n


def test_a_failed_run_is_mailed_and_posted_once_with_the_command_to_see_more(
    database_url, data_dir, smtp_inbox, webhook
):
    inbox, port = smtp_inbox
    posted, url = webhook
    break_customer_ids(data_dir, 0.6)  # above the 50% error share: the heal of customers fails
    with settings(
        {
            ("alerts", "email_to"): "ops@example.com, data@example.com",
            ("alerts", "webhook_url"): url,
            ("smtp", "host"): "127.0.0.1",
            ("smtp", "port"): str(port),
            ("smtp", "no_tls"): "true",
            ("email", "sender"): "pipeline@example.com",
        }
    ):
        result = build(Transform(), workers=1)
    assert not result.scheduling_succeeded
    run_id = query(database_url, "SELECT run_id FROM ops.runs")[0][0]

    assert len(inbox.messages) == 1  # one message, however many tasks ended after the failure
    mail = inbox.messages[0]
    assert mail["Subject"].endswith(f"run {run_id} failed") and "ops@example.com" in mail["To"]
    body = (
        mail.get_payload(decode=True).decode()
        if not mail.is_multipart()
        else mail.get_payload(0).get_payload(decode=True).decode()
    )
    assert "customers.customer_id.regex" in body and f"python -m pipeline runs {run_id}" in body
    assert [p["run_id"] for p in posted] == [run_id]
    assert posted[0]["status"] == "failed" and posted[0]["see"] == f"python -m pipeline runs {run_id}"
    assert any(a["kind"] == "run_failed" and "customers.customer_id.regex" in a["message"] for a in posted[0]["alerts"])


def test_a_rule_above_its_warn_share_is_posted_though_the_run_is_done(database_url, data_dir, webhook):
    posted, url = webhook
    break_customer_ids(data_dir, 0.1)  # above the 5% warn share, below the 50% error share
    with settings({("alerts", "webhook_url"): url}):
        result = build(Transform(), workers=1)
    assert result.scheduling_succeeded
    assert len(posted) == 1 and posted[0]["status"] == "done"
    warnings = [a["message"] for a in posted[0]["alerts"] if a["kind"] == "rule_warning"]
    assert any(
        w.startswith("rule customers.customer_id.regex:") and "warning threshold of 5.0%" in w for w in warnings
    ), warnings


def test_no_secret_leaves_in_a_message():
    notice = alerts.Notice(
        "r1",
        "failed",
        [
            alerts.Alert(
                "run_failed",
                "HealTable: cannot reach postgresql://admin:s3cret@db.example.com:5432/wh (password=s3cret)",
            )
        ],
    )
    for text in (notice.text(), notice.json().decode()):
        assert "s3cret" not in text and "admin:***@db.example.com" in text


def test_an_unreachable_webhook_is_one_warning_and_the_run_stands(database_url, data_dir, caplog):
    break_customer_ids(data_dir, 0.1)
    with settings({("alerts", "webhook_url"): "http://127.0.0.1:9/nothing-listens", ("alerts", "timeout"): "2"}):
        result = build(Transform(), workers=1)
    assert result.scheduling_succeeded
    assert any("could not send the webhook alert" in r.getMessage() for r in caplog.records)
