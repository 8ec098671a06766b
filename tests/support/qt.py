"""Helpers of the app's tests (Qt): import only where PySide6 is installed."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget


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


def fill_next_dialog(kind: type, fill: Callable[[QWidget], None]) -> list[str]:
    """Fill the next modal dialog of `kind` as a user would (fill(dialog) types and clicks); its window title lands
    in the returned list."""
    seen: list[str] = []

    def answer():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            seen.append(dialog.windowTitle())
            fill(dialog)
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    return seen
