"""Builds analytics.* from the numbered SQL files in pipeline/sql/analytics, all in one transaction; after incremental
heals, the keyed tables are refreshed for the changed keys only, the tables of sums by adding the new rows' sums."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2 import sql

from . import analytics_changes

SQL_DIR = Path(__file__).parent / "sql" / "analytics"
CREATES = re.compile(r"CREATE\s+(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+analytics\.(\w+)", re.IGNORECASE)
KEYED = re.compile(r"^-- keyed: (\w+) in (\w+)$", re.MULTILINE)  # a table refreshed by key: its key column and set
# Where the SELECT reads only the changed keys: `true /*keys: EXPR in SET*/` becomes `EXPR IN (the changed keys)`.
# A table whose other columns are sums and counts of rows (`-- adds: COLUMNS`; an incremental heal only adds rows to
# clean) sums only the rows the heals added, where the marker says `true /*keys: EXPR in SET, new: EXPR in TABLE*/`:
# `EXPR IN (the new rows' primary keys)` (their keys are changed keys, by what the heals record), and adds those sums
# to the stored ones of the same group (a new group is inserted).
KEYS = re.compile(r"\btrue /\*keys: (.+?) in (\w+)(?:, new: (.+?) in (\w+))?\*/")
# Columns computed from the sums (`; then COLUMN = EXPRESSION`, as many as there are) are computed again from the new
# sums.
ADDS = re.compile(r"^-- adds: (\w+(?:, \w+)*)((?:; then \w+ = .+?)*)$", re.MULTILINE)
THEN = re.compile(r"; then (\w+) = (.+?)(?=; then |$)")
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
    tables were refreshed for the changed policies, customers and months, `keys` counts them, and the rest built;
    `added`: those of them that summed only the new rows, `not_additive`: why none could)."""

    counts: dict[str, int]
    full: str | None
    keys: dict[str, int]
    added: list[str] = field(default_factory=list)  # the keyed tables that added the new rows' sums
    not_additive: str | None = None  # why they read the changed keys' rows again instead


def refresh(
    conn, run_id: str | None, full_because: str | None = None, decided: Callable[[bool], None] | None = None
) -> Built:
    """The analytics brought up to date inside the caller's transaction. After incremental heals only (the same SQL
    as the last build, no `full_because`), the keyed tables (a `-- keyed: COLUMN in SET` line) replace only the rows
    of the changed keys, read through the same SQL with its `true /*keys: EXPR in SET*/` markers made
    `EXPR IN (changed keys)`; everything else is dropped and built again, as it always is in a full build.

    What is dropped is what the catalog holds, not what the files name: a view that changed kind (plain <->
    materialized) or whose file was removed goes too. Newest first; CASCADE and IF EXISTS cover the rest.
    `decided(full)`: called once it is known whether everything is built again (and the changes are taken).
    """
    texts = [path.read_text() for path in sql_files()]
    built_from = fingerprint()
    with conn.cursor() as cur:
        changes = analytics_changes.take(cur, built_from, keyed_tables(texts), full_because)
        if decided is not None:
            decided(changes.full is not None)
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
        added: list[str] = []
        for text in texts:
            keyed, adds = KEYED.search(text), ADDS.search(text)
            if keyed is None or changes.full is not None:
                cur.execute(text)
            elif adds is not None and changes.not_additive is None:
                then = dict(THEN.findall(adds.group(2)))
                column, keys = keyed.groups()
                name, refresh_by_adding = _additive_refresh(cur, text, column, keys, adds.group(1).split(", "), then)
                cur.execute(refresh_by_adding)
                added.append(name)
            else:
                cur.execute(_keyed_refresh(text, *keyed.groups()))
        counts = {}
        for kind, name in views():
            if kind == "VIEW":  # read when asked: counting payments_usd would run its join (0.3 s at scale 1.0)
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM analytics.{}").format(sql.Identifier(name)))
            counts[name] = cur.fetchone()[0]
        analytics_changes.drop_changed(cur)
        analytics_changes.built(cur, built_from, run_id)
    return Built(counts, changes.full, changes.keys, added, changes.not_additive if added == [] else None)


def keyed_tables(texts: list[str]) -> list[str]:
    """The analytics tables (of the SQL files' texts) refreshed by key after incremental heals."""
    return [statement.group(1) for text in texts if KEYED.search(text) and (statement := CREATE_TABLE.search(text))]


def _keyed_select(text: str, column: str, keys: str, new: bool = False) -> tuple[str, sql.Composed]:
    """A keyed table's name and its SELECT reading only the changed keys (`new`: and only the new rows)."""
    statement = CREATE_TABLE.search(text)
    if statement is None:
        raise ValueError(f"a keyed analytics file must start with CREATE TABLE analytics.<name> AS: {column} in {keys}")
    name, select = statement.groups()
    parts: list[sql.Composable] = []
    last = 0
    for marker in KEYS.finditer(select):
        parts.append(sql.SQL(select[last : marker.start()]))
        if new and marker.group(3):  # an array, looked up by primary key: a semi-join would scan the history
            parts.append(sql.SQL("{} = ANY(ARRAY({}))").format(sql.SQL(marker.group(3)), _new(marker.group(4))))
        else:
            parts.append(sql.SQL("{} IN ({})").format(sql.SQL(marker.group(1)), _changed(marker.group(2))))
        last = marker.end()
    parts.append(sql.SQL(select[last:]))
    return name, sql.Composed(parts)


def _keyed_refresh(text: str, column: str, keys: str) -> sql.Composed:
    """A keyed table's rows for the changed keys, deleted and read again through the file's own SELECT."""
    name, select = _keyed_select(text, column, keys)
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
        select=select,
    )


def _additive_refresh(
    cur, text: str, column: str, keys: str, adds: list[str], then: dict[str, str]
) -> tuple[str, sql.Composed]:
    """A keyed table's name, and its rows for the changed keys with the sums of the new rows added: the stored rows
    of those keys and the new rows' sums (the file's SELECT over the new rows only) grouped by every other column,
    as the file's own GROUP BY would group them all; `then`: columns computed from the sums, computed again. The sums
    are exact (counts, and cents: analytics_changes.SUMMED)."""
    name, select = _keyed_select(text, column, keys, new=True)
    cur.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f"analytics.{name}",),
    )
    columns = cur.fetchall()
    unknown = {*adds, *then} - {c for c, _ in columns}
    if unknown:
        raise ValueError(f"analytics.{name} has no column {', '.join(sorted(unknown))} to add or compute")
    kept = [sql.Identifier(c) for c, _ in columns if c not in adds and c not in then]
    sums = [sql.SQL("sum({0})::{1} AS {0}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns if c in adds]
    outputs = [
        sql.Composed([sql.SQL(then[c] + " AS "), sql.Identifier(c)]) if c in then else sql.Identifier(c)
        for c, _ in columns
    ]
    # The stored rows of the changed keys through the index the key column leads, where one does: a semi-join
    # would scan the whole table (2.9 million policies at scale 10) for a few per cent of its rows.
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND a.attname = %s)",
        (f"analytics.{name}", column),
    )
    indexed = cur.fetchone()[0]
    added = sql.SQL("ops.{}").format(sql.Identifier(f"analytics_added_{name}"))
    # The changed keys and those of the new rows' sums: the same by what the heals record, and if they were not, a
    # sum's stored row is still merged with it rather than kept beside it.
    merged = sql.SQL("{} UNION SELECT {} FROM {}").format(_changed(keys), sql.Identifier(column), added)
    among = sql.SQL("= ANY(ARRAY({}))" if indexed else "IN ({})").format(merged)
    # One statement takes the stored rows out and puts the summed ones in: the keys are looked up once, and nothing
    # is written twice (before: a scratch table of the merged sums, a DELETE that looked the keys up again, an INSERT).
    return name, sql.SQL(
        "DROP TABLE IF EXISTS {added};\n"
        "CREATE UNLOGGED TABLE {added} WITH (autovacuum_enabled = false) AS\n{select};\n"
        "WITH stored AS (DELETE FROM analytics.{name} WHERE {column} {among} RETURNING *)\n"
        "INSERT INTO analytics.{name} SELECT {outputs} FROM (SELECT {kept}, {sums} FROM "
        "(SELECT * FROM stored UNION ALL SELECT * FROM {added}) x GROUP BY {kept}) summed;\n"
        "DROP TABLE {added};"
    ).format(
        added=added,
        select=select,
        outputs=sql.SQL(", ").join(outputs),
        kept=sql.SQL(", ").join(kept),
        sums=sql.SQL(", ").join(sums),
        name=sql.Identifier(name),
        column=sql.Identifier(column),
        among=among,
    )


def _changed(keys: str) -> sql.Composed:
    return sql.SQL("SELECT key FROM {}").format(analytics_changes.changed(keys))


def _new(table: str) -> sql.Composed:
    return sql.SQL("SELECT key FROM {}").format(analytics_changes.new_rows(table))
