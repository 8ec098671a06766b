"""The banner over every panel: the warehouse is mid-run, the last run failed or was stopped, or clean and analytics
come from different runs. Read from ops.runs and ops.markers (what the pipeline itself records)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel

from . import formats
from .panels.common import button


def load() -> dict:
    from . import queries

    present = queries.existing("ops.runs", "ops.markers")
    if present != {"ops.runs", "ops.markers"}:
        return {}
    return queries.select("warehouse_state").first() or {}


def words(state: dict) -> tuple[str, str]:
    """(kind, text): kind is 'running', 'failed' or 'mixed' (the colour), '' when there is nothing to say."""
    run, clean, analytics = state.get("last_run"), state.get("clean"), state.get("analytics")
    lines, kind = [], ""
    if run and run["status"] == "running":
        kind = "running"
        lines.append(
            f"A run is writing the warehouse: run {run['run_id']}, started {formats.when(run['started_at'])}"
            f" on {run.get('host') or '?'} ({run.get('command') or 'pipeline'}). The panels follow it live."
        )
    elif run and run["status"] in ("failed", "interrupted"):
        kind = "failed"
        what = "failed" if run["status"] == "failed" else "was stopped before it finished"
        lines.append(
            f"The last run ({run['run_id']}, started {formats.when(run['started_at'])}) {what}: "
            "see its tasks and log in Pipeline."
        )
    if (
        clean
        and analytics
        and clean["run_id"] != analytics["run_id"]
        and clean["completed_at"] > analytics["completed_at"]
    ):
        kind = kind or "mixed"
        lines.append(
            f"Clean tables come from run {clean['run_id']} ({formats.when(clean['completed_at'])}) but the "
            f"analytics from run {analytics['run_id']} ({formats.when(analytics['completed_at'])}): the "
            "Overview's figures are older than the data. Run the pipeline to bring them level."
        )
    return kind, "\n".join(lines)


COLOURS = {
    "running": ("#1e4fa8", "#eaf1fe", "#c7d8fb"),
    "failed": ("#b42318", "#fef3f2", "#fecdca"),
    "mixed": ("#93370d", "#fffaeb", "#fedf89"),
}


class Banner(QFrame):
    show_pipeline = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = ""
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = button("Open Pipeline")
        self.action.clicked.connect(self.show_pipeline)
        row = QHBoxLayout(self)
        row.setContentsMargins(24, 8, 24, 8)
        row.addWidget(self.text, 1)
        row.addWidget(self.action, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def set_state(self, state: dict) -> None:
        kind, text = words(state)
        if (kind, text) == (self.kind, self.text.text()):  # asked again and again during a run: no restyle
            return
        restyle, self.kind = kind != self.kind, kind
        self.text.setText(text)
        self.text.setToolTip(text)
        if self.kind and restyle:
            ink, paper, edge = COLOURS[self.kind]
            self.setStyleSheet(
                f"QFrame#banner {{ background: {paper}; border-bottom: 1px solid {edge}; }}"
                f"QLabel {{ color: {ink}; font-weight: 600; }}"
            )
        self.setVisible(bool(self.kind))
