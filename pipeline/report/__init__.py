"""An HTML report per run (reports/<run_id>.html); see render."""
from .render import FAMILY_COLOURS, collect, latest_run, report_dir, report_path, reports, task_label, write_report

__all__ = ["FAMILY_COLOURS", "collect", "latest_run", "report_dir", "report_path", "reports", "task_label",
           "write_report"]
