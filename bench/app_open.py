"""Benchmark: seconds from starting the app's process to the first paint of the overview with its data.

    PIPELINE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/dev2 python bench/app_open.py [--runs 5]

Starts `python bench/app_open.py --child` --runs times (a fresh process each time, as `python -m gui` would
start: settings, style, main window, the overview's queries in a worker thread), offscreen unless a display is
set. The child prints when each stage ended; the figure is the time from the parent's Popen to the first paint
of the overview showing the warehouse's data (the KPI cards and charts). Target: under 2 s at scale 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.0


def child() -> None:
    stamps = {"start": time.time()}
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEvent, QObject, QTimer

    from gui import app as gui_app

    stamps["imports"] = time.time()
    application, window = gui_app.create([])
    stamps["window shown"] = time.time()
    overview = window.panels["Overview"]

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and overview.loads and "painted" not in stamps:
                stamps["painted"] = time.time()
                QTimer.singleShot(0, application.quit)
            return False

    def loaded():
        stamps["data shown"] = time.time()
        if overview.pages.currentWidget() is not overview.content:
            page = overview.pages.currentWidget()
            print(
                json.dumps({"error": f"the overview shows no data: {page.heading.text()}: {page.text.text()}"}),
                flush=True,
            )
            application.exit(1)

    watcher = FirstPaint()
    overview.claims_chart.plot.viewport().installEventFilter(watcher)
    overview.loaded.connect(loaded)
    QTimer.singleShot(60000, lambda: application.exit(2))
    code = application.exec()
    print(
        json.dumps(
            {
                "stamps": stamps,
                "code": code,
                "cards": {k: c.value.text() for k, c in overview.cards.items()},
                "where": overview.subtitle.text(),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    totals = []
    for run in range(args.runs):
        started = time.time()
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            sys.exit(f"the app did not start: {out.stderr.strip()[-2000:]}")
        result = json.loads(lines[-1])
        if result.get("error") or "painted" not in result.get("stamps", {}):
            sys.exit(f"run {run + 1}: {result.get('error') or 'no paint with data'}; {out.stderr.strip()[-1000:]}")
        stamps = result["stamps"]
        total = stamps["painted"] - started
        totals.append(total)
        stages = "  ".join(
            f"{name} {stamps[name] - started:.2f}"
            for name in ("start", "imports", "window shown", "data shown", "painted")
        )
        print(f"run {run + 1}: {total:.2f} s to the first paint with data ({stages})")
        if run == 0:
            print(f"  {result['where']}\n  cards: {result['cards']}")
    median = statistics.median(totals)
    print(
        f"app open to overview with data: median {median:.2f} s, best {min(totals):.2f} s, worst {max(totals):.2f} s "
        f"over {len(totals)} runs; target < {TARGET:.1f} s: {'met' if median < TARGET else 'NOT met'} "
        f"({median / TARGET:.2f}x of the target)"
    )


if __name__ == "__main__":
    main()
