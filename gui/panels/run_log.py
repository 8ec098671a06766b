"""The log of a run started from the app: the process output as it comes, DEBUG lines hidden unless asked for."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QCheckBox, QPlainTextEdit

from .common import Box

PROCESS_HEADER = re.compile(r"^Process[- ]\S*:$")  # multiprocessing's line before a worker's traceback
CONTINUED = (
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
)
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
        self.interrupting = False  # Stop was asked: the interrupted processes' KeyboardInterrupt tracebacks are noise
        self.block: list[str] | None = None
        self.hidden_tracebacks = 0

    def clear(self) -> None:
        self.lines, self.partial = [], ""
        self.interrupting, self.block, self.hidden_tracebacks = False, None, 0
        self.view.clear()

    def _without_interrupts(self, lines: list[str]) -> list[str]:
        """The lines without the tracebacks that end in KeyboardInterrupt (what Stop's SIGINT makes every process of
        the run print): a stopped run reads as stopped, not as a crash. Other tracebacks stay."""
        kept = []
        for line in lines:
            if self.block is None:
                # Two processes interrupted at once interleave their dumps: a frame line out of a block starts one.
                if line.startswith(("Traceback (most recent call last)", '  File "')) or PROCESS_HEADER.match(line):
                    self.block = [line]
                else:
                    kept.append(line)
                continue
            self.block.append(line)
            if not line or line[0].isspace() or line.startswith(CONTINUED) or PROCESS_HEADER.match(line):
                continue
            if line.startswith("KeyboardInterrupt"):
                self.hidden_tracebacks += 1
            else:
                kept.extend(self.block)
            self.block = None
        return kept

    def add(self, text: str) -> None:
        """Output as it arrives (possibly ending inside a line)."""
        text = self.partial + text
        complete, _, self.partial = text.rpartition("\n")
        if not complete:
            return
        new = complete.split("\n")
        if self.interrupting:
            new = self._without_interrupts(new)
            if not new:
                return
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
        if self.block is not None:  # an unfinished traceback: shown, unless it is an interrupt's
            block, self.block = self.block, None
            if not any(line.startswith("KeyboardInterrupt") for line in block):
                self.interrupting = False
                self.add("\n".join(block) + "\n")
            else:
                self.hidden_tracebacks += 1

    def _shown(self, line: str) -> bool:
        return self.debug.isChecked() or not line.startswith("DEBUG:")

    def _show_all(self) -> None:
        self.view.setPlainText("\n".join(line for line in self.lines if self._shown(line)))
        self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())

    def toPlainText(self) -> str:  # noqa: N802 - as QPlainTextEdit's: every line, shown or not
        return "\n".join(self.lines + ([self.partial] if self.partial else []))
