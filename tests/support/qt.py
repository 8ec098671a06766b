"""Helpers of the app's tests (Qt): import only where PySide6 is installed."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox


def answer_next_dialog(button=QMessageBox.StandardButton.Yes) -> list[str]:
    """Click a button of the next modal message box, as a user would; its text lands in the returned list."""
    seen: list[str] = []

    def click():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)
    return seen
