"""The small dialog of a release: why, and for a correction the column and its new value."""

from __future__ import annotations

import getpass

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit


class ResolveDialog(QDialog):
    """Release a held row as it is, or (with `fields`) correct one value and release it."""

    def __init__(self, table: str, key: str, fields: dict | None = None, parent=None):
        super().__init__(parent)
        self.correcting = fields is not None
        self.fields = fields or {}
        self.setWindowTitle("Correct and release" if self.correcting else "Release")
        self.setObjectName("resolveDialog")
        form = QFormLayout(self)
        form.addRow(
            QLabel(
                f"{table} {key} goes to clean at the next run"
                + (" with the corrected value." if self.correcting else ", as it arrived.")
            )
        )
        self.column = QComboBox()
        self.value = QLineEdit(placeholderText="empty: no value")
        if self.correcting:
            self.column.addItems(list(self.fields))
            self.column.currentTextChanged.connect(self._column_chosen)
            form.addRow("Column", self.column)
            form.addRow("New value", self.value)
            self._column_chosen(self.column.currentText())
        self.why = QLineEdit(placeholderText="why (kept with the resolution)")
        form.addRow("Why", self.why)
        form.addRow("Who", QLabel(getpass.getuser()))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(
            "Correct and release" if self.correcting else "Release"
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.why.textChanged.connect(self._ready)
        form.addRow(self.buttons)
        self._ready()

    def _column_chosen(self, column: str) -> None:
        value = self.fields.get(column)
        self.value.setText("" if value is None else str(value))

    def _ready(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.why.text().strip()))

    def corrections(self) -> dict | None:
        if not self.correcting:
            return None
        return {self.column.currentText(): self.value.text() or None}
