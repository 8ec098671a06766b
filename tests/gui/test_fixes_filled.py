"""Fixes of issue 16 seen on a warehouse filled by a real run: export, layout at 1024x700, ..."""
from __future__ import annotations

import csv

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from ..conftest import scalar


def wait_loaded(qtbot, panel, before: int = 0, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: panel.loads > before, timeout=timeout)


def fill_next_file_dialog(path: str) -> list[str]:
    """Type a file name into the next file dialog and accept it, as a user would; its title lands in the list."""
    seen: list[str] = []

    def answer():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QFileDialog):
            seen.append(dialog.windowTitle())
            dialog.selectFile(path)
            dialog.accept()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    return seen


def test_export_csv_button_asks_where_and_writes_the_file(filled_url, window, qtbot, tmp_path):
    panel = window.show_panel("Data quality")
    wait_loaded(qtbot, panel)
    browser = panel.open_quarantine()
    qtbot.waitUntil(lambda: browser.loads >= 1, timeout=30000)
    target = tmp_path / "held.csv"
    dialogs = fill_next_file_dialog(str(target))
    browser.export_button.click()
    qtbot.waitUntil(lambda: browser.last_export is not None or "failed" in browser.count.text(), timeout=30000)
    assert dialogs == ["Export quarantined records"]
    assert "failed" not in browser.count.text(), browser.count.text()
    total = scalar(filled_url, "SELECT count(*) FROM quality.quarantine")
    with open(target, newline="") as f:
        assert len(list(csv.DictReader(f))) == total == browser.last_export[1]
