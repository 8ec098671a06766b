"""An HTML report per run (reports/<run_id>.html); see render."""

from .charts import FAMILY_COLOURS, task_how, task_label
from .data import collect, latest_run, report_dir, report_path, reports
from .render import render, write_report

__all__ = [
    "FAMILY_COLOURS",
    "collect",
    "latest_run",
    "report_dir",
    "report_path",
    "render",
    "reports",
    "task_how",
    "task_label",
    "write_report",
]
