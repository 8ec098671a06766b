"""Claims forecast panel: per claim type, the monthly history, six months ahead with an 80% band, the backtest."""

from __future__ import annotations

import contextlib
import datetime

from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QScrollArea, QStackedWidget, QWidget

from .. import queries, workers
from ..forecast_chart import ForecastChart, mape_text
from .common import Message, Panel, header, page_layout

HISTORY_MONTHS = 36  # of history drawn before the forecast (a decade would squeeze the six months ahead)
METRICS = {
    "claims": ("Claims per month", "count", "claims"),
    "amount": ("Claim amount per month", "money", "total_amount"),
}
COLUMNS = 3
FORECAST_SQL = "SELECT * FROM analytics.claims_forecast ORDER BY claim_type, month"
HISTORY_SQL = """
    SELECT month, claim_type, claims, total_amount FROM analytics.claims_trends
    WHERE month < coalesce((SELECT min(month) FROM analytics.claims_forecast), 'infinity')
      AND month >= coalesce((SELECT min(month) FROM analytics.claims_forecast), 'infinity'::date) - %s * interval '1 month'
    ORDER BY month"""


def load() -> dict:
    """The forecast table's rows and, for the types it forecasts, the months of history just before the forecast."""
    if "analytics.claims_forecast" not in queries.existing("analytics.claims_forecast", "analytics.claims_trends"):
        return {"empty": True}
    with contextlib.closing(queries.connect()) as conn, conn.cursor() as cur:
        cur.execute(FORECAST_SQL)
        names = [d.name for d in cur.description]
        forecast = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        cur.execute(HISTORY_SQL, (HISTORY_MONTHS,))
        history = [dict(zip(("month", "claim_type", "claims", "total_amount"), r, strict=True)) for r in cur.fetchall()]
    return {"empty": not forecast, "forecast": forecast, "history": history}


def history_of(rows: list[dict], claim_type: str, column: str, before: datetime.date) -> list[tuple]:
    """(month, value) for every month of the HISTORY_MONTHS before the forecast, 0 where no claim was filed."""
    values = {r["month"]: r[column] for r in rows if r["claim_type"] == claim_type}
    months = []
    month = before
    for _ in range(HISTORY_MONTHS):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
        months.append(month)
    return [(m, values.get(m, 0)) for m in reversed(months)]


class ForecastPanel(Panel):
    title = "Forecast"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict = {}
        self.charts: dict[str, ForecastChart] = {}
        layout = page_layout(self)
        self.subtitle = QLabel(
            "Six months ahead per claim type (Holt-Winters, from analytics.claims_forecast), with the 80% interval; "
            "each type's backtest error over its last 12 months beside seasonal naive's."
        )
        self.metric = QComboBox()
        for key, (text, _, _) in METRICS.items():
            self.metric.addItem(text, key)
        self.metric.currentIndexChanged.connect(self._draw)
        layout.addLayout(header("Claims forecast", self.subtitle, self.metric))
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)
        self.empty = Message("No forecast yet", "Run the pipeline: Transform builds analytics.claims_forecast.")
        self.failure = Message("Cannot read the forecast", "", "Try again")
        self.failure.action.clicked.connect(self.refresh)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.grid_page = QWidget(objectName="page")
        self.grid = QGridLayout(self.grid_page)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(12)
        for column in range(COLUMNS):
            self.grid.setColumnStretch(column, 1)
        scroll.setWidget(self.grid_page)
        self.content = scroll
        for page in (self.content, self.empty, self.failure):
            self.pages.addWidget(page)

    def refresh(self) -> None:
        super().refresh()
        workers.submit(self, load, done=self._show, failed=self._fail)

    def _fail(self, message: str) -> None:
        self.failure.show_text("Cannot read the forecast", message)
        self.pages.setCurrentWidget(self.failure)
        self.load_failed.emit(message)

    def _show(self, data: dict) -> None:
        self.data = data
        if data["empty"]:
            self.pages.setCurrentWidget(self.empty)
            self.finish_load()
            return
        types = list(dict.fromkeys(r["claim_type"] for r in data["forecast"]))
        if list(self.charts) != types:
            for chart in self.charts.values():
                chart.deleteLater()
            self.charts = {}
            for i, name in enumerate(types):
                chart = ForecastChart(name)
                chart.setMinimumHeight(260)
                self.grid.addWidget(chart, i // COLUMNS, i % COLUMNS)
                self.charts[name] = chart
            self.grid.setRowStretch((len(types) - 1) // COLUMNS + 1, 1)
        self.pages.setCurrentWidget(self.content)
        self._draw()
        self.finish_load()

    def _draw(self) -> None:
        if not self.data or self.data["empty"]:
            return
        metric = self.metric.currentData()
        _, kind, column = METRICS[metric]
        for name, chart in self.charts.items():
            rows = [r for r in self.data["forecast"] if r["claim_type"] == name]
            chart.kind = kind
            chart.plot.getAxis("left").kind = kind
            if rows[0]["month"] is None:  # no forecast: the table says why
                chart.show_note(rows[0]["note"] or "no forecast")
                continue
            ahead = [(r["month"], r[metric], r[f"{metric}_low"], r[f"{metric}_high"]) for r in rows]
            history = history_of(self.data["history"], name, column, rows[0]["month"])
            chart.set_forecast(history, ahead, mape_text(rows[0][f"{metric}_mape"], rows[0][f"{metric}_naive_mape"]))
