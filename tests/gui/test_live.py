"""Live updates: a run started from the command line shows up in an open window within a second (LISTEN/NOTIFY on
a real PostgreSQL), and the banner says when the warehouse is mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support import scalar

ROOT = Path(__file__).resolve().parents[2]


def command_line_run() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_exit(qtbot, process: subprocess.Popen) -> float:
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=400000)
    ended = time.monotonic()
    output = process.stdout.read()
    assert process.returncode == 0, output
    return ended


def test_a_command_line_run_updates_the_open_overview_within_a_second(
    database_url, data_dir, window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))
    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.loads >= 1, timeout=60000)
    qtbot.waitUntil(lambda: window.live.conn is not None, timeout=30000)
    assert overview.pages.currentWidget() is overview.empty

    process = command_line_run()
    try:
        qtbot.waitUntil(lambda: window.banner.kind == "running" or process.poll() is not None, timeout=120000)
        assert window.banner.isVisible() and "A run is writing the warehouse" in window.banner.text.text()
    finally:
        ended = wait_for_exit(qtbot, process)
    customers = scalar(database_url, "SELECT count(*) FROM clean.customers")
    qtbot.waitUntil(
        lambda: (
            overview.pages.currentWidget() is overview.content
            and overview.cards["customers"].value.text() == f"{customers:,}"
            and not window.banner.isVisible()
        ),
        timeout=1000,
    )
    assert time.monotonic() - ended < 1.0
    assert window.live.heard > 10  # task and run announcements, not a poll


def test_a_command_line_run_updates_the_open_pipeline_panel_within_a_second(
    database_url, data_dir, window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))
    panel = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=60000)
    qtbot.waitUntil(lambda: window.live.conn is not None, timeout=30000)
    assert panel.tasks.rowCount() == 0

    process = command_line_run()
    try:  # mid-run: the run's tasks appear as they start
        qtbot.waitUntil(lambda: panel.tasks.rowCount() > 0 or process.poll() is not None, timeout=120000)
    finally:
        ended = wait_for_exit(qtbot, process)
    run, tasks = (
        scalar(database_url, "SELECT run_id FROM ops.runs"),
        scalar(database_url, "SELECT count(*) FROM ops.task_runs"),
    )

    def caught_up() -> bool:
        return (
            panel.shown_run == run
            and panel.tasks.rowCount() == tasks
            and all(r["status"] == "done" for r in panel.tasks.rows)
            and panel.history.runs.rowCount() == 1
            and panel.history.runs.rows[0]["status"] == "done"
        )

    qtbot.waitUntil(caught_up, timeout=1000)
    assert time.monotonic() - ended < 1.0
    assert panel.tasks_box.heading.text() == f"Tasks of run {run}"
    assert run in panel.status.text() and "ended: done" in panel.status.text()
    # the log shown is that run's own log
    log = (tmp_path / "reports" / f"{run}.log").read_text()
    qtbot.waitUntil(lambda: panel.log.toPlainText().strip() == log.strip(), timeout=5000)
    assert panel.log.heading.text() == f"Log of run {run}"
