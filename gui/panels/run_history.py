"""The run history of the Pipeline panel: ops.task_runs grouped by run, and task durations over runs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSplitter, QWidget

from .. import formats, queries, workers
from ..models import Column, RowsModel
from ..time_chart import TimeChart
from .common import Box, fit_columns, pivot, table_view

RUN_COLUMNS = [
    Column("Run", "run_id"),
    Column("Started", "started_at", formats.when),
    Column("State", "status", colored=True),
    Column("Tasks", "tasks", formats.count),
    Column("Failed", "failed", formats.count),
    Column("Duration", "seconds", formats.seconds),
    Column("Rows loaded", "rows_loaded", formats.count),
    Column("Quarantined", "rows_quarantined", formats.count),
    Column("Host", "host"),
]
FAMILIES = {"HealTable": "Heal, per table", "LoadTable": "Load, per table", "Transform": "Transform"}


def load() -> dict:
    if "ops.run_summary" not in queries.existing("ops.run_summary"):
        return {"runs": [], "durations": []}
    return {"runs": queries.select("run_history").dicts(), "durations": queries.select("task_durations").dicts()}


class RunHistory(QSplitter):
    """Past runs (newest first) beside a chart of each task's duration over the runs."""

    run_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data: dict = {"runs": [], "durations": []}
        self.runs = RowsModel(RUN_COLUMNS, self)
        self.view = table_view(self.runs)
        self.view.clicked.connect(lambda index: self.run_selected.emit(self.runs.row(index.row())["run_id"]))
        self.family = QComboBox()
        for key, label in FAMILIES.items():
            self.family.addItem(label, key)
        self.family.currentIndexChanged.connect(self._draw)
        self.chart = TimeChart("Task durations over runs", "seconds", date_format="%m-%d %H:%M", per_run=True)
        self.chart.add_control(self.family)
        self.addWidget(Box("Run history", self.view))
        self.addWidget(self.chart)
        self.setSizes([600, 440])

    def refresh(self, then: Callable[[list[dict]], None] | None = None) -> None:
        def shown(data: dict) -> None:
            self.data = data
            self.runs.set_rows(data["runs"])
            fit_columns(self.view, 220)
            self._draw()
            if then is not None:
                then(data["runs"])

        workers.submit(self, load, done=shown)

    def _draw(self) -> None:
        family = self.family.currentData()
        rows = [r for r in self.data["durations"] if r["task_family"] == family]
        if not rows:
            self.chart.show_message("No finished runs yet")
            return
        for r in rows:
            r["task"] = r["table_name"] or r["task_family"]
        starts, series = pivot(rows, "run_started", "task", "seconds")
        self.chart.set_series(starts, series)
