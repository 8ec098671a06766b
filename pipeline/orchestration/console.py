"""What a run shows on the terminal: one line per failure; Luigi's log and tracebacks go to a file (the progress
lines: progress)."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .. import config

FILE_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s"


def command_line() -> str:
    """The command that started the run, as its user typed it (luigi's and our own entry points by name)."""
    program = sys.argv[0].replace("\\", "/")
    if program.endswith("luigi/__main__.py"):
        program = "luigi"
    elif program.endswith("pipeline/__main__.py"):
        program = "python -m pipeline"
    else:
        program = os.path.basename(program) or "python"
    return " ".join([program, *sys.argv[1:]])[:500]


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or config.debug()


def log_path(run_id: str) -> Path:
    """The run's log, beside its report: reports/<run_id>.log."""
    from ..report import report_dir

    return report_dir() / f"{run_id}.log"


SUMMARY = "===== Luigi Execution Summary ====="
# What Luigi's summary says of tasks this worker left to others (luigid shares a graph between workers)
LEFT_TO_OTHERS = {
    "were being run by another worker": "were being run by another worker",
    "was not granted run permission by the scheduler": "were not granted run permission by the scheduler",
}


def _left_to_others(message: str) -> list[str]:
    if not message.startswith(f"\n{SUMMARY}"):
        return []
    return [said for text, said in LEFT_TO_OTHERS.items() if text in message]


class _Terminal(logging.Filter):
    """The pipeline's own warnings, errors of Luigi itself (not a task's failure: the task's one line says it),
    and from Luigi's summary only whether tasks were left to another worker."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("pipeline"):
            return record.levelno >= logging.WARNING
        if _left_to_others(record.getMessage()):
            return True
        return record.levelno >= logging.ERROR and not record.getMessage().startswith("[pid ")


class _OneLine(logging.Formatter):
    """The message's first line and the exception's, never a traceback (the log file has it)."""

    def __init__(self, log_file: Path):
        super().__init__()
        self.log_file = log_file

    def format(self, record: logging.LogRecord) -> str:
        left = _left_to_others(record.getMessage())
        if left:
            return (
                f"some tasks {' and some '.join(left)}: each task runs once, in one of the workers sharing "
                "the scheduler; python -m pipeline runs shows what each did"
            )
        lines = record.getMessage().strip().splitlines() or [""]
        text = lines[0]
        if record.exc_info and record.exc_info[1] is not None:
            from ..errors import first_line

            exc = record.exc_info[1]
            text += f" {type(exc).__name__}: {first_line(exc)} (details in {self.log_file})"
        return f"{record.levelname}: {text}" if record.levelno >= logging.ERROR else text


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.errors += 1


_installed: dict[str, Any] = {}


def setup(run_id: str, debug: bool = False) -> Path:
    """Log everything to the run's log file; on the terminal only what a user needs (everything with debug)."""
    import luigi.setup_logging

    path = log_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in _installed.get("handlers", []):  # a second run in this process logs to its own file
        root.removeHandler(handler)
    file = logging.FileHandler(path, encoding="utf-8", delay=True)
    file.setFormatter(logging.Formatter(FILE_FORMAT))
    terminal = logging.StreamHandler(sys.stderr)
    if debug:
        terminal.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    else:
        terminal.setLevel(logging.INFO)  # Luigi's summary is INFO: _Terminal keeps only what a user needs
        terminal.addFilter(_Terminal())
        terminal.setFormatter(_OneLine(path))
    counter = _Counter()
    for handler in (file, terminal, counter):
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    _installed.update(handlers=[file, terminal, counter], counter=counter, path=path)
    luigi.setup_logging.InterfaceLogging._configured = True  # Luigi adds no handler of its own
    return path


def errors_logged() -> int:
    counter = _installed.get("counter")
    return counter.errors if isinstance(counter, _Counter) else 0


def hook_luigi_command() -> None:
    """Under the `luigi` command, the same terminal as `python -m pipeline run`, unless the user asked for Luigi's
    own logging (--log-level, --logging-conf-file, or luigi.cfg's logging settings, which Luigi applies first)."""
    from luigi.setup_logging import InterfaceLogging

    from . import markers

    if not command_line().startswith("luigi ") or "--log-level" in sys.argv:
        return

    def quiet(cls, opts) -> bool:
        path = setup(markers.run_id(), debug=debug_requested([]))  # PIPELINE_DEBUG=1: luigi has no --debug
        atexit.register(_point_at_log, path)
        return True

    InterfaceLogging._default = classmethod(quiet)  # type: ignore[method-assign,assignment]  # on purpose


def _point_at_log(path: Path) -> None:
    if errors_logged() and path.exists():
        print(f"the full log, with tracebacks: {path}", file=sys.stderr, flush=True)
