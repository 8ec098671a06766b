"""The Explorer's export: a file dialog, then explore.export in a worker thread behind a cancellable progress dialog."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from .. import explore_jobs, formats, workers

FORMATS = {"CSV files (*.csv)": ".csv", "Parquet files (*.parquet)": ".parquet"}


class _Progress(QObject):
    """Made on the GUI thread: the worker's emits arrive there queued."""

    moved = Signal(int, int)


def ask_path(parent: QWidget, suggested: str) -> str:
    """The file the user names (with .csv or .parquet, after the type chosen when the name has neither), or ''."""
    path, chosen = QFileDialog.getSaveFileName(parent, "Export rows", suggested, ";;".join(FORMATS))
    if path and Path(path).suffix.lower() not in FORMATS.values():
        path += FORMATS.get(chosen, ".csv")
    return path


class Export(QObject):
    """One export: shows its progress, can be cancelled, and reports the rows written or why it stopped."""

    finished = Signal(str, int)  # path, rows written
    stopped = Signal(str)  # why: cancelled, or the error in words

    def __init__(self, parent: QWidget, selection, dates, path: str, expected: int | None):
        super().__init__(parent)
        self.path, self.percent = path, 0
        self.cancelled = threading.Event()
        rows = f"{formats.count(expected)} rows" if expected is not None else "the rows"
        self.dialog = QProgressDialog(f"Exporting {rows} to {Path(path).name}…", "Cancel", 0, 100, parent)
        self.dialog.setWindowTitle("Export")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancelled.set)
        self.dialog.setValue(0)
        self.progress = _Progress(self)
        self.progress.moved.connect(self._moved)
        workers.submit(
            self,
            explore_jobs.export,
            selection,
            dates,
            path,
            self.progress.moved.emit,
            self.cancelled,
            pool=workers.LONG_JOBS,
            done=self._done,
            failed=self._failed,
        )

    def _moved(self, done: int, total: int) -> None:
        self.percent = max(self.percent, 100 if total == 0 else min(100, done * 100 // total))
        self.dialog.setValue(self.percent)
        self.dialog.setLabelText(f"Exported {formats.count(done)} of {formats.count(total)} rows…")

    def _done(self, rows: int) -> None:
        self.dialog.hide()  # not close(): QProgressDialog's closeEvent counts as a cancel
        self.finished.emit(self.path, rows)

    def _failed(self, message: str) -> None:
        self.dialog.hide()
        self.stopped.emit(
            "Export cancelled: no file written" if self.cancelled.is_set() else f"Export failed: {message}"
        )
