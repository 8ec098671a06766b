"""Resolving quarantined rows: release or correct one (quality.resolutions), revoke it, list them, search the held."""

# The command line and the app call these; the next heal of the table applies what is stored (quality/resolved.py).
# Each write waits for a heal of the table that is running (its lock), so that a heal's completion marker never
# vouches for a resolution it did not see.
from __future__ import annotations

import getpass
import json
from contextlib import closing, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg2.extras

from .. import fingerprint_reads, warehouse
from ..tables import TABLES
from ..tables import spec as table_spec
from .resolution_checks import ResolutionError, as_text, check_values

LIST_COLUMNS = ("table_name", "source_row", "record_key", "rule_ids", "survivor_key", "resolution_id")
# The held rows a filter selects: table, rule, and text found in the key or in any value as it arrived.
HELD_WHERE = """(%(table)s::text IS NULL OR q.table_name = %(table)s)
  AND (%(rule)s::text IS NULL OR %(rule)s = ANY(q.rule_ids))
  AND (%(search)s::text IS NULL OR strpos(lower(q.record_key), lower(%(search)s)) > 0
       OR strpos(lower(q.original::text), lower(%(search)s)) > 0)"""
HELD_SQL = f"""
SELECT q.table_name, q.source_row, q.record_key, q.rule_ids, q.survivor_key,
       (SELECT min(r.id) FROM quality.resolutions r WHERE r.table_name = q.table_name
        AND r.record_key = q.record_key AND r.original_digest = md5(q.original::text)
        AND r.revoked_at IS NULL) AS resolution_id
FROM quality.quarantine q WHERE {HELD_WHERE}
ORDER BY q.table_name, q.source_row LIMIT %(limit)s OFFSET %(offset)s"""  # noqa: S608 - constant; values are parameters
COUNT_SQL = f"SELECT count(*) FROM quality.quarantine q WHERE {HELD_WHERE}"  # noqa: S608 - as HELD_SQL
RESOLUTIONS_SQL = """
SELECT id, table_name, record_key, action, corrections, why, resolved_by, resolved_at, revoked_by, revoked_at,
       coalesce(CASE WHEN revoked_at IS NOT NULL THEN 'revoked' END, outcome, 'pending') AS status,
       outcome_detail, rule_ids, source_row
FROM quality.resolutions WHERE %(table)s::text IS NULL OR table_name = %(table)s
ORDER BY id DESC"""


@dataclass(frozen=True)
class Held:
    """One quarantined row, as resolving needs it."""

    table: str
    source_row: int
    record_key: str
    rule_ids: list[str]
    original: dict[str, Any]
    original_text: str


def _connect():
    """A session in transactions; the quality tables made first where a warehouse lacks them (no DDL otherwise: it
    would wait for a running heal)."""
    conn = warehouse.connect("resolve", ops=True, timeout=10)
    conn.autocommit = False
    return conn


def held_rows(
    table: str | None = None,
    search: str | None = None,
    rule: str | None = None,
    limit: int = 50,
    offset: int = 0,
    conn=None,
) -> tuple[int, list[dict]]:
    """How many held rows the filters select, and one page of them (with the id of a resolution waiting for them)."""
    params = {"table": table, "rule": rule, "search": search or None, "limit": limit, "offset": offset}
    with closing(_connect()) if conn is None else nullcontext(conn) as c, c.cursor() as cur:
        cur.execute(COUNT_SQL, params)
        total = cur.fetchone()[0]
        cur.execute(HELD_SQL, params)
        rows = [dict(zip(LIST_COLUMNS, row, strict=True)) for row in cur.fetchall()]
    return total, rows


def find_held(cur, table: str, key: str, source_row: int | None = None) -> Held:
    """The quarantined row of `table` with this record key (and source row, where the key names several)."""
    if table not in TABLES:
        raise ResolutionError(f"no table {table!r}; tables: {', '.join(TABLES)}")
    cur.execute(
        "SELECT source_row, record_key, rule_ids, original::text FROM quality.quarantine "
        "WHERE table_name = %s AND record_key = %s AND (%s::bigint IS NULL OR source_row = %s) ORDER BY source_row",
        (table, key, source_row, source_row),
    )
    found = cur.fetchall()
    if not found:
        raise ResolutionError(
            f"{table} {key}: no quarantined row has this key",
            f"python -m pipeline quarantine list --table {table} --search {key[:20]} shows the held rows like it",
        )
    if len(found) > 1:
        rows = ", ".join(str(r[0]) for r in found)
        raise ResolutionError(
            f"{table} {key}: {len(found)} quarantined rows have this key (source rows {rows})",
            "name one with --row SOURCE_ROW",
        )
    row, record_key, rule_ids, original = found[0]
    return Held(table, row, record_key, list(rule_ids), json.loads(original), original)


def parse_corrections(table: str, key: str, assignments: list[str]) -> dict[str, str | None]:
    """COLUMN=VALUE pairs (an empty VALUE clears the value) of the table's columns."""
    spec = table_spec(table)
    corrections: dict[str, str | None] = {}
    for item in assignments:
        column, sep, value = item.partition("=")
        if not sep:
            raise ResolutionError(f"{table} {key}: {item!r} is not COLUMN=VALUE")
        if column not in spec.column_names:
            raise ResolutionError(
                f"{table} {key}: no column {column!r} in {table}", f"columns: {', '.join(spec.column_names)}"
            )
        corrections[column] = value if value != "" else None
    return corrections


def resolve(
    table: str,
    key: str,
    why: str,
    corrections: dict[str, str | None] | None = None,
    who: str | None = None,
    source_row: int | None = None,
) -> int:
    """Release a held row (with `corrections`: correct those values and release it); the resolution's id. Refused,
    in one line, where clean could not hold the row; applied by the next heal of the table."""
    if not why or not why.strip():
        raise ResolutionError(f"{table} {key}: say why (--why TEXT)")
    corrections = corrections or {}
    with closing(_connect()) as conn, conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"heal:{table}",))
        held = find_held(cur, table, key, source_row)
        spec = table_spec(table)
        for column in corrections:
            if column not in spec.column_names:
                raise ResolutionError(f"{table} {key}: no column {column!r} in {table}")
        values = {c: as_text(held.original.get(c)) for c in spec.column_names} | corrections
        check_values(cur, spec, key, values, held.source_row)
        cur.execute(
            "SELECT id, resolved_by, why FROM quality.resolutions WHERE table_name = %s AND record_key = %s "
            "AND original_digest = md5(%s) AND revoked_at IS NULL",
            (table, held.record_key, held.original_text),
        )
        existing = cur.fetchone()
        if existing:
            raise ResolutionError(
                f"{table} {key}: resolution {existing[0]} by {existing[1]} ({existing[2]}) already waits for the "
                "next run",
                f"revoke it first: python -m pipeline quarantine revoke {existing[0]}",
            )
        cur.execute(
            """INSERT INTO quality.resolutions (table_name, record_key, source_row, original, original_digest, action,
                                                corrections, rule_ids, why, resolved_by)
               VALUES (%s, %s, %s, %s::json, md5(%s), %s, %s, %s, %s, %s) RETURNING id""",
            (
                table,
                held.record_key,
                held.source_row,
                held.original_text,
                held.original_text,
                "correct" if corrections else "release",
                psycopg2.extras.Json(corrections),
                held.rule_ids,
                why.strip(),
                who or getpass.getuser(),
            ),
        )
        return cur.fetchone()[0]


def revoke(resolution_id: int, who: str | None = None) -> dict:
    """Take a resolution back: the next heal of its table checks the row as any other (and holds it again)."""
    with closing(_connect()) as conn, conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM quality.resolutions WHERE id = %s", (resolution_id,))
        row = cur.fetchone()
        if row is None:
            raise ResolutionError(
                f"no resolution {resolution_id}", "python -m pipeline quarantine resolutions lists them"
            )
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"heal:{row[0]}",))
        cur.execute(
            "UPDATE quality.resolutions SET revoked_at = now(), revoked_by = %s WHERE id = %s "
            "AND revoked_at IS NULL RETURNING table_name, record_key",
            (who or getpass.getuser(), resolution_id),
        )
        done = cur.fetchone()
        if done is None:
            raise ResolutionError(f"resolution {resolution_id} was revoked already")
        return {"id": resolution_id, "table": done[0], "key": done[1]}


def resolutions(table: str | None = None, conn=None) -> list[dict]:
    """Every resolution, newest first, with its status: pending (not healed since), applied, not needed (the row
    passed every rule), held (a rule clean cannot bend still holds it), source changed, revoked."""
    with closing(_connect()) if conn is None else nullcontext(conn) as c:
        with c.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(RESOLUTIONS_SQL, {"table": table})
            return [dict(r) for r in cur.fetchall()]


def active_digest(table: str) -> str:
    """The ids of the table's active resolutions, as digests() gives them, read without waiting on a lock."""
    return fingerprint_reads.read(digests, table)


def digests(conn) -> dict[str, str]:
    """Per table, the ids of its active resolutions: part of the table's heal fingerprint, so that a new or revoked
    resolution makes the heal (and everything after it) run again."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('quality.resolutions') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        cur.execute(
            "SELECT table_name, string_agg(id::text, ',' ORDER BY id) FROM quality.resolutions "
            "WHERE revoked_at IS NULL GROUP BY 1"
        )
        return dict(cur.fetchall())
