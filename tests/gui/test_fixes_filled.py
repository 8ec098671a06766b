"""Fixes of issue 16 seen on a warehouse filled by a real run: export, layout at 1024x700, ..."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.support import scalar
from tests.support.qt import fill_next_file_dialog


def wait_loaded(qtbot, panel, before: int = 0, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: panel.loads > before, timeout=timeout)


def test_export_csv_button_asks_where_and_writes_the_file(filled_url, window, qtbot, tmp_path):
    panel = window.show_panel("Data quality")
    wait_loaded(qtbot, panel)
    browser = panel.open_quarantine()
    qtbot.waitUntil(lambda: browser.loads >= 1, timeout=30000)
    target = tmp_path / "held.csv"
    dialogs = fill_next_file_dialog(str(target))
    browser.export_button.click()
    qtbot.waitUntil(lambda: browser.last_export is not None or "failed" in browser.count.text(), timeout=30000)
    assert dialogs == ["Export quarantined records"]
    assert "failed" not in browser.count.text(), browser.count.text()
    total = scalar(filled_url, "SELECT count(*) FROM quality.quarantine")
    written = Path(browser.last_export[0])
    assert written.name == target.name, written  # the file the user named, where the dialog put it
    with open(written, newline="") as f:
        assert len(list(csv.DictReader(f))) == total == browser.last_export[1]


def all_panels_made(window) -> bool:
    return len(window.panels) == len(window.factories) and all(p.building is None for p in window.panels.values())


def test_at_1024x700_cards_wrap_figures_are_whole_and_the_page_scrolls(filled_url, window, qtbot):
    from PySide6.QtGui import QFontMetrics

    window.resize(1024, 700)
    overview = window.show_panel("Overview")
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.content, timeout=60000)
    qtbot.waitUntil(lambda: all_panels_made(window), timeout=60000)
    qtbot.wait(100)
    assert window.width() == 1024  # no panel asks for more room than the window has
    scroll = overview.content
    page = scroll.widget()
    assert page.width() <= scroll.viewport().width()  # nothing cut off at the right
    assert scroll.verticalScrollBar().maximum() > 0  # the rest is reached by scrolling
    row = overview.card_row
    tops = set()
    for key, card in overview.cards.items():
        text = card.value.text()
        assert text not in ("", "–"), key
        need = QFontMetrics(card.value.font()).horizontalAdvance(text)
        assert card.value.width() >= need, (key, text, card.value.width(), need)
        assert card.geometry().right() <= row.width() and card.geometry().left() >= 0, key
        tops.add(card.geometry().top())
    assert len(tops) > 1  # the cards wrapped to a second row
    for chart in (overview.claims_chart, overview.premium_chart, overview.policies_chart, overview.loss_chart):
        assert chart.mapTo(page, chart.rect().topRight()).x() <= page.width(), chart.title.text()
        assert chart.plot.height() >= chart.plot.minimumHeight()


def test_switching_to_another_warehouse_refreshes_every_panel(filled_url, pg_admin_url, window, qtbot, monkeypatch):
    import uuid

    import psycopg2
    from sqlalchemy.engine import make_url

    monkeypatch.setenv("PIPELINE_DATABASE_URL", filled_url)  # put back after the test, whatever Settings set
    pipeline = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: pipeline.tasks.rowCount() > 0, timeout=60000)
    quality = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: quality.tables.rowCount() > 0, timeout=60000)

    name = f"gui_empty_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        other = make_url(filled_url).set(database=name).render_as_string(hide_password=False)
        settings = window.show_panel("Settings")
        qtbot.waitUntil(lambda: settings.loads >= 1, timeout=30000)
        settings.url.setText(other)
        settings.save_button.click()
        qtbot.waitUntil(lambda: settings.url_status.text().startswith("Connected"), timeout=30000)

        loads = pipeline.loads
        window.show_panel("Pipeline")
        qtbot.waitUntil(lambda: pipeline.loads > loads, timeout=30000)
        assert pipeline.tasks.rowCount() == 0 and pipeline.history.runs.rowCount() == 0
        assert pipeline.log.toPlainText() == "" and pipeline.shown_run is None
        window.show_panel("Data quality")
        qtbot.waitUntil(lambda: quality.pages.currentWidget() is quality.empty, timeout=30000)
        overview = window.show_panel("Overview")
        qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.empty, timeout=30000)
        assert name in window.where.text().replace("\u200b", "")
        qtbot.waitUntil(lambda: window.live.url is not None and name in window.live.url, timeout=30000)
    finally:
        settings.url.setText("")
        settings.save_button.click()
        from gui import workers

        workers.wait_all()
        window.live.stop()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_open_run_report_works_for_any_run_of_the_history(filled_url, window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QObject, Slot
    from PySide6.QtGui import QDesktopServices

    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))  # no report there yet: written on demand

    class Opened(QObject):
        def __init__(self):
            super().__init__()
            self.urls = []

        @Slot("QUrl")
        def open(self, url):
            self.urls.append(url.toLocalFile())

    opened = Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        panel = window.show_panel("Pipeline")
        qtbot.waitUntil(lambda: panel.history.runs.rowCount() >= 1 and panel.report_button.isEnabled(), timeout=60000)
        run = panel.history.runs.rows[0]["run_id"]
        panel.history.view.clicked.emit(panel.history.runs.index(0, 0))
        assert panel.shown_run == run
        panel.report_button.click()
        qtbot.waitUntil(lambda: bool(opened.urls), timeout=60000)
        assert opened.urls == [str(tmp_path / "reports" / f"{run}.html")]
        assert run in (tmp_path / "reports" / f"{run}.html").read_text()
    finally:
        QDesktopServices.unsetUrlHandler("file")


def test_premium_collected_has_its_own_axis_and_partial_last_months_are_marked(filled_url, window, qtbot):
    from tests.support import query

    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.content, timeout=60000)
    premium = overview.premium_chart
    assert premium.curves["Collected"].getViewBox() is premium.right_view  # not squashed flat under Written
    assert premium.curves["Written"].getViewBox() is premium.plot.getPlotItem().vb
    assert premium.right_axis.isVisible() and "Collected&nbsp;(right&nbsp;axis)" in premium.legend.text()
    ((payments_through, claims_through),) = query(
        filled_url, "SELECT max(transaction_date)::date, max(claim_date)::date FROM clean.payments, clean.claims"
    )
    # the sample's last month is partial: its point is reached by a dashed step, not part of the solid line
    assert premium.partial_note == f"last month partial (data to {payments_through:%Y-%m-%d}): dashed"
    assert len(premium.curves["Written"].xData) == len(premium.dates) - 1
    assert premium.dates[-1].strftime("%Y-%m") == payments_through.strftime("%Y-%m")  # no empty months after it
    claims = overview.claims_chart
    assert claims.partial_note == f"last month partial (data to {claims_through:%Y-%m-%d}): not drawn"
    assert "not drawn" in claims.legend.text()
