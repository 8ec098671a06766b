"""Chart widgets on pyqtgraph: time series with date axes and bar charts, with hover labels and formatted axes."""

from __future__ import annotations

import bisect
import calendar
import datetime
import html

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from . import formats, style


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


class TimeChart(Chart):
    """Lines (or stacked areas) over months, or over runs; hovering shows the x value and every series' value.

    Months are calendar dates on a date axis (in UTC, as stored). Runs (per_run) are instants that may be seconds
    or weeks apart: they stand evenly spaced, labelled with their local start time."""

    def __init__(
        self,
        title: str,
        kind: str = "count",
        stacked: bool = False,
        date_format: str = "%b %Y",
        per_run: bool = False,
        parent=None,
    ):
        self.per_run = per_run
        axis = CategoryAxis("bottom") if per_run else pg.DateAxisItem("bottom", utcOffset=0)
        super().__init__(title, kind, bottom=axis, parent=parent)
        self.run_axis = axis if per_run else None
        self.stacked, self.date_format, self.markers = stacked, date_format, per_run  # a dot per run
        self.xs: list[float] = []
        self.dates: list = []
        self.curves: dict[str, pg.PlotDataItem] = {}

    def _right_box(self) -> pg.ViewBox:
        """A second value axis on the right, for a series of another magnitude (its own ViewBox, same x)."""
        if getattr(self, "right_view", None) is None:
            item = self.plot.getPlotItem()
            self.right_view = pg.ViewBox()
            self.right_view.setMouseEnabled(x=False, y=False)
            axis = ValueAxis(self.kind, "right")
            axis.setTextPen(style.MUTED)
            axis.setPen(style.BORDER)
            axis.setWidth(58)
            item.layout.addItem(axis, 2, 3)
            item.scene().addItem(self.right_view)
            axis.linkToView(self.right_view)
            self.right_view.setXLink(item)
            self.right_axis = axis

            def follow() -> None:
                self.right_view.setGeometry(item.vb.sceneBoundingRect())
                self.right_view.linkedViewChanged(item.vb, self.right_view.XAxis)

            item.vb.sigResized.connect(follow)
            follow()
        return self.right_view

    def set_series(
        self, dates: list, series: dict[str, list], right: tuple[str, ...] = (), partial_last: str = ""
    ) -> None:
        """dates: the x values (dates); series: name -> values per date (None for no value). right: series drawn
        against an axis of their own on the right. partial_last: the last date holds part of its period only (the
        text says how much): lines reach it dashed, stacked areas leave it out; it is said under the chart."""
        if not dates or not series:
            self.show_message("No data yet")
            return
        if right or partial_last or getattr(self, "special", False):
            self.special = bool(right or partial_last)
            self._set_special(dates, series, right, partial_last)
            return
        # Lines of the same series are given their new points in place (cheaper than making them again).
        again = not self.stacked and list(series) == list(self.curves) and self.message.scene() is None
        if not again:
            self._reset()
            self.curves = {}
        self.dates, self.series = list(dates), series
        self.xs = [float(i) for i in range(len(dates))] if self.per_run else [epoch(d) for d in dates]
        if self.run_axis is not None:  # as many labels as fit the axis's width, never overlapping
            self.run_axis.set_labels([self._label(d) for d in dates], thin=True)
        if not again:
            self.plot.addItem(self.cursor, ignoreBounds=True)
        base = [0.0] * len(dates)
        previous = None
        for name, values in series.items():
            color = QColor(style.colour(name))
            ys = [float(v) if v is not None else float("nan") for v in values]
            if again:
                self.curves[name].setData(self.xs, ys, connect="finite")
            elif self.stacked:
                ys = [b + (0.0 if y != y else y) for b, y in zip(base, ys, strict=False)]
                curve = self.plot.plot(self.xs, ys, pen=pg.mkPen(color, width=1.2), name=name)
                fill = QColor(color)
                fill.setAlpha(150)
                lower = previous or self.plot.plot(self.xs, base, pen=None)
                self.plot.addItem(pg.FillBetweenItem(curve, lower, brush=fill))
                previous, base = curve, ys
            else:
                self.curves[name] = self.plot.plot(
                    self.xs,
                    ys,
                    pen=pg.mkPen(color, width=2),
                    name=name,
                    connect="finite",
                    symbol="o" if self.markers else None,
                    symbolSize=5,
                    symbolBrush=color,
                    symbolPen=None,
                )
        self.set_legend(list(series))
        if self.per_run:
            self.plot.setXRange(-0.5, len(self.xs) - 0.5, padding=0)
        elif self.xs[0] == self.xs[-1]:
            self.plot.setXRange(self.xs[0] - 3600, self.xs[0] + 3600, padding=0)
        else:
            self.plot.setXRange(self.xs[0], self.xs[-1], padding=0.02)
        shown = base if self.stacked else [float(v) for vs in series.values() for v in vs if v is not None]
        shown = [v for v in shown if v == v]
        self.plot.setYRange(min(shown + [0]), max(shown + [0]) * 1.08 or 1, padding=0)

    def _set_special(self, dates: list, series: dict[str, list], right: tuple[str, ...], partial_last: str) -> None:
        self._reset()
        self.curves = {}
        self.partial_note = ""
        if getattr(self, "right_view", None) is not None:
            self.right_view.clear()
        self.dates, self.series = list(dates), series
        self.xs = [epoch(d) for d in dates]
        self.plot.addItem(self.cursor, ignoreBounds=True)
        whole = len(dates) - 1 if partial_last and len(dates) > 1 else len(dates)
        base = [0.0] * whole
        previous = None
        left_values, right_values = [], []
        for name, values in series.items():
            color = QColor(style.colour(name))
            ys = [float(v) if v is not None else float("nan") for v in values]
            target = self._right_box() if name in right else self.plot.getPlotItem()
            (right_values if name in right else left_values).extend(y for y in ys if y == y)
            if self.stacked:
                ys = [b + (0.0 if y != y else y) for b, y in zip(base, ys[:whole], strict=False)]
                curve = self.plot.plot(self.xs[:whole], ys, pen=pg.mkPen(color, width=1.2), name=name)
                fill = QColor(color)
                fill.setAlpha(150)
                lower = previous or self.plot.plot(self.xs[:whole], base, pen=None)
                self.plot.addItem(pg.FillBetweenItem(curve, lower, brush=fill))
                previous, base = curve, ys
                continue
            line = pg.PlotDataItem(self.xs[:whole], ys[:whole], pen=pg.mkPen(color, width=2), connect="finite")
            target.addItem(line)
            self.curves[name] = line
            if whole < len(dates):  # the partial period: a dashed step to a hollow point
                tail = pg.PlotDataItem(
                    self.xs[whole - 1 :],
                    ys[whole - 1 :],
                    pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                    symbol="o",
                    symbolSize=6,
                    symbolBrush="w",
                    symbolPen=pg.mkPen(color),
                    symbolSkip=1,
                )
                target.addItem(tail)
        names = [f"{n} (right axis)" if n in right else n for n in series]
        self.set_legend(list(series))
        if right:
            self.legend.setText(
                self.legend.text().replace(
                    *[
                        (html.escape(n).replace(" ", "&nbsp;"), html.escape(f"{n} (right axis)").replace(" ", "&nbsp;"))
                        for n in right
                    ][0]
                )
            )
        if partial_last:
            self.partial_note = (
                f"last month partial ({partial_last}): dashed"
                if not self.stacked
                else f"last month partial ({partial_last}): not drawn"
            )
            self.legend.setText(self.legend.text() + f" &nbsp; <i>{html.escape(self.partial_note)}</i>")
            self.legend.show()
        del names
        self.plot.setXRange(self.xs[0], self.xs[whole - 1 if self.stacked else -1], padding=0.02)
        shown = base if self.stacked else left_values
        self.plot.setYRange(min(shown + [0]), max(shown + [0]) * 1.08 or 1, padding=0)
        if right:
            self.right_view.setYRange(min(right_values + [0]), max(right_values + [0]) * 1.08 or 1, padding=0)

    def _label(self, day) -> str:
        if isinstance(day, datetime.datetime) and day.tzinfo:
            day = day.astimezone(None if self.per_run else datetime.UTC)
        return day.strftime(self.date_format) if hasattr(day, "strftime") else str(day)

    def hover_text(self, point) -> str:
        i = bisect.bisect_left(self.xs, point.x())
        if i > 0 and (i == len(self.xs) or point.x() - self.xs[i - 1] < self.xs[i] - point.x()):
            i -= 1
        self.cursor.setPos(self.xs[i])
        lines = [f"<b>{self._label(self.dates[i])}</b>"]
        lines += [self._swatch(n, name, values[i]) for n, (name, values) in enumerate(self.series.items())]
        return "<br>".join(lines)


class BarChart(Chart):
    """Bars per category, one colour per series, grouped or stacked, vertical or horizontal."""

    def __init__(self, title: str, kind: str = "count", stacked: bool = False, horizontal: bool = False, parent=None):
        self.horizontal = horizontal
        self.categories_axis = CategoryAxis("left" if horizontal else "bottom")
        value_axis = ValueAxis(kind, "bottom" if horizontal else "left")
        if horizontal:
            super().__init__(title, kind, bottom=value_axis, left=self.categories_axis, parent=parent)
            self.plot.showGrid(x=True, y=False, alpha=0.15)
            self.plot.getPlotItem().invertY(True)
        else:
            super().__init__(title, kind, bottom=self.categories_axis, left=value_axis, parent=parent)
        self.stacked = stacked
        self.categories: list[str] = []

    def set_bars(self, categories: list[str], series: dict[str, list]) -> None:
        if not categories or not series:
            self.show_message("No data yet")
            return
        self._reset()
        self.categories, self.series = list(categories), series
        self.categories_axis.set_labels(self.categories)
        positions = list(range(len(categories)))
        base = [0.0] * len(categories)
        width = 0.7 if self.stacked else 0.8 / len(series)
        for i, (name, values) in enumerate(series.items()):
            heights = [float(v or 0) for v in values]
            offset = 0 if self.stacked else (i - (len(series) - 1) / 2) * width
            centers = [p + offset for p in positions]
            brush = pg.mkBrush(style.colour(name))
            if self.horizontal:
                item = pg.BarGraphItem(
                    x0=base if self.stacked else 0,
                    y=centers,
                    width=heights,
                    height=width,
                    brush=brush,
                    pen=pg.mkPen("w", width=0.5),
                )
            else:
                item = pg.BarGraphItem(
                    x=centers,
                    y0=base if self.stacked else 0,
                    height=heights,
                    width=width,
                    brush=brush,
                    pen=pg.mkPen("w", width=0.5),
                )
            self.plot.addItem(item)
            if self.stacked:
                base = [b + h for b, h in zip(base, heights, strict=False)]
        self.set_legend(list(series))
        tops = base if self.stacked else [float(v or 0) for vs in series.values() for v in vs]
        high, low = max(tops + [0]), min(tops + [0])
        span = (low * 1.05, high * (1.15 if self.horizontal else 1.08) or 1)  # room for the last tick's label
        extent = (-0.6, len(categories) - 0.4)
        if self.horizontal:
            self.plot.setXRange(*span, padding=0)
            self.plot.setYRange(*extent, padding=0)
        else:
            self.plot.setXRange(*extent, padding=0)
            self.plot.setYRange(*span, padding=0)

    def hover_text(self, point) -> str:
        i = round(point.y() if self.horizontal else point.x())
        if not 0 <= i < len(self.categories):
            return ""
        lines = [f"<b>{html.escape(self.categories[i])}</b>"]
        lines += [self._swatch(n, name, values[i]) for n, (name, values) in enumerate(self.series.items())]
        return "<br>".join(lines)
