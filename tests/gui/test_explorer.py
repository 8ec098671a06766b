"""Issue 20 in the app, on a warehouse filled by a real run: the Explorer, the date range and the claims forecast."""

from __future__ import annotations

import contextlib
import csv
import datetime

import psycopg2
import pyarrow.parquet as pq
import pytest
from PySide6.QtCore import QSettings

from tests.support import query, scalar
from tests.support.qt import fill_next_file_dialog


def explorer_on(window, qtbot):
    panel = window.show_panel("Explorer")
    qtbot.waitUntil(lambda: panel.loads >= 1 and panel.total is not None, timeout=60000)
    assert panel.table.currentText() == "clean.claims"
    return panel


def reload(panel, qtbot, action) -> None:
    """Do what a user does, then wait for the page (and the count) it asks for."""
    before = panel.loads
    action()
    qtbot.waitUntil(lambda: panel.loads > before and panel.total is not None, timeout=30000)
    assert panel.status.text() == "", panel.status.text()


def amounts(panel) -> list:
    return [r["claim_amount"] for r in panel.shown_rows]


def test_explorer_sorts_by_a_header_click_and_pages_forward_and_back(filled_url, window, qtbot):
    panel = explorer_on(window, qtbot)
    names = [c.key for c in panel.rows.columns]
    header = panel.view.horizontalHeader()
    reload(panel, qtbot, lambda: header.sectionClicked.emit(names.index("claim_amount")))
    first = amounts(panel)
    assert len(first) == 200 and first == sorted(first)
    expected = query(filled_url, "SELECT claim_id FROM clean.claims ORDER BY claim_amount, claim_id LIMIT 400")
    assert [r["claim_id"] for r in panel.shown_rows] == [r[0] for r in expected[:200]]
    assert header.sortIndicatorSection() == names.index("claim_amount")
    assert panel.page_label.text() == f"Rows 1–200 of {panel.total:,}"

    reload(panel, qtbot, panel.next_button.click)
    second = amounts(panel)
    assert [r["claim_id"] for r in panel.shown_rows] == [r[0] for r in expected[200:]]
    assert second == sorted(second) and second[0] >= first[-1]
    assert panel.page_label.text().startswith("Rows 201–400 of")
    reload(panel, qtbot, panel.previous_button.click)
    assert amounts(panel) == first and not panel.previous_button.isEnabled()

    reload(panel, qtbot, lambda: header.sectionClicked.emit(names.index("claim_amount")))  # again: descending
    assert amounts(panel) == sorted(first + amounts(panel), reverse=True)[:200]
    assert amounts(panel)[0] == scalar(filled_url, "SELECT max(claim_amount) FROM clean.claims")


def test_a_filter_narrows_the_count_and_a_range_of_values_narrows_it_more(filled_url, window, qtbot):
    panel = explorer_on(window, qtbot)
    everything = panel.total
    assert everything == scalar(filled_url, "SELECT count(*) FROM clean.claims")
    panel.column.setCurrentText("claim_type")
    panel.operator.setCurrentText("=")
    panel.value.setText("Medical")
    reload(panel, qtbot, panel.add_button.click)
    medical = scalar(filled_url, "SELECT count(*) FROM clean.claims WHERE claim_type = 'Medical'")
    assert panel.total == medical < everything
    assert {r["claim_type"] for r in panel.shown_rows} == {"Medical"}
    reload(panel, qtbot, lambda: panel.add_filter("claim_amount", ">=", "1000"))
    reload(panel, qtbot, lambda: panel.add_filter("claim_amount", "<", "5000"))
    between = scalar(
        filled_url,
        "SELECT count(*) FROM clean.claims WHERE claim_type = 'Medical' AND claim_amount >= 1000 AND claim_amount < 5000",
    )
    assert panel.total == between < medical
    assert panel.chips.isVisible() and panel.chip_row.count() == 3
    reload(panel, qtbot, lambda: panel.chip_row.itemAt(0).widget().click())  # remove claim_type = Medical
    assert panel.total > between


def test_export_writes_what_the_filter_selects_with_progress_to_100(filled_url, window, qtbot, tmp_path):
    panel = explorer_on(window, qtbot)
    reload(panel, qtbot, lambda: panel.choose("clean.payments"))
    reload(panel, qtbot, lambda: panel.add_filter("currency", "=", "USD"))
    expected = scalar(filled_url, "SELECT count(*) FROM clean.payments WHERE currency = 'USD'")
    assert panel.total == expected > 0
    target = tmp_path / "usd.csv"
    dialogs = fill_next_file_dialog(str(target))
    panel.export_button.click()
    qtbot.waitUntil(lambda: panel.last_export is not None or panel.export_job is None, timeout=60000)
    assert dialogs == ["Export rows"]
    assert panel.last_export == (str(target), expected), panel.status.text()
    assert panel.last_job.percent == 100 and panel.last_job.dialog.value() == 100
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == expected and {r["currency"] for r in rows} == {"USD"}

    parquet = tmp_path / "usd.parquet"
    panel.export(str(parquet))
    qtbot.waitUntil(lambda: panel.last_export[0] == str(parquet) or panel.export_job is None, timeout=60000)
    assert pq.read_table(parquet).num_rows == expected == panel.last_export[1]


def test_the_date_range_cuts_overview_and_explorer_and_survives_a_restart(filled_url, window, qtbot):
    from gui.date_range import DateRangeBar
    from gui.preferences import AppSettings

    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.content, timeout=60000)
    all_months = len(overview.claims_chart.dates)
    latest = scalar(
        filled_url, "SELECT greatest(max(claim_date), max(transaction_date))::date FROM clean.claims, clean.payments"
    )
    qtbot.waitUntil(lambda: window.dates.latest == latest, timeout=30000)
    before = overview.loads
    window.dates.set_choice("12m")
    qtbot.waitUntil(lambda: overview.loads > before, timeout=30000)
    months = overview.claims_chart.dates
    assert all_months > 12 and len(months) == 12, months
    assert months[-1].strftime("%Y-%m") == latest.strftime("%Y-%m")
    start = latest.replace(day=1, year=latest.year - 1 + (latest.month == 12), month=latest.month % 12 + 1)
    claims = scalar(filled_url, "SELECT count(*) FROM clean.claims WHERE claim_date BETWEEN %s AND %s", (start, latest))
    assert overview.cards["claims"].value.text() == f"{claims:,}"
    assert overview.cards["claims"].note.text() == "filed in range"
    # the loss ratio by type is the range's too (the months of analytics.loss_ratio it covers, summed)
    expected = query(
        filled_url,
        "SELECT policy_type, sum(claims_paid_usd) / nullif(sum(premium_usd), 0) FROM analytics.loss_ratio "
        "WHERE region = 'All' AND policy_type <> 'All' AND month BETWEEN %s AND %s GROUP BY 1 ORDER BY 1",
        (start, latest),
    )
    shown = dict(zip(overview.loss_chart.categories, overview.loss_chart.series["Loss ratio"], strict=True))
    assert sorted(shown) == [t for t, _ in expected]
    close = [float(shown[t]) == pytest.approx(float(r), abs=1e-4) for t, r in expected if r is not None]
    assert close and all(close), (shown, expected)
    assert overview.loss_chart.title.text() == "Loss ratio by policy type (in range)"
    assert overview.policies_chart.title.text().endswith("(all time)")

    panel = window.show_panel("Explorer")
    qtbot.waitUntil(lambda: panel.loads >= 1 and panel.total is not None, timeout=60000)
    assert panel.total == claims and "claim_date" in panel.date_note.text()
    assert all(start <= r["claim_date"] <= latest for r in panel.shown_rows)

    restarted = DateRangeBar(AppSettings(QSettings(window.settings.store.fileName(), QSettings.Format.IniFormat)))
    qtbot.addWidget(restarted)  # what the next start of the app reads
    assert restarted.choice.currentData() == "12m"


def test_the_forecast_draws_six_months_ahead_with_the_backtest_beside_seasonal_naive(filled_url, window, qtbot):
    panel = window.show_panel("Forecast")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=60000)
    rows = query(
        filled_url,
        "SELECT claim_type, month, claims_mape, claims_naive_mape FROM analytics.claims_forecast "
        "WHERE month IS NOT NULL ORDER BY claim_type, month",
    )
    types = sorted({r[0] for r in rows})
    assert sorted(panel.charts) == types and len(types) >= 5
    for name in types:
        chart = panel.charts[name]
        mine = [r for r in rows if r[0] == name]
        assert chart.forecast_months == [r[1] for r in mine] and len(mine) == 6
        assert chart.mape == f"backtest MAPE {mine[0][2] * 100:.1f}% · seasonal naive {mine[0][3] * 100:.1f}%"
        assert chart.mape in chart.legend.text() and chart.band.scene() is not None


@pytest.fixture
def short_history_url(filled_url, make_database, monkeypatch) -> str:
    """A warehouse whose claims history is the filled one's last 14 months, forecast by pipeline.forecast itself."""
    from pipeline import forecast

    trends = query(
        filled_url,
        "SELECT month, claim_type, claims, total_amount FROM analytics.claims_trends "
        "WHERE month > (SELECT max(month) FROM analytics.claims_trends) - interval '14 months'",
    )
    last_day = scalar(filled_url, "SELECT max(claim_date) FROM clean.claims")
    url = make_database()
    with contextlib.closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA analytics; CREATE SCHEMA clean; CREATE TABLE clean.claims (claim_date date)")
        cur.execute(
            "CREATE TABLE analytics.claims_trends (month date, claim_type text, claims int, total_amount numeric)"
        )
        cur.executemany("INSERT INTO analytics.claims_trends VALUES (%s, %s, %s, %s)", trends)
        cur.execute("INSERT INTO clean.claims VALUES (%s)", (last_day,))
        forecast.store(conn)
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    return url


def test_a_history_too_short_shows_the_note_instead_of_a_line(short_history_url, window, qtbot):
    notes = dict(query(short_history_url, "SELECT claim_type, note FROM analytics.claims_forecast"))
    assert all(n and n.startswith("history too short") for n in notes.values())
    panel = window.show_panel("Forecast")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=60000)
    assert sorted(panel.charts) == sorted(notes)
    for name, chart in panel.charts.items():
        assert chart.note == notes[name] and chart.forecast_months == []
        assert chart.message.toPlainText() == notes[name] and chart.message.scene() is not None
        assert chart.band is None and not chart.plot.getPlotItem().listDataItems()  # no line, no band


def test_a_date_range_ending_mid_month_marks_that_month_partial(filled_url, window, qtbot):
    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.content, timeout=60000)
    before = overview.loads
    window.dates.set_choice("custom", datetime.date(2022, 1, 1), datetime.date(2022, 6, 15))
    qtbot.waitUntil(lambda: overview.loads > before, timeout=30000)
    premium = overview.premium_chart
    assert [d.strftime("%Y-%m") for d in premium.dates] == [f"2022-0{m}" for m in range(1, 7)]
    assert premium.partial_note == "last month partial (data to 2022-06-15): dashed"


def test_an_empty_warehouse_has_nothing_to_explore_and_no_forecast(database_url, window, qtbot):
    explorer = window.show_panel("Explorer")
    qtbot.waitUntil(lambda: explorer.loads >= 1, timeout=30000)
    assert explorer.empty.isVisible() and not explorer.box.isVisible() and explorer.status.text() == ""
    forecast = window.show_panel("Forecast")
    qtbot.waitUntil(lambda: forecast.loads >= 1, timeout=30000)
    assert forecast.pages.currentWidget() is forecast.empty and forecast.charts == {}
