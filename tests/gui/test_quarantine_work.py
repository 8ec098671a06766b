"""The quarantine worked in the app, on a warehouse filled by a real run: search, drill-down from a rule or a bar, go to a
duplicate's survivor, release and correct through the dialog, a real run, revoke."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from gui.panels.resolve_dialog import ResolveDialog
from pipeline.orchestration.tasks import Transform

from tests.support import build, query, scalar
from tests.support.qt import fill_next_dialog


def open_browser(window, qtbot):
    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0, timeout=60000)
    browser = panel.open_quarantine()
    qtbot.waitUntil(lambda: browser.loads >= 1, timeout=30000)
    return panel, browser


def search(qtbot, browser, text: str) -> None:
    loads = browser.loads
    browser.search.setText(text)  # typed: the browser searches once typing pauses
    qtbot.waitUntil(lambda: browser.loads > loads and browser.shown_search == text, timeout=30000)


def held(url: str, table: str, rule: str) -> tuple[str, str | None, dict]:
    return query(
        url,
        "SELECT record_key, survivor_key, original FROM quality.quarantine WHERE table_name = %s "
        "AND %s = ANY(rule_ids) ORDER BY source_row LIMIT 1",
        (table, rule),
    )[0]


def test_search_finds_held_rows_by_key_and_by_any_value(filled_url, window, qtbot):
    _, browser = open_browser(window, qtbot)
    key, _, original = held(filled_url, "customers", "customers.duplicate_person")
    search(qtbot, browser, key.lower())
    assert browser.total == 1 and browser.records.rows[0]["record_key"] == key
    email = original["email"].strip()
    search(qtbot, browser, email)
    expected = scalar(
        filled_url,
        "SELECT count(*) FROM quality.quarantine WHERE strpos(lower(original::text), lower(%s)) > 0",
        (email,),
    )
    assert browser.total == expected >= 1 and key in [r["record_key"] for r in browser.records.rows]
    search(qtbot, browser, "'; DROP TABLE clean.customers; --")  # a parameter, never SQL
    assert browser.total == 0 and scalar(filled_url, "SELECT count(*) FROM clean.customers") > 0


def test_double_click_on_a_rule_opens_the_rows_it_held(filled_url, window, qtbot):
    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0 and panel.rules.rowCount() > 0, timeout=60000)
    rule = "payments.orphan_policy_id"
    model = panel.rule_view.model()
    index = next(model.index(r, 1) for r in range(model.rowCount()) if model.index(r, 1).data() == rule)
    panel.rule_view.scrollTo(index)
    where = panel.rule_view.visualRect(index).center()
    # A double-click as Qt sees one: a press first (the view opens only the row the press was on), then the second.
    qtbot.mouseClick(panel.rule_view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(panel.rule_view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(
        lambda: panel.quarantine is not None and panel.quarantine.filters() == ("payments", rule), timeout=30000
    )
    browser = panel.quarantine
    assert panel.tabs.currentWidget() is panel.quarantine_tab
    expected = scalar(filled_url, "SELECT count(*) FROM quality.quarantine WHERE %s = ANY(rule_ids)", (rule,))
    qtbot.waitUntil(lambda: browser.total == expected, timeout=30000)
    assert all(rule in r["rule_ids"] for r in browser.records.rows)


def test_a_click_on_a_tables_bars_opens_the_rows_it_held(filled_url, window, qtbot):
    from PySide6.QtCore import QPointF

    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0 and "payments" in panel.rates_chart.categories, timeout=60000)
    chart = panel.rates_chart
    box = chart.plot.getPlotItem().vb
    bar = QPointF(box.viewRange()[0][1] * 0.3, chart.categories.index("payments"))  # inside the payments bars
    where = chart.plot.mapFromScene(box.mapViewToScene(bar))
    qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(
        lambda: panel.quarantine is not None and panel.quarantine.filters() == ("payments", None), timeout=30000
    )
    assert panel.tabs.currentWidget() is panel.quarantine_tab
    expected = scalar(filled_url, "SELECT count(*) FROM quality.quarantine WHERE table_name = 'payments'")
    qtbot.waitUntil(lambda: panel.quarantine.total == expected, timeout=30000)
    assert {r["table_name"] for r in panel.quarantine.records.rows} == {"payments"}


def test_go_to_survivor_shows_the_row_a_duplicate_was_merged_into(filled_url, window, qtbot):
    _, browser = open_browser(window, qtbot)
    key, survivor, original = held(filled_url, "customers", "customers.duplicate_person")
    search(qtbot, browser, key)
    qtbot.waitUntil(lambda: browser.survivor_button.isEnabled(), timeout=30000)
    browser.survivor_button.click()
    qtbot.waitUntil(lambda: "Survivor" in browser.notice.text(), timeout=30000)
    qtbot.waitUntil(lambda: any(f["survivor"] for f in browser.fields.rows), timeout=30000)
    shown = {f["field"]: f["survivor"] for f in browser.fields.rows}
    clean = query(filled_url, "SELECT first_name, last_name FROM clean.customers WHERE customer_id = %s", (survivor,))[
        0
    ]
    assert shown["customer_id"] == survivor and (shown["first_name"], shown["last_name"]) == clean
    assert not browser.field_view.isColumnHidden(2)


def accept_with(why: str, column: str | None = None, value: str | None = None):
    def fill(dialog):
        if column is not None:
            dialog.column.setCurrentText(column)
            dialog.value.setText(value)
        dialog.why.setText(why)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    return fill


def test_release_and_correct_through_the_dialog_then_a_run_then_revoke(filled_url, window, qtbot):
    _, browser = open_browser(window, qtbot)
    duplicate, _, _ = held(filled_url, "customers", "customers.duplicate_person")
    late, _, original = held(filled_url, "claims", "claims.resolved_before_filed")

    search(qtbot, browser, duplicate)
    qtbot.waitUntil(lambda: browser.release_button.isEnabled(), timeout=30000)
    seen = fill_next_dialog(ResolveDialog, accept_with("a different person"))
    browser.release_button.click()
    qtbot.waitUntil(lambda: "Resolution #" in browser.notice.text(), timeout=30000)
    assert seen == ["Release"]
    qtbot.waitUntil(lambda: (browser.current() or {}).get("resolution_id"), timeout=30000)
    assert browser.current()["record_key"] == duplicate
    qtbot.waitUntil(lambda: not browser.release_button.isEnabled(), timeout=5000)  # one resolution per row

    search(qtbot, browser, late)
    qtbot.waitUntil(lambda: browser.correct_button.isEnabled() and browser.fields.rowCount() > 0, timeout=30000)
    fill_next_dialog(ResolveDialog, accept_with("a typo", "resolved_date", "2031-02-03"))
    browser.correct_button.click()
    qtbot.waitUntil(lambda: "Resolution #" in browser.notice.text(), timeout=30000)
    stored = query(filled_url, "SELECT record_key, action, corrections, why FROM quality.resolutions ORDER BY id")
    assert stored == [
        (duplicate, "release", {}, "a different person"),
        (late, "correct", {"resolved_date": "2031-02-03"}, "a typo"),
    ]

    result = build(Transform())  # the run the Pipeline panel would start
    assert result.scheduling_succeeded, result.summary_text
    assert scalar(filled_url, "SELECT count(*) FROM clean.customers WHERE customer_id = %s", (duplicate,)) == 1
    assert (
        str(scalar(filled_url, "SELECT resolved_date FROM clean.claims WHERE claim_id = %s", (late,))) == "2031-02-03"
    )
    search(qtbot, browser, duplicate)
    assert browser.total == 0

    box = browser.resolutions
    browser.detail_tabs.setCurrentWidget(box)
    loads = box.loads
    box.refresh()
    qtbot.waitUntil(lambda: box.loads > loads, timeout=30000)
    assert [r["status"] for r in box.model.rows] == ["applied", "applied"]
    box.view.selectRow([r["record_key"] for r in box.model.rows].index(duplicate))
    assert box.revoke_button.isEnabled()
    box.revoke_button.click()
    qtbot.waitUntil(lambda: "revoked" in browser.notice.text(), timeout=30000)
    assert scalar(
        filled_url, "SELECT revoked_at IS NOT NULL FROM quality.resolutions WHERE record_key = %s", (duplicate,)
    )


def test_the_worked_quarantine_fits_1024x700(filled_url, window, qtbot):
    window.resize(1024, 700)
    _, browser = open_browser(window, qtbot)
    qtbot.waitUntil(lambda: browser.fields.rowCount() > 0, timeout=30000)
    qtbot.wait(100)
    assert window.width() == 1024  # search field, actions and the survivor column ask for no more room
    assert browser.release_button.isVisible() and browser.search.isVisible()
