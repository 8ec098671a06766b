"""Benchmark: a daily increment of about 1% of the rows after a full load, against that full run (issue 18).

Data: `python -m pipeline generate --scale S --daily 30` once (payments, claims, customers and policies as a history
and 30 daily part files; outside the repository, in /tmp). The last days are held back, as many as make at least
--share of all rows (new payments and claims, changed customers and policies).

Each repetition, on a fresh database: `python -m pipeline run --workers 2` with the held-back days missing (the full
run), then the same command once they are in the folders (the increment), both timed from outside. Printed: each
pair, the medians and the increment's share of the full run's time (goal: at most 10%), and where the increment's
time went (ops.task_runs of its last run: each task's seconds and what it staged or healed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from common import ensure_data, measure, print_table, scratch_database

GOAL = 0.10
BIG = ("payments", "claims", "customers", "policies")


def rows_of(path: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in ([path] if path.is_file() else path.rglob("*.parquet")))


def held_back(data: Path, share: float) -> tuple[list[str], int, int]:
    """The last days to hold back (date=... folder names), their rows, and all rows."""
    total = sum(rows_of(p) for p in data.iterdir() if p.suffix == ".parquet" or p.is_dir())
    days = sorted({d.name for table in BIG for d in (data / table).glob("date=*")})
    chosen, rows = [], 0
    while rows < share * total:
        day = days.pop()
        chosen.append(day)
        rows += sum(rows_of(data / table / day) for table in BIG if (data / table / day).exists())
    return chosen, rows, total


def link(data: Path, into: Path, days: list[str], include: bool) -> None:
    """The data folder as symbolic links, the held-back days in or out."""
    for item in data.iterdir():
        if item.suffix == ".parquet":
            (into / item.name).unlink(missing_ok=True)
            (into / item.name).symlink_to(item)
        elif item.is_dir():
            for part in item.rglob("*.parquet"):
                day = part.parent.name
                target = into / part.relative_to(data)
                if day in days and not include:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to(part)


def run(url: str, data: Path, reports: str) -> float:
    env = {
        "PIPELINE_DATABASE_URL": url,
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_REPORT_DIR": reports,
        "PIPELINE_PROGRESS": "0",
    }
    seconds, _ = measure([sys.executable, "-m", "pipeline", "run", "--workers", "2"], env=env)
    return seconds


def where_time_went(url: str) -> list[list]:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT task_id, extract(epoch FROM finished_at - started_at), details FROM ops.task_runs "
            "WHERE run_id = (SELECT run_id FROM ops.runs ORDER BY started_at DESC LIMIT 1) ORDER BY started_at"
        )
        rows = cur.fetchall()
    conn.close()
    out = []
    for task_id, seconds, details in rows:
        details = details if isinstance(details, dict) else json.loads(details or "{}")
        how = details.get("staged") or details.get("healed") or ""
        checked, again = details.get("checked", ""), details.get("checked_again", "")
        task = task_id.split("_")[0] + ":" + task_id.split("_")[1]
        out.append([task, f"{float(seconds):.2f}", how, checked, again, details.get("why", "")])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.01, help="the increment's share of all rows")
    args = parser.parse_args()
    data = ensure_data(args.scale, daily=30)
    days, rows, total = held_back(data, args.share)
    print(f"scale {args.scale}: {total:,} rows; the increment: {len(days)} days, {rows:,} rows ({rows / total:.2%})")
    pairs = []
    for n in range(args.repeat):
        url = scratch_database("bench_increment")
        with tempfile.TemporaryDirectory() as folder:
            into = Path(folder) / "data"
            into.mkdir()
            link(data, into, days, include=False)
            full = run(url, into, folder)
            link(data, into, days, include=True)
            increment = run(url, into, folder)
            pairs.append((full, increment))
            print(f"run {n + 1}: full {full:.1f} s, increment {increment:.1f} s ({increment / full:.1%})", flush=True)
            if n == args.repeat - 1:
                print_table(
                    ["task", "seconds", "staged / healed", "rows checked", "of which again", "why"],
                    where_time_went(url),
                )
    full = statistics.median(p[0] for p in pairs)
    increment = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    print(
        f"median: full {full:.1f} s, increment {increment:.1f} s; increment / full {ratio:.1%} "
        f"(goal at most {GOAL:.0%}: {'met' if ratio <= GOAL else 'not met'})"
    )


if __name__ == "__main__":
    os.environ.setdefault("PIPELINE_PROGRESS", "0")
    main()
