"""Backup manifests: per-table row counts and checksums in SQL, archive digests, and the PostgreSQL client tools."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions
from psycopg2 import sql

from .. import config
from ..errors import PipelineError

FORMAT = "insurance-pipeline-backup/1"
ARCHIVE = "archive.dump"
MANIFEST = "manifest.json"

# Every table and materialized view of every user schema whose rows pg_dump archives (extension members apart).
# Unlogged tables are scratch (a heal killed midway leaves its work tables in ops; PostgreSQL itself empties them
# after a crash): the archive keeps their definitions only (--no-unlogged-table-data), the manifest leaves them out.
TABLES_SQL = """
SELECT n.nspname, c.relname, c.relkind = 'm', c.relkind <> 'm' OR c.relispopulated
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 'u'
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2"""

# The checksum of a table is the sum of a 64-bit hash per row: order-independent, and it counts duplicates.
# "columns" hashes each column's binary value with its type's own hash function (json and xml, which have none, as
# their text; NULL as a constant), seeded by the column's position so that equal values in different columns
# differ, XORs them and mixes the result through a 64-bit hash, so that values swapped between rows still change
# the sum. It runs beside pg_dump's own COPY, so every cycle counts: it takes less CPU than "row", which packs the
# row into a record to hash it (figures: docs/measurements.md). "text" is for
# column types without a hash function: the row's text form under fixed settings. "row" and "hash" are how older
# manifests were made; they are still checked.
CHECKSUM_SQL = {
    "columns": "SELECT count(*), coalesce(sum(pg_catalog.hashint8extended({cols}, 0)), 0)::text FROM {table} AS t",
    "text": "SELECT count(*), coalesce(sum(pg_catalog.hashtextextended((t.*)::text, 0)), 0)::text FROM {table} AS t",
    "row": "SELECT count(*), coalesce(sum(pg_catalog.hashint8extended("
    "pg_catalog.hash_record_extended(ROW({cols}), 0), 0)), 0)::text FROM {table} AS t",
    "hash": "SELECT count(*), coalesce(sum(pg_catalog.hashtextextended("
    "pg_catalog.hash_record_extended(t.*, 0)::text, 0)), 0)::text FROM {table} AS t",
}
# What {cols} is for a method, made from the table's regclass ({}) in SQL, so that a backup and a restore's check
# (in PL/pgSQL) build the same expression. Positions count the columns a dump recreates (not dropped ones).
COLUMNS_SQL = {
    # The XOR of the column hashes. A type's hash function is called by name where it takes the type itself;
    # booleans hash as 0/1; other types (domains, enums, dates...) go through a one-column record.
    "columns": """
SELECT coalesce(pg_catalog.string_agg(CASE WHEN c.attnotnull THEN c.hash
                                           ELSE pg_catalog.format('coalesce(%s, %s)', c.hash, c.n) END,
                                      ' # ' ORDER BY c.n), '0')
FROM (SELECT a.attnotnull, a.n, pg_catalog.format(CASE
          WHEN a.atttypid IN ('pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.xml'::pg_catalog.regtype)
               THEN 'pg_catalog.hashtextextended(t.%2$I::text, %3$s)'
          WHEN a.atttypid = 'pg_catalog.bool'::pg_catalog.regtype THEN 'pg_catalog.hashint4extended(t.%2$I::int4, %3$s)'
          WHEN f.proname IS NOT NULL THEN 'pg_catalog.%1$I(t.%2$I, %3$s)'
          WHEN ty.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
               THEN 'pg_catalog.hash_array_extended(t.%2$I, %3$s)'
          ELSE 'pg_catalog.hash_record_extended(ROW(t.%2$I), %3$s)' END, f.proname, a.attname, a.n) AS hash
      FROM (SELECT a.*, pg_catalog.row_number() OVER (ORDER BY a.attnum) AS n FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = {} AND a.attnum > 0 AND NOT a.attisdropped) a
      JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN LATERAL (
          SELECT p.proname FROM pg_catalog.pg_opclass oc
          JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
          JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily = oc.opcfamily AND ap.amprocnum = 2
                                      AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
          JOIN pg_catalog.pg_proc p ON p.oid = ap.amproc
          WHERE oc.opcdefault AND oc.opcintype = a.atttypid AND p.proargtypes[0] = a.atttypid
            AND p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace LIMIT 1) f ON true) c""",
    # The columns for ROW(...), in order.
    "row": (
        "SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(CASE WHEN a.atttypid IN "
        "('pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.xml'::pg_catalog.regtype) THEN 't.%I::text' "
        "ELSE 't.%I' END, a.attname), ', ' ORDER BY a.attnum), '') FROM pg_catalog.pg_attribute a "
        "WHERE a.attrelid = {} AND a.attnum > 0 AND NOT a.attisdropped"
    ),
}
# Settings that fix the text form of values (used by the "text" method; harmless for the others).
STABLE_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres';"
    " SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'; SET LOCAL lc_monetary = 'C';"
)


class BackupError(PipelineError):
    """A backup, check or restore that cannot go on; the message says why and what to do."""


def table_checksums(conn) -> list[dict]:
    """Rows and checksum of every table and materialized view, in the connection's current transaction."""
    found = []
    with conn.cursor() as cur:
        cur.execute(STABLE_SETTINGS)
        cur.execute(TABLES_SQL)
        for schema, name, is_view, populated in cur.fetchall():
            entry = {"schema": schema, "table": name, "kind": "materialized view" if is_view else "table"}
            if not populated:
                found.append({**entry, "populated": False})
                continue
            cur.execute(
                sql.SQL(COLUMNS_SQL["columns"]).format(
                    sql.SQL("{}::regclass").format(sql.Literal(sql.Identifier(schema, name).as_string(cur)))
                )
            )
            columns = cur.fetchone()[0]
            for method in ("columns", "text"):
                cur.execute("SAVEPOINT backup_checksum")
                try:
                    cur.execute(
                        sql.SQL(CHECKSUM_SQL[method]).format(table=sql.Identifier(schema, name), cols=sql.SQL(columns))
                    )
                except psycopg2.errors.UndefinedFunction:  # a column type without an extended hash function
                    cur.execute("ROLLBACK TO SAVEPOINT backup_checksum")
                    continue
                rows, checksum = cur.fetchone()
                cur.execute("RELEASE SAVEPOINT backup_checksum")
                found.append({**entry, "rows": rows, "checksum": checksum, "method": method})
                break
    return found


def _literal(value) -> str:
    """A quoted literal of this module's own SQL and method names (never of a manifest's values)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _checksum_plpgsql(method: str) -> str:
    """PL/pgSQL that computes a table's (e.s, e.t) rows and checksum by the method, into got_rows and got_sum."""
    check = CHECKSUM_SQL[method].replace("{cols}", "%1$s").replace("{table}", "%2$I.%3$I")
    cols = (
        f"    EXECUTE {_literal(COLUMNS_SQL[method].format('$1'))}\n"
        f"        INTO cols USING format('%I.%I', e.s, e.t)::regclass;\n"
        if method in COLUMNS_SQL
        else ""
    )
    return f"{cols}    EXECUTE format({_literal(check)}, cols, e.s, e.t) INTO got_rows, got_sum;"


def _expected_json(tables: list[dict]) -> str:
    """The manifest's entries as one JSON document in a dollar-quoted string: values reach SQL as data only.

    A manifest is untrusted (a bundle may come from anywhere): its values are never SQL text. The JSON is ASCII
    (no encoding can change it) and the quote's tag is random, so nothing inside can end the string."""
    rows = [
        {
            "schema_name": t["schema"],
            "table_name": t["table"],
            "method": t.get("method"),
            "rows": t.get("rows"),
            "checksum": t.get("checksum"),
            "populated": t.get("populated", True),
            "is_view": t["kind"] != "table",
        }
        for t in tables
    ]
    document = json.dumps(rows, ensure_ascii=True)
    tag = f"$manifest_{uuid.uuid4().hex}$"
    if tag in document:
        raise BackupError("cannot quote the manifest's entries")  # a 128-bit collision: not in this universe
    return f"{tag}{document}{tag}"


def verify_sql(tables: list[dict]) -> str:
    """SQL that fails (so the transaction it ends never commits) unless every table equals the manifest.

    Materialized views are not in an archive: pg_restore rebuilds them from the restored tables. They are compared
    too, but a difference is reported (a WARNING BACKUP-REBUILT) rather than fatal: it can only come from the view's
    own query (now(), float sums in another order), since the tables it reads are checked exactly."""
    # One branch per method (the manifest's), "text" for any other; each computes got_rows and got_sum.
    branches = [
        f"{'IF' if i == 0 else 'ELSIF'} e.method = {_literal(m)} THEN\n{_checksum_plpgsql(m)}"
        for i, m in enumerate(m for m in CHECKSUM_SQL if m != "text")
    ]
    compute = "\n".join([*branches, f"ELSE\n{_checksum_plpgsql('text')}", "END IF;"])
    return f"""
{STABLE_SETTINGS}
CREATE TEMP TABLE backup_expected (schema_name text, table_name text, method text, rows bigint, checksum text,
                                   populated boolean, is_view boolean) ON COMMIT DROP;
INSERT INTO pg_temp.backup_expected SELECT * FROM pg_catalog.jsonb_to_recordset({_expected_json(tables)}::jsonb)
    AS x (schema_name text, table_name text, method text, rows bigint, checksum text, populated boolean,
          is_view boolean);
DO $backup_verify$
DECLARE
    e record; got_rows bigint; got_sum text; diffs text[] := '{{}}'; rebuilt text[] := '{{}}'; found text; cols text;
BEGIN
    FOR e IN
        SELECT coalesce(x.schema_name, a.nspname) AS s, coalesce(x.table_name, a.relname) AS t, x.method, x.rows,
               x.checksum, x.populated, a.relname IS NOT NULL AS present, x.table_name IS NOT NULL AS expected,
               a.populated AS now_populated, x.is_view
        FROM (SELECT * FROM pg_temp.backup_expected x  -- older manifests list unlogged tables: not checked
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                                ON n.oid = c.relnamespace WHERE c.relpersistence = 'u'
                                AND n.nspname::text = x.schema_name AND c.relname::text = x.table_name)) x
        FULL JOIN ({TABLES_SQL.replace("ORDER BY 1, 2", "")}) AS a (nspname, relname, is_view, populated)
               ON a.nspname::text = x.schema_name AND a.relname::text = x.table_name
        ORDER BY 1, 2
    LOOP
        IF NOT e.present THEN
            diffs := diffs || format('%s.%s is missing', e.s, e.t);
        ELSIF NOT e.expected THEN
            diffs := diffs || format('%s.%s is not in the backup', e.s, e.t);
        ELSIF e.populated IS DISTINCT FROM e.now_populated THEN
            diffs := diffs || format('%s.%s is %s', e.s, e.t, CASE WHEN e.now_populated THEN 'populated'
                                                                  ELSE 'not populated' END);
        ELSIF e.populated THEN
            {compute}
            found := CASE WHEN got_rows IS DISTINCT FROM e.rows
                          THEN format('%s.%s has %s rows, the backup %s', e.s, e.t, got_rows, e.rows)
                          WHEN got_sum IS DISTINCT FROM e.checksum THEN format('%s.%s: checksum differs', e.s, e.t)
                     END;
            IF found IS NOT NULL AND e.is_view THEN
                rebuilt := rebuilt || found;
            ELSIF found IS NOT NULL THEN
                diffs := diffs || found;
            END IF;
        END IF;
    END LOOP;
    IF cardinality(rebuilt) > 0 THEN
        RAISE WARNING 'BACKUP-REBUILT %', array_to_string(rebuilt, '; ');
    END IF;
    IF cardinality(diffs) > 0 THEN
        RAISE EXCEPTION 'BACKUP-MISMATCH % table(s) differ from the manifest: %', cardinality(diffs),
            array_to_string(diffs, '; ');
    END IF;
END
$backup_verify$;
"""  # noqa: S608 - the manifest's values go in through _literal (quote_literal); names are the module's own


# Drops every user schema but public (pipeline schemas and any other), so that the warehouse afterwards holds
# exactly what the backup holds; objects of the archive in public are dropped by pg_restore --clean.
DROP_SCHEMAS_SQL = """
DO $backup_drop$
DECLARE s text;
BEGIN
    FOR s IN SELECT nspname FROM pg_catalog.pg_namespace
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public') LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
    END LOOP;
END
$backup_drop$;
"""


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_json(path: Path, data: dict) -> None:
    """Write a JSON file whole: a temporary name, fsync, rename."""
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


# --- connections for the client tools: the password goes in the environment, never on a command line ---


def tool_connection(url: str, application: str) -> tuple[str, dict]:
    """(conninfo without any password, environment with PGPASSWORD) for pg_dump and psql."""
    params = psycopg2.extensions.parse_dsn(url)
    password = params.pop("password", None)
    params["application_name"] = application
    conninfo = " ".join(
        f"{k}='{v}'" for k, v in ((k, str(v).replace("\\", "\\\\").replace("'", "\\'")) for k, v in params.items())
    )
    env = dict(os.environ)  # PGPASSWORD, PGPASSFILE, PGSSL* and ~/.pgpass work as they do for the pipeline
    if password:
        env["PGPASSWORD"] = password
    return conninfo, env


def database_name(url: str) -> str:
    return psycopg2.extensions.parse_dsn(url).get("dbname") or "postgres"


def with_database(url: str, database: str) -> str:
    params = psycopg2.extensions.parse_dsn(url)
    params["dbname"] = database
    return psycopg2.extensions.make_dsn(**params)


# --- the client tools: at least as new as the server (and as the pg_dump that made an archive) ---


@dataclass(frozen=True)
class Tools:
    folder: Path
    version: str

    @property
    def major(self) -> int:
        return major_of(self.version)

    def __getitem__(self, name: str) -> str:
        return str(self.folder / name)


def major_of(version: str) -> int:
    found = re.search(r"(\d+)", version or "")
    return int(found.group(1)) if found else 0


def _candidate_folders() -> list[Path]:
    folders = []
    if config.pg_bin():
        folders.append(config.pg_bin())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH  # the embedded server's own tools
        folders.append(Path(POSTGRES_BIN_PATH))
    except Exception:  # noqa: BLE001, S110 - pgserver missing or broken: use the other tools
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).parent)
    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/Applications/Postgres.app/Contents/Versions/*/bin",
    ):
        folders += sorted(Path("/").glob(pattern.lstrip("/")))
    return list(dict.fromkeys(f for f in folders if f is not None))


@functools.cache
def _version(folder: Path) -> str | None:
    """The version of a folder's pg_dump, when pg_restore and psql of the same version sit beside it."""
    versions = set()
    for tool in ("pg_dump", "pg_restore", "psql"):
        try:
            out = subprocess.run([str(folder / tool), "--version"], capture_output=True, text=True, timeout=30)
        except OSError:
            return None
        found = re.search(r"\)\s*(\d+(?:\.\d+)*)", out.stdout)
        if out.returncode != 0 or not found:
            return None
        versions.add(found.group(1))
    return versions.pop() if len(versions) == 1 else None


def find_tools(at_least: int, prefer: str, why: str) -> Tools:
    """pg_dump, pg_restore and psql of one version >= at_least: the oldest fitting ("oldest") or the newest."""
    found = [Tools(f, v) for f in _candidate_folders() if (v := _version(f))]
    fitting = sorted((t for t in found if t.major >= at_least), key=lambda t: t.major, reverse=prefer == "newest")
    if fitting:
        return fitting[0]
    seen = ", ".join(f"{t.version} in {t.folder}" for t in found) or "none"
    raise BackupError(
        f"no pg_dump/pg_restore/psql of version {at_least} or newer ({why}); found: {seen}. "
        f"Install the PostgreSQL {at_least} client tools or set PIPELINE_PG_BIN to their folder"
    )
