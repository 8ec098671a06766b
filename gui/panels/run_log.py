"""The log of a run started from the app: the process output as it comes, DEBUG lines hidden unless asked for."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QPlainTextEdit

from .common import Box

KEPT = 20000  # lines of output kept (the view shows them; older ones are dropped)


class RunLog(Box):
    def __init__(self, parent=None):
        self.view = QPlainTextEdit(readOnly=True)
        self.view.setMaximumBlockCount(KEPT)
        self.view.setPlaceholderText("The output of a run started here appears here.")
        self.debug = QCheckBox("Debug lines")
        self.debug.setToolTip("Show Luigi's DEBUG lines (scheduling details)")
        super().__init__("Log", self.view, self.debug, parent=parent)
        self.debug.toggled.connect(self._show_all)
        self.lines: list[str] = []
        self.partial = ""

    def clear(self) -> None:
        self.lines, self.partial = [], ""
        self.view.clear()

    def add(self, text: str) -> None:
        """Output as it arrives (possibly ending inside a line)."""
        text = self.partial + text
        complete, _, self.partial = text.rpartition("\n")
        if not complete:
            return
        new = complete.split("\n")
        self.lines = (self.lines + new)[-KEPT:]
        shown = [line for line in new if self._shown(line)]
        if shown:
            bar = self.view.verticalScrollBar()
            following = bar.value() >= bar.maximum() - 2  # at the end: keep following the output
            self.view.appendPlainText("\n".join(shown))
            if following:
                bar.setValue(bar.maximum())

    def flush(self) -> None:
        """The process ended: show a last line without its newline."""
        if self.partial:
            self.add("\n")

    def _shown(self, line: str) -> bool:
        return self.debug.isChecked() or not line.startswith("DEBUG:")

    def _show_all(self) -> None:
        self.view.setPlainText("\n".join(line for line in self.lines if self._shown(line)))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

    def toPlainText(self) -> str:  # noqa: N802 - as QPlainTextEdit's: every line, shown or not
        return "\n".join(self.lines + ([self.partial] if self.partial else []))
