"""Builds analytics.* from the numbered SQL files in pipeline/sql/analytics, all in one transaction."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from psycopg2 import sql

SQL_DIR = Path(__file__).parent / "sql" / "analytics"
CREATES = re.compile(r"CREATE\s+(MATERIALIZED\s+VIEW|VIEW)\s+analytics\.(\w+)", re.IGNORECASE)


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("[0-9][0-9]_*.sql"))


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sql_files():
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def views() -> list[tuple[str, str]]:
    """(kind, name) of each analytics view, in build order."""
    found = []
    for path in sql_files():
        found += [(kind.upper().replace("  ", " "), name) for kind, name in CREATES.findall(path.read_text())]
    return found


# How the views are built (also by a restore, which refreshes them): work_mem per sort/hash, so that the payment
# aggregates stay in memory; parallel plans for the views over a million payments, which at the default costs the
# planner keeps on one core (the figures: docs/measurements.md).
BUILD_SETTINGS = "SET LOCAL work_mem = '256MB'; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;"


def build(conn) -> dict[str, int]:
    """Drop and rebuild every analytics view inside the caller's transaction; rows per view.

    What is dropped is what the catalog holds, not what the files name: a view that changed kind (plain <->
    materialized) or whose file was removed goes too. Newest first; CASCADE and IF EXISTS cover the rest.
    """
    with conn.cursor() as cur:
        cur.execute("""SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'analytics' AND c.relkind IN ('v', 'm') ORDER BY c.oid DESC""")
        for relkind, name in cur.fetchall():
            drop = "MATERIALIZED VIEW" if relkind == "m" else "VIEW"
            cur.execute(sql.SQL("DROP {} IF EXISTS analytics.{} CASCADE").format(sql.SQL(drop), sql.Identifier(name)))
        cur.execute(BUILD_SETTINGS)
        for path in sql_files():
            cur.execute(path.read_text())
        counts = {}
        for _, name in views():
            cur.execute(sql.SQL("SELECT count(*) FROM analytics.{}").format(sql.Identifier(name)))
            counts[name] = cur.fetchone()[0]
    return counts
