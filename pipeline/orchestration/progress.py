"""Progress lines: one per finished task, [7/23] ... rows, elapsed (PIPELINE_PROGRESS, or when on a terminal)."""

from __future__ import annotations

import sys

from .. import config


def progress_enabled() -> bool:
    """PIPELINE_PROGRESS=1 (or run --progress) forces the progress lines, 0 stops them; by default they show on a
    terminal."""
    chosen = config.progress()
    return sys.stdout.isatty() if chosen is None else chosen


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(task, status: str, figures: dict, totals: dict, took: float) -> str:
    """[ 7/23] HealTable(table=agents) done in 0.3 s: 500 -> 500 rows | run: 7 done, 0 failed, ..."""
    planned = totals["planned"] or totals["done"] + totals["failed"]
    width = len(str(planned))
    rows = ""
    if status == "done" and figures.get("rows_out") is not None:
        rows = f": {figures['rows_in']:,} -> " if figures.get("rows_in") is not None else ": "
        rows += f"{figures['rows_out']:,} rows"
        if figures.get("rows_quarantined"):
            rows += f", {figures['rows_quarantined']:,} quarantined"
    return (
        f"[{totals['done'] + totals['failed']:>{width}}/{planned}] {task} {status} in {took:.1f} s{rows}"
        f" | run: {totals['done']} done, {totals['failed']} failed, {totals['loaded']:,} rows loaded, "
        f"{totals['quarantined']:,} quarantined, {clock(totals['elapsed'])} elapsed"
    )
