"""`python -m pipeline parts list | forget`: part files gone from a folder source, whose rows the warehouse keeps."""

from __future__ import annotations

import getpass
from contextlib import closing

from .. import errors, gone_parts, warehouse
from ..tables import TABLES
from .ops import format_table


def _connect():
    conn = warehouse.connect("parts", ops=True, timeout=10)
    conn.autocommit = False
    return conn


@errors.command()
def cmd_list(args) -> int:
    with closing(_connect()) as conn, conn, conn.cursor() as cur:
        gone = gone_parts.current(cur)
    if not gone:
        print("no part file is gone from its folder")
        return 0
    print(
        format_table(
            ["table", "part file", "rows kept", "missing since run"],
            [[t, p, f"{n:,}", run] for t, p, n, run in gone],
            right={2},
        )
    )
    print(f"their rows stay in the warehouse; {gone_parts.HINT} TABLE [PART ...] lets the next run drop them")
    return 0


@errors.command()
def cmd_forget(args) -> int:
    with closing(_connect()) as conn, conn, conn.cursor() as cur:
        rows = gone_parts.forget(cur, args.table, args.parts, args.who or getpass.getuser())
    which = f"{len(args.parts)} part file(s)" if args.parts else "every part file gone"
    print(
        f"{args.table}: {which} forgotten; the next run (python -m pipeline run) drops their {rows:,} rows from raw, "
        "clean and the quarantine"
    )
    return 0


def add_cli(sub) -> None:
    parser = sub.add_parser("parts", help="part files gone from a folder source: list them, or drop their rows")
    actions = parser.add_subparsers(dest="parts_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="part files gone from their folder, whose rows are kept").set_defaults(
        func=cmd_list
    )
    forgetting = actions.add_parser("forget", help="let the next run drop the rows of gone part files")
    forgetting.add_argument("table", metavar="TABLE", choices=list(TABLES))
    forgetting.add_argument("parts", nargs="*", metavar="PART", help="as `parts list` names it (none: all of them)")
    forgetting.add_argument("--who", help="who decides (default: the user logged in)")
    forgetting.set_defaults(func=cmd_forget)
