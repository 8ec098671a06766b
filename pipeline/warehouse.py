"""The warehouse connection (configured URL or embedded PostgreSQL), its schemas, DDL from the specs, locks."""
from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Iterator

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from . import config, embedded
from .embedded import EMBEDDED_SETTINGS, tune_embedded  # noqa: F401 - their home was here
from .tables import TABLES, TableSpec

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "incoming", "clean", "quality", "analytics", "ops")
# A loaded delivery waits in incoming.<table>, beside the published raw.<table>, until its heal commits: that heal
# moves it into raw in the transaction that replaces clean, quarantine and heal_log, so what users read changes only
# as a whole (a kill between the load and the heal leaves raw = clean + quarantine). At most one delivery per table:
# a new load replaces one that was never published.
STAGE = "incoming"

BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS incoming;
CREATE SCHEMA IF NOT EXISTS clean;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.markers (
    task_id      text PRIMARY KEY,
    task_family  text NOT NULL,
    fingerprint  text NOT NULL,
    run_id       text NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);
-- quarantine and heal_log hold each table's latest heal in a partition of its own, which a heal empties with
-- TRUNCATE (no dead rows; with wal_level = minimal its inserts skip the WAL). Warehouses made before the
-- partitions lose these two derived tables here, and their heals run again.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('quality.quarantine') AND relkind = 'r') THEN
        DROP TABLE quality.quarantine, quality.heal_log;
        UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_family IN ('HealTable', 'Transform', 'Backup');
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS quality.quarantine (
    table_name   text NOT NULL,
    source_row   bigint NOT NULL,
    record_key   text,
    rule_ids     text[] NOT NULL,
    messages     jsonb NOT NULL,
    original     json NOT NULL,
    survivor_key text,
    run_id       text NOT NULL,
    PRIMARY KEY (table_name, source_row)
) PARTITION BY LIST (table_name);
CREATE TABLE IF NOT EXISTS quality.heal_log (
    table_name  text NOT NULL,
    source_row  bigint NOT NULL,
    record_key  text,
    column_name text NOT NULL,
    rule_id     text NOT NULL,
    before      text,
    after       text,
    run_id      text NOT NULL
) PARTITION BY LIST (table_name);
-- Checked first: creating a partition or an index locks the parent, which a running heal is writing to.
DO $$ BEGIN
    IF to_regclass('quality.heal_log_table') IS NULL THEN
        CREATE INDEX heal_log_table ON quality.heal_log (table_name, rule_id);
    END IF;
""" + "".join(f"""    IF to_regclass('quality."{part}_{name}"') IS NULL THEN
        CREATE TABLE quality."{part}_{name}" PARTITION OF quality.{part} FOR VALUES IN ('{name}');
    END IF;
""" for name in TABLES for part in ("quarantine", "heal_log")) + """END $$;
CREATE TABLE IF NOT EXISTS quality.rule_results (
    run_id      text NOT NULL,
    table_name  text NOT NULL,
    rule_id     text NOT NULL,
    description text NOT NULL,
    severity    text NOT NULL,
    action      text NOT NULL,
    rows_checked bigint NOT NULL,
    violations  bigint NOT NULL,
    fixed       bigint NOT NULL,
    quarantined bigint NOT NULL,
    flagged     bigint NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, table_name, rule_id)
);
CREATE TABLE IF NOT EXISTS quality.table_results (
    run_id         text NOT NULL,
    table_name     text NOT NULL,
    raw_rows       bigint NOT NULL,
    clean_rows     bigint NOT NULL,
    quarantined    bigint NOT NULL,
    valid_before   bigint NOT NULL,
    fixed_rows     bigint NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, table_name)
);
CREATE TABLE IF NOT EXISTS ops.runs (
    run_id      text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running',
    command     text,
    host        text,
    pid         integer,
    tasks_planned integer
);
-- Warehouses made before ops.runs had pid and tasks_planned (checked first: no lock when they exist).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'ops' AND table_name = 'runs' AND column_name = 'tasks_planned') THEN
        ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS pid integer, ADD COLUMN IF NOT EXISTS tasks_planned integer;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS ops.task_runs (
    id          bigserial PRIMARY KEY,
    run_id      text NOT NULL,
    task_id     text NOT NULL,
    task_family text NOT NULL,
    params      jsonb NOT NULL,
    reason      text,
    status      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows_in     bigint,
    rows_out    bigint,
    rows_quarantined bigint,
    details     jsonb,
    error       text
);
CREATE INDEX IF NOT EXISTS task_runs_run ON ops.task_runs (run_id);
""" + "".join(
    # Casts that give NULL instead of an error, for source values that arrived as text.
    f"""CREATE OR REPLACE FUNCTION ops.try_{name}(value text) RETURNS {pg_type}
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN RETURN value::{pg_type}; EXCEPTION WHEN others THEN RETURN NULL; END $$;
""" for name, pg_type in (("bigint", "bigint"), ("float8", "double precision"), ("date", "date"),
                          ("timestamp", "timestamp"), ("boolean", "boolean")))


def mask(url: str) -> str:
    """The URL with its password replaced by ***, for logs and screens."""
    if not url:
        return "(embedded)"
    from sqlalchemy.engine import make_url  # here: sqlalchemy takes a tenth of a second to import

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://***"


def _libpq(url: str) -> str:
    """SQLAlchemy-style URLs (postgresql+psycopg2://) as libpq accepts them."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def url() -> str:
    """The warehouse URL in libpq form, starting the embedded server when none is configured."""
    configured = config.database_url()
    if configured:
        return _libpq(configured)
    return embedded.url(config.embedded_dir() / "pgdata", config.warehouse().database)


def describe() -> str:
    """Where the warehouse is, safe to print."""
    configured = config.database_url()
    if configured:
        return mask(configured)
    return f"embedded PostgreSQL in {config.embedded_dir()}"


def connect() -> psycopg2.extensions.connection:
    conn = psycopg2.connect(url(), application_name="insurance-pipeline")
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


def _create(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('pipeline.bootstrap'))")
        cur.execute(BOOTSTRAP_SQL)


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def spec_hash(spec: TableSpec) -> str:
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:16]


def clean_ddl(spec: TableSpec, name: str | None = None) -> sql.Composed:
    """CREATE TABLE for clean.<table>: typed columns and lineage (keys apart: see key_ddl)."""
    parts = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.pg_type), sql.SQL("" if c.nullable else " NOT NULL"))
        for c in spec.columns
    ]
    parts.append(sql.SQL("_source_row bigint NOT NULL"))  # lineage: the row of raw.<table> it came from
    parts.append(sql.SQL("_flags text[]"))  # ids of the flag rules the row breaks (kept, marked)
    return sql.SQL("CREATE TABLE {} ({})").format(qualified("clean", name or spec.name), sql.SQL(", ").join(parts))


def key_ddl(spec: TableSpec) -> list[sql.Composed]:
    """ALTER TABLE statements adding clean.<table>'s primary key and unique keys (built after a bulk load)."""
    table = qualified("clean", spec.name)
    statements = [sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        table, sql.Identifier(f"pk_{spec.name}"), sql.SQL(", ").join(map(sql.Identifier, spec.primary_key)))]
    for cols in spec.unique:
        statements.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
            table, sql.Identifier(f"uq_{spec.name}_{'_'.join(cols)}"), sql.SQL(", ").join(map(sql.Identifier, cols))))
    return statements


def foreign_key_ddl(spec: TableSpec) -> list[sql.Composed]:
    """ALTER TABLE statements adding clean.<table>'s hard foreign keys (validated in one pass each)."""
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
            qualified("clean", spec.name), sql.Identifier(f"fk_{spec.name}_{fk.name}"),
            sql.SQL(", ").join(map(sql.Identifier, fk.columns)), qualified("clean", fk.ref_table),
            sql.SQL(", ").join(map(sql.Identifier, fk.ref_columns)))
        for fk in spec.foreign_keys if not fk.soft
    ]


def table_exists(conn, schema: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))
        return cur.fetchone()[0] is not None


def row_count(conn, schema: str, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table)))
        return cur.fetchone()[0]
