"""Runs functions off the GUI thread (QThreadPool) and hands results or errors in words back through signals."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal

# Queries (short, many) and long jobs (backups, restores, exports) get their own pools, so that a restore waiting
# for locks can never hold up the polling of a run.
QUERIES = QThreadPool()
QUERIES.setMaxThreadCount(4)
LONG_JOBS = QThreadPool()
LONG_JOBS.setMaxThreadCount(2)


_import_lock = threading.Lock()
_imported = False


def ensure_pipeline() -> None:
    """Import the pipeline package (and luigi) once, under a lock: luigi's circular imports fail when two threads
    import it at the same time. Every job calls this first; GUI-thread code that needs the package does too."""
    global _imported
    if _imported:
        return
    with _import_lock:
        if not _imported:
            import pipeline
            import pipeline.backup
            import pipeline.config
            import pipeline.explore
            import pipeline.tables
            import pipeline.warehouse  # noqa: F401

            # The modules just imported (luigi, pandas, SQLAlchemy) live as long as the app: without this, every
            # full collection would scan their objects again, holding the GIL (and so the window) ~0.1 s each time.
            gc.freeze()
            _imported = True


class Refused(Exception):  # noqa: N818 - what the app tells the user happened, not an error of ours
    """A failure whose message is already written for the user (shown as it is)."""


def describe_error(exc: BaseException) -> str:
    """One line a user can read: what failed and, where we know it, what to do (the command line's own handler,
    pipeline.errors.explain, in the app's words)."""
    ensure_pipeline()
    from pipeline import errors

    if isinstance(exc, Refused):  # already in the user's words
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    line = errors.explain(exc, app=True).line
    return line[:1].upper() + line[1:]


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Job(QRunnable):
    """One call of a function in a pool thread; its result or error comes back as a signal on the GUI thread."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict):
        super().__init__()
        self.function, self.args, self.kwargs = function, args, kwargs
        self.signals = _Signals()
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        try:
            ensure_pipeline()
            result = self.function(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the screen in words
            self.seconds = time.perf_counter() - started
            self.signals.failed.emit(describe_error(exc))
        else:
            self.seconds = time.perf_counter() - started
            self.signals.done.emit(result)


_running: set[Job] = set()


def submit(
    owner: QObject,
    function: Callable,
    *args,
    done: Callable[[Any], None] | None = None,
    failed: Callable[[str], None] | None = None,
    pool: QThreadPool | None = None,
    **kwargs,
) -> Job:
    """Run function(*args, **kwargs) in a pool; call done(result) or failed(message) on the GUI thread, but only
    while owner (the widget that asked) still exists."""
    job = Job(function, args, kwargs)
    job.setAutoDelete(False)
    _running.add(job)

    def finish(callback, value):
        _running.discard(job)
        if callback is not None and shiboken6.isValid(owner):
            callback(value)

    job.signals.done.connect(lambda result: finish(done, result), Qt.ConnectionType.QueuedConnection)
    job.signals.failed.connect(lambda message: finish(failed, message), Qt.ConnectionType.QueuedConnection)
    (pool or QUERIES).start(job)
    return job


_early: dict[str, Job] = {}


def start_early(key: str, function: Callable) -> None:
    """Start a load before the widget that shows it exists (at app start, while the widgets are being made)."""
    job = Job(function, (), {})
    job.setAutoDelete(False)
    job.outcome, job.consumer = None, None

    def arrived(kind: str, value) -> None:  # on the GUI thread
        _running.discard(job)
        job.outcome = (kind, value)
        if job.consumer is not None:
            job.consumer()

    job.signals.done.connect(lambda result: arrived("done", result), Qt.ConnectionType.QueuedConnection)
    job.signals.failed.connect(lambda message: arrived("failed", message), Qt.ConnectionType.QueuedConnection)
    _early[key] = job
    _running.add(job)  # alive until its result arrived, whoever holds it meanwhile
    QUERIES.start(job)


def take_early(owner: QObject, key: str, done: Callable, failed: Callable) -> bool:
    """Hand the result of start_early(key) to done/failed (now or when it arrives); False if none was started."""
    job = _early.pop(key, None)
    if job is None:
        return False

    def deliver() -> None:
        kind, value = job.outcome
        if shiboken6.isValid(owner):
            (done if kind == "done" else failed)(value)

    if job.outcome is not None:
        QTimer.singleShot(0, deliver)
    else:
        job.consumer = deliver
    return True


def busy() -> int:
    """Jobs started and not yet reported back."""
    return len(_running)


def wait_all(timeout_ms: int = 60000) -> bool:
    """Wait for every pool thread to finish (tests and shutdown)."""
    return QUERIES.waitForDone(timeout_ms) and LONG_JOBS.waitForDone(timeout_ms)
