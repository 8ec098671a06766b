"""The app's date range (all time, last 12 months, year to date, or chosen days), kept in the settings."""

from __future__ import annotations

import datetime

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QComboBox, QDateEdit, QHBoxLayout, QLabel, QWidget

from . import queries, workers
from .preferences import AppSettings

CHOICES = {"all": "All time", "12m": "Last 12 months", "ytd": "Year to date", "custom": "Custom"}
DateRange = tuple[datetime.date | None, datetime.date | None]  # inclusive; None: open on that side
LATEST_SQL = """
    SELECT greatest((SELECT max(claim_date)::date FROM clean.claims),
                    (SELECT max(transaction_date)::date FROM clean.payments))"""


def bounds(choice: str, latest: datetime.date, start: datetime.date, end: datetime.date) -> DateRange | None:
    """The days a choice covers; None for all time. The quick picks end at `latest`, the warehouse's last day of
    data: a warehouse loaded from an export is as of that export, and the months after it would all be empty."""
    if choice == "12m":
        first = latest.replace(day=1)
        return first.replace(year=first.year - 1 + (first.month == 12), month=first.month % 12 + 1), latest
    if choice == "ytd":
        return latest.replace(month=1, day=1), latest
    if choice == "custom":
        return min(start, end), max(start, end)
    return None


def latest_day() -> datetime.date | None:
    """The last day of claims or payments in the warehouse (None before the first run)."""
    if not {"clean.claims", "clean.payments"} <= queries.existing("clean.claims", "clean.payments"):
        return None
    from .explore_jobs import first_value  # the worker's own session: no new connection per question

    return first_value(LATEST_SQL)


class DateRangeBar(QWidget):
    """'Dates: [All time v]' with from/to fields for a custom range; says which days a quick pick covers."""

    changed = Signal()

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.setObjectName("dateBar")
        self.settings = settings
        self.latest = datetime.date.today()
        self.choice = QComboBox()
        for key, text in CHOICES.items():
            self.choice.addItem(text, key)
        self.start, self.end = QDateEdit(calendarPopup=True), QDateEdit(calendarPopup=True)
        for edit in (self.start, self.end):
            edit.setDisplayFormat("yyyy-MM-dd")
        stored = settings.value("date_range") or "all"
        self.choice.setCurrentIndex(max(self.choice.findData(stored), 0))
        self.start.setDate(_qdate(settings.value("date_from")) or QDate.currentDate().addYears(-1))
        self.end.setDate(_qdate(settings.value("date_to")) or QDate.currentDate())
        self.span = QLabel(objectName="muted")
        row = QHBoxLayout(self)
        row.setContentsMargins(24, 8, 24, 0)
        row.addWidget(QLabel("Dates"))
        row.addWidget(self.choice)
        self.from_label, self.to_label = QLabel("from"), QLabel("to")
        for widget in (self.from_label, self.start, self.to_label, self.end):
            row.addWidget(widget)
        row.addWidget(self.span)
        row.addStretch(1)
        self.choice.currentIndexChanged.connect(self._chosen)
        self.start.dateChanged.connect(self._chosen)
        self.end.dateChanged.connect(self._chosen)
        self._show_fields()

    def set_choice(self, key: str, start: datetime.date | None = None, end: datetime.date | None = None) -> None:
        """Choose as a user would (tests, screenshots)."""
        for edit, day in ((self.start, start), (self.end, end)):
            if day is not None:
                edit.blockSignals(True)
                edit.setDate(QDate(day.year, day.month, day.day))
                edit.blockSignals(False)
        if self.choice.currentData() == key:
            self._chosen()
        else:
            self.choice.setCurrentIndex(self.choice.findData(key))

    def bounds(self) -> DateRange | None:
        """The days chosen for the warehouse's data (quick picks end at its last day of claims or payments)."""
        return bounds(self.choice.currentData(), self.latest, self.start.date().toPython(), self.end.date().toPython())

    def run_bounds(self) -> DateRange | None:
        """The days chosen for the history of runs, which happen in the present: quick picks end today."""
        today = datetime.date.today()
        return bounds(self.choice.currentData(), today, self.start.date().toPython(), self.end.date().toPython())

    def learn_latest(self, always: bool = True) -> None:
        """Ask the warehouse for its last day of data (the quick picks end there), off the GUI thread; when not
        `always`, only if a quick pick is chosen (a run announces many changes: all time needs no answer)."""
        if always or self.choice.currentData() in ("12m", "ytd"):
            workers.submit(self, latest_day, done=self._learnt)

    def _learnt(self, day: datetime.date | None) -> None:
        day = day or datetime.date.today()
        if day != self.latest:
            self.latest = day
            self._show_fields()
            if self.choice.currentData() in ("12m", "ytd"):
                self.changed.emit()

    def _chosen(self) -> None:
        key = self.choice.currentData()
        self.settings.set("date_range", key)
        if key == "custom":
            self.settings.set("date_from", self.start.date().toString("yyyy-MM-dd"))
            self.settings.set("date_to", self.end.date().toString("yyyy-MM-dd"))
        self._show_fields()
        self.changed.emit()

    def _show_fields(self) -> None:
        custom = self.choice.currentData() == "custom"
        for widget in (self.from_label, self.start, self.to_label, self.end):
            widget.setVisible(custom)
        found = self.bounds()
        self.span.setText("" if found is None or custom else f"{found[0]:%Y-%m-%d} to {found[1]:%Y-%m-%d}")


def _qdate(text: str) -> QDate | None:
    found = QDate.fromString(text, "yyyy-MM-dd")
    return found if found.isValid() else None
