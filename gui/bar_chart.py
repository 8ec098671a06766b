"""Bar charts: bars per category, one colour per series, grouped or stacked, vertical or horizontal."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Signal

from . import style
from .chart_axes import CategoryAxis, ValueAxis
from .charts import Chart


class BarChart(Chart):
    """Bars per category, one colour per series, grouped or stacked, vertical or horizontal."""

    category_clicked = Signal(str)  # a click on a category's bars (a drill-down, where the panel offers one)

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
        self.plot.scene().sigMouseClicked.connect(self._clicked)

    def set_bars(self, categories: list[str], series: dict[str, list]) -> None:
        if not categories or not series:
            self.show_message("No data yet")
            return
        if self.unchanged(list(categories), {name: list(values) for name, values in series.items()}):
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

    def category_at(self, point) -> str | None:
        """The category whose bars stand at a point of the plot (in its own coordinates)."""
        i = round(point.y() if self.horizontal else point.x())
        return self.categories[i] if self.series and 0 <= i < len(self.categories) else None

    def _clicked(self, event) -> None:
        box = self.plot.getPlotItem().vb
        if box.sceneBoundingRect().contains(event.scenePos()):
            category = self.category_at(box.mapSceneToView(event.scenePos()))
            if category is not None:
                self.category_clicked.emit(category)

    def hover_text(self, point) -> str:
        i = round(point.y() if self.horizontal else point.x())
        if not 0 <= i < len(self.categories):
            return ""
        lines = [f"<b>{html.escape(self.categories[i])}</b>"]
        lines += [self._swatch(n, name, values[i]) for n, (name, values) in enumerate(self.series.items())]
        return "<br>".join(lines)
