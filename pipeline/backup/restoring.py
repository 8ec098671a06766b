"""Restores of a backup: into the warehouse in one checked transaction, into a new database; deep verify."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import typing
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from psycopg2 import sql

from .. import analytics, warehouse
from ..orchestration import writelock
from .archive import Backup, check, find, first_line, server_version_of
from .manifest import DROP_SCHEMAS_SQL, BackupError, Tools, find_tools, tool_connection, verify_sql, with_database

LOCK_TIMEOUT = "60s"  # how long a restore waits for other sessions (a run, the app) to let go of the warehouse


@dataclass(frozen=True)
class Restored:
    backup: Backup
    where: str
    rebuilt: list[str]  # materialized views that pg_restore rebuilt and that differ from the backup (reported)

    def __str__(self) -> str:
        tables = [t for t in self.backup.manifest["tables"] if t["kind"] == "table"]
        views = len(self.backup.manifest["tables"]) - len(tables)
        text = (
            f"{self.backup.name} restored into {self.where}: {len(tables)} tables, "
            f"{sum(t.get('rows') or 0 for t in tables):,} rows, every count and checksum equals the manifest"
        )
        if views:
            text += f"; {views} materialized views rebuilt from them, " + (
                f"{len(self.rebuilt)} differ from the backup ({'; '.join(self.rebuilt)}: their queries read the "
                "clock or sum floats in another order)"
                if self.rebuilt
                else "all equal to the manifest"
            )
        return text


def verify(name: str, deep: bool = False, folder: Path | None = None) -> str:
    """Check a backup; deep: also restore it into a scratch database and compare every table with the manifest."""
    backup = find(name, folder)
    tools = check(backup)
    if not deep:
        return f"{backup.name}: archive readable by pg_restore, sha256 matches ({backup.size:,} bytes)"
    scratch = f"{backup.manifest['database'][:40]}_verify_{uuid.uuid4().hex[:8]}"
    rebuilt = _restore_new(backup, scratch, tools, portable=False, keep_database=False)
    return f"verified: {Restored(backup, 'a scratch database (dropped again)', rebuilt)}"


def restore(name: str, target_db: str | None = None, folder: Path | None = None, portable: bool = False) -> Restored:
    """Restore a backup into the warehouse (replacing it in one transaction) or into a new database."""
    backup = find(name, folder)
    if target_db:
        tools = check(backup)  # before anything is touched
        return Restored(
            backup,
            f"the new database {target_db}",
            _restore_new(backup, target_db, tools, portable, keep_database=True),
        )
    with writelock.replacing("restore"):  # refused at once while a run holds the warehouse
        tools = check(backup)
        return Restored(
            backup,
            f"the warehouse ({warehouse.describe()})",
            _restore_into(warehouse.url(), backup, tools, replace=True, portable=portable),
        )


def _admin(url: str):
    conn = warehouse.connect("restore", url)
    conn.autocommit = True
    return conn


def _restore_new(backup: Backup, database: str, tools: Tools, portable: bool, keep_database: bool) -> list[str]:
    """Create a database on the warehouse's server and restore into it; it is dropped again on failure."""
    url = warehouse.url()
    admin = _admin(url)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone():
                raise BackupError(f"the database {database} already exists: choose a new name")
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(database)))
        ok = False
        try:
            rebuilt = _restore_into(with_database(url, database), backup, tools, replace=False, portable=portable)
            ok = True
        finally:
            if not (ok and keep_database):
                with admin.cursor() as cur:
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    finally:
        admin.close()
    return rebuilt


def _restore_into(url: str, backup: Backup, tools: Tools, replace: bool, portable: bool) -> list[str]:
    """Stream pg_restore's script through psql inside one transaction that only commits when every table equals
    the manifest. A failure anywhere (pg_restore, psql, a check, a kill) ends the session without COMMIT."""
    with contextlib.closing(warehouse.connect(address=url, name="")) as conn, conn.cursor() as cur:
        version, major = server_version_of(cur)
    if major > tools.major:
        tools = find_tools(major, "newest", f"the server is PostgreSQL {version}")
    conninfo, env = tool_connection(url, "insurance-pipeline-restore")
    prelude = (
        f"BEGIN;\nSET client_min_messages = warning;\nSET lock_timeout = '{LOCK_TIMEOUT}';\n"
        + analytics.BUILD_SETTINGS
        + "\n"  # the archive's materialized views are refreshed as a run builds them
        + (DROP_SCHEMAS_SQL if replace else "")
    )
    epilogue = verify_sql(backup.manifest["tables"]) + "\nCOMMIT;\n"
    restore_args = [tools["pg_restore"], "--clean", "--if-exists", "--no-owner", "--file=-", str(backup.archive)]
    if portable:
        restore_args.insert(1, "--no-privileges")  # roles of another machine need not exist here
    psql_args = [tools["psql"], "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}", "--file=-"]
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        psql = subprocess.Popen(psql_args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
        source = subprocess.Popen(
            restore_args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=restore_err, env=env
        )
        to_psql, from_restore = typing.cast(IO[bytes], psql.stdin), typing.cast(IO[bytes], source.stdout)  # PIPEs
        try:
            to_psql.write(prelude.encode())
            to_psql.flush()
            _pump(from_restore, to_psql)
            if source.wait() == 0:  # only a whole script is followed by the check and the COMMIT
                to_psql.write(epilogue.encode())
                to_psql.flush()
        except BrokenPipeError:
            pass  # psql stopped at an error: reported below
        finally:
            with contextlib.suppress(BrokenPipeError):
                to_psql.close()
            from_restore.close()
            if source.poll() is None:
                source.kill()
            source.wait()
            psql.wait()
        restore_err.seek(0)
        psql_err.seek(0)
        restore_text, psql_text = (
            restore_err.read().decode(errors="replace"),
            psql_err.read().decode(errors="replace"),
        )
    if psql.returncode != 0:
        raise BackupError(_explain(psql_text) + "; nothing was changed")
    if source.returncode != 0:
        raise BackupError(f"pg_restore failed: {first_line(restore_text)}; nothing was changed")
    return [
        part
        for line in psql_text.splitlines()
        if "BACKUP-REBUILT " in line
        for part in line.split("BACKUP-REBUILT ", 1)[1].split("; ")
    ]


def _explain(psql_text: str) -> str:
    message = first_line(psql_text)
    if message.startswith("BACKUP-MISMATCH"):
        return "the restored data differs from the manifest: " + message.split(" ", 1)[1]
    if "lock timeout" in message:
        return f"the warehouse stayed busy for {LOCK_TIMEOUT} (a run or the app holds it): {message}"
    return f"restore failed: {message}"


def _pump(source, target) -> None:
    """Copy a pipe into another (zero-copy where the OS allows)."""
    if hasattr(os, "splice"):
        while os.splice(source.fileno(), target.fileno(), 1 << 20):
            pass
        return
    shutil.copyfileobj(source, target, 1 << 20)
