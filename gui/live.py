"""Live updates: LISTEN on the warehouse for the pipeline's NOTIFY (pipeline.events), on a connection of its own.

The connection is made off the GUI thread (finding the warehouse may start the embedded server); then a
QSocketNotifier on its socket wakes the GUI thread only when the server sent something, and poll() reads what
arrived without blocking. A lost connection is made again (after 2 s, then up to every 30 s)."""

from __future__ import annotations

import contextlib
import time

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

from . import workers


def _listen(url: str):
    import psycopg2

    from pipeline import events

    conn = psycopg2.connect(url, application_name="insurance-app-listen", connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"LISTEN {events.CHANNEL}")
    return conn


def _open():
    from . import queries

    target = queries.url()
    return target, _listen(target)


class Listener(QObject):
    """Emits event(dict) for every announcement of the warehouse in use; connected(bool) when it (re)connects."""

    event = Signal(dict)
    connected = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.conn = None
        self.url: str | None = None
        self.notifier: QSocketNotifier | None = None
        self.generation = 0
        self.delay = 2000
        self.heard = 0  # announcements received (tests)
        self.last_heard = 0.0
        self.retry = QTimer(self, singleShot=True)
        self.retry.timeout.connect(self.start)

    def start(self) -> None:
        """(Re)connect to the warehouse the app uses now (called again when the settings change)."""
        self.stop()
        self.generation += 1
        generation = self.generation
        workers.submit(
            self,
            _open,
            done=lambda found: self._opened(found, generation),
            failed=lambda message: self._lost(generation),
        )

    def stop(self) -> None:
        self.retry.stop()
        if self.notifier is not None:
            self.notifier.setEnabled(False)
            self.notifier.deleteLater()
            self.notifier = None
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self.conn.close()
            self.conn = None

    def _opened(self, found, generation: int) -> None:
        url, conn = found
        if generation != self.generation:  # a newer start() was asked meanwhile
            conn.close()
            return
        self.url, self.conn, self.delay = url, conn, 2000
        self.notifier = QSocketNotifier(conn.fileno(), QSocketNotifier.Type.Read, self)
        self.notifier.activated.connect(self._readable)
        self.connected.emit(True)
        self._readable()  # anything that arrived between LISTEN and now

    def _lost(self, generation: int) -> None:
        if generation != self.generation:
            return
        self.stop()
        self.connected.emit(False)
        self.retry.start(self.delay)
        self.delay = min(self.delay * 2, 30000)

    def _readable(self, *args) -> None:
        import psycopg2

        from pipeline import events

        if self.conn is None:
            return
        try:
            self.conn.poll()
        except (psycopg2.Error, OSError):
            self._lost(self.generation)
            return
        while self.conn.notifies:
            notice = self.conn.notifies.pop(0)
            self.heard += 1
            self.last_heard = time.monotonic()
            self.event.emit(events.parse(notice.payload))
