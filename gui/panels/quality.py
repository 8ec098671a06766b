"""Data quality panel: valid-record rates per table, violations per rule, the trend over runs, the quarantine."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QStackedWidget, QTabWidget, QWidget

from .. import formats, queries, workers
from ..bar_chart import BarChart
from ..models import Column, RowsModel
from ..time_chart import TimeChart
from .common import Box, Message, Panel, fit_columns, header, page_layout, table_view
from .quarantine import QuarantineBrowser

TABLE_COLUMNS = [
    Column("Table", "table_name"),
    Column("Raw", "raw_rows", formats.count, tooltip="rows loaded into raw"),
    Column("Valid", "valid_before", formats.count, tooltip="rows that broke no rule as loaded"),
    Column("Fixed", "fixed_rows", formats.count, tooltip="rows healing fixed"),
    Column("Held", "quarantined", formats.count, tooltip="rows quarantined"),
    Column("Replaced", "replaced", formats.count, tooltip="older versions a correction replaced (history.<table>)"),
    Column("Clean", "clean_rows", formats.count, tooltip="rows in clean"),
    Column("Valid before", "valid_rate_before", formats.percent, tooltip="valid as loaded / raw rows"),
    Column("Valid after", "valid_rate_after", formats.percent, tooltip="clean rows / (raw rows - replaced)"),
]
RULE_COLUMNS = [
    Column("Table", "table_name"),
    Column("Rule", "rule_id", cell_tip="description"),
    Column("Violations", "violations", formats.count),
    Column("Fixed", "fixed", formats.count),
    Column("Quarantined", "quarantined", formats.count),
    Column("Flagged", "flagged", formats.count),
    Column("Action", "action", colored=True),
    Column("Severity", "severity", colored=True),
    Column("Description", "description"),
]


def load() -> dict:
    present = queries.existing("quality.table_results", "quality.rule_results", "analytics.data_quality")
    if "quality.table_results" not in present:
        return {"empty": True}
    found = {
        "empty": False,
        "tables": queries.select("table_quality").dicts(),
        "rules": queries.select("rule_violations").dicts(),
        "trend": [],
        "trend_tables": [],
    }
    if "analytics.data_quality" in present:
        found["trend"] = queries.select("quality_trend_overall").dicts()
        found["trend_tables"] = queries.select("quality_trend").dicts()
    found["empty"] = not found["tables"]
    found["drops"] = clean_share_drops()
    found["sources"] = source_notes()
    return found


def source_notes() -> list[str]:
    """Part files the latest loads could not read, and part files gone from their folder whose rows are kept."""
    from pipeline import gone_parts, part_failures

    present = queries.existing("ops.source_failures", "ops.source_gone")
    notes = []
    with contextlib.closing(queries.connect()) as conn, conn.cursor() as cur:
        if "ops.source_failures" in present:
            notes += [part_failures.note(*failure) for failure in part_failures.current(cur)]
        if "ops.source_gone" in present:
            notes += [gone_parts.note(table, part, rows) for table, part, rows, _ in gone_parts.current(cur)]
    return notes


def clean_share_drops() -> list[str]:
    """Tables whose clean share fell against their previous heal (quality.trend decides)."""
    from pipeline.quality.trend import clean_share_drops as drops

    with contextlib.closing(queries.connect()) as conn:
        return [d.message for d in drops(conn)]


def in_range(rows: list[dict], dates) -> list[dict]:
    """The runs checked within the date range's days (all of them for all time)."""
    if dates is None:
        return rows
    start, end = dates
    return [
        r
        for r in rows
        if (start is None or start <= r["checked_at"].date()) and (end is None or r["checked_at"].date() <= end)
    ]


class QualityPanel(Panel):
    title = "Data quality"

    def __init__(self, dates=lambda: None, parent=None):
        super().__init__(parent)
        self.dates = dates  # the app's date range: the trend shows the runs within it
        self.data: dict = {}
        layout = page_layout(self)
        self.subtitle = QLabel("What healing found and did, from quality.* (each table's latest heal).")
        layout.addLayout(header("Data quality", self.subtitle))
        self.drops = QLabel()
        self.drops.setObjectName("warning")
        self.drops.setWordWrap(True)
        self.drops.setStyleSheet("color: #b42318; font-weight: 600;")
        self.drops.hide()
        layout.addWidget(self.drops)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)

        self.pages = QStackedWidget()
        self.empty = Message(
            "No quality results yet",
            "Run the pipeline: healing records here what it checked, "
            "fixed and held back, table by table and rule by rule.",
        )
        self.failure = Message("Cannot read the quality results", "", "Try again", secondary="Open Settings")
        self.failure.action.clicked.connect(self.refresh)
        self.failure.secondary.clicked.connect(self.settings_requested)
        self.summary = QWidget()
        self.pages.addWidget(self.summary)
        self.pages.addWidget(self.empty)
        self.pages.addWidget(self.failure)
        self.tabs.addTab(self.pages, "Summary")
        self.quarantine_tab = QStackedWidget()  # the browser is made when its tab is first opened
        self.quarantine: QuarantineBrowser | None = None
        self.tabs.addTab(self.quarantine_tab, "Quarantine")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.build_in_steps(self._build_summary(self.summary))

    def _build_summary(self, page: QWidget):
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 10, 0, 0)
        grid.setSpacing(12)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 1)
        self.tables = RowsModel(TABLE_COLUMNS, self)
        self.table_view = table_view(self.tables)
        self.rules = RowsModel(RULE_COLUMNS, self)
        self.rule_view = table_view(self.rules, sortable=True)
        self.rule_view.setToolTip("Double-click a rule to see the rows it held in the quarantine")
        self.rule_view.doubleClicked.connect(self.show_rule_rows)
        grid.addWidget(Box("Per table", self.table_view), 0, 0)
        grid.addWidget(Box("Violations per rule", self.rule_view), 1, 0)
        yield
        self.rates_chart = BarChart("Valid records before and after healing", "percent", horizontal=True)
        self.rates_chart.setToolTip("Click a table's bars to see the rows it held in the quarantine")
        self.rates_chart.category_clicked.connect(self.show_table_rows)
        grid.addWidget(self.rates_chart, 0, 1)
        yield
        self.trend_chart = TimeChart("Valid records over runs", "percent", date_format="%m-%d %H:%M", per_run=True)
        self.trend_table = QComboBox()
        self.trend_table.currentIndexChanged.connect(self._draw_trend)
        self.trend_chart.add_control(self.trend_table)
        grid.addWidget(self.trend_chart, 1, 1)

    def refresh(self) -> None:
        super().refresh()
        workers.submit(self, load, done=self._show, failed=self._fail)
        if self.quarantine is not None:
            self.quarantine.stale = True
        self._tab_changed()

    def open_quarantine(self) -> QuarantineBrowser:
        """Show the quarantine tab (making the browser the first time)."""
        self.tabs.setCurrentWidget(self.quarantine_tab)
        return self.quarantine

    def show_rule_rows(self, index) -> QuarantineBrowser | None:
        """The quarantine, filtered to the rule of a row of the rule table (double-click)."""
        source = self.rule_view.model().mapToSource(index) if hasattr(self.rule_view.model(), "mapToSource") else index
        rule = self.rules.row(source.row())
        browser = self.open_quarantine()
        browser.show_rule(rule["table_name"], rule["rule_id"])
        return browser

    def show_table_rows(self, table: str) -> QuarantineBrowser:
        """The quarantine, filtered to one table (a click on its bars in the chart)."""
        browser = self.open_quarantine()
        browser.show_rule(table, None)
        return browser

    def _tab_changed(self) -> None:
        if self.tabs.currentWidget() is not self.quarantine_tab:
            return
        if self.quarantine is None:
            self.quarantine = QuarantineBrowser()
            self.quarantine_tab.addWidget(self.quarantine)
        if self.quarantine.stale:
            self.quarantine.refresh()

    def _fail(self, message: str) -> None:
        self.failure.show_text("Cannot read the quality results", message)
        self.pages.setCurrentWidget(self.failure)
        self.load_failed.emit(message)

    def _show(self, data: dict) -> None:
        if self.shows_already(data, self.data, self.failure):
            self.finish_load()
            return
        self.data = data
        if data["empty"]:
            self.empty.show_text(
                "No quality results yet",
                "Run the pipeline: healing records here what it "
                "checked, fixed and held back, table by table and rule by rule.",
            )
            self.pages.setCurrentWidget(self.empty)
            self.finish_load()
            return
        self.pages.setCurrentWidget(self.summary)
        notes = [f"Warning: {d}" for d in data.get("drops", [])] + data.get("sources", [])
        self.drops.setText("\n".join(notes))
        self.drops.setVisible(bool(notes))
        self.tables.set_rows(data["tables"])
        self.rules.set_rows(data["rules"])
        fit_columns(self.table_view, 200)
        fit_columns(self.rule_view, 240)
        QTimer.singleShot(0, self._draw_charts)  # a turn of the event loop between the tables and the charts

    def _draw_charts(self) -> None:
        data = self.data
        if data.get("empty", True):
            return
        tables = data["tables"]
        self.rates_chart.set_bars(
            [t["table_name"] for t in tables],
            {
                "Before healing": [t["valid_rate_before"] for t in tables],
                "After healing": [t["valid_rate_after"] for t in tables],
            },
        )
        chosen = self.trend_table.currentData()
        self.trend_table.blockSignals(True)
        self.trend_table.clear()
        self.trend_table.addItem("All tables", None)
        for t in tables:
            self.trend_table.addItem(t["table_name"], t["table_name"])
        self.trend_table.setCurrentIndex(max(self.trend_table.findData(chosen), 0))
        self.trend_table.blockSignals(False)
        self._draw_trend()
        self.finish_load()

    def _draw_trend(self) -> None:
        table = self.trend_table.currentData()
        if table is None:
            rows = self.data.get("trend", [])
        else:
            rows = [r for r in self.data.get("trend_tables", []) if r["table_name"] == table]
        rows = in_range(rows, self.dates())
        if not rows:
            self.trend_chart.show_message("No runs in the date range" if self.dates() else "No runs yet")
            return
        self.trend_chart.set_series(
            [r["checked_at"] for r in rows],
            {
                "Before healing": [r["valid_rate_before"] for r in rows],
                "After healing": [r["valid_rate_after"] for r in rows],
            },
        )
