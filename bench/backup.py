"""Benchmark: this project's backup and restore vs bare pg_dump / pg_restore of the same warehouse, in one run.

    python bench/backup.py [--scale 1.0] [--runs 3] [--source-db NAME]

Builds a warehouse with the real pipeline at the scale in a scratch database on the warehouse's server (embedded,
or PIPELINE_DATABASE_URL's), or copies an existing one (--source-db, a database on that server built before), then
times, alternately, medians of --runs runs:
  backup   ours: pg_dump + manifest (counts and checksums of every table from the same snapshot) + sha256
           bare: the same pg_dump binary with the same options (custom format, gzip level 1) into a file
  restore  ours: archive check (sha256, pg_restore --list), replace the warehouse in one transaction, compare
                 every table with the manifest before COMMIT
           bare: pg_restore of the same archive into an empty database
Before each timed variant (not timed): CHECKPOINT and sync, so that no variant pays for the disk writes of the one
before it (a restore leaves a gigabyte for the kernel to write back). Target: ours within 1.2x of bare. Also prints
other bare variants for reference (default compression, directory format with 2 jobs, single-transaction restore).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from common import ROOT, ensure_data, print_table, scratch_database

from pipeline import backup  # noqa: E402 - common puts the project on the path
from pipeline.backup.manifest import find_tools, major_of, tool_connection, with_database  # noqa: E402


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def run_tool(args: list[str], env: dict) -> None:
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source-db", help="copy this warehouse database (same server) instead of building one")
    args = parser.parse_args()

    url = scratch_database("bench_backup")
    if args.source_db:
        print(f"copying {args.source_db} (not timed)...", flush=True)
        copy = f'DROP DATABASE IF EXISTS bench_backup; CREATE DATABASE bench_backup TEMPLATE "{args.source_db}"'
        admin_info, admin_env = tool_connection(with_database(url, "postgres"), "bench")
        for statement in copy.split("; "):
            run_tool([find_tools(0, "newest", "bench")["psql"], f"--dbname={admin_info}", "-qc", statement], admin_env)
    else:
        env = {**os.environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_DATA_DIR": str(ensure_data(args.scale))}
        print(f"building the warehouse at scale {args.scale} (not timed)...", flush=True)
        built = subprocess.run(
            [sys.executable, "-m", "pipeline", "run", "--workers", "2"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            print(built.stdout[-3000:], built.stderr[-3000:])
            return 2
    os.environ["PIPELINE_DATABASE_URL"] = url  # backup.restore() replaces "the warehouse": this scratch one

    folder = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        first = backup.create(url=url, folder=folder, keep=0)
        tools = find_tools(major_of(first.manifest["pg_dump_version"]), "oldest", "bench")
        conninfo, tool_env = tool_connection(url, "bench")
        empty_info, _ = tool_connection(scratch_database("bench_backup_bare"), "bench")
        print(
            f"warehouse: {first.total_rows:,} rows in {len(first.manifest['tables'])} tables and views, archive "
            f"{first.size / 2**20:.1f} MiB; tools {tools.version} in {tools.folder}",
            flush=True,
        )

        def fresh_empty():
            scratch_database("bench_backup_bare")

        def settle():
            with psycopg2.connect(url) as conn, conn.cursor() as cur:
                cur.execute("CHECKPOINT")
            conn.close()
            os.sync()

        nothing = None
        variants = {  # name: (setup, not timed; the timed work)
            "backup: ours": (nothing, lambda: backup.create(url=url, folder=folder, keep=1)),
            "backup: bare pg_dump -Fc -Z1": (
                nothing,
                lambda: run_tool(
                    [tools["pg_dump"], *backup.DUMP_OPTIONS, f"--file={folder / 'bare.dump'}", f"--dbname={conninfo}"],
                    tool_env,
                ),
            ),
            "backup: bare pg_dump -Fc (gzip 6)": (
                nothing,
                lambda: run_tool(
                    [tools["pg_dump"], "--format=custom", f"--file={folder / 'bare6.dump'}", f"--dbname={conninfo}"],
                    tool_env,
                ),
            ),
            "backup: bare pg_dump -Fd -j2 -Z1": (
                lambda: shutil.rmtree(folder / "bare.dir", ignore_errors=True),
                lambda: run_tool(
                    [
                        tools["pg_dump"],
                        "--format=directory",
                        "--jobs=2",
                        "--compress=1",
                        f"--file={folder / 'bare.dir'}",
                        f"--dbname={conninfo}",
                    ],
                    tool_env,
                ),
            ),
            "restore: ours": (nothing, lambda: backup.restore(str(backup.backups(folder)[0].folder))),
            "restore: bare pg_restore into an empty db": (
                fresh_empty,
                lambda: run_tool(
                    [tools["pg_restore"], f"--dbname={empty_info}", str(backup.backups(folder)[0].archive)], tool_env
                ),
            ),
            # (pg_restore --clean into a filled database cannot drop the indexes of partitions; ours drops schemas)
            "restore: bare pg_restore -1 into an empty db": (
                fresh_empty,
                lambda: run_tool(
                    [
                        tools["pg_restore"],
                        "--single-transaction",
                        f"--dbname={empty_info}",
                        str(backup.backups(folder)[0].archive),
                    ],
                    tool_env,
                ),
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for n in range(args.runs):
            for name, (setup, work) in variants.items():
                if setup:
                    setup()
                settle()
                times[name].append(timed(work))
            print(f"run {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)

        medians = {name: statistics.median(values) for name, values in times.items()}
        rows = []
        for name, value in medians.items():
            kind = name.split(":")[0]
            base = medians[
                "backup: bare pg_dump -Fc -Z1" if kind == "backup" else "restore: bare pg_restore into an empty db"
            ]
            rows.append([name, f"{value:.2f}", f"{value / base:.2f}x"])
        print()
        print_table(["variant", "median s", "vs bare"], rows)
        backup_ratio = medians["backup: ours"] / medians["backup: bare pg_dump -Fc -Z1"]
        restore_ratio = medians["restore: ours"] / medians["restore: bare pg_restore into an empty db"]
        print(f"\nbackup {backup_ratio:.2f}x, restore {restore_ratio:.2f}x of bare (target: within 1.2x)")
        # Each run's own ratio cancels the machine's slow drifts between runs; both statistics are worth reading.
        paired = [
            statistics.median(o / b for o, b in zip(times[f"{kind}: ours"], times[base], strict=True))
            for kind, base in (
                ("backup", "backup: bare pg_dump -Fc -Z1"),
                ("restore", "restore: bare pg_restore into an empty db"),
            )
        ]
        print(f"median of each run's own ratio: backup {paired[0]:.2f}x, restore {paired[1]:.2f}x")
        return 0 if max(backup_ratio, restore_ratio) <= 1.2 else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        admin_info, admin_env = tool_connection(with_database(url, "postgres"), "bench")
        for name in ("bench_backup", "bench_backup_bare"):
            run_tool(
                [
                    find_tools(0, "newest", "bench")["psql"],
                    f"--dbname={admin_info}",
                    "-qc",
                    f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                ],
                admin_env,
            )


if __name__ == "__main__":
    sys.exit(main())
