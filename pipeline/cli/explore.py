"""`python -m pipeline export TABLE --where ... --out FILE`: a filtered selection of any warehouse table to CSV or Parquet."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import explore, warehouse


def cmd_export(args) -> int:
    selection = explore.Selection.parse(args.table, args.where or [], args.sort)
    shown = {"at": 0.0}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and (now - shown["at"] > 0.2 or done == total):
            shown["at"] = now
            print(
                f"\rexported {done:,} of {total:,} rows", end="" if done < total else "\n", file=sys.stderr, flush=True
            )

    with warehouse.transaction() as conn:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            rows = explore.export(cur, selection, Path(args.out), progress)
    print(f"{args.out}: {rows:,} rows of {selection.schema}.{selection.table}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("export", help="write a filtered selection of a warehouse table to a CSV or Parquet file")
    p.add_argument("table", metavar="TABLE", help="SCHEMA.TABLE (raw, clean, analytics, quality, ...; default clean)")
    p.add_argument(
        "--where",
        action="append",
        metavar="FILTER",
        help="COLUMN OP VALUE with OP one of = != < <= > >= ~ (contains), or 'COLUMN is [not] null'; "
        "repeat to combine (all must hold)",
    )
    p.add_argument(
        "--sort", metavar="[-]COLUMN", help="order by this column, then the key; --sort=-COLUMN for descending"
    )
    p.add_argument("--out", required=True, metavar="FILE", help="a .csv or .parquet file (written whole or not at all)")
    p.set_defaults(func=cmd_export)
