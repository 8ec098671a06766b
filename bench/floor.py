"""The floor of a load-and-heal job on this machine: read every Parquet file once with pyarrow, `psql \\copy` the same
rows into a scratch table, and one `INSERT ... SELECT` pass over them; what no pipeline of these files can beat.

Run as a child process by bench/pipeline.py (`python bench/floor.py DATA URL`), which times it from the outside
beside each run of the pipeline; prints its own split as JSON on its last line. A table's source is its file or its
folder of part files (pyarrow.dataset, Hive partitions as columns), as the pipeline reads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.arrow_values import pg_type  # noqa: E402
from pipeline.sources import source_path  # noqa: E402
from pipeline.tables import TABLES  # noqa: E402


def _scratch(url: str, name: str, schema) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type))) for f in schema
    )
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS floor")
        for table in (name, f"{name}_pass"):
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("floor", table)))
            cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier("floor", table), columns))
    conn.close()


def floor(data: Path, url: str) -> dict:
    """Seconds of read + \\copy (one pipelined step per table: pyarrow writes CSV into psql's stdin) and of the
    INSERT ... SELECT pass, summed over the tables; and the rows."""
    copy_s = pass_s = 0.0
    rows = 0
    for name in TABLES:
        path = source_path(data, name)
        started = time.perf_counter()
        dataset = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
        _scratch(url, name, dataset.schema)
        psql = subprocess.Popen(
            ["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy floor.{name} FROM pstdin WITH (FORMAT csv)"],
            stdin=subprocess.PIPE,
        )
        assert psql.stdin is not None
        with pacsv.CSVWriter(psql.stdin, dataset.schema, write_options=pacsv.WriteOptions(include_header=False)) as out:
            for batch in dataset.to_batches():  # streamed: the floor holds a batch at a time, as the pipeline does
                out.write_batch(batch)
                rows += batch.num_rows
        psql.stdin.close()
        if psql.wait() != 0:
            raise SystemExit(f"psql \\copy of {name} failed")
        copy_s += time.perf_counter() - started
        started = time.perf_counter()
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                    sql.Identifier("floor", f"{name}_pass"), sql.Identifier("floor", name)
                )
            )
        conn.close()
        pass_s += time.perf_counter() - started
    return {"copy": copy_s, "pass": pass_s, "rows": rows}


def rows_in(data: Path) -> int:
    """The records of the eleven sources (files or folders of part files)."""
    return sum(ds.dataset(source_path(data, n), format="parquet").count_rows() for n in TABLES)


def floor_once(data: Path) -> float:
    """This file in a process of its own on a fresh database, timed from the outside as the pipeline's runs are."""
    from common import measure_output, scratch_database

    url = scratch_database("bench_floor")
    seconds, _, _ = measure_output([sys.executable, str(Path(__file__).resolve()), str(data), url])
    return seconds


def print_floor(me: dict, scale: float, goal: float) -> None:
    """The full run beside the floor measured after each of its runs, and their ratio (median of the runs')."""
    print(
        f"scale {scale}: this project {me['total']:,.1f} s (runs {me['runs']}), floor {me['floor']:,.1f} s "
        f"(read + \\copy + one INSERT ... SELECT; runs {me['floors']}): {me['ratio']:.2f}x the floor "
        f"(per run {me['ratios']}; goal at most {goal}x: {'met' if me['ratio'] <= goal else 'NOT met'})",
        flush=True,
    )


if __name__ == "__main__":
    print(json.dumps(floor(Path(sys.argv[1]), sys.argv[2])))
