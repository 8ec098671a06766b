"""The pipeline's own error type: a one-line message naming what is wrong, and a hint saying what to do."""
from __future__ import annotations


class PipelineError(Exception):
    """An error the user can act on; its message is one line and `hint` says what to do next."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}; {self.hint}" if self.hint and self.hint not in text else text
