"""Backups of the warehouse: pg_dump archives with manifests, finding and checking them, retention."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from .. import config, warehouse
from ..orchestration.lifeline import pid_alive
from .manifest import (
    ARCHIVE,
    FORMAT,
    MANIFEST,
    BackupError,
    Tools,
    database_name,
    file_sha256,
    find_tools,
    major_of,
    table_checksums,
    tool_connection,
    write_json,
)
from .schema import read_manifest

# Custom format, gzip level 1: one file to hash and ship; the default gzip 6 dumps much slower for a little less, and
# a restore in one transaction cannot use the directory format's parallel jobs (figures: docs/measurements.md).
DUMP_OPTIONS = ("--format=custom", "--compress=1", "--no-unlogged-table-data")  # see TABLES_SQL


@dataclass(frozen=True)
class Backup:
    folder: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def archive(self) -> Path:
        return self.folder / self.manifest["archive"]["file"]

    @property
    def total_rows(self) -> int:
        return self.manifest["total_rows"]

    @property
    def size(self) -> int:
        return self.manifest["archive"]["size"]


def _pipeline_version() -> str:
    """The installed package's version (its metadata, as pip installed it), or "unknown" when it is not installed."""
    try:
        return importlib.metadata.version("insurance-pipeline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _latest_run(cur) -> str | None:
    for table, column in (("ops.runs", "started_at"), ("ops.markers", "completed_at")):
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0]:
            cur.execute(f"SELECT run_id FROM {table} ORDER BY {column} DESC, run_id DESC LIMIT 1")  # noqa: S608
            row = cur.fetchone()
            if row:
                return row[0]
    return None


def server_version_of(cur) -> tuple[str, int]:
    cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
    version, number = cur.fetchone()
    return version, number // 10000


def _where(url: str) -> str:
    """Where a database is, without user or password: safe for manifests and messages."""
    params = psycopg2.extensions.parse_dsn(url)
    host = params.get("host") or "localhost"
    return f"{params.get('dbname', '?')} on {host}" + (f":{params['port']}" if params.get("port") else "")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create(url: str | None = None, folder: Path | None = None, keep: int | None = None) -> Backup:
    """pg_dump the warehouse into folder/<database>-<UTC time>/ with its manifest; then apply retention."""
    url = url or warehouse.url()
    folder = Path(folder or config.backup_dir())
    folder.mkdir(parents=True, exist_ok=True)
    database = database_name(url)
    started = datetime.datetime.now(datetime.UTC)
    partial = folder / f".{database}-{started:%Y%m%dT%H%M%SZ}.partial-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    partial.mkdir()
    conn = warehouse.connect("backup", url)
    try:
        # One snapshot for the archive and the manifest: pg_dump imports the one this transaction exports,
        # so the counts and checksums describe exactly the rows in the archive, whatever runs meanwhile.
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = (cur.fetchone() or (None,))[0]
            server_version, server_major = server_version_of(cur)
            tools = find_tools(server_major, "oldest", f"the server is PostgreSQL {server_version}")
            conninfo, env = tool_connection(url, "insurance-pipeline-backup")
            with tempfile.TemporaryFile() as errors:
                dump = subprocess.Popen(
                    [
                        tools["pg_dump"],
                        *DUMP_OPTIONS,
                        f"--snapshot={snapshot}",
                        f"--file={partial / ARCHIVE}",
                        f"--dbname={conninfo}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env=env,
                )
                try:
                    tables = table_checksums(conn)  # meanwhile: pg_dump works in its own process
                    latest_run = _latest_run(cur)
                except BaseException:
                    dump.kill()
                    dump.wait()
                    raise
                if dump.wait() != 0:
                    errors.seek(0)
                    raise BackupError(f"pg_dump failed: {first_line(errors.read().decode(errors='replace'))}")
        conn.rollback()
        size = (partial / ARCHIVE).stat().st_size
        with open(partial / ARCHIVE, "rb+") as f:
            os.fsync(f.fileno())
        manifest = {
            "format": FORMAT,
            "database": database,
            "source": _where(url),
            "created_at": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "server_version": server_version,
            "pg_dump_version": tools.version,
            "pipeline_version": _pipeline_version(),
            "latest_run": latest_run,
            "archive": {
                "file": ARCHIVE,
                "format": "custom",
                "options": list(DUMP_OPTIONS),
                "sha256": file_sha256(partial / ARCHIVE),
                "size": size,
            },
            "total_rows": sum(t.get("rows") or 0 for t in tables),
            "tables": tables,
        }
        write_json(partial / MANIFEST, manifest)
        final = rename_free(partial, folder, f"{database}-{started:%Y%m%dT%H%M%SZ}")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        conn.close()
    prune(folder, database, config.backups().keep if keep is None else keep)
    return Backup(final, manifest)


def rename_free(partial: Path, folder: Path, name: str) -> Path:
    """Rename the finished backup to its name, or name-2, -3... after the backups of the same second (names never
    go back in time, even when retention removed the first of them)."""
    taken = [int(s[1:] or 1) for p in folder.glob(f"{name}*") if re.fullmatch(r"(-\d+)?", s := p.name[len(name) :])]
    start = max(taken) + 1 if taken else 1
    for n in range(start, start + 1000):
        final = folder / (name if n == 1 else f"{name}-{n}")
        try:
            os.rename(partial, final)  # fails when the name exists (another process took it meanwhile)
        except OSError:
            continue
        _fsync_dir(folder)
        return final
    raise BackupError(f"no free name for {name} in {folder}")


def backups(folder: Path | None = None) -> list[Backup]:
    """The finished backups in a folder, newest first (unfinished and foreign folders are skipped)."""
    folder = Path(folder or config.backup_dir())
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.is_dir() and not path.name.startswith(".") and (path / MANIFEST).exists():
            with contextlib.suppress(BackupError):
                found.append(Backup(path, read_manifest(path)))
    return sorted(found, key=lambda b: (b.manifest["created_at"], b.name), reverse=True)


def find(name: str, folder: Path | None = None) -> Backup:
    """A backup by name, or a path to a backup folder, or "latest" (the warehouse database's newest, else any)."""
    folder = Path(folder or config.backup_dir())
    if name == "latest":
        found = backups(folder)
        if not found:
            raise BackupError(f"no backups in {folder}")
        database = database_name(warehouse.url())
        return next((b for b in found if b.manifest["database"] == database), found[0])
    path = Path(name) if Path(name).is_dir() and (Path(name) / MANIFEST).exists() else folder / name
    if not path.is_dir():
        raise BackupError(f"no backup named {name} in {folder} (python -m pipeline backup list shows them)")
    return Backup(path, read_manifest(path))


def prune(folder: Path, database: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups of a database (keep <= 0 keeps all), and dead unfinished ones."""
    removed = []
    for path in Path(folder).glob(f".{database}-*.partial-*"):
        pid = int(path.name.split(".partial-")[1].split("-")[0])
        if pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
    if keep > 0:
        for old in [b for b in backups(folder) if b.manifest["database"] == database][keep:]:
            shutil.rmtree(old.folder)
            removed.append(old.name)
    return removed


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        for marker in ("ERROR:", "FATAL:", "error:"):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return lines[0] if lines else "no message"


def check(backup: Backup) -> Tools:
    """The archive is whole (size and sha256 as in the manifest) and pg_restore can read it; the tools to use."""
    archive, expected = backup.archive, backup.manifest["archive"]
    if not archive.is_file():
        raise BackupError(f"{backup.name}: the archive {archive.name} is missing")
    if archive.stat().st_size != expected["size"]:
        raise BackupError(
            f"{backup.name}: the archive has {archive.stat().st_size:,} bytes, the manifest says "
            f"{expected['size']:,} (truncated or altered): refused"
        )
    if file_sha256(archive) != expected["sha256"]:
        raise BackupError(f"{backup.name}: the archive's sha256 differs from the manifest (altered): refused")
    tools = find_tools(
        major_of(backup.manifest["pg_dump_version"]),
        "newest",
        f"the archive was made by pg_dump {backup.manifest['pg_dump_version']}",
    )
    listed = subprocess.run([tools["pg_restore"], "--list", str(archive)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise BackupError(f"{backup.name}: pg_restore cannot read the archive: {first_line(listed.stderr)}")
    if re.search(r"^\d+;.* (BLOBS?|LARGE OBJECTS?|BLOB METADATA) ", listed.stdout, re.MULTILINE):
        # pg_restore's script commits large objects by itself, which would end the one transaction early
        raise BackupError(
            f"{backup.name}: the archive holds large objects, which a one-transaction restore "
            "cannot take: restore it with pg_restore by hand"
        )
    return tools
