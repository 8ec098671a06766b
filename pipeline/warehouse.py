"""The warehouse connection (configured URL or embedded PostgreSQL), its schemas, DDL from the specs, locks."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from . import config, embedded
from .config import describe_warehouse as describe  # noqa: F401 - callers read them here
from .config import mask  # noqa: F401 - callers read it here
from .embedded import EMBEDDED_SETTINGS, tune_embedded  # noqa: F401 - their home was here
from .tables import TABLES, TableSpec

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "incoming", "clean", "quality", "analytics", "ops")
# A loaded delivery waits in incoming.<table>, beside the published raw.<table>, until its heal commits: that heal
# moves it into raw in the transaction that replaces clean, quarantine and heal_log, so what users read changes only
# as a whole (a kill between the load and the heal leaves raw = clean + quarantine). At most one delivery per table:
# a new load replaces one that was never published.
STAGE = "incoming"


def libpq_url(url: str) -> str:
    """SQLAlchemy-style URLs (postgresql+psycopg2://) as libpq accepts them."""
    if url.startswith(("postgresql://", "postgres://")):  # libpq's own: no need to import sqlalchemy (0.2 s)
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def url() -> str:
    """The warehouse URL in libpq form, starting the embedded server when none is configured."""
    configured = config.database_url()
    if configured:
        return libpq_url(configured)
    return embedded.url(config.embedded_dir() / "pgdata", config.warehouse().database)


def connect(
    purpose: str = "",
    address: str | None = None,
    *,
    ops: bool = False,
    timeout: int | None = None,
    name: str | None = None,
    **options,
) -> psycopg2.extensions.connection:
    """The one way the pipeline opens a session on the warehouse (or on `address`, another database of its server).

    purpose: names the session, application_name insurance-pipeline-<purpose> (pg_stat_activity shows it; the
    locks and the kill tests find sessions by it); `name` gives the whole application_name instead.
    ops: an autocommit session for the run history, the ops/quality tables made first if they are missing.
    timeout: connect_timeout in seconds; options: passed to psycopg2.connect (e.g. options="-c ...")."""
    application = name if name is not None else f"insurance-pipeline-{purpose}" if purpose else "insurance-pipeline"
    if timeout is not None:
        options["connect_timeout"] = timeout
    conn = psycopg2.connect(address or url(), application_name=application, **options)
    if ops:
        try:
            conn.autocommit = True
            if not ready(conn):
                conn.autocommit = False
                with conn:  # in a transaction: the advisory lock lasts until the DDL commits
                    _create(conn)  # not bootstrap(): this process may have made them before they were dropped
                conn.autocommit = True
        except BaseException:
            conn.close()
            raise
    return conn


def sibling(conn) -> psycopg2.extensions.connection:
    """A new connection to the database `conn` is connected to, as the same user."""
    return psycopg2.connect(**conn.get_dsn_parameters(), password=conn.info.password)


@contextlib.contextmanager
def transaction() -> Iterator[psycopg2.extensions.connection]:
    """A connection in one transaction: committed when the block ends, rolled back on any error."""
    conn = connect()
    try:
        with conn:
            yield conn
    finally:
        conn.close()


_bootstrapped: set[str] = set()


def bootstrap(conn) -> None:
    """Create the schemas and the ops/quality tables once per process (idempotent, safe in parallel)."""
    key = conn.dsn
    if key in _bootstrapped:
        return
    if conn.autocommit:  # the advisory lock must be held until the DDL commits
        conn.autocommit = False
        try:
            with conn:
                _create(conn)
        finally:
            conn.autocommit = True
    else:
        _create(conn)
    _bootstrapped.add(key)


SCHEMA_SQL_DIR = Path(__file__).parent / "sql" / "schema"


def schema_sql() -> str:
    """The DDL of the schemas and the ops/quality tables: sql/schema/NN_*.sql in order (idempotent)."""
    return "".join(path.read_text(encoding="utf-8") for path in sorted(SCHEMA_SQL_DIR.glob("[0-9][0-9]_*.sql")))


def _create(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('pipeline.bootstrap'))")
        cur.execute(schema_sql())
        cur.execute("SELECT quality.add_partitions(%s)", (list(TABLES),))


# What ready() looks for: tables, and columns added to tables after they were first made (table, column).
READY_TABLES = (
    "quality.table_results",
    "ops.markers",
    "quality.resolutions",
    "ops.run_summary",
    "ops.source_gone",
    "ops.forgotten_parts",
    "ops.source_parts",
    "ops.incremental_basis",
    "ops.waiting_for_parent",
    "ops.analytics_pending",
    "ops.forecast_basis",
)
READY_COLUMNS = (
    ("ops.runs", "tasks_planned"),
    ("quality.table_results", "replaced"),
    ("ops.analytics_pending", "keys_recorded"),
    ("ops.incremental_basis", "parent_rows"),
    ("ops.analytics_pending", "row_key"),
)


def ready(conn) -> bool:
    """The ops and quality tables exist as this code expects (then no bootstrap: its DDL would wait for every
    open transaction on those tables, e.g. a long heal in another worker)."""
    # pg_attribute, not information_schema.columns: 0.3 ms instead of 8-10 ms, at the start and end of every task.
    with conn.cursor() as cur:
        cur.execute(
            "SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest(%s) AS t(t) "
            "UNION ALL SELECT count(*) = %s FROM pg_attribute a JOIN unnest(%s, %s) AS c(t, col) "
            "ON a.attrelid = to_regclass(c.t) AND a.attname = c.col AND NOT a.attisdropped",
            (list(READY_TABLES), len(READY_COLUMNS), [t for t, _ in READY_COLUMNS], [c for _, c in READY_COLUMNS]),
        )
        return all(ok for (ok,) in cur.fetchall())


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def spec_hash(spec: TableSpec) -> str:
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:16]


def clean_ddl(spec: TableSpec, name: str | None = None) -> sql.Composed:
    """CREATE TABLE for clean.<table>: typed columns and lineage (keys apart: see key_ddl)."""
    parts: list[sql.Composable] = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.pg_type), sql.SQL("" if c.nullable else " NOT NULL")
        )
        for c in spec.columns
    ]
    parts.append(sql.SQL("_source_row bigint NOT NULL"))  # lineage: the row of raw.<table> it came from
    parts.append(sql.SQL("_flags text[]"))  # ids of the flag rules the row breaks (kept, marked)
    return sql.SQL("CREATE TABLE {} ({})").format(qualified("clean", name or spec.name), sql.SQL(", ").join(parts))


def key_ddl(spec: TableSpec) -> list[sql.Composed]:
    """ALTER TABLE statements adding clean.<table>'s primary key and unique keys (built after a bulk load)."""
    table = qualified("clean", spec.name)
    statements = [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            table, sql.Identifier(f"pk_{spec.name}"), sql.SQL(", ").join(map(sql.Identifier, spec.primary_key))
        )
    ]
    for cols in spec.unique:
        statements.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
                table, sql.Identifier(f"uq_{spec.name}_{'_'.join(cols)}"), sql.SQL(", ").join(map(sql.Identifier, cols))
            )
        )
    return statements


def row_number_index(schema: str, table: str) -> sql.Composed:
    """CREATE INDEX for a raw or clean table: BRIN on _source_row. Rows are stored about in that order and appended,
    so the rows numbered after a count are the table's tail, read without the rest (late_parents)."""
    return sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin (_source_row)").format(
        sql.Identifier(_row_number_index(table)), qualified(schema, table)
    )


def _row_number_index(table: str) -> str:
    return f"{table}__source_row"


def row_number_index_name(schema: str, table: str) -> sql.Composable:
    return qualified(schema, _row_number_index(table))


def summarize_appended(cur, schema: str, table: str) -> None:
    """After rows are appended: row_number_index's summary of the pages they filled (unsummarized pages are read
    by every look-up, correct but slower); nothing when the table has no such index."""
    cur.execute(
        sql.SQL("SELECT brin_summarize_new_values(to_regclass({}))").format(
            sql.Literal(row_number_index_name(schema, table).as_string(cur))
        )
    )


def foreign_key_ddl(spec: TableSpec) -> list[sql.Composed]:
    """ALTER TABLE statements adding clean.<table>'s hard foreign keys (validated in one pass each)."""
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
            qualified("clean", spec.name),
            sql.Identifier(f"fk_{spec.name}_{fk.name}"),
            sql.SQL(", ").join(map(sql.Identifier, fk.columns)),
            qualified("clean", fk.ref_table),
            sql.SQL(", ").join(map(sql.Identifier, fk.ref_columns)),
        )
        for fk in spec.foreign_keys
        if not fk.soft
    ]


def table_exists(conn, schema: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))
        return cur.fetchone()[0] is not None


def row_count(conn, schema: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table)))
        return cur.fetchone()[0]
