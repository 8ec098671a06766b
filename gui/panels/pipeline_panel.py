"""Pipeline panel: Run and Stop a real Luigi run (a QProcess), its live tasks, progress and log, run history."""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QSpinBox, QSplitter

from .. import formats, workers
from ..models import Column, RowsModel
from ..preferences import AppSettings, scheduler_answers
from .common import Box, Panel, button, fit_columns, header, page_layout, table_view
from .pipeline_jobs import graph_tasks, read_run_log, run_report, run_state, scheduler_state
from .run_history import RunHistory
from .run_log import RunLog

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUN_LINE = re.compile(r"; run (\S+)\s*$", re.MULTILINE)  # cmd_run's first line: "warehouse: ...; run <id>"
TASK_COLUMNS = [
    Column("Task", "task_family"),
    Column("Table", "table_name"),
    Column("State", "status", colored=True),
    Column("Why", "reason"),
    Column("How", "how", cell_tip="how_why"),
    Column("Started", "started_at", formats.clock),
    Column("Duration", "seconds", formats.seconds),
    Column("Rows in", "rows_in", formats.count),
    Column("Rows out", "rows_out", formats.count),
    Column("Quarantined", "rows_quarantined", formats.count),
    Column("Error", "error", cell_tip="error"),
]


class PipelinePanel(Panel):
    title = "Pipeline"
    run_finished = Signal(bool)  # True when the run ended with exit code 0

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.process: QProcess | None = None
        self.run_id: str | None = None
        self.started = 0.0
        self.ran_on: tuple[str, str] | None = None  # the warehouse chosen when this panel last started a run
        self.total = 0
        self.polling = False
        self.last_exit: int | None = None
        self.stopping = False
        self.asked = self.answered = 0
        self.shown_run: str | None = None  # the run whose tasks (and log) are shown
        self.log_run: str | None = None
        self.config_dir = tempfile.TemporaryDirectory(prefix="insurance-app-")
        self.poll_timer = QTimer(self, interval=1000)
        self.poll_timer.timeout.connect(self.poll)
        self.kill_timer = QTimer(self, singleShot=True, interval=5000)
        self.kill_timer.timeout.connect(lambda: self._signal(signal.SIGKILL))

        layout = page_layout(self)
        self.subtitle = QLabel("Runs Transform and everything it needs (python -m pipeline run).")
        self.workers_box = QSpinBox(minimum=1, maximum=16, value=2, prefix="Workers: ")
        self.open_button = button("Scheduler page", tooltip="Open luigid's page in the browser")
        self.open_button.clicked.connect(self.open_scheduler)
        self.stop_button = button("Stop", "danger")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(lambda: self.stop())
        self.run_button = button("Run pipeline", "primary")
        self.run_button.clicked.connect(self.start)
        layout.addLayout(
            header("Pipeline", self.subtitle, self.workers_box, self.open_button, self.stop_button, self.run_button)
        )

        self.scheduler_state = QLabel("Scheduler: asking…", objectName="muted")  # which one runs use, checked often
        self.scheduler_state.setWordWrap(True)
        layout.addWidget(self.scheduler_state)
        self.scheduler_timer = QTimer(self, interval=5000)
        self.scheduler_timer.timeout.connect(self._check_scheduler)

        self.progress = QProgressBar(textVisible=False, maximum=1, value=0)
        self.progress.setFixedHeight(10)
        self.status = QLabel("No run started from here yet.", objectName="muted")
        self.status.setWordWrap(True)  # a long state wraps instead of being cut
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status_row = QHBoxLayout()
        status_row.addWidget(self.progress, 1)
        status_row.addWidget(self.status, 2)
        layout.addLayout(status_row)

        self.tasks = RowsModel(TASK_COLUMNS, self)
        self.body = QSplitter(Qt.Orientation.Vertical)
        layout.addWidget(self.body, 1)
        self.build_in_steps(self._build_body())

    def _build_body(self):
        self.task_view = table_view(self.tasks)
        self.report_button = button("Open run report", tooltip="The HTML report of the run shown (written if missing)")
        self.report_button.clicked.connect(self.open_report)
        self.report_button.setEnabled(False)
        self.tasks_box = Box("Tasks", self.task_view, self.report_button)
        self.log = RunLog()
        top = QSplitter()
        top.addWidget(self.tasks_box)
        top.addWidget(self.log)
        top.setSizes([700, 340])
        self.body.addWidget(top)
        yield
        self.history = RunHistory()
        self.history.run_selected.connect(self.show_run)
        self.body.addWidget(self.history)
        self.body.setSizes([380, 300])

    # -- loading what the warehouse knows
    def refresh(self) -> None:
        super().refresh()
        if not self.total:
            workers.submit(self, graph_tasks, done=self._graph)
        self.history.refresh(self._history_loaded)
        self._check_scheduler()
        self.scheduler_timer.start()

    def _check_scheduler(self) -> None:
        if not self.isVisible() and self.loads:
            return
        workers.submit(self, scheduler_state, self.settings, done=self._scheduler_checked)

    def _scheduler_checked(self, found: tuple[bool, str]) -> None:
        answers, address = found
        self.scheduler_answers = answers
        self.scheduler_state.setText(
            f"Scheduler: luigid at {address} answers, runs started here use it"
            if answers
            else f"Scheduler: local (no luigid answers at {address}), runs started here use a local scheduler"
        )
        self.open_button.setEnabled(answers)
        self.open_button.setToolTip(
            f"Open luigid's page at http://{address}/" if answers else f"No luigid answers at {address}"
        )

    def open_report(self) -> None:
        run = self.shown_run or self.run_id
        if not run:
            return
        self.report_button.setEnabled(False)
        workers.submit(
            self,
            run_report,
            run,
            done=self._report_ready,
            failed=lambda message: (self.report_button.setEnabled(True), self.status.setText(message)),
        )

    def _report_ready(self, path: str) -> None:
        self.report_button.setEnabled(True)
        self.last_report = path
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def _graph(self, task_ids: list[str]) -> None:
        self.total = len(task_ids)

    def _history_loaded(self, runs: list[dict]) -> None:
        if not self.running() and runs:
            known = {r["run_id"] for r in runs}
            self.show_run(self.shown_run if self.shown_run in known else runs[0]["run_id"])
        elif not self.running() and not self._ended_here_unrecorded():
            # a warehouse without runs (maybe another one than before): nothing of the old
            self.shown_run = self.log_run = None
            self.tasks.set_rows([])
            self.tasks_box.heading.setText("Tasks")
            self.log.clear()
            self.log.heading.setText("Log")
            self.status.setText("No run recorded in this warehouse yet.")
        self.finish_load()

    def _ended_here_unrecorded(self) -> bool:
        """A run of this panel ended (stopped at once, or failed) before it recorded itself, on the warehouse still
        chosen: its status line and log say what happened, and stay."""
        return self.last_exit is not None and self.ran_on == _warehouse_choice()

    def follow(self, run_id: str) -> None:
        """A run announced itself (from here, the command line or another machine): show it at the next refresh."""
        if not self.running():
            self.shown_run = run_id

    def show_run(self, run_id: str) -> None:
        """The tasks and the log of one run, the same run for both."""
        if self.running():
            return
        self.tasks_box.heading.setText(f"Tasks of run {run_id}")
        self.report_button.setEnabled(True)
        if run_id != self.shown_run or run_id != self.log_run:
            self.shown_run = run_id
            self._show_log_of(run_id)
        self._ask(run_id, 0.0)

    def _show_log_of(self, run_id: str) -> None:
        self.log_run = run_id
        if run_id == self.run_id and self.log.lines:  # the run started here: its output is in the log already
            self.log.heading.setText(f"Log of run {run_id}")
            return
        self.log.clear()
        self.log.heading.setText(f"Log of run {run_id}")
        workers.submit(self, read_run_log, run_id, done=lambda text: self._log_read(run_id, text))

    def _log_read(self, run_id: str, text: str) -> None:
        if run_id != self.log_run or self.running():
            return
        self.log.clear()
        self.log.add(text if text.endswith("\n") else text + "\n")

    # -- a run
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self) -> None:
        while self.build_step():  # started before the panel was shown: finish making it
            pass
        if self.running():
            return
        self.run_button.setEnabled(False)
        self.status.setText("Starting: looking for a central scheduler…")
        workers.submit(
            self,
            scheduler_answers,
            self.settings.scheduler(),
            done=self._launch,
            failed=lambda message: self._launch(False),
        )

    def _launch(self, central: bool) -> None:
        arguments = ["-m", "pipeline", "run", "--workers", str(self.workers_box.value())]
        if central:
            arguments.append("--scheduler")
        environment = QProcessEnvironment.systemEnvironment()
        for name, value in os.environ.items():  # the app's settings, applied to os.environ
            environment.insert(name, value)
        environment.insert("PYTHONUNBUFFERED", "1")
        environment.insert("PIPELINE_PROGRESS", "1")  # the pipeline's "[ 7/23] task done ..." lines, into the log
        chosen = self.settings.scheduler_config(Path(self.config_dir.name)) if central else None
        if chosen:
            environment.insert("LUIGI_CONFIG_PATH", str(chosen))
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(arguments)
        process.setWorkingDirectory(str(PROJECT_ROOT))
        process.setProcessEnvironment(environment)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        parameters = QProcess.UnixProcessParameters()
        # A new session: Stop ends Luigi's workers too. Default signal handlers: an app started with SIGINT ignored
        # (from a script, in the background) would pass that on, and the run would not hear Stop's SIGINT.
        parameters.flags = QProcess.UnixProcessFlag.CreateNewSession | QProcess.UnixProcessFlag.ResetSignalHandlers
        process.setUnixProcessParameters(parameters)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process, self.run_id, self.started, self.last_exit = process, None, time.time(), None
        self.ran_on = _warehouse_choice()
        self.shown_run = self.log_run = None
        self.stopping = False
        self.tasks.set_rows([])
        self.tasks_box.heading.setText("Tasks of the new run")
        self.log.clear()
        self.log.add(
            f"$ python {' '.join(arguments)}" + ("\n" if central else "   (no luigid answers: local scheduler)\n")
        )
        self.progress.setMaximum(max(self.total, 1))
        self.progress.setValue(0)
        self.status.setText("Running with " + ("the central scheduler" if central else "a local scheduler") + "…")
        self.stop_button.setEnabled(True)
        process.start()
        self.poll_timer.start()

    def _read(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode(errors="replace")
        if self.run_id is None and (found := RUN_LINE.search(text)):
            self.run_id = self.shown_run = self.log_run = found.group(1)
            self.tasks_box.heading.setText(f"Tasks of run {self.run_id}")
            self.log.heading.setText(f"Log of run {self.run_id}")
        self.log.add(text)

    def poll(self) -> None:
        """Every second while running: the run's tasks from ops.task_runs (one query at a time, off the GUI)."""
        if self.polling:
            return
        self.polling = True
        self._ask(self.run_id, self.started, failed=self._poll_failed)

    def _ask(self, run_id: str | None, since: float, failed=None) -> None:
        """Read a run's tasks off the GUI thread; answers that arrive after a newer one are dropped."""
        self.asked += 1
        asked = self.asked
        workers.submit(
            self, run_state, run_id, since, done=lambda state: self._tasks_loaded(state, asked), failed=failed
        )

    def _poll_failed(self, message: str) -> None:
        self.polling = False

    def _tasks_loaded(self, state: dict, asked: int) -> None:
        self.polling = False
        if asked < self.answered:
            return
        self.answered = asked
        if self.running() and state["run_id"] and self.run_id is None:
            self.run_id = self.shown_run = self.log_run = state["run_id"]
        self.tasks.set_rows(state["tasks"])
        fit_columns(self.task_view, 260)
        run = state["run"]
        if not self.running() and run.get("status") == "running":  # a run started elsewhere, followed live
            planned = run.get("tasks_planned") or self.total
            done = sum(1 for t in state["tasks"] if t["status"] == "done")
            self.progress.setMaximum(max(planned, done, 1))
            self.progress.setValue(done)
            self.status.setText(
                f"Run {run['run_id']} is running ({run.get('command') or 'pipeline'} on "
                f"{run.get('host') or '?'}): {done} of {planned or '?'} tasks done"
            )
            self.watched = run["run_id"]
        elif not self.running() and run.get("run_id") and run.get("run_id") == getattr(self, "watched", None):
            self.watched = None
            self.progress.setMaximum(1)
            self.progress.setValue(1 if run.get("status") == "done" else 0)
            self.status.setText(f"Run {run['run_id']} ({run.get('command') or 'pipeline'}) ended: {run.get('status')}.")
            if self.log_run == run["run_id"]:
                self._show_log_of(run["run_id"])  # read again: the whole log now
        if self.running():
            # planned: the tasks this run found incomplete (ops.runs.tasks_planned, where the pipeline records
            # it), else every task of the graph
            planned = state["run"].get("tasks_planned") or self.total
            done = sum(1 for t in state["tasks"] if t["status"] == "done")  # the rows shown, for the bar
            self.progress.setMaximum(max(planned, done, 1))
            self.progress.setValue(done)
            self.status.setText(
                f"{done} of {planned or '?'} tasks done · {formats.seconds(time.time() - self.started)}"
            )

    def _finished(self, exit_code: int, exit_status) -> None:
        self._read()
        self.log.flush()
        self.poll_timer.stop()
        self.kill_timer.stop()
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self.last_exit = -1 if crashed else exit_code
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        took = formats.seconds(time.time() - self.started)
        ok = not crashed and exit_code == 0
        if ok:
            self.progress.setMaximum(max(self.total, 1))
            self.progress.setValue(self.progress.maximum())
            self.status.setText(f"Run finished in {took}: the warehouse is up to date.")
        elif crashed or self.stopping:
            self.status.setText(f"Run stopped after {took}. Work of unfinished tasks was rolled back.")
            hidden = self.log.hidden_tracebacks
            self.log.add(
                f"Stopped from the app after {took}: each unfinished task's transaction was rolled back"
                + (
                    f" (the stack dumps the interrupt made {hidden} process{'es' if hidden > 1 else ''} "
                    "print are not shown)"
                    if hidden
                    else ""
                )
                + ". Run again to finish the work.\n"
            )
        else:
            self.status.setText(f"Run failed after {took} (exit code {exit_code}): see the failed tasks and the log.")
        self._ask(self.run_id, self.started)  # the tasks' final state
        self.run_finished.emit(ok)  # the window marks every panel stale, this one included
        self.mark_stale()

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.status.setText(f"Could not start {sys.executable}: {self.process.errorString()}")
            self.run_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.poll_timer.stop()

    def stop(self, wait: bool = False) -> None:
        """End the run: SIGINT to its process group (Luigi and the pipeline close the run's history as on Ctrl+C),
        SIGKILL five seconds later if it is still there. Each task's work is one transaction: nothing half-done stays."""
        if not self.running():
            return
        self.status.setText("Stopping…")
        self.stopping = True
        self.log.interrupting = True
        self._signal(signal.SIGINT)
        self.kill_timer.start()
        if wait and not self.process.waitForFinished(5000):
            self._signal(signal.SIGKILL)
            self.process.waitForFinished(2000)

    def _signal(self, number: int) -> None:
        if self.running() and self.process.processId():
            try:
                os.killpg(self.process.processId(), number)
            except ProcessLookupError:
                pass

    def open_scheduler(self) -> None:
        QDesktopServices.openUrl(QUrl(self.settings.scheduler().url))


def _warehouse_choice() -> tuple[str, str]:
    """Which warehouse the app's settings point at (applied to the environment the runs inherit)."""
    return os.environ.get("PIPELINE_DATABASE_URL", ""), os.environ.get("PIPELINE_EMBEDDED_DIR", "")
