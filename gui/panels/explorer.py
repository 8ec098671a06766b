"""The Explorer: any warehouse table a page at a time, filtered, sorted by a header click, exported to CSV or Parquet."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QWidget

from pipeline import explore

from .. import explore_jobs, formats, workers
from ..flow import FlowLayout, fixed_height_for_width
from ..models import Column, RowsModel
from .common import Box, Message, Panel, button, fit_columns, header, page_layout, table_view
from .explorer_export import Export, ask_path

DEFAULT_TABLE = "clean.claims"
OPERATORS = {  # what the user reads -> explore.Filter's op
    "=": "=",
    "≠": "!=",
    "<": "<",
    "≤": "<=",
    ">": ">",
    "≥": ">=",
    "contains": "~",
    "is empty": "null",
    "is not empty": "not null",
}
FIRST_PAGE = (None, 0)  # explore.page's (after, offset) of the first page


def cell(value) -> str:
    """A value as stored: dates in ISO form, JSON as JSON, nothing as a dash."""
    if value is None:
        return formats.DASH
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    return str(value)


def describe_filter(f: explore.Filter) -> str:
    op = {v: k for k, v in OPERATORS.items()}[f.op]
    return f"{f.column} {op}" if f.value is None else f"{f.column} {op} {f.value}"


class PageModel(RowsModel):
    """A page's rows; headers stay left-aligned, so that a right-aligned number's title never runs under the sort
    arrow drawn at the header's right."""

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt's name
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return None
        return super().headerData(section, orientation, role)


class ExplorerPanel(Panel):
    title = "Explorer"

    def __init__(self, dates: Callable[[], explore_jobs.DateRange | None] = lambda: None, parent=None):
        super().__init__(parent)
        self.dates = dates
        self.selection: explore.Selection | None = None
        self.starts: list[tuple] = [FIRST_PAGE]  # where each page shown so far began; the current one last
        self.next_start: tuple | None = None
        self.total: int | None = None  # the selection's row count, once counted
        self.token = self.count_token = 0
        self.shown_rows: list[dict] = []
        self.fitted = False  # columns fitted to the rows of this table
        self.types: dict[str, str] = {}
        self.export_job: Export | None = None  # the export running
        self.last_job: Export | None = None
        self.last_export: tuple[str, int] | None = None

        layout = page_layout(self)
        self.subtitle = QLabel(
            "Any table of raw, clean, analytics and the quarantine, a page at a time: filter it, click a column's "
            "header to sort, export what the filters select."
        )
        self.export_button = button("Export…", "primary")
        self.export_button.clicked.connect(lambda: self.export())  # clicked(bool) is not a path
        layout.addLayout(header("Explorer", self.subtitle, self.export_button))

        # narrow minimums: the row must fit a 1024-pixel window (the lists show long names whole)
        self.table = QComboBox(minimumWidth=160)
        self.table.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.table.setMinimumContentsLength(16)
        self.table.activated.connect(self._table_chosen)
        self.column = QComboBox(minimumWidth=120)
        self.column.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.column.setMinimumContentsLength(11)
        self.operator = QComboBox()
        self.operator.addItems(list(OPERATORS))
        self.operator.currentTextChanged.connect(
            lambda op: self.value.setEnabled(OPERATORS[op] not in ("null", "not null"))
        )
        self.value = QLineEdit(placeholderText="value")
        self.value.setMinimumWidth(80)
        self.value.returnPressed.connect(self.add_filter)
        self.add_button = button("Add filter")
        self.add_button.clicked.connect(self.add_filter)
        picks = QHBoxLayout()
        picks.addWidget(QLabel("Table"))
        picks.addWidget(self.table)
        picks.addSpacing(8)
        picks.addWidget(QLabel("Filter"))
        picks.addWidget(self.column)
        picks.addWidget(self.operator)
        picks.addWidget(self.value, 1)
        picks.addWidget(self.add_button)
        layout.addLayout(picks)
        self.build_in_steps(self._build_rows(layout))

    def _build_rows(self, layout):
        """The filters' buttons, the table and its pager: made a piece per turn of the event loop (Panel)."""

        self.chips = QWidget()
        self.chip_row = FlowLayout(self.chips, spacing=6, stretch=False)  # a removable button per filter, wrapping
        fixed_height_for_width(self.chips)
        self.date_note = QLabel(objectName="muted")
        self.date_note.setWordWrap(True)
        layout.addWidget(self.chips)
        layout.addWidget(self.date_note)

        yield
        self.rows = PageModel([], self)
        self.view = table_view(self.rows, stretch_last=False)
        heading = self.view.horizontalHeader()
        heading.setSectionsClickable(True)
        heading.setSortIndicatorShown(True)
        heading.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        heading.sectionClicked.connect(self._header_clicked)
        self.previous_button, self.next_button = button("‹ Previous"), button("Next ›")
        self.previous_button.clicked.connect(self.previous_page)
        self.next_button.clicked.connect(self.next_page)
        self.page_label = QLabel(objectName="muted")
        self.status = QLabel(objectName="muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        pager = QHBoxLayout()
        pager.addWidget(self.page_label)
        pager.addWidget(self.status, 1)
        pager.addWidget(self.previous_button)
        pager.addWidget(self.next_button)
        body = QWidget()
        inner = page_layout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.setSpacing(8)
        inner.addWidget(self.view, 1)
        inner.addLayout(pager)
        self.box = Box("Rows", body)
        self.empty = Message("Nothing to explore yet", "Run the pipeline: its tables appear here.")
        layout.addWidget(self.box, 1)
        layout.addWidget(self.empty, 1)
        self.empty.hide()
        self._set_buttons(busy=True)

    # -- loading
    def refresh(self) -> None:
        super().refresh()
        explore_jobs.forget()  # a run may have replaced the tables, with other columns
        workers.submit(self, explore_jobs.tables, done=self._show_tables, failed=self._failed_now)

    def _show_tables(self, names: list[str]) -> None:
        chosen = self.table.currentText() or DEFAULT_TABLE
        self.table.clear()
        self.table.addItems(names)
        self.empty.setVisible(not names)
        self.box.setVisible(bool(names))
        if not names:
            self.finish_load()
            return
        self.table.setCurrentIndex(max(self.table.findText(chosen), 0))
        keep = (
            self.selection is not None and f"{self.selection.schema}.{self.selection.table}" == self.table.currentText()
        )
        self.choose(self.table.currentText(), keep_filters=keep)

    def choose(self, name: str, keep_filters: bool = False) -> None:
        """Show a table (schema.name) from its first page; its filters and order are kept only if asked."""
        schema, _, table = name.partition(".")
        if self.table.currentText() != name:
            self.table.setCurrentIndex(self.table.findText(name))
        old = self.selection
        if keep_filters and old is not None:
            self.selection = explore.Selection(schema, table, old.filters, old.sort, old.descending)
        else:
            self.selection = explore.Selection(schema, table)
            self.types = {}
            self.fitted = False
        self._selection_changed()

    def _table_chosen(self) -> None:
        self.choose(self.table.currentText())

    def _selection_changed(self) -> None:
        """Back to the first page, and count the rows meanwhile (a count never holds up a page)."""
        self._show_chips()
        self.total = None
        self.count_token += 1
        token = self.count_token
        workers.submit(
            self,
            explore_jobs.load_count,
            self.selection,
            self.dates(),
            done=lambda n: self._counted(n, token),
            failed=lambda message: None,  # the page says what is wrong
        )
        self._load([FIRST_PAGE])

    def _load(self, starts: list[tuple]) -> None:
        self.token += 1
        token = self.token
        after, offset = starts[-1]
        self._set_buttons(busy=True)
        self.status.setText("Loading…")
        workers.submit(
            self,
            explore_jobs.load_page,
            self.selection,
            self.dates(),
            after,
            offset,
            done=lambda found: self._show_page(found, starts, token),
            failed=lambda message: token == self.token and self._failed_now(message),
        )

    def _show_page(self, found: dict, starts: list[tuple], token: int) -> None:
        if token != self.token:
            return  # a newer page is on its way
        page: explore.Page = found["page"]
        self.starts, self.next_start = starts, (page.after, page.offset)
        new_columns = found["types"] != self.types or self.rows.columns == []
        if new_columns:
            self.types = found["types"]
            self.rows.columns = [Column(name, name, cell) for name in page.columns]
            current = self.column.currentText()
            self.column.clear()
            self.column.addItems(page.columns)
            self.column.setCurrentIndex(max(self.column.findText(current), 0))
        self.shown_rows = [dict(zip(page.columns, row, strict=True)) for row in page.rows]
        self.rows.set_rows(self.shown_rows)
        if new_columns or (self.shown_rows and len(starts) == 1 and not self.fitted):
            fit_columns(self.view, 260)  # once a table: columns that keep their width while paging, and less work
            heading = self.view.horizontalHeader()
            for index in range(heading.count()):  # room for the sort arrow (fit_columns leaves none: no local sort)
                heading.resizeSection(index, heading.sectionSize(index) + 14)
            self.fitted = bool(self.shown_rows)
        self._show_sort()
        column, dates = found["date_column"], self.dates()
        if dates is None or dates == (None, None):
            self.date_note.setText("")
        elif column is None:
            self.date_note.setText("The date range does not apply: this table has no date column.")
        else:
            self.date_note.setText(f"Date range applied to {column}: {_range_text(dates)}.")
        self.date_note.setVisible(bool(self.date_note.text()))
        self.status.setText("")
        self._set_buttons()
        self._show_position()
        self.finish_load()

    def _counted(self, total: int, token: int) -> None:
        if token == self.count_token:
            self.total = total
            self._show_position()
            self._set_buttons()

    def _show_position(self) -> None:
        first = (len(self.starts) - 1) * explore.PAGE_ROWS
        shown = len(self.shown_rows)
        of = "counting…" if self.total is None else formats.count(self.total)
        self.page_label.setText(
            f"Rows {formats.count(first + 1)}–{formats.count(first + shown)} of {of}" if shown else f"No rows (of {of})"
        )

    def _failed_now(self, message: str) -> None:
        self.status.setText(message)
        self._set_buttons()
        self.load_failed.emit(message)

    def _set_buttons(self, busy: bool = False) -> None:
        shown = len(self.shown_rows)
        seen = (len(self.starts) - 1) * explore.PAGE_ROWS + shown
        more = shown == explore.PAGE_ROWS and (self.total is None or seen < self.total)
        self.next_button.setEnabled(not busy and more)
        self.previous_button.setEnabled(not busy and len(self.starts) > 1)
        self.export_button.setEnabled(self.selection is not None and self.export_job is None and self.total != 0)
        self.add_button.setEnabled(not busy and self.column.count() > 0)

    # -- paging, sorting, filters
    def next_page(self) -> None:
        if self.next_start is not None:
            self._load([*self.starts, self.next_start])

    def previous_page(self) -> None:
        if len(self.starts) > 1:
            self._load(self.starts[:-1])

    def _header_clicked(self, index: int) -> None:
        name = self.rows.columns[index].key
        current = self.selection
        descending = not current.descending if current.sort == name else False
        self.sort_by(name, descending)

    def sort_by(self, column: str | None, descending: bool = False) -> None:
        s = self.selection
        self.selection = explore.Selection(s.schema, s.table, s.filters, column, descending)
        self._selection_changed()

    def _show_sort(self) -> None:
        names = [c.key for c in self.rows.columns]
        s = self.selection
        order = Qt.SortOrder.DescendingOrder if s.descending else Qt.SortOrder.AscendingOrder
        self.view.horizontalHeader().setSortIndicator(names.index(s.sort) if s.sort in names else -1, order)

    def add_filter(self, column: str | None = None, op: str | None = None, value: str | None = None) -> None:
        """Add a filter, from the arguments or else from the filter row's choices (a button's click passes none)."""
        column = column if isinstance(column, str) else self.column.currentText()
        op = op or OPERATORS[self.operator.currentText()]
        if value is None and op not in ("null", "not null"):
            value = self.value.text().strip()
        if not column or self.selection is None:
            return
        added = explore.Filter(column, op, None if op in ("null", "not null") else value)
        s = self.selection
        self.selection = explore.Selection(s.schema, s.table, (*s.filters, added), s.sort, s.descending)
        self.value.clear()
        self._selection_changed()

    def remove_filter(self, index: int) -> None:
        s = self.selection
        kept = s.filters[:index] + s.filters[index + 1 :]
        self.selection = explore.Selection(s.schema, s.table, kept, s.sort, s.descending)
        self._selection_changed()

    def _show_chips(self) -> None:
        while self.chip_row.count():
            old = self.chip_row.takeAt(0).widget()
            old.hide()  # gone now, not at the next turn of the event loop
            old.deleteLater()
        filters = self.selection.filters if self.selection else ()
        for index, f in enumerate(filters):
            chip = button(f"{describe_filter(f)}  ×", tooltip="Remove this filter")
            chip.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            chip.clicked.connect(lambda checked=False, i=index: self.remove_filter(i))
            self.chip_row.addWidget(chip)
        self.chips.setVisible(bool(filters))

    # -- export
    def export(self, path: str | None = None) -> None:
        if self.selection is None or self.export_job is not None:
            return
        if path is None:
            path = ask_path(self, f"{self.selection.schema}-{self.selection.table}.csv")
            if not path:
                return
        self.export_job = self.last_job = Export(self, self.selection, self.dates(), path, self.total)
        self.export_job.finished.connect(self._exported)
        self.export_job.stopped.connect(self._export_stopped)
        self._set_buttons()

    def _exported(self, path: str, rows: int) -> None:
        self.last_export = (path, rows)
        self.export_job = None
        self.status.setText(f"Exported {formats.count(rows)} rows to {path}")
        self._set_buttons()

    def _export_stopped(self, message: str) -> None:
        self.export_job = None
        self.status.setText(message)
        self._set_buttons()


def _range_text(dates: explore_jobs.DateRange) -> str:
    start, end = dates
    if start and end:
        return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return f"from {start:%Y-%m-%d}" if start else f"to {end:%Y-%m-%d}"
