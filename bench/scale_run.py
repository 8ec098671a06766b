"""One end-to-end run at a scale, measured from outside: wall seconds, the peak of the summed RSS of the pipeline's
process tree (sampled every 0.2 s with psutil; the PostgreSQL server is not in it), and the database's size after.

    python bench/scale_run.py DATA_DIR [--name bench_scale] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg2
from common import ROOT, scratch_database


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(data: Path, name: str, workers: int) -> dict:
    url = scratch_database(name)
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_DATA_DIR": str(data)}
        env |= {"PIPELINE_REPORT_DIR": folder, "PIPELINE_PROGRESS": "0"}
        command = [sys.executable, "-m", "pipeline", "run", "--workers", str(workers)]
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        watched, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        out = child.stdout.read() if child.stdout else ""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
        cur.execute("SELECT sum(rows_in) FILTER (WHERE task_family = 'LoadTable') FROM ops.task_runs")
        rows = cur.fetchone()[0]
    conn.close()
    return {
        "exit": child.returncode,
        "seconds": round(seconds, 1),
        "peak_mib": round(peak / 2**20),
        "db_mib": round(size / 2**20),
        "rows": int(rows or 0),
        "tail": out.strip().splitlines()[-3:],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--name", default="bench_scale")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.data, args.name, args.workers)))
