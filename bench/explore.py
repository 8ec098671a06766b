"""Benchmark: explorer pages of raw.payments (keyset vs OFFSET, at the start and deep in), and a filtered export."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from common import ROOT, ensure_data, print_table, scratch_database

from pipeline import explore  # noqa: E402 (common puts the project on sys.path)


def filled(scale: float) -> str:
    """A scratch warehouse holding a whole run at the scale."""
    url = scratch_database(f"bench_explore_{str(scale).replace('.', '_')}")
    data = ensure_data(scale)
    subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-dir", str(data)],
        check=True,
        cwd=ROOT,
        env={**__import__("os").environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_PROGRESS": "0"},
    )
    return url


def timed_pages(cur, selection: explore.Selection, start: explore.Page | None, pages: int) -> list[float]:
    """Milliseconds of each of `pages` pages walked forward from `start` (None: the first page)."""
    after, offset = (start.after, start.offset) if start else (None, 0)
    times = []
    for _ in range(pages):
        t = time.perf_counter()
        page = explore.page(cur, selection, after, explore.PAGE_ROWS, offset)
        times.append(1000 * (time.perf_counter() - t))
        after, offset = page.after, page.offset
    return times


def offset_pages(cur, selection: explore.Selection, offset: int, pages: int) -> list[float]:
    """The usual way, for comparison: ORDER BY ... LIMIT n OFFSET k."""
    order = f'"{selection.sort}" DESC NULLS LAST, ctid DESC' if selection.sort else "ctid"
    times = []
    for i in range(pages):
        t = time.perf_counter()
        cur.execute(
            f"SELECT * FROM raw.payments WHERE currency = 'EUR' ORDER BY {order} LIMIT %s OFFSET %s",  # noqa: S608 - constants
            (explore.PAGE_ROWS, offset + i * explore.PAGE_ROWS),
        )
        cur.fetchall()
        times.append(1000 * (time.perf_counter() - t))
    return times


def deep_start(cur, selection: explore.Selection, share: float) -> explore.Page:
    """A page position `share` of the way through the selection (as if the user had paged there)."""
    total = explore.count(cur, selection)
    skip = int(total * share)
    # One OFFSET query to find the row there, then keyset from it: what the app does after a jump.
    page = explore.page(cur, selection, None, 1, 0)
    if page.after is None:
        return page
    cur.execute(
        "SELECT amount, ctid FROM raw.payments WHERE currency = %s "
        "ORDER BY amount DESC NULLS LAST, ctid DESC LIMIT 1 OFFSET %s",
        ("EUR", skip),
    )
    return explore.Page(page.columns, [], tuple(cur.fetchone()), skip)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--url", help="an existing warehouse to read (default: a scratch one filled at --scale)")
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    url = args.url or filled(args.scale)
    conn = psycopg2.connect(url)
    conn.set_session(readonly=True, autocommit=True)
    rows = []
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.payments")
        print(f"raw.payments: {cur.fetchone()[0]:,} rows")
        selection = explore.Selection.parse("raw.payments", ["currency=EUR"], "-amount")
        for label, start in (("first pages", None), ("from 90% through", deep_start(cur, selection, 0.9))):
            keyset = timed_pages(cur, selection, start, args.pages)
            usual = offset_pages(cur, selection, start.offset if start else 0, args.pages)
            rows.append(
                [
                    label,
                    f"{statistics.median(keyset):.1f}",
                    f"{max(keyset):.1f}",
                    f"{statistics.median(usual):.1f}",
                    f"{max(usual):.1f}",
                    f"{statistics.median(usual) / statistics.median(keyset):.1f}x",
                ]
            )
        plain = explore.Selection.parse("raw.payments")
        keyset = timed_pages(cur, plain, None, args.pages)
        rows.append(["unfiltered, key order", f"{statistics.median(keyset):.1f}", f"{max(keyset):.1f}", "-", "-", "-"])
    print_table(
        ["200-row pages of raw.payments", "keyset median ms", "max ms", "OFFSET median ms", "max ms", "OFFSET/keyset"],
        rows,
    )

    exports = []
    with tempfile.TemporaryDirectory() as folder, conn.cursor() as cur:
        selection = explore.Selection.parse("raw.payments", ["amount>=1"])
        for suffix in ("csv", "parquet"):
            t = time.perf_counter()
            n = explore.export(cur, selection, Path(folder) / f"payments.{suffix}")
            seconds = time.perf_counter() - t
            size = (Path(folder) / f"payments.{suffix}").stat().st_size
            exports.append([suffix, f"{n:,}", f"{seconds:.1f}", f"{n / seconds:,.0f}", f"{size / 2**20:.0f}"])
    print_table(["export amount>=1", "rows", "seconds", "rows/s", "MiB"], exports)
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
