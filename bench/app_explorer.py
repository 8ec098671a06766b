"""Benchmark: the app's Explorer on raw.payments at scale 1.0: click-to-shown time of each page, and an export of a
filtered million-row selection behind its progress dialog.

    PIPELINE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/app_explorer.py [--pages 20]

Makes a scratch database `bench_app_explorer` on that server, runs the pipeline on the scale 1.0 data (generated
once into /tmp/insurance-bench), opens the app offscreen, and drives the Explorer as a user would: Next page
--pages times (timed from the click to the page shown), then Export… of `amount ≥ 1` to CSV and to Parquet through
the panel's export (the progress dialog's value is read as it moves). Prints medians and the export's figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ensure_data, scratch_database

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait(app, condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="the scratch database holds a run already")
    args = parser.parse_args()
    data = ensure_data(args.scale)
    url = (
        scratch_database("bench_app_explorer")
        if not args.reuse
        else os.environ["PIPELINE_DATABASE_URL"].rsplit("/", 1)[0] + "/bench_app_explorer"
    )
    env = {**os.environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_PROGRESS": "0"}
    if not args.reuse:
        subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data)], check=True, cwd=ROOT, env=env
        )
    os.environ["PIPELINE_DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui import style
    from gui.main_window import MainWindow
    from gui.preferences import AppSettings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    style.apply(app)
    folder = Path(tempfile.mkdtemp())
    window = MainWindow(AppSettings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(1600, 1000)
    window.show()
    panel = window.show_panel("Explorer")
    wait(app, lambda: panel.loads >= 1)
    loads = panel.loads
    panel.choose("raw.payments")
    wait(app, lambda: panel.loads > loads and panel.total is not None)
    pages = []
    for _ in range(args.pages):
        loads = panel.loads
        began = time.perf_counter()
        panel.next_button.click()
        wait(app, lambda loads=loads: panel.loads > loads)
        pages.append(1000 * (time.perf_counter() - began))
    print(f"raw.payments ({panel.total:,} rows): {args.pages} pages of 200, click to shown: median "
          f"{statistics.median(pages):.1f} ms, max {max(pages):.1f} ms")  # fmt: skip

    loads = panel.loads
    panel.add_filter("amount", ">=", "1")
    wait(app, lambda: panel.loads > loads and panel.total is not None)
    for suffix in ("csv", "parquet"):
        target = folder / f"payments.{suffix}"
        seen: list[int] = []
        began = time.perf_counter()
        panel.export(str(target))
        job = panel.export_job
        while panel.export_job is not None:
            app.processEvents()
            if job is not None and (not seen or seen[-1] != job.dialog.value()):
                seen.append(job.dialog.value())
            time.sleep(0.005)
        seconds = time.perf_counter() - began
        path, rows = panel.last_export or ("-", 0)
        print(f"export of amount ≥ 1 ({panel.total:,} rows) to {suffix}: {rows:,} rows in {seconds:.1f} s, "
              f"{target.stat().st_size / 2**20:.0f} MiB; progress dialog went through {len(seen)} values, "
              f"last {seen[-1] if seen else '-'}, now {job.dialog.value() if job else '-'}")  # fmt: skip
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
