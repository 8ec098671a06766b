"""Builds analytics.* from the numbered SQL files in pipeline/sql/analytics, all in one transaction; after incremental
heals, the keyed tables are refreshed for the changed keys only."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg2 import sql

from . import analytics_changes

SQL_DIR = Path(__file__).parent / "sql" / "analytics"
CREATES = re.compile(r"CREATE\s+(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+analytics\.(\w+)", re.IGNORECASE)
KEYED = re.compile(r"^-- keyed: (\w+) in (\w+)$", re.MULTILINE)  # a table refreshed by key: its key column and set
KEYS = re.compile(r"\btrue /\*keys: ([\w.]+) in (\w+)\*/")  # where the SELECT reads only the changed keys
CREATE_TABLE = re.compile(r"^CREATE TABLE analytics\.(\w+) AS\n(.*?);$", re.MULTILINE | re.DOTALL)


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("[0-9][0-9]_*.sql"))


# The code that builds the analytics from the SQL files: a change to it (how a keyed table is refreshed, the build's
# settings) builds everything again, as a change to a file does.
BUILT_BY = (Path(__file__), Path(analytics_changes.__file__))


def fingerprint() -> str:
    """Digest of what the analytics are built from: the SQL files and the code that runs them."""
    digest = hashlib.sha256()
    for path in (*sql_files(), *BUILT_BY):
        digest.update(path.name.encode() + _read(path))
    return digest.hexdigest()[:16]


def _read(path: Path) -> bytes:
    return path.read_bytes()


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


def build(conn, run_id: str | None = None) -> dict[str, int]:
    """Drop and rebuild every analytics view and table inside the caller's transaction; rows per materialized view
    and table."""
    return refresh(conn, run_id, full_because="a full build was asked for").counts


@dataclass
class Built:
    """What a build did: rows per materialized view and table; `full`: why every view was built (None: the keyed
    tables were refreshed for the changed policies, customers and months, `keys` counts them, and the rest built)."""

    counts: dict[str, int]
    full: str | None
    keys: dict[str, int]


def refresh(conn, run_id: str | None, full_because: str | None = None) -> Built:
    """The analytics brought up to date inside the caller's transaction. After incremental heals only (the same SQL
    as the last build, no `full_because`), the keyed tables (a `-- keyed: COLUMN in SET` line) replace only the rows
    of the changed keys, read through the same SQL with its `true /*keys: EXPR in SET*/` markers made
    `EXPR IN (changed keys)`; everything else is dropped and built again, as it always is in a full build.

    What is dropped is what the catalog holds, not what the files name: a view that changed kind (plain <->
    materialized) or whose file was removed goes too. Newest first; CASCADE and IF EXISTS cover the rest.
    """
    texts = [path.read_text() for path in sql_files()]
    built_from = fingerprint()
    with conn.cursor() as cur:
        changes = analytics_changes.take(cur, built_from, keyed_tables(texts), full_because)
        kinds = ("v", "m") if changes.full is None else ("v", "m", "r")
        cur.execute(
            """SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'analytics' AND c.relkind = ANY(%s) ORDER BY c.oid DESC""",
            (list(kinds),),
        )
        for relkind, name in cur.fetchall():
            drop = {"m": "MATERIALIZED VIEW", "v": "VIEW", "r": "TABLE"}[relkind]
            cur.execute(sql.SQL("DROP {} IF EXISTS analytics.{} CASCADE").format(sql.SQL(drop), sql.Identifier(name)))
        cur.execute(BUILD_SETTINGS)
        for text in texts:
            keyed = KEYED.search(text)
            cur.execute(_keyed_refresh(text, *keyed.groups()) if keyed and changes.full is None else text)
        counts = {}
        for kind, name in views():
            if kind == "VIEW":  # read when asked: counting payments_usd would run its join (0.3 s at scale 1.0)
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM analytics.{}").format(sql.Identifier(name)))
            counts[name] = cur.fetchone()[0]
        analytics_changes.drop_changed(cur)
        analytics_changes.built(cur, built_from, run_id)
    return Built(counts, changes.full, changes.keys)


def keyed_tables(texts: list[str]) -> list[str]:
    """The analytics tables (of the SQL files' texts) refreshed by key after incremental heals."""
    return [statement.group(1) for text in texts if KEYED.search(text) and (statement := CREATE_TABLE.search(text))]


def _keyed_refresh(text: str, column: str, keys: str) -> sql.Composed:
    """A keyed table's rows for the changed keys, deleted and read again through the file's own SELECT."""
    statement = CREATE_TABLE.search(text)
    if statement is None:
        raise ValueError(f"a keyed analytics file must start with CREATE TABLE analytics.<name> AS: {column} in {keys}")
    name, select = statement.groups()
    parts: list[sql.Composable] = []
    last = 0
    for marker in KEYS.finditer(select):
        parts.append(sql.SQL(select[last : marker.start()]))
        parts.append(sql.SQL("{} IN ({})").format(sql.SQL(marker.group(1)), _changed(marker.group(2))))
        last = marker.end()
    parts.append(sql.SQL(select[last:]))
    # The new rows made first by CREATE TABLE AS, which PostgreSQL runs in its parallel workers (INSERT ... SELECT
    # runs on one core: loss_ratio's refresh 0.41 s -> 0.19 s at scale 1.0, measured).
    scratch = sql.SQL("ops.{}").format(sql.Identifier(f"analytics_refreshed_{name}"))
    return sql.SQL(
        "DROP TABLE IF EXISTS {scratch};\n"
        "CREATE UNLOGGED TABLE {scratch} WITH (autovacuum_enabled = false) AS\n{select};\n"
        "DELETE FROM analytics.{name} WHERE {column} IN ({changed});\n"
        "INSERT INTO analytics.{name} SELECT * FROM {scratch};\n"
        "DROP TABLE {scratch};"
    ).format(
        scratch=scratch,
        name=sql.Identifier(name),
        column=sql.Identifier(column),
        changed=_changed(keys),
        select=sql.Composed(parts),
    )


def _changed(keys: str) -> sql.Composed:
    return sql.SQL("SELECT key FROM {}").format(analytics_changes.changed(keys))
