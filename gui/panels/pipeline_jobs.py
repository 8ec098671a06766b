"""The Pipeline panel's work off the GUI thread: the task graph, a run's tasks and log, its report, the scheduler."""

from __future__ import annotations

import datetime

from pipeline.report import task_how

from .. import queries
from ..preferences import AppSettings, scheduler_answers


def graph_tasks() -> list[str]:
    """The ids of every task a run schedules (the pipeline's own walk of the graph, Backup included when
    [backups] after_run is on; no database needed)."""
    from pipeline.orchestration import graph

    return sorted(t.task_id for t in graph.tasks())


def run_state(run_id: str | None, since: float) -> dict:
    """The tasks of the run so far; finds the run's id in ops.runs when the output has not named it yet."""
    present = queries.existing("ops.task_runs", "ops.runs")
    if "ops.task_runs" not in present:
        return {"run_id": run_id, "tasks": [], "run": {}}
    if run_id is None and "ops.runs" in present:
        found = queries.select("run_started_since", since=datetime.datetime.fromtimestamp(since, datetime.UTC)).first()
        run_id = found["run_id"] if found else None
    if not run_id:
        return {"run_id": None, "tasks": [], "run": {}}
    run = queries.select("run", run_id=run_id).first() if "ops.runs" in present else None
    tasks = queries.select("run_tasks", run_id=run_id).dicts()
    for task in tasks:  # how it did its work (a delta or full load, an incremental or full heal), the why in a tip
        task["how"], task["how_why"] = task_how(task["details"], why=False), task_how(task["details"])
    return {"run_id": run_id, "tasks": tasks, "run": (run or {}).get("run") or {}}


def read_run_log(run_id: str) -> str:
    """The run's log as the pipeline wrote it (reports/<run_id>.log), or a line saying why there is none."""
    from pipeline.orchestration.console import log_path

    path = log_path(run_id)
    if not path.exists():
        return (
            f"No log of run {run_id} in {path.parent}: it ran on another machine or before logs were kept. "
            "Its tasks are listed on the left."
        )
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-2_000_000:]


def scheduler_state(settings: AppSettings) -> tuple[bool, str]:
    """Whether a luigid answers at the address runs started here would use (so they use it), and that address."""
    chosen = settings.scheduler()
    return scheduler_answers(chosen), str(chosen)


def run_report(run_id: str) -> str:
    """The run's HTML report, written now if it is missing (a run of another machine, or reports were off)."""
    from pipeline import report

    path = report.report_path(run_id)
    if not path.exists():
        path = report.write_report(run_id)
    return str(path)
