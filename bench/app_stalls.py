"""Benchmark: GUI-thread stalls of the open app while a command-line run updates it live (max, p99, median gap).

    PIPELINE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/app_stalls.py [--runs 3]
    xvfb-run -a -s "-screen 0 1600x1000x24" python bench/app_stalls.py      # a real X server instead of offscreen

Each measurement is a fresh process: a scratch database on the warehouse's server, the main window with every
panel made and shown once (Overview, Pipeline, Data quality, Backups, Settings, then Overview again), a 10 ms
heartbeat QTimer on the GUI thread, and `python -m pipeline run` as a subprocess. With --filled the warehouse is
first filled by a run on other data (seed 43), so the measured run rewrites a warehouse whose panels show data.
A stall is a gap between two ticks minus the interval; the figures cover the run and 2 s after it. Target: max
under 200 ms. The stacks of the GUI thread seen while it was blocked over 80 ms are printed as the culprits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, ensure_data, scratch_database

PANELS = ("Overview", "Pipeline", "Data quality", "Backups", "Settings", "Overview")


def child(args) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gui import style, workers
    from gui.main_window import MainWindow
    from gui.preferences import AppSettings

    from tests.support.stalls import StallMeter

    application = QApplication([])
    style.apply(application)
    settings = AppSettings(QSettings(f"/tmp/app-stalls-{os.getpid()}.ini", QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()

    def wait(condition, seconds: float) -> None:
        """Run the event loop (as the app does) until condition() holds, looking every 20 ms."""
        deadline = time.monotonic() + seconds
        loop = QEventLoop()
        check = QTimer(interval=20)
        check.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
        check.start()
        if not condition():
            loop.exec()
        check.stop()
        if not condition():
            raise TimeoutError("the app did not get there in time")

    for name in PANELS:
        panel = window.show_panel(name)
        wait(lambda panel=panel, name=name: panel.loads >= 1 or name == "Settings", 60)
    wait(lambda: window.live.conn is not None and workers.busy() == 0, 60)
    meter = StallMeter(interval=10)
    for label, owner, name in (
        ("overview._show", window.panels["Overview"], "_show"),
        ("quality._show", window.panels["Data quality"], "_show"),
        ("pipeline._tasks_loaded", window.panels["Pipeline"], "_tasks_loaded"),
        ("pipeline.history", window.panels["Pipeline"], "_history_loaded"),
        ("backups._show", window.panels["Backups"], "_show"),
        ("window.warehouse_changed", window, "warehouse_changed"),
        ("banner.set_state", window.banner, "set_state"),
    ):
        meter.time_calls(owner, name, label)
    meter.start()
    started = time.monotonic()
    origin = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wait(lambda: process.poll() is not None, 600)
    ran = time.monotonic() - started
    end = time.monotonic() + 2
    wait(lambda: time.monotonic() > end, 5)
    meter.stop()
    if process.returncode != 0:
        raise SystemExit(process.stdout.read().decode())
    figures = meter.figures()
    print(
        json.dumps(
            {
                **figures,
                "run_seconds": ran,
                "heard": window.live.heard,
                "culprits": meter.culprits(),
                "worst": meter.worst(6, origin),
                "calls": [(round(end - origin, 2), label, round(ms)) for end, label, ms in meter.calls if ms > 20],
            }
        )
    )
    window.panels["Pipeline"].stop(wait=True)
    workers.wait_all(60000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.01, help="generated data's scale (default 0.01)")
    parser.add_argument("--filled", action="store_true", help="measure a rerun over a warehouse showing data")
    parser.add_argument("--culprits", action="store_true", help="print the GUI thread's stacks while blocked")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = []
    for number in range(args.runs):
        url = scratch_database(f"bench_app_stalls_{number}")
        env = {**os.environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_REPORT_DIR": "/tmp/insurance-bench/reports"}
        if args.filled:
            before = {**env, "PIPELINE_DATA_DIR": str(ensure_data(args.scale, seed=43))}
            subprocess.run(
                [sys.executable, "-m", "pipeline", "run"], env=before, cwd=ROOT, check=True, capture_output=True
            )
        env["PIPELINE_DATA_DIR"] = str(ensure_data(args.scale))
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(out.stdout + out.stderr)
        found = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(found)
        print(
            f"run {number + 1}: max {found['max']:.0f} ms, p99 {found['p99']:.0f} ms, median {found['median']:.1f} ms"
            f" (own part: max {found['own_max']:.0f} ms, p99 {found['own_p99']:.0f} ms)"
            f" over {found['ticks']:.0f} ticks; the run took {found['run_seconds']:.1f} s, {found['heard']} events heard",
            flush=True,
        )
        print("  worst stalls (s after the run started, wall ms, own ms):", found["worst"], flush=True)
        if args.culprits:
            print("  calls over 20 ms (s, slot, ms):", found["calls"], flush=True)
        if args.culprits and found["culprits"]:
            print(found["culprits"], flush=True)
    worst = [r["max"] for r in results]
    print(
        f"{os.environ.get('QT_QPA_PLATFORM') or ('xcb' if os.environ.get('DISPLAY') else 'offscreen')}, "
        f"{args.runs} runs{' over a filled warehouse' if args.filled else ''}: max stall {max(worst):.0f} ms "
        f"(median of the runs' max {statistics.median(worst):.0f} ms), p99 "
        f"{statistics.median(r['p99'] for r in results):.0f} ms, median gap "
        f"{statistics.median(r['median'] for r in results):.1f} ms; own part (less CPU run-queue waits): max "
        f"{max(r['own_max'] for r in results):.0f} ms, p99 {statistics.median(r['own_p99'] for r in results):.0f} ms;"
        " target max < 200 ms"
    )


if __name__ == "__main__":
    main()
