"""The run log of the app: when Stop interrupts several processes at once, their KeyboardInterrupt dumps, even
interleaved line by line, are left out; any other traceback is shown whole."""

from __future__ import annotations

from gui.panels.run_log import RunLog

FIRST = ["Process Process-2:", "Traceback (most recent call last):", '  File "a.py", line 1, in run', "    run()"]
SECOND = ["Process Process-3:", "Traceback (most recent call last):", '  File "b.py", line 9, in heal', "    heal()"]


def test_interleaved_interrupt_dumps_of_two_processes_are_hidden_and_other_lines_kept(qtbot):
    log = RunLog()
    qtbot.addWidget(log)
    log.add("[ 1/23] LoadTable(table=branches) done\n")
    log.interrupting = True
    # The second process's dump ends first, inside the first one's; the rest of the first follows alone.
    lines = FIRST[:2] + SECOND + ["KeyboardInterrupt"] + FIRST[2:] + ["KeyboardInterrupt", "Stopped."]
    log.add("\n".join(lines) + "\n")
    log.flush()
    shown = log.view.toPlainText()
    assert "File" not in shown and "KeyboardInterrupt" not in shown and "Traceback" not in shown, shown
    assert shown.splitlines() == ["[ 1/23] LoadTable(table=branches) done", "Stopped."]
    assert log.hidden_tracebacks == 2


def test_a_traceback_that_is_not_an_interrupt_is_shown_whole(qtbot):
    log = RunLog()
    qtbot.addWidget(log)
    log.interrupting = True
    crash = ["Traceback (most recent call last):", '  File "c.py", line 3, in load', "    load()", "ValueError: bad"]
    log.add("\n".join(crash) + "\n")
    log.flush()
    assert log.view.toPlainText().splitlines() == crash
