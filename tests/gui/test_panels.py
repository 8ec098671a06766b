"""Every panel shows what SQL on a warehouse filled by a real run gives."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QPointF, Qt

from pipeline import warehouse

from tests.support import query, scalar

TABLES = 11


def wait_loaded(qtbot, panel, before: int = 0, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: panel.loads > before, timeout=timeout)


def test_overview_cards_and_charts_show_the_warehouse_figures(filled_url, window, qtbot):
    overview = window.panels["Overview"]
    wait_loaded(qtbot, overview)
    assert overview.pages.currentWidget() is overview.content

    ((customers, policies, active, claims, premium, paid, loss, score),) = query(
        filled_url,
        """
        SELECT customers, policies, active_policies, claims, premium_collected_usd, claims_paid_usd, loss_ratio,
               data_quality_score FROM analytics.kpis""",
    )
    cards = {key: card.value.text() for key, card in overview.cards.items()}
    assert cards["customers"] == f"{customers:,}" and customers == scalar(
        filled_url, "SELECT count(*) FROM clean.customers"
    )
    assert cards["policies"] == f"{policies:,}"
    assert overview.cards["policies"].note.text() == f"{active:,} active"
    assert cards["claims"] == f"{claims:,}"
    assert cards["loss_ratio"] == f"{float(loss) * 100:,.1f}%"
    assert cards["data_quality_score"] == f"{float(score) * 100:.1f}%"
    for key, amount in (("premium_collected_usd", premium), ("claims_paid_usd", paid)):
        text = cards[key]
        assert text.startswith("$") and text[-1] in "KMB", text
        shown = float(text[1:-1].replace(",", "")) * {"K": 1e3, "M": 1e6, "B": 1e9}[text[-1]]
        assert abs(shown - float(amount)) <= 0.05 * {"K": 1e3, "M": 1e6, "B": 1e9}[text[-1]], (text, amount)
        assert overview.cards[key].toolTip() == f"${float(amount):,.2f}"

    # The charts hold the views' numbers: claims per type, policies, customers, loss ratio per type.
    per_type = dict(query(filled_url, "SELECT claim_type, sum(claims) FROM analytics.claims_trends GROUP BY 1"))
    chart = overview.claims_chart
    assert {name: sum(v or 0 for v in values) for name, values in chart.series.items()} == per_type
    assert len(chart.xs) == scalar(filled_url, "SELECT count(DISTINCT month) FROM analytics.claims_trends")
    assert sum(v or 0 for values in overview.policies_chart.series.values() for v in values) == policies
    assert sum(v or 0 for values in overview.segments_chart.series.values() for v in values) == customers
    ratios = dict(
        query(
            filled_url,
            """SELECT policy_type, sum(claims_paid_usd) / nullif(sum(premium_usd), 0)
                                       FROM analytics.loss_ratio WHERE region = 'All' AND policy_type <> 'All'
                                       GROUP BY 1""",
        )
    )
    assert dict(zip(overview.loss_chart.categories, overview.loss_chart.series["Loss ratio"], strict=True)) == ratios
    premium_months = query(
        filled_url,
        "SELECT month, sum(collected_usd) FROM analytics.premium_written_vs_collected "
        "WHERE month <= (SELECT date_trunc('month', max(transaction_date)) "
        "FROM clean.payments) GROUP BY 1 ORDER BY 1",
    )  # up to the last payment
    assert overview.premium_chart.dates == [m for m, _ in premium_months]
    assert overview.premium_chart.series["Collected"] == [v for _, v in premium_months]


def test_hovering_a_chart_shows_the_values_under_the_mouse(filled_url, window, qtbot):
    overview = window.panels["Overview"]
    wait_loaded(qtbot, overview)
    chart = overview.loss_chart
    box = chart.plot.getPlotItem().vb
    qtbot.waitUntil(lambda: box.sceneBoundingRect().height() > 50)
    row = chart.categories.index("Term") if "Term" in chart.categories else 0
    value = float(chart.series["Loss ratio"][row])
    chart._moved(box.mapViewToScene(QPointF(value / 2, row)))  # the mouse over the middle of the bar
    assert chart.hover.isVisible()
    assert chart.hover.toPlainText().splitlines() == [chart.categories[row], f"■ Loss ratio: {value * 100:,.1f}%"]


def test_quality_panel_equals_quality_tables(filled_url, window, qtbot):
    panel = window.show_panel("Data quality")
    wait_loaded(qtbot, panel)
    shown = {r["table_name"]: r for r in panel.tables.rows}
    stored = query(
        filled_url,
        "SELECT table_name, raw_rows, valid_before, fixed_rows, quarantined, clean_rows FROM quality.table_results",
    )
    assert len(shown) == len(stored) == TABLES
    for table, raw, valid, fixed, held, clean in stored:
        row = shown[table]
        assert (row["raw_rows"], row["valid_before"], row["fixed_rows"], row["quarantined"], row["clean_rows"]) == (
            raw,
            valid,
            fixed,
            held,
            clean,
        )
        line = panel.tables.rows.index(row)
        text = [panel.tables.index(line, c).data() for c in range(panel.tables.columnCount())]
        assert text[1] == f"{raw:,}" and text[5] == "0" and text[6] == f"{clean:,}"  # no corrections in the sample
        assert text[7] == f"{valid / raw * 100:.1f}%" and text[8] == f"{clean / raw * 100:.1f}%"
    assert raw == clean + held  # every row ends in clean or quarantine

    violations = scalar(filled_url, "SELECT sum(violations) FROM quality.rule_results")
    assert sum(r["violations"] for r in panel.rules.rows) == violations > 0
    # the chart's bars are the table's rates; the trend has the one run
    assert panel.rates_chart.categories == [r["table_name"] for r in panel.tables.rows]
    assert len(panel.trend_chart.xs) == scalar(filled_url, "SELECT count(DISTINCT run_id) FROM quality.table_results")


def test_quarantine_browser_counts_filters_details_and_export(filled_url, window, qtbot, tmp_path):
    panel = window.show_panel("Data quality")
    wait_loaded(qtbot, panel)
    browser = panel.open_quarantine()
    qtbot.waitUntil(lambda: browser.loads >= 1, timeout=30000)
    total = scalar(filled_url, "SELECT count(*) FROM quality.quarantine")
    assert browser.total == total > 100
    assert browser.records.rowCount() == 100 and browser.count.text() == f"{total:,} records"

    rule = "payments.orphan_policy_id"
    expected = scalar(
        filled_url,
        "SELECT count(*) FROM quality.quarantine WHERE table_name = 'payments' AND %s = ANY(rule_ids)",
        (rule,),
    )
    loads = browser.loads
    browser.select("payments", rule)
    qtbot.waitUntil(lambda: browser.loads > loads and browser.filters() == ("payments", rule), timeout=30000)
    assert browser.total == expected > 0
    assert all(r["table_name"] == "payments" and rule in r["rule_ids"] for r in browser.records.rows)

    # the first record is selected: its original row and reasons, as stored
    first = browser.records.rows[0]
    qtbot.waitUntil(lambda: getattr(browser, "shown_record", {}).get("source_row") == first["source_row"])
    original, messages = query(
        filled_url,
        "SELECT original, messages FROM quality.quarantine WHERE table_name = 'payments' AND source_row = %s",
        (first["source_row"],),
    )[0]
    assert {f["field"]: f["value"] for f in browser.fields.rows} == original
    assert browser.fields.rows[0]["field"] == "payment_id"  # in the spec's column order
    for rule_id, message in messages.items():
        assert rule_id in browser.reasons.text() and message.split()[0] in browser.reasons.text()

    # next page, then export what the filters select
    if expected > 100:
        browser.next_button.click()
        qtbot.waitUntil(lambda: browser.offset == 100)
    target = tmp_path / "held.csv"
    browser.export(str(target))
    qtbot.waitUntil(lambda: browser.last_export is not None, timeout=30000)
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert browser.last_export == (str(target), expected) and len(rows) == expected
    assert json.loads(rows[0]["original"])["payment_id"] == rows[0]["record_key"]


def test_pipeline_panel_shows_the_run_history(filled_url, window, qtbot):
    panel = window.show_panel("Pipeline")
    wait_loaded(qtbot, panel)
    runs = query(
        filled_url, "SELECT run_id, count(*), count(*) FILTER (WHERE status = 'done') FROM ops.task_runs GROUP BY 1"
    )
    assert [(r["run_id"], r["tasks"]) for r in panel.history.runs.rows] == [(run, n) for run, n, _ in runs]
    _, tasks, done = runs[0]
    assert tasks == done == 2 * TABLES + 1
    qtbot.waitUntil(lambda: panel.tasks.rowCount() == tasks)
    assert {r["status"] for r in panel.tasks.rows} == {"done"}
    loads = [r for r in panel.tasks.rows if r["task_family"] == "LoadTable"]
    stored = dict(
        query(filled_url, "SELECT params->>'table', rows_in FROM ops.task_runs WHERE task_family = 'LoadTable'")
    )
    assert {r["table_name"]: r["rows_in"] for r in loads} == stored
    # How each task did its work, the why in the cell's tip: a first run heals and builds everything in full.
    heals = [row for row, r in enumerate(panel.tasks.rows) if r["task_family"] in ("HealTable", "Transform")]
    how = panel.tasks.columns.index(next(c for c in panel.tasks.columns if c.header == "How"))
    shown = {panel.tasks.data(panel.tasks.index(row, how)) for row in heals}
    tips = {panel.tasks.data(panel.tasks.index(row, how), Qt.ToolTipRole) for row in heals}
    assert shown == {"full"} and tips == {"full (no earlier heal to build on)", "full (no earlier build to refresh)"}
    assert panel.total == tasks  # the graph Luigi walks: 11 loads, 11 heals, 1 transform
    assert set(panel.history.chart.series) == {r["table_name"] for r in panel.tasks.rows if r["table_name"]}


@pytest.mark.parametrize("name", ["Backups", "Settings"])
def test_other_panels_open_on_the_filled_warehouse(filled_url, window, qtbot, name):
    panel = window.show_panel(name)
    wait_loaded(qtbot, panel)
    if name == "Settings":
        assert panel.in_use["warehouse"].text() == warehouse.describe()
        assert filled_url.split("?")[0].rsplit("/", 1)[1] in warehouse.describe()  # the module's database
    else:
        assert panel.backups.rowCount() == 0 and "No backups" in panel.status.text()
