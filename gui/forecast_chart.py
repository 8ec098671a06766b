"""One claim type's forecast chart: monthly history, the forecast line and its 80% interval band, the backtest."""

from __future__ import annotations

import bisect
import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from . import formats
from .chart_axes import epoch
from .charts import Chart

HISTORY = "#2f6fed"
FORECAST = "#f08c2e"


def mape_text(model: float | None, naive: float | None) -> str:
    """'backtest MAPE 8.1% · seasonal naive 11.4%' (a dash where a figure is missing)."""
    return (
        f"backtest MAPE {formats.percent(model) if model is not None else formats.DASH} · "
        f"seasonal naive {formats.percent(naive) if naive is not None else formats.DASH}"
    )


class ForecastChart(Chart):
    """History as a solid line, the forecast dashed from the last whole month on, the interval as a band."""

    def __init__(self, title: str, kind: str = "count", parent=None):
        super().__init__(title, kind, bottom=pg.DateAxisItem("bottom", utcOffset=0), parent=parent)
        self.xs: list[float] = []
        self.dates: list = []
        self.forecast_months: list = []
        self.mape = ""
        self.note = ""
        self.band: pg.FillBetweenItem | None = None

    def show_note(self, note: str) -> None:
        """No forecast for this type: the reason, in place of the lines."""
        self.forecast_months, self.mape, self.note, self.band = [], "", note, None
        self.show_message(note)
        self.legend.setText(f"<i>{html.escape(note)}</i>")
        self.legend.show()

    def set_forecast(self, history: list[tuple], forecast: list[tuple], mape: str) -> None:
        """history: (month, value); forecast: (month, mean, low, high); mape: the backtest beside seasonal naive."""
        self._reset()
        self.note, self.mape = "", mape
        self.forecast_months = [f[0] for f in forecast]
        self.dates = [h[0] for h in history] + self.forecast_months
        self.xs = [epoch(d) for d in self.dates]
        self.series = {
            "History": [h[1] for h in history] + [None] * len(forecast),
            "Forecast": [None] * len(history) + [f[1] for f in forecast],
            "80% interval": [None] * len(history) + [f"{self._fmt(f[2])} – {self._fmt(f[3])}" for f in forecast],
        }
        self.plot.addItem(self.cursor, ignoreBounds=True)
        past = [epoch(h[0]) for h in history]
        self.plot.plot(past, [float(h[1]) for h in history], pen=pg.mkPen(HISTORY, width=2))
        # the forecast starts from the last whole month, so that the two lines join
        joined = history[-1:] and [(history[-1][0], history[-1][1], history[-1][1], history[-1][1])]
        ahead = joined + list(forecast)
        xs = [epoch(f[0]) for f in ahead]
        band, edge = QColor(FORECAST), QColor(FORECAST)
        band.setAlpha(55)
        edge.setAlpha(110)
        low = self.plot.plot(xs, [float(f[2]) for f in ahead], pen=pg.mkPen(edge, width=1))  # a band needs edges
        high = self.plot.plot(xs, [float(f[3]) for f in ahead], pen=pg.mkPen(edge, width=1))
        self.band = pg.FillBetweenItem(low, high, brush=band)
        self.plot.addItem(self.band)
        self.plot.plot(
            xs,
            [float(f[1]) for f in ahead],
            pen=pg.mkPen(FORECAST, width=2, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=5,
            symbolBrush=FORECAST,
            symbolPen=None,
        )
        self.legend.setText(
            f"<span style='color:{HISTORY}'>&#9632;</span>&nbsp;history &nbsp; "
            f"<span style='color:{FORECAST}'>&#9632;</span>&nbsp;forecast, 80%&nbsp;interval&nbsp;shaded"
            f"<br><b>{html.escape(mape)}</b>"
        )
        self.legend.show()
        values = [float(h[1]) for h in history] + [float(f[3]) for f in forecast]
        self.plot.setXRange(self.xs[0], self.xs[-1], padding=0.02)
        self.plot.setYRange(0, max(values + [0]) * 1.08 or 1, padding=0)

    def _fmt(self, value) -> str:
        return formats.axis(self.kind)(value)

    def hover_text(self, point) -> str:
        if not self.xs:
            return ""
        i = min(bisect.bisect_left(self.xs, point.x()), len(self.xs) - 1)
        if i > 0 and point.x() - self.xs[i - 1] < self.xs[i] - point.x():
            i -= 1
        self.cursor.setPos(self.xs[i])
        lines = [f"<b>{self.dates[i]:%b %Y}</b>"]
        for name, values in self.series.items():
            if values[i] is not None:
                shown = values[i] if isinstance(values[i], str) else self._fmt(values[i])
                lines.append(f"{html.escape(name)}: <b>{html.escape(shown)}</b>")
        return "<br>".join(lines)
