"""Benchmark: healing all tables at a scale, and compiled SQL field checks vs row-by-row Cerberus (same verdicts)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg2
import pyarrow.parquet as pq
from common import ensure_data, print_table, scratch_database
from psycopg2 import sql

from pipeline import ingest, warehouse  # noqa: E402 (common puts the project on sys.path)
from pipeline.quality import contract, heal
from pipeline.quality.catalog import heal_parents
from pipeline.quality.compile import cerberus_errors, compile_schema
from pipeline.tables import TABLES, spec

BIG = ["customers", "policies", "claims", "payments"]


def heal_order() -> list[str]:
    done: list[str] = []
    while len(done) < len(TABLES):
        done += [t for t in TABLES if t not in done and set(heal_parents(t)) <= set(done)]
    return done


def load_all(url: str, data: Path) -> None:
    for name in TABLES:
        with psycopg2.connect(url) as conn:
            warehouse.bootstrap(conn)
            ingest.load_table(conn, spec(name), data / f"{name}.parquet", "bench")
        conn.close()


def heal_all(url: str) -> dict[str, float]:
    seconds = {}
    for name in heal_order():
        start = time.perf_counter()
        with psycopg2.connect(url) as conn:
            heal.heal_table(conn, spec(name), "bench")
        conn.close()
        seconds[name] = time.perf_counter() - start
    return seconds


def compiled_check_seconds(url: str, name: str) -> tuple[float, int]:
    """Time the compiled Cerberus checks alone: one scan of clean-typed rows of the whole table."""
    checks = [c for c in compile_schema(spec(name)) if c.compiled]
    predicate = sql.SQL(" OR ").join(sql.SQL("({})").format(c.predicate) for c in checks)
    values = sql.SQL(", ").join(
        sql.SQL("(CASE WHEN {} THEN {} END, {})").format(c.predicate, sql.Literal(c.rule_id), c.message) for c in checks
    )
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(warehouse.qualified("raw", name)))
        rows = cur.fetchone()[0]
        start = time.perf_counter()
        cur.execute(
            sql.SQL(
                "SELECT count(*) FROM {} h CROSS JOIN LATERAL (VALUES {}) AS x(rule_id, message) "
                "WHERE ({}) AND x.rule_id IS NOT NULL"
            ).format(warehouse.qualified("raw", name), values, predicate)
        )
        cur.fetchone()
        seconds = time.perf_counter() - start
    conn.close()
    return seconds, rows


def compiled_schema(name: str) -> dict:
    """The Cerberus schema that compiled checks stand for: facts and the contract's conventions, less the e-mail
    check (email-validator, outside the compiled scan)."""
    full = contract.apply(spec(name), contract.load(name)).cerberus_schema()
    return {column: {k: v for k, v in rules.items() if k != "check_with"} for column, rules in full.items()}


def cerberus_sample(data: Path, name: str, sample: int) -> tuple[float, int, list[dict]]:
    records = pq.read_table(data / f"{name}.parquet").slice(0, sample).to_pylist()
    start = time.perf_counter()
    verdicts = cerberus_errors(compiled_schema(name), records)
    return time.perf_counter() - start, len(records), verdicts


def sql_sample_verdicts(url: str, name: str, sample: int) -> list[bool]:
    """Whether each of the first `sample` raw rows fails a compiled check (the same rows Cerberus saw)."""
    checks = [c for c in compile_schema(spec(name)) if c.compiled]
    predicate = sql.SQL(" OR ").join(sql.SQL("coalesce(({}), false)").format(c.predicate) for c in checks)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM {} h WHERE _source_row <= {} ORDER BY _source_row").format(
                predicate, warehouse.qualified("raw", name), sql.Literal(sample)
            )
        )
        verdicts = [r[0] for r in cur.fetchall()]
    conn.close()
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=5000, help="records per table given to Cerberus")
    args = parser.parse_args()
    data = ensure_data(args.scale)
    url = scratch_database("bench_heal")
    load_all(url, data)
    rows = {n: pq.ParquetFile(data / f"{n}.parquet").metadata.num_rows for n in TABLES}
    print(f"scale {args.scale}: {sum(rows.values()):,} raw rows; healing all tables {args.repeat} times")

    runs = [heal_all(url) for _ in range(args.repeat)]
    per_table = {n: statistics.median(r[n] for r in runs) for n in TABLES}
    total = statistics.median(sum(r.values()) for r in runs)
    table = [[n, f"{rows[n]:,}", f"{per_table[n]:.2f}", f"{rows[n] / per_table[n]:,.0f}"] for n in heal_order()]
    table.append(["all tables", f"{sum(rows.values()):,}", f"{total:.2f}", f"{sum(rows.values()) / total:,.0f}"])
    print_table(["heal", "rows", "seconds", "rows/s"], table)

    print(f"\ncompiled field checks vs row-by-row Cerberus ({args.sample:,} records per table for Cerberus)")
    table = []
    for name in BIG:
        sql_s, sql_rows = (
            statistics.median(compiled_check_seconds(url, name)[0] for _ in range(args.repeat)),
            rows[name],
        )
        cer_s, cer_rows, cer_verdicts = cerberus_sample(data, name, args.sample)
        same = [bool(v) for v in cer_verdicts] == sql_sample_verdicts(url, name, cer_rows)
        sql_rate, cer_rate = sql_rows / sql_s, cer_rows / cer_s
        table.append(
            [
                name,
                f"{sql_rate:,.0f}",
                f"{cer_rate:,.0f}",
                f"{sql_rate / cer_rate:,.0f}x",
                "identical" if same else "DIFFERENT",
            ]
        )
    print_table(["table", "compiled rows/s", "Cerberus rows/s", "ratio", "verdicts"], table)


if __name__ == "__main__":
    sys.exit(main())
