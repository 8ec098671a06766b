"""Forked Luigi workers die with the process that forked them, so that no task commits after its run has ended."""

from __future__ import annotations

import ctypes
import multiprocessing.util
import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class _Parent:
    """Registered with multiprocessing in the parent; its after-fork hook runs in each forked worker."""

    def __init__(self):
        self.pid = os.getpid()


_parent: _Parent | None = None


def install() -> None:
    """Every multiprocessing child of this process (Luigi's task processes) gets SIGKILL when this process ends.

    Killing only the `luigi` or `python -m pipeline run` process would otherwise leave its workers running: they
    would go on and commit after the run lock died with the parent. multiprocessing's own after-fork hook runs in
    Luigi's task processes only, not in the programs a task starts (the embedded PostgreSQL must outlive it).
    """
    global _parent
    if _parent is None or _parent.pid != os.getpid():
        _parent = _Parent()
        multiprocessing.util.register_after_fork(_parent, _die_with)


def _die_with(parent: _Parent) -> None:
    # The signal comes when the thread that forked ends: Luigi forks from the thread that runs the build.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: no such call
        return
    if os.getppid() != parent.pid:  # the parent died before prctl took effect: nobody would signal us
        os.kill(os.getpid(), signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
