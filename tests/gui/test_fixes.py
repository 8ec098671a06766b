"""Fixes of issue 16 that need no filled warehouse: settings, backups, ..."""

from __future__ import annotations

import os

import psycopg2
import pytest
from sqlalchemy.engine import make_url

VARIABLES = ("PIPELINE_DATABASE_URL", "PIPELINE_DATA_DIR", "PIPELINE_BACKUP_DIR")


@pytest.fixture
def environment(monkeypatch, database_url):
    """The pipeline's variables as the test found them, put back afterwards whatever the app set."""
    for name in VARIABLES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return database_url


def test_test_connection_tries_the_url_typed_in_the_field_not_the_saved_one(environment, window, qtbot):
    panel = window.show_panel("Settings")
    qtbot.waitUntil(lambda: panel.loads >= 1)
    panel.url.setText(environment)
    panel.save_button.click()  # saved: a working warehouse
    qtbot.waitUntil(lambda: panel.url_status.text().startswith("Connected to"), timeout=30000)

    wrong = make_url(environment).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    panel.url.setText(wrong)  # typed, not saved
    panel.url_status.setText("")
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.url_status.text() not in ("", "Connecting…"), timeout=30000)
    assert panel.url_status.text().startswith("Cannot connect to "), panel.url_status.text()
    assert ":1/" in panel.url_status.text() and panel.url_status.objectName() == "error"
    assert panel.settings.value("warehouse_url") == environment  # testing saves nothing

    panel.url.setText(environment)
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.url_status.text().startswith("Connected to"), timeout=30000)
    assert panel.url_status.objectName() == "ok"


# ---------------------------------------------------------------- backups and restores

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from PySide6.QtWidgets import QApplication  # noqa: E402

from pipeline.orchestration.tasks import Transform  # noqa: E402

from tests.support import build, scalar  # noqa: E402
from tests.support.qt import answer_next_dialog  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pipeline.orchestration import writelock
with writelock.running(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def built(database_url, data_dir, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    result = build(Transform())
    assert result.scheduling_succeeded, result.summary_text
    return database_url


def hold_the_warehouse(url: str) -> subprocess.Popen:
    """Another process holding the write lock as a run does (python -m pipeline run), until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_restore_is_refused_while_a_run_holds_the_warehouse_and_offers_a_backup_first(built, window, qtbot):
    from pipeline import backup

    made = backup.create()
    panel = window.show_panel("Backups")
    qtbot.waitUntil(lambda: panel.backups.rowCount() == 1, timeout=30000)
    runs = scalar(built, "SELECT count(*) FROM ops.runs")
    holder = hold_the_warehouse(built)
    try:
        panel.restore_button.click()
        qtbot.waitUntil(lambda: panel.last_result is not None, timeout=30000)
        qtbot.wait(200)
        assert QApplication.activeModalWidget() is None and not hasattr(panel, "last_confirmation")  # not offered
        assert panel.last_result[0] is False
        message = panel.error.text()
        assert panel.error.isVisible() and message.startswith("Restore refused: a run (pid ")
        assert f"pid {holder.pid}," in message and "is writing the warehouse" in message
        assert "Busy" not in message and "Traceback" not in message
        assert not panel.job_name and panel.restore_button.isEnabled()
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert scalar(built, "SELECT count(*) FROM ops.runs") == runs

    # the run has ended: the restore is offered, with "back up the current state first" on by default
    panel.last_result = None
    seen = answer_next_dialog()
    panel.restore_button.click()
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)
    assert panel.last_confirmation == ("Back up the current state first", True)
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=180000)
    assert panel.last_result[0], panel.last_result[1]
    assert "backed up as" in panel.last_result[1]
    qtbot.waitUntil(lambda: panel.backups.rowCount() == 2, timeout=30000)
    assert made.name in [b["name"] for b in panel.backups.rows]


def test_back_up_now_on_an_empty_warehouse_refuses_in_words(database_url, window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    panel = window.show_panel("Backups")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=30000)
    panel.backup_button.click()
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=60000)
    assert panel.last_result[0] is False
    assert panel.error.isVisible() and "the warehouse is empty" in panel.error.text()
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


def test_a_backup_can_be_deleted_from_the_app(built, window, qtbot, tmp_path):
    from pipeline import backup

    first, second = backup.create(keep=0), backup.create(keep=0)
    panel = window.show_panel("Backups")
    qtbot.waitUntil(lambda: panel.backups.rowCount() == 2, timeout=30000)
    panel.view.selectRow([b["name"] for b in panel.backups.rows].index(first.name))
    seen = answer_next_dialog()
    panel.delete_button.click()
    assert seen and first.name in seen[0] and "cannot be undone" in seen[0]
    qtbot.waitUntil(lambda: panel.last_result is not None and panel.backups.rowCount() == 1, timeout=30000)
    assert panel.last_result[0], panel.last_result
    assert [b["name"] for b in panel.backups.rows] == [second.name]
    assert not first.folder.exists() and second.folder.exists()


# ---------------------------------------------------------------- a stopped run


def test_stop_leaves_no_traceback_and_the_banner_says_the_run_was_stopped(
    database_url, data_dir, window, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))
    pipeline = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: pipeline.loads >= 1, timeout=30000)
    # Transform waits for its object's lock, held here: the run cannot end (on the sample it takes 4 s) before Stop.
    holder = psycopg2.connect(database_url)
    holder.autocommit = True
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext('transform'))")
    pipeline.run_button.click()
    qtbot.waitUntil(lambda: pipeline.running(), timeout=60000)

    # stopped once some heal has committed: clean has moved on, the analytics have not been built
    def healed() -> bool:
        try:
            return scalar(database_url, "SELECT EXISTS (SELECT 1 FROM ops.markers WHERE task_family = 'HealTable')")
        except Exception:  # noqa: BLE001 - ops.markers not made yet
            return False

    try:
        qtbot.waitUntil(healed, timeout=120000)
        pipeline.stop_button.click()
    finally:
        holder.close()
    qtbot.waitUntil(lambda: not pipeline.running(), timeout=30000)
    assert not scalar(database_url, "SELECT EXISTS (SELECT 1 FROM ops.markers WHERE task_id = 'transform')")
    log = pipeline.log.toPlainText()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[-3000:]
    assert "stopped" in log.splitlines()[-1].lower(), log[-500:]
    # the stopped run is closed by its own process on the way out (a loaded machine takes seconds), then announced
    qtbot.waitUntil(lambda: window.banner.kind == "failed", timeout=30000)
    assert "was stopped before it finished" in window.banner.text.text()
    assert window.banner.isVisible()


# ---------------------------------------------------------------- messages, colours, disabled buttons


def test_the_error_page_shows_the_whole_message_and_a_button_to_settings(unreachable, window, qtbot):
    window.resize(1024, 700)
    overview = window.panels["Overview"]
    overview.refresh()
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.failure, timeout=30000)
    label = overview.failure.text
    qtbot.wait(50)
    assert label.wordWrap() and label.height() >= label.heightForWidth(label.width())  # every line shown
    assert label.toolTip() == label.text() and "Settings" in label.text()
    assert overview.failure.secondary.text() == "Open Settings"
    overview.failure.secondary.click()
    assert window.stack.currentWidget() is window.panels["Settings"]


def test_series_keep_their_colour_and_a_high_risk_is_red(qtbot):
    from PySide6.QtGui import QColor

    from gui import style
    from gui.bar_chart import BarChart

    chart = BarChart("Customers by segment and risk band", "count", stacked=True, horizontal=True)
    qtbot.addWidget(chart)
    chart.set_bars(["Corporate", "Premium"], {"Low": [1, 2], "Medium": [3, 4], "High": [5, 6]})
    first = chart.legend.text()
    high = QColor(style.colour("High"))
    assert high.hsvHue() < 20 or high.hsvHue() > 340, high.name()  # red, not green
    assert QColor(style.colour("Low")).hsvHue() in range(90, 170)
    chart.set_bars(["Corporate"], {"High": [5], "Low": [1]})  # fewer series, another order
    assert f"color:{style.colour('High')}" in chart.legend.text() and f"color:{style.colour('High')}" in first
    a, b = style.colour("Liability"), style.colour("Theft")
    assert style.colour("Theft") == b and style.colour("Liability") == a and a != b


def test_disabled_buttons_look_disabled(database_url, window, qtbot):
    from PySide6.QtGui import QColor

    def darkest(widget) -> int:
        image = widget.grab().toImage()
        return min(
            QColor(image.pixel(x, y)).lightness()
            for x in range(2, image.width() - 2, 2)
            for y in range(2, image.height() - 2, 2)
        )

    backups = window.show_panel("Backups")
    qtbot.waitUntil(lambda: backups.loads >= 1, timeout=30000)
    pipeline = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: pipeline.loads >= 1, timeout=30000)
    checked = []
    for button in (backups.restore_button, backups.delete_button, pipeline.stop_button, backups.verify_button):
        assert not button.isEnabled(), button.text()
        button.setEnabled(True)
        enabled = darkest(button)
        button.setEnabled(False)
        disabled = darkest(button)
        checked.append((button.text(), enabled, disabled))
        assert disabled >= 160 and disabled - enabled >= 40, checked


# ---------------------------------------------------------------- keyboard


def test_f5_refreshes_ctrl_numbers_switch_panels_and_tab_reaches_the_sidebar(database_url, window, qtbot):
    from PySide6.QtCore import Qt

    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.loads >= 1, timeout=30000)
    window.activateWindow()
    window.setFocus()
    loads = overview.loads
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: overview.loads > loads, timeout=30000)
    panels = ["Overview", "Pipeline", "Data quality", "Explorer", "Forecast", "Backups", "Settings"]
    for number, name in enumerate(panels, start=1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + number), Qt.KeyboardModifier.ControlModifier)
        assert window.stack.currentWidget() is window.panels[name], name
        assert window.nav.currentRow() == number - 1
    assert window.nav.focusPolicy() & Qt.FocusPolicy.TabFocus
    settings = window.panels["Settings"]
    settings.url.setFocus()
    for _ in range(30):  # Tab through the page until the sidebar has the focus
        if window.nav.hasFocus():
            break
        qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Tab)
    assert window.nav.hasFocus()
    qtbot.keyClick(window.nav, Qt.Key.Key_Up)
    assert window.stack.currentWidget() is window.panels["Backups"]


def test_the_scheduler_indicator_says_what_runs_use_and_follows_luigid(database_url, window, qtbot, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window.settings.set("scheduler", f"127.0.0.1:{port}")
    panel = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: panel.scheduler_state.text().startswith("Scheduler: local"), timeout=30000)
    assert f"127.0.0.1:{port}" in panel.scheduler_state.text() and not panel.open_button.isEnabled()
    luigid = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "luigid"),
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--state-path",
            str(tmp_path / "state.pickle"),
            "--logdir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        qtbot.waitUntil(lambda: "answers, runs started here use it" in panel.scheduler_state.text(), timeout=20000)
        assert panel.scheduler_state.text() == (
            f"Scheduler: luigid at 127.0.0.1:{port} answers, runs started here use it"
        )
        assert panel.open_button.isEnabled()
    finally:
        luigid.terminate()
        luigid.wait(10)
    qtbot.waitUntil(lambda: panel.scheduler_state.text().startswith("Scheduler: local"), timeout=20000)


def test_run_axis_labels_never_overlap_at_any_width(qtbot):
    import datetime

    from PySide6.QtGui import QFont, QFontMetrics

    from gui.time_chart import TimeChart

    chart = TimeChart("Valid records over runs", "percent", date_format="%m-%d %H:%M", per_run=True)
    qtbot.addWidget(chart)
    start = datetime.datetime(2026, 12, 1, 8, tzinfo=datetime.UTC)
    runs = [start + datetime.timedelta(hours=3 * i) for i in range(40)]
    chart.set_series(runs, {"After healing": [0.9 + i / 1000 for i in range(40)]})
    axis = chart.run_axis
    metrics = QFontMetrics(axis.style["tickFont"] or QFont())
    for width in (300, 520, 900):
        chart.resize(width, 260)
        chart.show()
        qtbot.wait(30)
        shown = axis.shown_labels()
        assert shown, width
        used = sum(metrics.horizontalAdvance(label) for label in shown)
        assert used <= axis.geometry().width(), (width, len(shown), used, axis.geometry().width())
    assert len(axis.shown_labels()) > 6  # wide: more than the old fixed six


def test_a_long_box_heading_wraps_and_keeps_its_whole_text_as_tooltip(qtbot):
    from gui.panels.common import Box

    box = Box("Tasks")
    qtbot.addWidget(box)
    long = "Log of run 20261204T170726Z-7732b8 started from the command line on a host with a long name"
    box.heading.setText(long)
    box.resize(200, 100)
    assert box.heading.toolTip() == long and box.heading.wordWrap()
    assert box.minimumSizeHint().width() < 300  # never widens the page
