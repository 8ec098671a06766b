"""The list of releases and corrections, with Revoke; and asking for one (the dialog, answered or cancelled)."""

from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .. import formats, resolving, workers
from ..models import Column, RowsModel
from .common import button, fit_columns, table_view
from .resolve_dialog import ResolveDialog

COLUMNS = [
    Column("#", "id"),
    Column("Table", "table_name"),
    Column("Key", "record_key"),
    Column("Action", "action"),
    Column("Values", "corrections", lambda v: json.dumps(v) if v else ""),
    Column("Status", "status", cell_tip="outcome_detail"),
    Column("By", "resolved_by"),
    Column("When", "resolved_at", formats.text),
    Column("Why", "why"),
]


def ask_resolution(parent, table: str, key: str, fields: dict | None) -> tuple[str, dict | None] | None:
    """Why (and the correction, when `fields` are given), or None when the user cancelled."""
    dialog = ResolveDialog(table, key, fields, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.why.text().strip(), dialog.corrections()


class ResolutionsBox(QWidget):
    """Every resolution, newest first, with what the last heal did with it; the selected one can be revoked."""

    changed = Signal(str)  # a resolution was revoked: what to tell the user

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loads = 0
        self.model = RowsModel(COLUMNS, self)
        self.view = table_view(self.model)
        self.view.selectionModel().currentRowChanged.connect(lambda *_: self._enable())
        self.revoke_button = button("Revoke", tooltip="the next run checks the row again (and holds it back)")
        self.revoke_button.clicked.connect(lambda: self.revoke())
        self.notice = QLabel(objectName="muted", wordWrap=True)
        row = QHBoxLayout()
        row.addWidget(self.notice, 1)
        row.addWidget(self.revoke_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        self._enable()

    def refresh(self) -> None:
        workers.submit(self, resolving.load_resolutions, done=self._show, failed=self.notice.setText)

    def _show(self, rows: list[dict]) -> None:
        self.model.set_rows(rows)
        fit_columns(self.view, 220)
        self.notice.setText(
            f"{len(rows)} resolutions; each is applied by every heal of its table" if rows else "No resolutions yet"
        )
        self._enable()
        self.loads += 1

    def selected(self) -> dict | None:
        index = self.view.currentIndex()
        return self.model.row(index.row()) if index.isValid() else None

    def _enable(self) -> None:
        chosen = self.selected()
        self.revoke_button.setEnabled(bool(chosen and chosen["status"] != "revoked"))

    def revoke(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        self.revoke_button.setEnabled(False)
        workers.submit(
            self,
            resolving.revoke,
            chosen["id"],
            pool=workers.LONG_JOBS,
            done=lambda done: self.changed.emit(
                f"Resolution #{done['id']} revoked: the next run checks {done['table']} {done['key']} again."
            ),
            failed=lambda message: self.notice.setText(f"Not revoked: {message}"),
        )
