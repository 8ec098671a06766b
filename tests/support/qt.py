"""Helpers of the app's tests (Qt): import only where PySide6 is installed."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QFileSystemModel, QLineEdit, QMessageBox, QWidget


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


def fill_next_file_dialog(path: str) -> list[str]:
    """Choose a folder and type a file name into the next file dialog, then accept it, as a user would; its title
    lands in the returned list.

    The dialog lists a folder in the background and, once it is listed, puts its suggested name back into the name
    field: typed before that, the name is lost and the suggested file is written. So the name is typed once the
    chosen folder is listed (2 s at most), and accepted once the field still holds it a moment later."""
    folder, name = os.path.split(path)
    seen: list[str] = []
    tries = [0]

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(20, answer)
            return
        seen.append(dialog.windowTitle())
        listed: list[str] = []
        model = dialog.findChild(QFileSystemModel)
        if model is not None:
            model.directoryLoaded.connect(listed.append)
        dialog.setDirectory(folder)
        QTimer.singleShot(50, lambda: type_name(dialog, listed))

    def type_name(dialog: QFileDialog, listed: list[str]) -> None:
        tries[0] += 1
        if not any(os.path.samefile(p, folder) for p in listed if os.path.exists(p)) and tries[0] < 40:
            QTimer.singleShot(50, lambda: type_name(dialog, listed))
            return
        field = dialog.findChild(QLineEdit, "fileNameEdit")
        field.setText(name)
        QTimer.singleShot(150, lambda: confirm(dialog, field))

    def confirm(dialog: QFileDialog, field: QLineEdit) -> None:
        tries[0] += 1
        if (field.text() != name or dialog.selectedFiles() != [path]) and tries[0] < 80:
            field.setText(name)
            QTimer.singleShot(150, lambda: confirm(dialog, field))
            return
        dialog.accept()

    QTimer.singleShot(20, answer)
    return seen
