"""Thin table models: rows from a query shown through per-column formats, nothing computed here."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from . import formats

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_COLORS = {
    "done": "#1b7f4b",
    "running": "#2f6fed",
    "failed": "#c62828",
    "pending": "#7a8190",
    "interrupted": "#b26a00",
    "quarantine": "#c62828",
    "fix": "#1b7f4b",
    "flag": "#b26a00",
    "error": "#c62828",
    "warn": "#b26a00",
}


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    format: Callable[[Any], str] = formats.text
    colored: bool = False  # text color from STATE_COLORS by value (states, actions, severities)
    tooltip: str = ""  # of the header
    cell_tip: str = ""  # key of the row's value shown as the cell's tooltip
    left: bool = False  # left-aligned even for numbers (a column of mixed values)


def _numeric(value) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


class RowsModel(QAbstractTableModel):
    """Rows (dicts) shown in the given columns; the raw value is kept for sorting and for tests."""

    def __init__(self, columns: list[Column], parent=None):
        super().__init__(parent)
        self.columns = columns
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        if rows == self.rows:  # a refresh that changed nothing: no reset (the view keeps its state, no relayout)
            return
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row(self, index: int) -> dict:
        return self.rows[index]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            return column.tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole and self.rows and _numeric(self.rows[0].get(column.key)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = self.rows[index.row()].get(column.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.format(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.cell_tip:
                return formats.text(self.rows[index.row()].get(column.cell_tip))
            text = formats.text(value)
            return text if len(text) > 24 else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            right = _numeric(value) and not column.left
            horizontal = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.colored and value in STATE_COLORS:
            return QColor(STATE_COLORS[value])
        if role == SORT_ROLE:
            return _sort_key(value)
        return None


def _sort_key(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def sortable(model: RowsModel) -> QSortFilterProxyModel:
    """A proxy that sorts by the raw values (numbers as numbers, dates as dates)."""
    proxy = QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    return proxy
