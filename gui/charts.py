"""The chart base on pyqtgraph: a titled box with a plot, a legend line and a label that follows the mouse."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from . import formats, style
from .chart_axes import ValueAxis


class _Plot(pg.PlotWidget):
    """A plot that asks for little room: the layout, not the plot, decides its size."""

    def sizeHint(self):
        return QSize(320, 200)


class Chart(QFrame):
    """A titled white box with a plot, a legend line and a label that follows the mouse with the values."""

    def __init__(
        self,
        title: str,
        kind: str = "count",
        bottom: pg.AxisItem | None = None,
        left: pg.AxisItem | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.setObjectName("panelBox")
        self.kind = kind
        self.title = QLabel(title, objectName="chartTitle")
        self.title.setWordWrap(True)  # a narrow chart wraps its title rather than widening the page
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(120)
        self.legend = QLabel(objectName="muted")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.hide()
        self.plot = _Plot(
            axisItems={"bottom": bottom or pg.AxisItem("bottom"), "left": left or ValueAxis(kind, "left")}
        )
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTextPen(style.MUTED)
            self.plot.getAxis(side).setPen(style.BORDER)
        self.plot.getAxis("left").setWidth(58)
        self.plot.setMinimumHeight(150)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.hover = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(255, 255, 255, 235), border=pg.mkPen(style.BORDER))
        self.hover.setZValue(100)
        self.hover.hide()
        self.message = pg.TextItem(color=style.MUTED, anchor=(0.5, 0.5))
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(style.BORDER, width=1))  # follows the mouse (time charts)
        self.cursor.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(4)
        self.head = QHBoxLayout()
        self.head.addWidget(self.title, 1)
        layout.addLayout(self.head)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self.series: dict[str, list[float]] = {}
        self.plot.scene().sigMouseMoved.connect(self._moved)

    def add_control(self, widget) -> None:
        """A widget (a choice of what to show) at the right of the title."""
        self.head.addWidget(widget)

    def _reset(self) -> None:
        self.plot.clear()
        self.plot.addItem(self.hover, ignoreBounds=True)
        self.hover.hide()

    def set_legend(self, names: list[str]) -> None:
        self.legend.setVisible(len(names) > 1)
        self.legend.setText(
            " &nbsp; ".join(
                f"<span style='color:{style.colour(n)}'>&#9632;</span>&nbsp;{html.escape(n).replace(' ', '&nbsp;')}"
                for i, n in enumerate(names)
            )
            if len(names) > 1
            else ""
        )

    def show_message(self, text: str) -> None:
        """No data: say so in the middle of the plot instead of drawing empty axes."""
        self._reset()
        self.series = {}
        if hasattr(self, "curves"):
            self.curves = {}
        self.set_legend([])
        self.message.setText(text)
        self.plot.addItem(self.message, ignoreBounds=True)
        self.plot.setXRange(0, 1)
        self.plot.setYRange(0, 1)
        self.message.setPos(0.5, 0.5)

    def _moved(self, position) -> None:
        box = self.plot.getPlotItem().vb
        text = ""
        if self.series and box.sceneBoundingRect().contains(position):
            point = box.mapSceneToView(position)
            text = self.hover_text(point)
        if not text:
            self.hover.hide()
            self.cursor.hide()
            return
        self.hover.setHtml(f"<div style='color:{style.TEXT}; font-size:9pt'>{text}</div>")
        area = box.sceneBoundingRect()
        right = position.x() > area.center().x()
        lower = position.y() > area.center().y()
        self.hover.setAnchor((1.0 if right else 0.0, 1.0 if lower else 0.0))
        self.hover.setPos(point)
        self.hover.show()
        self.cursor.setVisible(self.cursor.scene() is not None)

    def hover_text(self, point) -> str:
        raise NotImplementedError

    def _swatch(self, index: int, name: str, value) -> str:
        color = style.colour(name)
        return (
            f"<span style='color:{color}'>&#9632;</span> {html.escape(name)}: "
            f"<b>{formats.axis(self.kind)(value) if value is not None else formats.DASH}</b>"
        )
