"""The quarantine browser: held rows by table, rule and text, with reasons and original row; resolve and export."""

from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import formats, queries, resolving, workers
from ..models import Column, RowsModel
from .common import Box, button, fit_columns, table_view
from .resolutions_box import ResolutionsBox, ask_resolution

PAGE = resolving.PAGE
RECORD_COLUMNS = [
    Column("Table", "table_name"),
    Column("Source row", "source_row", formats.count),
    Column("Record key", "record_key"),
    Column("Rules broken", "rule_ids"),
    Column("Duplicate of", "survivor_key"),
    Column("Resolution", "resolution_id", lambda v: "" if v is None else f"#{v} pending"),
]


def load_filters(table: str | None) -> dict:
    if "quality.quarantine" not in queries.existing("quality.quarantine"):
        return {"tables": [], "rules": []}
    return {
        "tables": queries.select("quarantine_tables").rows,
        "rules": queries.select("quarantine_rules", table=table).rows,
    }


def load_record(table: str, source_row: int) -> dict:
    found = queries.select("quarantine_record", table=table, source_row=source_row).first() or {}
    order = []
    try:
        from pipeline.tables import spec  # the table spec orders the fields as the source has them

        order = [c.name for c in spec(table).columns]
    except Exception:  # noqa: BLE001, S110 - a table the specs do not know: fields in the stored order
        pass
    original = found.get("original") or {}
    names = [n for n in order if n in original] + [n for n in original if n not in order]
    return {
        "table": table,
        "source_row": source_row,
        "messages": found.get("messages") or {},
        "rule_ids": found.get("rule_ids") or [],
        "fields": [{"field": n, "value": original[n]} for n in names],
    }


class QuarantineBrowser(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.stale = True
        self.total = 0
        self.offset = 0
        self.token = 0
        self.loads = 0  # pages shown so far (tests wait for it)
        self.last_export: tuple[str, int] | None = None
        self.wanted: tuple[str | None, str | None] | None = None  # filters asked for before the lists arrived
        self.survivor: dict | None = None
        self.shown_search: str | None = None  # the search text of the page shown

        self.table = QComboBox(minimumWidth=160)
        self.rule = QComboBox(minimumWidth=200)
        for choice in (self.table, self.rule):  # long rule names must not widen the page: the list shows them whole
            choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            choice.setMinimumContentsLength(18)
        self.table.activated.connect(lambda: self._filters_changed(True))
        self.rule.activated.connect(lambda: self._filters_changed(False))
        self.search = QLineEdit(placeholderText="Search key or any value", clearButtonEnabled=True)
        self.search.setMinimumWidth(60)  # the row must fit at 1024x700 beside the sidebar
        self.typing = QTimer(self, singleShot=True, interval=400)  # search once the user paused typing
        self.typing.timeout.connect(lambda: self.load_page(0))
        self.search.textChanged.connect(lambda: self.typing.start())
        self.search.returnPressed.connect(lambda: self.load_page(0))
        self.count = QLabel(objectName="muted")
        self.export_button = button("Export CSV…")
        self.export_button.clicked.connect(lambda: self.export())  # clicked(bool) is not a path
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Table"))
        filters.addWidget(self.table)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Rule"))
        filters.addWidget(self.rule)
        filters.addWidget(self.search, 1)
        filters.addSpacing(12)
        filters.addWidget(self.count)
        filters.addWidget(self.export_button)

        self.records = RowsModel(RECORD_COLUMNS, self)
        self.view = table_view(self.records)
        self.view.selectionModel().currentRowChanged.connect(self._selected)
        self.first_button, self.previous_button = button("«"), button("‹ Previous")
        self.next_button, self.last_button = button("Next ›"), button("»")
        self.page_label = QLabel(objectName="muted")
        pager = QHBoxLayout()
        pager.addWidget(self.page_label, 1)
        for widget, offset in (
            (self.first_button, lambda: 0),
            (self.previous_button, lambda: self.offset - PAGE),
            (self.next_button, lambda: self.offset + PAGE),
            (self.last_button, lambda: (max(self.total - 1, 0) // PAGE) * PAGE),
        ):
            widget.clicked.connect(lambda checked=False, where=offset: self.load_page(where()))
            pager.addWidget(widget)
        records = QWidget()
        left = QVBoxLayout(records)
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.view, 1)
        left.addLayout(pager)

        self.reasons = QLabel("Select a record to see why it was held back.", objectName="muted")
        self.reasons.setWordWrap(True)
        self.reasons.setTextFormat(Qt.TextFormat.RichText)
        self.reasons.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fields = RowsModel(
            [
                Column("Field", "field"),
                Column("Value as it arrived", "value", _value, left=True),
                Column("Survivor in clean", "survivor", _value, left=True),
            ],
            self,
        )
        self.field_view = table_view(self.fields)
        self.release_button = button("Release…", tooltip="release the row as it arrived: the next run puts it in clean")
        self.correct_button = button("Correct and release…", tooltip="correct a value, then release the row")
        self.survivor_button = button("Go to survivor", tooltip="the row this duplicate was merged into")
        self.release_button.clicked.connect(lambda: self.ask_release(correct=False))
        self.correct_button.clicked.connect(lambda: self.ask_release(correct=True))
        self.survivor_button.clicked.connect(lambda: self.go_to_survivor())
        self.notice = QLabel(objectName="muted", wordWrap=True)
        actions, survivor = QHBoxLayout(), QHBoxLayout()  # two rows: the page must fit at 1024x700
        for widget in (self.release_button, self.correct_button, self.survivor_button):
            widget.setEnabled(False)
        actions.addWidget(self.release_button)
        actions.addWidget(self.correct_button)
        actions.addStretch(1)
        survivor.addWidget(self.notice, 1)
        survivor.addWidget(self.survivor_button)
        record = QWidget()
        right = QVBoxLayout(record)
        right.setContentsMargins(0, 6, 0, 0)
        right.addLayout(actions)
        right.addLayout(survivor)
        right.addWidget(Box("Why it was held back", self.reasons))
        right.addWidget(Box("Original row", self.field_view), 1)
        self.resolutions = ResolutionsBox(self)
        self.resolutions.changed.connect(self._resolved)
        detail = QTabWidget()
        detail.setDocumentMode(True)
        detail.addTab(record, "Record")
        detail.addTab(self.resolutions, "Resolutions")
        self.detail_tabs = detail

        split = QSplitter()
        split.addWidget(Box("Quarantined records", records))
        split.addWidget(detail)
        split.setSizes([640, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(split, 1)

    def filters(self) -> tuple[str | None, str | None]:
        return self.table.currentData(), self.rule.currentData()

    def refresh(self) -> None:
        self.stale = False
        table = self.wanted[0] if self.wanted else self.table.currentData()
        workers.submit(self, load_filters, table, done=self._show_filters)
        self.resolutions.refresh()

    def _show_filters(self, found: dict) -> None:
        chosen_table, chosen_rule = self.wanted or self.filters()
        self.wanted = None
        self.table.clear()
        self.table.addItem(f"All tables ({formats.count(sum(n for _, n in found['tables']))})", None)
        for name, n in found["tables"]:
            self.table.addItem(f"{name} ({formats.count(n)})", name)
        self.table.setCurrentIndex(max(self.table.findData(chosen_table), 0))
        self._set_rules(found["rules"], chosen_rule)
        self.load_page(0)

    def _set_rules(self, rules: list[tuple], chosen: str | None) -> None:
        self.rule.clear()
        self.rule.addItem("All rules", None)
        for rule_id, n in rules:
            self.rule.addItem(f"{rule_id} ({formats.count(n)})", rule_id)
        self.rule.setCurrentIndex(max(self.rule.findData(chosen), 0))

    def show_rule(self, table: str | None, rule: str | None) -> None:
        """The rows one rule held (the Data quality panel's drill-down): search cleared, lists loaded anew."""
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.wanted = (table, rule)
        self.refresh()

    def select(self, table: str | None, rule: str | None = None) -> None:
        """Choose filters as a user would (tests and links from other panels)."""
        self.table.setCurrentIndex(max(self.table.findData(table), 0))
        workers.submit(
            self, load_filters, table, done=lambda found: (self._set_rules(found["rules"], rule), self.load_page(0))
        )

    def _filters_changed(self, table_changed: bool) -> None:
        if table_changed:
            self.select(self.table.currentData())
        else:
            self.load_page(0)

    def load_page(self, offset: int) -> None:
        self.token += 1
        token = self.token
        self.typing.stop()
        table, rule = self.filters()
        search = self.search.text().strip() or None
        workers.submit(
            self,
            resolving.load_page,
            table,
            rule,
            max(offset, 0),
            search,
            done=lambda page: self._show_page(page, token, search),
            failed=self.notice.setText,
        )

    def _show_page(self, page: dict, token: int, search: str | None = None) -> None:
        if token != self.token:
            return  # a newer request is on its way
        self.shown_search = search
        self.total, self.offset = page["total"], page["offset"]
        self.records.set_rows(page["rows"])
        fit_columns(self.view, 260)
        self.count.setText(f"{formats.count(self.total)} records")
        shown = len(page["rows"])
        self.page_label.setText(
            f"Records {formats.count(self.offset + 1)}–{formats.count(self.offset + shown)} "
            f"of {formats.count(self.total)}"
            if shown
            else "No records"
        )
        self.first_button.setEnabled(self.offset > 0)
        self.previous_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(self.offset + shown < self.total)
        self.last_button.setEnabled(self.offset + shown < self.total)
        self.export_button.setEnabled(self.total > 0)
        self.fields.set_rows([])
        self.shown_record = {}
        self._enable_actions(None)
        self.reasons.setText("Select a record to see why it was held back.")
        if shown:
            self.view.setCurrentIndex(self.records.index(0, 0))  # the first row, whatever row was current before
            self.view.selectRow(0)
            self._enable_actions(self.current())  # the same row again after a reload sends no change of row
        self.loads += 1

    def _selected(self, current, previous=None) -> None:
        if not current.isValid():
            return
        record = self.records.row(current.row())
        self.survivor = None
        self._enable_actions(record)
        workers.submit(self, load_record, record["table_name"], record["source_row"], done=self._show_record)

    def _show_record(self, record: dict) -> None:
        items = []
        for rule_id in record["rule_ids"]:
            message = record["messages"].get(rule_id)
            text = message if isinstance(message, str) else json.dumps(message) if message is not None else ""
            items.append(f"<b>{html.escape(rule_id)}</b><br><span style='color:#4a5160'>{html.escape(text)}</span>")
        self.reasons.setText("<br>".join(items) or "No reasons recorded.")
        survivor = (self.survivor or {}).get("values", {})
        self.fields.set_rows([{**f, "survivor": survivor.get(f["field"], "")} for f in record["fields"]])
        self.field_view.setColumnHidden(2, not survivor)
        fit_columns(self.field_view, 200)
        self.shown_record = record

    def current(self) -> dict | None:
        index = self.view.currentIndex()
        return self.records.row(index.row()) if index.isValid() else None

    def _enable_actions(self, record: dict | None) -> None:
        free = record is not None and record.get("resolution_id") is None
        self.release_button.setEnabled(free)
        self.correct_button.setEnabled(free)
        self.survivor_button.setEnabled(bool(record and record.get("survivor_key")))

    def ask_release(self, correct: bool) -> None:
        """Ask why (and for a correction, the column and value); the release is stored off the GUI thread."""
        record = self.current()
        if record is None:
            return
        fields = {f["field"]: f["value"] for f in self.fields.rows} if correct else None
        answer = ask_resolution(self, record["table_name"], record["record_key"], fields)
        if answer is None:
            return
        why, corrections = answer
        self.notice.setText(f"Releasing {record['table_name']} {record['record_key']}…")
        workers.submit(
            self,
            resolving.resolve,
            record["table_name"],
            record["record_key"],
            record["source_row"],
            why,
            corrections,
            pool=workers.LONG_JOBS,
            done=lambda made: self._resolved(
                f"Resolution #{made} stored: {record['table_name']} {record['record_key']} goes to clean at the next run."
            ),
            failed=lambda message: self.notice.setText(f"Not released: {message}"),
        )

    def _resolved(self, message: str) -> None:
        self.notice.setText(message)
        self.load_page(self.offset)
        self.resolutions.refresh()

    def go_to_survivor(self) -> None:
        """A merged duplicate's survivor: beside it when in clean, selected in the list when it is held too."""
        record = self.current()
        if record is None or not record.get("survivor_key"):
            return
        workers.submit(
            self, resolving.load_survivor, record["table_name"], record["survivor_key"], done=self._show_survivor
        )

    def _show_survivor(self, found: dict) -> None:
        self.survivor = found
        if found["where"] == "quarantine":
            self.search.setText(found["key"])
            self.load_page(0)
            self.notice.setText(f"The survivor {found['key']} is held too.")
        elif found["where"] == "clean":
            self.notice.setText(f"Survivor {found['key']} (in clean) beside this row.")
            if getattr(self, "shown_record", None):
                self._show_record(self.shown_record)
        else:
            self.notice.setText(f"The survivor {found['key']} is in neither clean nor the quarantine.")

    def export(self, path: str | None = None) -> None:
        table, rule = self.filters()
        if path is None:
            suggested = f"quarantine-{table or 'all'}{'-' + rule if rule else ''}.csv"
            path, _ = QFileDialog.getSaveFileName(self, "Export quarantined records", suggested, "CSV files (*.csv)")
            if not path:
                return
        self.export_button.setEnabled(False)
        self.count.setText(f"Exporting {formats.count(self.total)} records…")
        workers.submit(
            self,
            queries.export_csv,
            path,
            table,
            rule,
            pool=workers.LONG_JOBS,
            done=lambda n: self._exported(path, n),
            failed=self._export_failed,
        )

    def _exported(self, path: str, rows: int) -> None:
        self.last_export = (path, rows)
        self.export_button.setEnabled(True)
        self.count.setText(f"{formats.count(self.total)} records · exported {formats.count(rows)} to {path}")

    def _export_failed(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.count.setText(f"Export failed: {message}")


def _value(value) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
