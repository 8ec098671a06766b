"""GUI-thread stalls: a QTimer heartbeat records the gaps between its ticks; a watchdog thread names the culprits."""

from __future__ import annotations

import statistics
import sys
import threading
import time
import traceback
from collections import Counter

from PySide6.QtCore import QObject, Qt, QTimer


def _queued() -> float:
    """Seconds the calling thread has spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat") as found:
            return int(found.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class StallMeter(QObject):
    """Ticks every `interval` ms on the GUI thread while started; a stall is a gap between ticks minus the interval.

    Two figures per gap: the wall-clock stall, and the app's own part of it: less the time the GUI thread was ready
    to run but waited for a CPU that other processes held (the kernel's run-queue time). On a shared 2-core machine
    under load the first measures the machine; the second what the app's code did: its work on the GUI thread, the
    GIL held by its other threads, a query waited for on the GUI thread (waiting on a lock or a socket is no queue).

    While it runs, a watchdog thread looks at the GUI thread every 10 ms: when the last tick is older than `blocked`
    seconds, it records the GUI thread's Python stack (where the time goes), so a long gap comes with its cause."""

    def __init__(self, interval: int = 10, blocked: float = 0.08, parent=None):
        super().__init__(parent)
        self.interval = interval
        self.blocked = blocked
        self.gaps: list[float] = []  # seconds between consecutive ticks
        self.ends: list[float] = []  # perf_counter() of each tick
        self.queued: list[float] = []  # seconds of each gap the GUI thread waited for a CPU
        self.samples: Counter[str] = Counter()
        self.calls: list[tuple[float, str, float]] = []  # stack of the blocked GUI thread -> times seen
        self.timer = QTimer(self, interval=interval)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gui_thread = threading.get_ident()
        self.watching = False
        self.watchdog: threading.Thread | None = None

    def start(self) -> None:
        self.gaps.clear()
        self.ends.clear()
        self.queued.clear()
        self.samples.clear()
        self.last_queued = _queued()
        self.last = time.perf_counter()
        self.timer.start()
        self.watching = True
        self.watchdog = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)
        self.watchdog.start()

    def stop(self) -> None:
        self.timer.stop()
        self.watching = False
        if self.watchdog is not None:
            self.watchdog.join()
            self.watchdog = None

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.ends.append(now)
        self.last = now
        queued = _queued()
        self.queued.append(queued - self.last_queued)
        self.last_queued = queued

    def _watch(self) -> None:
        while self.watching:
            time.sleep(0.01)
            if time.perf_counter() - self.last > self.blocked:
                frame = sys._current_frames().get(self.gui_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-12:]
                    self.samples[
                        " < ".join(f"{f.name} ({f.filename.split('/')[-1]}:{f.lineno})" for f in stack[::-1])
                    ] += 1

    def time_calls(self, owner: object, name: str, label: str) -> None:
        """Record how long each later call of owner.name takes (on any thread): (perf_counter() at its end, label,
        ms) in self.calls. Only calls looked up after this (slots connected later, callbacks made later)."""
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                self.calls.append((ended, label, (ended - began) * 1000))

        setattr(owner, name, timed)

    def stalls_ms(self, own: bool = False) -> list[float]:
        """Each gap's stall in ms (own: less the time the GUI thread waited for a CPU)."""
        if own:
            return [
                max(0.0, (gap - queued) * 1000 - self.interval)
                for gap, queued in zip(self.gaps, self.queued, strict=True)
            ]
        return [max(0.0, gap * 1000 - self.interval) for gap in self.gaps]

    def figures(self) -> dict[str, float]:
        """max, p99 and median stall in ms (wall clock, and own_max/own_p99: the app's own part), how many ticks."""
        found: dict[str, float] = {"ticks": float(len(self.gaps))}
        for prefix, own in (("", False), ("own_", True)):
            stalls = sorted(self.stalls_ms(own)) or [0.0]
            found[prefix + "max"] = stalls[-1]
            found[prefix + "p99"] = stalls[min(len(stalls) - 1, int(len(stalls) * 0.99))]
            found[prefix + "median"] = statistics.median(stalls)
        return found

    def worst(self, count: int = 5, since: float = 0.0) -> list[tuple[float, float, float]]:
        """The longest stalls: (seconds after `since` (a perf_counter()) when each ended, stall ms, own part ms)."""
        found = zip(self.ends, self.stalls_ms(), self.stalls_ms(own=True), strict=True)
        return [
            (round(end - since, 2), round(wall), round(own))
            for end, wall, own in sorted(found, key=lambda f: -f[1])[:count]
        ]

    def culprits(self, top: int = 8) -> str:
        """The GUI thread's stacks seen while it was blocked, most frequent first (each sample is ~10 ms)."""
        return "\n".join(f"{count:4d} x {stack}" for stack, count in self.samples.most_common(top))
