"""Overview panel: KPI cards from analytics.kpis and the business charts from the analytics views."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QStackedWidget, QVBoxLayout, QWidget

from .. import formats, overview_range, workers
from ..bar_chart import BarChart
from ..flow import FlowLayout
from ..time_chart import TimeChart
from .common import Card, Message, Panel, button, header, page_layout, pivot

RISK_BANDS = ["Low", "Medium", "High"]
# What the book holds now, whatever the date range; the loss ratio by type follows the range.
ALL_TIME_CHARTS = {
    "policies_chart": "Policies by type and status",
    "segments_chart": "Customers by segment and risk band",
}
LOSS_TITLE = "Loss ratio by policy type"


def partial(months: list, through) -> str:
    """'data to <day>' when the last month's data stops before that month ends, else ''."""
    import calendar
    import datetime

    if not months or through is None:
        return ""
    last = months[-1]
    last = last.date() if isinstance(last, datetime.datetime) else last
    end = last.replace(day=calendar.monthrange(last.year, last.month)[1])
    return f"data to {through:%Y-%m-%d}" if last.replace(day=1) <= through < end else ""


class OverviewPanel(Panel):
    title = "Overview"
    run_requested = Signal()  # the empty state's "Run pipeline"

    def __init__(self, dates=lambda: None, parent=None):
        super().__init__(parent)
        self.dates = dates  # the app's date range: (first, last day) or None for all time
        self.data: dict = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.pages = QStackedWidget()
        outer.addWidget(self.pages)

        self.loading = Message("Loading…", "Reading the warehouse.")
        self.empty = Message(
            "No analytics yet",
            "The warehouse has no analytics yet. Run the pipeline to load the source files, heal "
            "them and build the figures shown here.",
            "Run pipeline",
        )
        self.empty.action.clicked.connect(self.run_requested)
        self.failure = Message("Cannot read the warehouse", "", "Try again", secondary="Open Settings")
        self.failure.action.clicked.connect(self.refresh)
        self.failure.secondary.clicked.connect(self.settings_requested)
        self.content = self._build_content()
        for page in (self.loading, self.content, self.empty, self.failure):
            self.pages.addWidget(page)

    def _build_content(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)  # never cut off: scroll instead
        page = QWidget(objectName="page")
        layout = page_layout(page)
        self.subtitle = QLabel()
        refresh = button("Refresh")
        refresh.clicked.connect(self.refresh)
        layout.addLayout(header("Overview", self.subtitle, refresh))

        self.cards = {
            "customers": Card("Customers", "clean records"),
            "policies": Card("Policies", ""),
            "claims": Card("Claims", "clean records"),
            "premium_collected_usd": Card("Premium", "collected, USD"),
            "claims_paid_usd": Card("Claims paid", "USD, net of refunds"),
            "loss_ratio": Card("Loss ratio", "paid ÷ collected"),
            "data_quality_score": Card("Data quality", "raw rows kept"),
        }
        self.card_row = QWidget()
        row = FlowLayout(self.card_row, spacing=10)  # cards wrap to a second row on a narrow window
        for card in self.cards.values():
            row.addWidget(card)
        layout.addWidget(self.card_row)

        self.claims_chart = TimeChart("Claims per month by type", "count", stacked=True)
        self.premium_chart = TimeChart("Premium per month (USD)", "money")
        self.policies_chart = BarChart("Policies by type and status", "count", stacked=True, horizontal=True)
        self.segments_chart = BarChart("Customers by segment and risk band", "count", stacked=True, horizontal=True)
        self.loss_chart = BarChart(LOSS_TITLE, "percent", horizontal=True)
        grid = QGridLayout()
        grid.setSpacing(12)
        grid.addWidget(self.claims_chart, 0, 0, 1, 3)
        grid.addWidget(self.premium_chart, 0, 3, 1, 3)
        grid.addWidget(self.policies_chart, 1, 0, 1, 2)
        grid.addWidget(self.segments_chart, 1, 2, 1, 2)
        grid.addWidget(self.loss_chart, 1, 4, 1, 2)
        for column in range(6):
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        layout.addLayout(grid, 1)
        scroll.setWidget(page)
        return scroll

    def refresh(self) -> None:
        super().refresh()
        if not self.data:
            self.pages.setCurrentWidget(self.loading)
        dates = self.dates()
        if dates is not None or not workers.take_early(self, "overview", done=self._show, failed=self._fail):
            workers.submit(self, overview_range.overview, dates, done=self._show, failed=self._fail)

    def _fail(self, message: str) -> None:
        self.failure.show_text("Cannot read the warehouse", message)
        self.pages.setCurrentWidget(self.failure)
        self.load_failed.emit(message)

    def _show(self, data: dict) -> None:
        if self.shows_already(data, self.data, self.failure):
            self.finish_load()
            return
        self.data = data
        if data["empty"]:
            self.empty.show_text(
                "No analytics yet",
                f"The warehouse ({data['where']}) has no analytics yet. Run the pipeline to load "
                "the source files, heal them and build the figures shown here.",
            )
            self.pages.setCurrentWidget(self.empty)
            self.finish_load()
            return
        k = data["kpis"] or {}
        self.subtitle.setText(
            f"Analytics built {formats.when(k.get('built_at'))}"
            + (f" by run {k['latest_run_id']}" if k.get("latest_run_id") else "")
            + f" · latest heal {formats.when(k.get('last_healed_at'))}"
        )
        self.subtitle.setToolTip(f"Warehouse: {data['where']}")
        self.cards["customers"].set(formats.count(k.get("customers")))
        self.cards["policies"].set(
            formats.count(k.get("policies")), f"{formats.count(k.get('active_policies'))} active"
        )
        self.cards["claims"].set(formats.count(k.get("claims")))
        self.cards["premium_collected_usd"].set(formats.money(k.get("premium_collected_usd")))
        self.cards["claims_paid_usd"].set(formats.money(k.get("claims_paid_usd")))
        self.cards["loss_ratio"].set(formats.percent(k.get("loss_ratio")))
        self.cards["data_quality_score"].set(formats.percent(k.get("data_quality_score")))
        for key in ("premium_collected_usd", "claims_paid_usd"):
            self.cards[key].setToolTip(formats.money_exact(k.get(key)))
        self._show_range_kpis(data.get("range_kpis"))

        through = data.get("data_through") or {}
        months, claims = pivot(data["claims_by_month"], "month", "claim_type", "claims")
        self.claims_chart.set_series(months, claims, partial_last=partial(months, through.get("claims")))
        premium = data["premium_by_month"]
        if through.get("payments") is not None:  # months after the last payment have no collections yet: not zeros
            last = through["payments"].replace(day=1)
            premium = [r for r in premium if (r["month"].date() if hasattr(r["month"], "date") else r["month"]) <= last]
        premium_months = [r["month"] for r in premium]
        self.premium_chart.set_series(
            premium_months,
            {"Written": [r["written_usd"] for r in premium], "Collected": [r["collected_usd"] for r in premium]},
            right=("Collected",),
            partial_last=partial(premium_months, through.get("payments")),
        )
        types, statuses = pivot(data["policies_by_type_status"], "policy_type", "status", "policies")
        self.policies_chart.set_bars(types, statuses)
        segments, bands = pivot(data["customer_segments"], "segment", "risk_band", "customers", RISK_BANDS)
        self.segments_chart.set_bars(segments, bands)
        losses = data["loss_ratio_by_type"]
        self.loss_chart.set_bars([r["policy_type"] for r in losses], {"Loss ratio": [r["loss_ratio"] for r in losses]})
        self.pages.setCurrentWidget(self.content)
        self.finish_load()

    def _show_range_kpis(self, r: dict | None) -> None:
        """The cards a date range changes: what happened within it (the others are the warehouse's as a whole)."""
        notes = {"claims": "clean records", "premium_collected_usd": "collected, USD"}
        notes |= {"claims_paid_usd": "USD, net of refunds", "loss_ratio": "paid ÷ collected"}
        for chart, title in ALL_TIME_CHARTS.items():  # the warehouse as it stands: a date range does not cut them
            getattr(self, chart).title.setText(title + (" (all time)" if r is not None else ""))
        self.loss_chart.title.setText(LOSS_TITLE + (" (in range)" if r is not None else ""))
        if r is None:
            for key, note in notes.items():
                self.cards[key].note.setText(note)
            return
        start, end = self.data["range"]
        span = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
        self.cards["claims"].set(formats.count(r["claims"]), "filed in range")
        self.cards["policies"].set(formats.count(r["policies_started"]), "started in range")
        self.cards["premium_collected_usd"].set(formats.money(r["premium_collected_usd"]), "collected in range")
        self.cards["claims_paid_usd"].set(formats.money(r["claims_paid_usd"]), "paid in range")
        self.cards["loss_ratio"].set(formats.percent(r["loss_ratio"]), "in range")
        for key in ("premium_collected_usd", "claims_paid_usd"):
            self.cards[key].setToolTip(formats.money_exact(r[key]))
        self.subtitle.setText(self.subtitle.text() + f" · figures from {span}")
