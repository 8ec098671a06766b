"""`python -m pipeline quarantine list | release | correct | resolutions | revoke`: working the quarantine."""

from __future__ import annotations

import json

from .. import errors
from ..quality import resolutions
from ..tables import TABLES
from .ops import format_table


def _rules(ids: list[str]) -> str:
    return ", ".join(ids)


@errors.command()
def cmd_list(args) -> int:
    total, rows = resolutions.held_rows(args.table, args.search, args.rule, args.limit, args.offset)
    if not rows:
        print("no quarantined rows" + (" match" if args.table or args.search or args.rule else ""))
        return 0
    print(
        format_table(
            ["table", "source row", "key", "rules broken", "duplicate of", "resolution"],
            [
                [
                    r["table_name"],
                    r["source_row"],
                    r["record_key"],
                    _rules(r["rule_ids"]),
                    r["survivor_key"],
                    f"{r['resolution_id']} (pending)" if r["resolution_id"] else None,
                ]
                for r in rows
            ],
            right={1},
        )
    )
    print(
        f"{args.offset + 1}-{args.offset + len(rows)} of {total:,} rows"
        + (" (--offset for more)" * (total > len(rows)))
    )
    return 0


def _resolved(args, corrections: dict | None) -> int:
    found = resolutions.resolve(args.table, args.key, args.why, corrections, args.who, args.row)
    what = "correction and release" if corrections else "release"
    print(f"resolution {found}: {what} of {args.table} {args.key}; the next run applies it (python -m pipeline run)")
    return 0


@errors.command()
def cmd_release(args) -> int:
    return _resolved(args, None)


@errors.command()
def cmd_correct(args) -> int:
    return _resolved(args, resolutions.parse_corrections(args.table, args.key, args.assignments))


@errors.command()
def cmd_resolutions(args) -> int:
    found = resolutions.resolutions(args.table)
    if not found:
        print("no resolutions")
        return 0
    print(
        format_table(
            ["id", "table", "key", "action", "values", "status", "by", "when", "why"],
            [
                [
                    r["id"],
                    r["table_name"],
                    r["record_key"],
                    r["action"],
                    json.dumps(r["corrections"]) if r["corrections"] else None,
                    r["status"] + (f": {r['outcome_detail']}" if r["outcome_detail"] else ""),
                    r["revoked_by"] or r["resolved_by"],
                    (r["revoked_at"] or r["resolved_at"]).astimezone().strftime("%Y-%m-%d %H:%M"),
                    r["why"],
                ]
                for r in found
            ],
            right={0},
        )
    )
    return 0


@errors.command()
def cmd_revoke(args) -> int:
    done = resolutions.revoke(args.id, args.who)
    print(f"resolution {done['id']} revoked: the next run checks {done['table']} {done['key']} again")
    return 0


def add_cli(sub) -> None:
    parser = sub.add_parser("quarantine", help="search held rows; release or correct them; list and revoke resolutions")
    actions = parser.add_subparsers(dest="quarantine_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="quarantined rows, filtered by table, rule and text")
    listing.add_argument("--table", choices=list(TABLES))
    listing.add_argument("--search", metavar="TEXT", help="text in the record key or in any value as it arrived")
    listing.add_argument("--rule", metavar="RULE_ID", help="rows that broke this rule (python -m pipeline rules)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.set_defaults(func=cmd_list)
    for name, func, text in (
        ("release", cmd_release, "release a held row as it is (the next run puts it in clean)"),
        ("correct", cmd_correct, "correct values of a held row and release it"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("table", metavar="TABLE", choices=list(TABLES))
        p.add_argument("key", metavar="KEY", help="the record key (several columns: joined with |)")
        if name == "correct":
            p.add_argument("assignments", nargs="+", metavar="COLUMN=VALUE", help="an empty VALUE clears the value")
        p.add_argument("--why", required=True, help="the reason, kept with the resolution")
        p.add_argument("--who", help="who decides (default: the user logged in)")
        p.add_argument("--row", type=int, metavar="SOURCE_ROW", help="which row, where several held rows share the key")
        p.set_defaults(func=func)
    listed = actions.add_parser("resolutions", help="every release and correction, with what the last heal did")
    listed.add_argument("--table", choices=list(TABLES))
    listed.set_defaults(func=cmd_resolutions)
    revoking = actions.add_parser("revoke", help="take a resolution back: the next run holds the row again")
    revoking.add_argument("id", type=int, metavar="ID")
    revoking.add_argument("--who", help="who decides (default: the user logged in)")
    revoking.set_defaults(func=cmd_revoke)
