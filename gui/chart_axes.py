"""Chart axes: UTC seconds of dates, value axes in a kind of number, category axes that thin their labels."""

from __future__ import annotations

import calendar
import datetime

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics

from . import formats


def epoch(day) -> float:
    """A date or timestamp as UTC seconds, the unit of the date axes (shown in UTC, as the data is)."""
    if isinstance(day, datetime.datetime):
        return day.timestamp() if day.tzinfo else calendar.timegm(day.timetuple())
    return float(calendar.timegm(day.timetuple()))


class ValueAxis(pg.AxisItem):
    """An axis whose tick labels are written in a kind of number (count, money, percent, seconds)."""

    def __init__(self, kind: str, orientation: str = "left"):
        super().__init__(orientation)
        self.kind = kind
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):
        fmt = formats.axis(self.kind, spacing * scale)
        return [fmt(v * scale) for v in values]


class CategoryAxis(pg.AxisItem):
    def __init__(self, orientation: str):
        super().__init__(orientation)
        self.labels: list[str] = []
        self.setStyle(hideOverlappingLabels=False)

    def set_labels(self, labels: list[str], thin: bool = False) -> None:
        """thin: a bottom axis shows only as many labels as fit its width without overlapping (every k-th)."""
        self.labels, self.thin = labels, thin
        if thin:
            self._thin()
            return
        self.setTicks([[(i, label) for i, label in enumerate(labels)], []])
        if self.orientation == "left":  # pyqtgraph drops a label wider than the axis: make room for the longest
            metrics = QFontMetrics(self.style["tickFont"] or QFont())
            self.setWidth(max((metrics.horizontalAdvance(label) for label in labels), default=40) + 18)

    def shown_labels(self) -> list[str]:
        return [label for _, label in (self._tickLevels or [[]])[0] if label]

    def _thin(self) -> None:
        metrics = QFontMetrics(self.style["tickFont"] or QFont())
        widest = max((metrics.horizontalAdvance(label) for label in self.labels), default=40) + 16
        room = max(1, int(self.geometry().width() // widest)) if self.geometry().width() > 0 else 6
        step = max(1, -(-len(self.labels) // room))
        self.setTicks([[(i, label) for i, label in enumerate(self.labels) if i % step == 0], []])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if getattr(self, "thin", False):
            self._thin()
