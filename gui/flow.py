"""A layout that places its widgets in rows and wraps them to the next row when the width runs out (Qt's Flow
Layout example): KPI cards stay whole at any window width instead of being squeezed until figures are cut."""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QSizePolicy, QWidgetItem


class FlowLayout(QLayout):
    def __init__(self, parent=None, spacing: int = 10, stretch: bool = True):
        super().__init__(parent)
        self.items: list = []
        self.gap = spacing
        self.stretch = stretch  # widen each row's items to fill the row (cards of a row share its width)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:  # noqa: N802 - Qt's name
        self.items.append(item)

    def addWidget(self, widget) -> None:  # noqa: N802
        self.addChildWidget(widget)
        self.addItem(QWidgetItem(widget))

    def count(self) -> int:
        return len(self.items)

    def itemAt(self, index: int):  # noqa: N802
        return self.items[index] if 0 <= index < len(self.items) else None

    def takeAt(self, index: int):  # noqa: N802
        return self.items.pop(index) if 0 <= index < len(self.items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self.items:
            size = size.expandedTo(item.minimumSize())
        margins: QMargins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def rows(self, width: int) -> list[list]:
        """The items of each row at this width."""
        rows: list[list] = [[]]
        used = 0
        for item in self.items:
            wanted = max(item.sizeHint().width(), item.minimumSize().width())
            if rows[-1] and used + self.gap + wanted > width:
                rows.append([])
                used = 0
            used += (self.gap if rows[-1] else 0) + wanted
            rows[-1].append(item)
        return [row for row in rows if row]

    def _place(self, rect: QRect, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        y = area.y()
        for row in self.rows(area.width()):
            widths = [max(i.sizeHint().width(), i.minimumSize().width()) for i in row]
            spare = area.width() - sum(widths) - self.gap * (len(row) - 1)
            if self.stretch and spare > 0:
                extra = [spare // len(row)] * len(row)
                extra[-1] += spare - sum(extra)
                widths = [w + e for w, e in zip(widths, extra, strict=True)]
            height = max(i.sizeHint().height() for i in row)
            x = area.x()
            for item, width in zip(row, widths, strict=True):
                if move:
                    item.setGeometry(QRect(QPoint(x, y), QSize(width, height)))
                x += width + self.gap
            y += height + self.gap
        return y - self.gap - rect.y() + margins.bottom() if self.items else 0


def fixed_height_for_width(widget) -> None:
    """A widget whose height follows its width (what a FlowLayout inside it needs from the layout above)."""
    policy = widget.sizePolicy()
    policy.setHeightForWidth(True)
    policy.setVerticalPolicy(QSizePolicy.Policy.Preferred)
    widget.setSizePolicy(policy)
