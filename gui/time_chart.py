"""Time charts: lines or stacked areas over months (UTC date axis) or over runs (evenly spaced)."""

from __future__ import annotations

import bisect
import datetime
import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from . import style
from .chart_axes import CategoryAxis, ValueAxis, epoch
from .charts import Chart


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
            axis.setStyle(autoExpandTextSpace=True)  # a fixed width drops labels wider than it ("$100.0K")
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
        if self.unchanged(list(dates), {name: list(values) for name, values in series.items()}, right, partial_last):
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
