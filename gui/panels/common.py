"""Pieces the panels share: the panel base (lazy, refreshable), page header, KPI card, empty and error states."""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .. import models


class Panel(QWidget):
    """A screen of the app. It loads its data the first time it is shown and again when marked stale."""

    title = ""
    loaded = Signal()  # the panel shows the data of its latest refresh
    load_failed = Signal(str)
    settings_requested = Signal()  # an error page's "Open Settings"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("page")
        self.stale = True
        self.building: Iterator[None] | None = None
        self.refresh_due = False
        self.loads = 0  # refreshes shown so far (tests wait for it to grow)

    def build_in_steps(self, steps: Iterator[None]) -> None:
        """Make the rest of the panel a piece per next(steps): the window makes hidden panels a piece per turn of
        the event loop (a whole panel at once would hold the GUI thread for ~0.1 s); showing one finishes it."""
        self.building = steps

    def build_step(self) -> bool:
        """Make one more piece; False when the panel is whole."""
        if self.building is None:
            return False
        if next(self.building, StopIteration) is StopIteration:
            self.building = None
            return False
        return True

    def activate(self) -> None:
        """The panel became visible."""
        while self.build_step():
            pass
        if self.stale:
            self.refresh()

    def mark_stale(self) -> None:
        """The warehouse changed: reload soon if visible (once, however many said so), else when next shown."""
        self.stale = True
        if self.isVisible() and not self.refresh_due:
            self.refresh_due = True
            QTimer.singleShot(0, self._refresh_if_stale)

    def _refresh_if_stale(self) -> None:
        self.refresh_due = False
        if self.stale and self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        self.stale = False

    def shows_already(self, data: dict, shown: dict | None, failure: QWidget) -> bool:
        """A refresh brought what the panel shows now (not an error page): nothing to redraw. A run announces
        dozens of events while what users read changes only at its end; redrawing charts for each held the GUI
        thread ~0.1 s every time (0.3-0.4 s on a loaded machine)."""
        return bool(self.loads) and data == shown and self.pages.currentWidget() is not failure

    def finish_load(self) -> None:
        self.loads += 1
        self.loaded.emit()


def header(title: str, subtitle: QLabel | None = None, *widgets: QWidget) -> QHBoxLayout:
    """A page title, its subtitle under it, and the page's buttons on the right."""
    row = QHBoxLayout()
    texts = QVBoxLayout()
    texts.setSpacing(2)
    texts.addWidget(QLabel(title, objectName="title"))
    if subtitle is not None:
        subtitle.setObjectName("subtitle")
        subtitle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the page
        subtitle.setWordWrap(True)  # wraps instead of losing its end
        subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        texts.addWidget(subtitle)
    row.addLayout(texts, 1)
    for widget in widgets:
        row.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
    return row


def page_layout(widget: QWidget) -> QVBoxLayout:
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(24, 20, 24, 20)
    layout.setSpacing(14)
    return layout


def button(text: str, kind: str = "", tooltip: str = "") -> QPushButton:
    found = QPushButton(text)
    if kind:
        found.setObjectName(kind)
    if tooltip:
        found.setToolTip(tooltip)
    found.setCursor(Qt.CursorShape.PointingHandCursor)
    return found


class Card(QFrame):
    """A KPI card: a small title, the figure, a note under it."""

    def __init__(self, title: str, note: str = "", parent=None):
        super().__init__(parent)
        self.setObjectName("card")
        self.title = QLabel(title.upper(), objectName="cardTitle")
        self.value = QLabel("–", objectName="cardValue")
        self.note = QLabel(note, objectName="cardNote")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.value)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(132)

    def set(self, value: str, note: str | None = None) -> None:
        self.value.setText(value)
        if note is not None:
            self.note.setText(note)
        self.setMinimumWidth(max(132, self.layout().sizeHint().width()))  # never narrower than its figure
        self.updateGeometry()


class Heading(QLabel):
    """A section title that wraps, and whose whole text is its tooltip (a run id or a folder cannot wrap)."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(text)


class Box(QFrame):
    """A white box with a section title over its content."""

    def __init__(self, title: str, content: QWidget | None = None, *extras: QWidget, parent=None):
        super().__init__(parent)
        self.setObjectName("panelBox")
        self.heading = Heading(objectName="chartTitle")
        self.heading.setText(title)
        self.heading.setWordWrap(True)  # a long heading (a folder, a run id) wraps, never widens the page
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.heading.setMinimumWidth(100)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        for extra in extras:
            top.addWidget(extra)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(12, 10, 12, 12)
        self.body.setSpacing(8)
        self.body.addLayout(top)
        if content is not None:
            self.body.addWidget(content, 1)


class Message(QWidget):
    """A centred state (empty warehouse, unreachable warehouse) with an optional action button."""

    def __init__(self, title: str, text: str = "", action: str = "", parent=None, secondary: str = ""):
        super().__init__(parent)
        self.heading = QLabel(title, objectName="emptyTitle")
        self.heading.setWordWrap(True)
        self.text = QLabel(text, objectName="muted")
        self.text.setWordWrap(True)  # every word of a message is shown, on as many lines as it needs
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMaximumWidth(640)
        self.action = button(action, "primary") if action else None
        self.secondary = button(secondary) if secondary else None
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        for widget in (self.heading, self.text):
            widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
            row = QHBoxLayout()  # as wide as the page allows (up to its maximum), as tall as its lines need
            row.addStretch(1)
            row.addWidget(widget, 100)
            row.addStretch(1)
            layout.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for found in (self.action, self.secondary):
            if found:
                buttons.addWidget(found)
        buttons.addStretch(1)
        if self.action or self.secondary:
            layout.addSpacing(8)
            layout.addLayout(buttons)
        layout.addStretch(3)

    def show_text(self, title: str, text: str) -> None:
        self.heading.setText(title)
        self.text.setText(text)
        self.text.setToolTip(text)


def table_view(model: models.RowsModel, sortable: bool = False, stretch_last: bool = True) -> QTableView:
    """A read-only, row-selecting table over a RowsModel."""
    view = QTableView()
    view.setModel(models.sortable(model) if sortable else model)
    view.setSortingEnabled(sortable)
    if sortable:
        view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the query's order until the user picks a column
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(26)
    view.horizontalHeader().setHighlightSections(False)
    view.horizontalHeader().setStretchLastSection(stretch_last)
    view.horizontalHeader().setResizeContentsPrecision(30)  # fit columns to the first rows: one call per cell
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return view


def fit_columns(view: QTableView, maximum: int = 320) -> None:
    """Columns as wide as their header and the text of their first 200 cells, within a maximum. Measured here with
    the font's metrics: Qt's resizeColumnsToContents asks the model for every role of every cell (slow in Python)."""
    model = view.model()
    header = view.horizontalHeader()
    cells = QFontMetrics(view.font())
    bold = QFont(view.font())
    bold.setWeight(QFont.Weight.DemiBold)
    titles = QFontMetrics(bold)
    rows = min(model.rowCount(), 200)
    for column in range(model.columnCount()):
        title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
        width = titles.horizontalAdvance(title) + 20 + (14 if view.isSortingEnabled() else 0)
        for row in range(rows):
            width = max(width, cells.horizontalAdvance(str(model.index(row, column).data() or "")) + 12)
        header.resizeSection(column, min(width, maximum))


def pivot(
    rows: list[dict], row_key: str, column_key: str, value_key: str, column_order: list[str] | None = None
) -> tuple[list, dict[str, list]]:
    """Reshape long rows (x, series, value) into x values and one list per series (None where absent)."""
    xs = list(dict.fromkeys(r[row_key] for r in rows))
    names = column_order or list(dict.fromkeys(r[column_key] for r in rows))
    names = [n for n in names if any(r[column_key] == n for r in rows)]
    position = {x: i for i, x in enumerate(xs)}
    series = {name: [None] * len(xs) for name in names}
    for r in rows:
        if r[column_key] in series:
            series[r[column_key]][position[r[row_key]]] = r[value_key]
    return xs, series
