"""Benchmark: this project's ingest of the eleven files vs psql \\copy of the same rows vs DataFrame.to_sql."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, ensure_data, measure, median_of, print_table, scratch_database

from pipeline.tables import TABLES  # the eleven tables, parents before children


def ours(data: str, url: str) -> None:
    """The ingest stage as LoadTable runs it: one transaction per table, streamed COPY."""
    import psycopg2

    from pipeline import ingest, warehouse
    from pipeline.tables import spec

    for name in TABLES:
        with psycopg2.connect(url) as conn:
            warehouse.bootstrap(conn)
            ingest.load_table(conn, spec(name), Path(data) / f"{name}.parquet", "bench")
        conn.close()


def to_sql(data: str, url: str) -> None:
    """The usual pandas way: read each file, DataFrame.to_sql into a table."""
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    for name in TABLES:
        pd.read_parquet(Path(data) / f"{name}.parquet").to_sql(
            name, engine, schema="public", if_exists="replace", index=False
        )


def prepare_csv(data: Path, url: str) -> Path:
    """CSV copies of the files and empty target tables shaped like raw.* (not timed)."""
    import psycopg2
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from pipeline import ingest

    folder = data.parent / f"{data.name}-csv"
    folder.mkdir(exist_ok=True)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS copybench")
        for name in TABLES:
            table = pq.read_table(data / f"{name}.parquet")
            if not (folder / f"{name}.csv").exists():
                pacsv.write_csv(table, folder / f"{name}.csv", pacsv.WriteOptions(include_header=False))
            columns = ", ".join(f'"{f.name}" {ingest._pg_type(f.type)}' for f in table.schema)
            cur.execute(f"DROP TABLE IF EXISTS copybench.{name}; CREATE TABLE copybench.{name} ({columns})")
    conn.close()
    return folder


def psql_copy(folder: str, url: str) -> None:
    psql = shutil.which("psql") or "psql"
    for name in TABLES:
        # One transaction per table, as ours: where the server skips the WAL for a table emptied in the same
        # transaction (wal_level = minimal), psql gets that too.
        subprocess.run(
            [
                psql,
                url,
                "-q",
                "-1",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"TRUNCATE copybench.{name}",
                "-c",
                f"\\copy copybench.{name} FROM '{folder}/{name}.csv' WITH (FORMAT csv)",
            ],
            check=True,
        )


def rows_in(data: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(data / f"{n}.parquet").metadata.num_rows for n in TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and psql (median reported)")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="runs of to_sql (slow)")
    parser.add_argument("--memory-scale", type=float, default=3.0, help="second scale for the memory growth check")
    args = parser.parse_args()

    data = ensure_data(args.scale)
    url = scratch_database("bench_ingest")
    csv_folder = prepare_csv(data, url)
    me = [sys.executable, str(Path(__file__).resolve())]
    rows = rows_in(data)
    print(f"scale {args.scale}: {rows:,} rows in 11 files; server: {url.split('@')[-1]}")

    ours_runs, psql_runs = [], []
    for _ in range(args.repeat):  # interleaved, so a noisy moment on the machine hits both alike
        ours_runs.append(measure(me + ["_ours", str(data), url]))
        psql_runs.append(measure(me + ["_psql", str(csv_folder), url]))
    results = {
        "this project (COPY stream)": median_of(ours_runs),
        "psql \\copy from CSV": median_of(psql_runs),
        "DataFrame.to_sql": median_of([measure(me + ["_to_sql", str(data), url]) for _ in range(args.baseline_repeat)]),
    }
    base = results["psql \\copy from CSV"][0]
    ours_s = results["this project (COPY stream)"][0]
    table = [
        [name, f"{s:.2f}", f"{rows / s:,.0f}", f"{mib:.0f}", f"{s / base:.2f}x", f"{s / ours_s:.1f}x"]
        for name, (s, mib) in results.items()
    ]
    print_table(["ingest", "seconds", "rows/s", "peak MiB", "vs psql", "vs ours"], table)

    if args.memory_scale:
        big = ensure_data(args.memory_scale)
        big_s, big_mib = median_of([measure(me + ["_ours", str(big), url]) for _ in range(max(1, args.repeat - 1))])
        small_mib = results["this project (COPY stream)"][1]
        print(
            f"\nscale {args.memory_scale}: {rows_in(big):,} rows in {big_s:.2f} s, peak {big_mib:.0f} MiB "
            f"= {big_mib / small_mib:.2f}x the peak at scale {args.scale}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        {"_ours": ours, "_to_sql": to_sql, "_psql": psql_copy}[sys.argv[1]](sys.argv[2], sys.argv[3])
    else:
        main()
