"""Part files that disappeared from a folder source: every load keeps their rows and lists them in ops.source_gone
(what `status` names), until `python -m pipeline parts forget` lets the next load drop them."""

from __future__ import annotations

from psycopg2 import sql

from . import fingerprint_reads
from .arrow_values import SourceError
from .errors import UserError
from .part_failures import copy_forward
from .warehouse import qualified

HINT = "python -m pipeline parts forget"


def keep(cur, table: str, folder: str, present: set[str], run_id: str) -> dict[str, int]:
    """In the staged delivery of a folder source, the rows raw.<table> holds from part files of that folder
    (`folder`, relative to the data folder) that are no longer in it (`present`: the parts found now, readable or
    not), unless forgotten; recorded in ops.source_gone. The parts kept and their rows."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'raw."{table}"',))
    published: dict[str, int] = {}
    if cur.fetchone()[0]:
        prefix = folder.rstrip("/") + "/"
        cur.execute(
            sql.SQL(
                "SELECT _source_file, count(*) FROM {} WHERE left(_source_file, %s) = %s GROUP BY 1 ORDER BY 1"
            ).format(qualified("raw", table)),
            (len(prefix), prefix),
        )
        published = dict(cur.fetchall())
    unforget(cur, table, present)
    cur.execute("SELECT part FROM ops.forgotten_parts WHERE table_name = %s", (table,))
    forgotten = {part for (part,) in cur.fetchall()}
    gone = {part: rows for part, rows in published.items() if part not in present and part not in forgotten}
    if copy_forward(cur, table, sorted(gone)) is None:
        raise SourceError(
            f"{table}: part file {min(gone)} is gone from {folder} and its rows in the warehouse no longer fit the "
            "other parts' column types",
            f"put the part file back, or let the next run drop its rows: {HINT} {table} {min(gone)}",
        )
    cur.execute("DELETE FROM ops.source_gone WHERE table_name = %s AND NOT (part = ANY(%s))", (table, sorted(gone)))
    cur.executemany(
        "INSERT INTO ops.source_gone (table_name, part, rows, since_run) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (table_name, part) DO UPDATE SET rows = excluded.rows",
        [(table, part, rows, run_id) for part, rows in gone.items()],
    )
    return gone


def unforget(cur, table: str, present: set[str]) -> None:
    """Parts forgotten and put back: loaded like any part, and kept again if they go again."""
    cur.execute("DELETE FROM ops.forgotten_parts WHERE table_name = %s AND part = ANY(%s)", (table, sorted(present)))


def clear(cur, table: str) -> None:
    """A table read from one file again: no part of a folder is gone any more."""
    cur.execute("DELETE FROM ops.source_gone WHERE table_name = %s", (table,))


def note(table: str, part: str, rows: int) -> str:
    """What status and the app say of a gone part file."""
    return (
        f"{table}: part file {part} is gone from the folder; its {rows:,} rows are kept "
        f"({HINT} {table} {part} lets the next run drop them)"
    )


def current(cur) -> list[tuple[str, str, int, str]]:
    """(table, part, rows kept, run that first missed it) of every part file gone from its folder."""
    cur.execute("SELECT table_name, part, rows, since_run FROM ops.source_gone ORDER BY table_name, part")
    return cur.fetchall()


def forgotten_digest(table: str, present: set[str]) -> str:
    """The table's forgotten part files that are not in its folder (`present`), part of its load's fingerprint:
    forgetting one makes the next run load the table again, without its rows (a forgotten part put back is loaded,
    and its entry dropped by that load, which changes nothing here)."""
    listed = fingerprint_reads.read(_forgotten, table)
    if listed in ("busy", "unreachable"):
        return listed
    return "\n".join(part for part in listed.split("\n") if part and part not in present)


def _forgotten(conn) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.forgotten_parts') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("SELECT table_name, string_agg(part, E'\\n' ORDER BY part) FROM ops.forgotten_parts GROUP BY 1")
        return dict(cur.fetchall())


def forget(cur, table: str, parts: list[str], by: str) -> int:
    """Let the next load of the table drop the rows of these gone part files (all of the table's when `parts` is
    empty), recorded in ops.forgotten_parts (the load's fingerprint reads it). The rows the next run drops; a part
    not gone from the folder is a UserError."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"load:{table}",))  # not in a load's middle
    cur.execute("SELECT part, rows FROM ops.source_gone WHERE table_name = %s", (table,))
    gone = dict(cur.fetchall())
    unknown = [p for p in parts if p not in gone]
    if unknown:
        listed = f" (gone: {', '.join(sorted(gone))})" if gone else " (none is)"
        raise UserError(f"{table}: part file {unknown[0]} is not gone from its folder{listed}")
    if not gone:
        raise UserError(f"{table}: no part file is gone from its folder: nothing to forget")
    chosen = parts or sorted(gone)
    cur.executemany(
        "INSERT INTO ops.forgotten_parts (table_name, part, forgotten_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (table_name, part) DO NOTHING",
        [(table, part, by) for part in chosen],
    )
    return sum(gone[p] for p in chosen)
