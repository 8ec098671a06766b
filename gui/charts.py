"""The chart base on pyqtgraph: a titled box with a plot, a legend line and a label that follows the mouse."""

from __future__ import annotations

import html

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from . import formats, style
from .chart_axes import ValueAxis

# Charts given new data paint one per turn of the event loop, not all in the window's next paint: five charts of a
# page redrawn at once held the GUI thread 0.1 s (0.4-0.7 s on a loaded machine) at the end of every run.
_to_paint: list[pg.PlotWidget] = []
_painter: list[QTimer] = []  # the one timer, made when first needed (after the QApplication)


def _paint_next() -> None:
    while _to_paint:
        plot = _to_paint.pop(0)
        if shiboken6.isValid(plot):
            plot.setUpdatesEnabled(True)  # schedules its paint, alone, at the next turn
            break
    if _to_paint:
        _painter[0].start()


def paint_in_turn(plot: pg.PlotWidget) -> None:
    """Paint plot at its turn, after the plots held before it (see _to_paint)."""
    if plot not in _to_paint:
        plot.setUpdatesEnabled(False)
        _to_paint.append(plot)
    if not _painter:
        _painter.append(QTimer(singleShot=True, interval=0))
        _painter[0].timeout.connect(_paint_next)
    if not _painter[0].isActive():
        _painter[0].start()


class _Plot(pg.PlotWidget):
    """A plot that asks for little room: the layout, not the plot, decides its size."""

    def sizeHint(self):
        return QSize(320, 200)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.isVisible():  # a banner shown or hidden over the page resizes every chart: one paint per turn
            paint_in_turn(self)


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
        self.drawn: tuple | None = None  # what the last set_* call drew (see unchanged)
        self.plot.scene().sigMouseMoved.connect(self._moved)

    def add_control(self, widget) -> None:
        """A widget (a choice of what to show) at the right of the title."""
        self.head.addWidget(widget)

    def unchanged(self, *drawn) -> bool:
        """True when asked to draw what the chart shows already (a refresh during a run that changed nothing
        here): the caller skips the work. Otherwise remembers it, and holds the plot's paint for its turn."""
        if drawn == self.drawn:
            return True
        self.drawn = drawn
        paint_in_turn(self.plot)
        return False

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
        self.drawn = None
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
