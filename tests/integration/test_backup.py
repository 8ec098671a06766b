"""Backups on a real PostgreSQL with the real pg_dump, pg_restore and psql: round trips, refusals, kills, bundles."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

from pipeline import backup, config, warehouse
from pipeline.backup import bundle as backup_bundle
from pipeline.backup.manifest import (
    CHECKSUM_SQL,
    BackupError,
    database_name,
    file_sha256,
    find_tools,
    table_checksums,
    tool_connection,
    verify_sql,
    with_database,
)
from pipeline.cli import backup as backup_cli
from pipeline.orchestration.tasks import LoadTable, Transform

from tests.support import ROOT, build, execute, query, scalar

RESTORE_APP = "insurance-pipeline-restore"


def contents(url: str) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of the sorted rows of every table and materialized view: an oracle independent of the
    manifest's checksums, materialized views included (analytics.kpis too: its built_at is the newest run's start)."""
    found = {}
    with psycopg2.connect(url, options="-c TimeZone=UTC -c extra_float_digits=1") as conn, conn.cursor() as cur:
        cur.execute("""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relkind IN ('r', 'm') AND n.nspname NOT LIKE 'pg\\_%'
                         AND n.nspname <> 'information_schema' ORDER BY 1, 2""")
        for schema, name in cur.fetchall():
            row = sql.SQL("t::text")
            cur.execute(
                sql.SQL(
                    "SELECT count(*), md5(string_agg({row}, '|' ORDER BY {row} COLLATE \"C\")) FROM {table} t"
                ).format(row=row, table=sql.Identifier(schema, name))
            )
            found[f"{schema}.{name}"] = cur.fetchone()
    conn.close()
    return found


def change_everything(url: str) -> None:
    """What a bad day does: rows deleted and altered, a table dropped, a schema dropped, a stray table added."""
    execute(
        url,
        "DELETE FROM clean.payments WHERE payment_id IN (SELECT payment_id FROM clean.payments LIMIT 50)",
        "UPDATE clean.customers SET risk_score = risk_score + 1",
        "DROP TABLE raw.claims",
        "DROP SCHEMA analytics CASCADE",
        "CREATE TABLE ops.stray (x int)",
        "INSERT INTO ops.runs (run_id) VALUES ('not-in-the-backup')",
    )


def cli(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline")
    backup_cli.add_cli(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(list(args))
    return parsed.func(parsed)


def test_backup_change_restore_gives_back_every_table(built, backups_dir, capsys):
    before = contents(built)
    assert cli("backup") == 0
    made = backup.backups()[0]
    manifest = json.loads((made.folder / "manifest.json").read_text())
    assert made.name.startswith(f"{database_name(built)}-")
    assert manifest["archive"]["sha256"] == file_sha256(made.archive)
    assert manifest["archive"]["size"] == made.archive.stat().st_size
    latest = query(built, "SELECT run_id FROM ops.runs ORDER BY started_at DESC, run_id DESC LIMIT 1") or query(
        built, "SELECT run_id FROM ops.markers ORDER BY completed_at DESC, run_id DESC LIMIT 1"
    )
    assert manifest["latest_run"] == latest[0][0]
    assert manifest["server_version"] and manifest["pg_dump_version"] and manifest["pipeline_version"]
    listed = {f"{t['schema']}.{t['table']}": t for t in manifest["tables"]}
    assert set(listed) == set(before)  # every table and materialized view of every schema
    assert {name.split(".")[0] for name in listed} == {"raw", "clean", "quality", "analytics", "ops"}
    assert all(listed[name]["rows"] == before[name][0] for name in listed)
    assert listed["analytics.kpis"]["kind"] == "materialized view"
    assert listed["analytics.policy_summary"]["kind"] == "table"  # a keyed table, refreshed by customer

    change_everything(built)
    assert contents(built) != before
    assert cli("backup", "restore", made.name, "--yes") == 0
    out = capsys.readouterr().out
    assert "every count and checksum equals the manifest" in out
    assert contents(built) == before
    assert scalar(built, "SELECT to_regclass('ops.stray')") is None


def test_a_delivery_loaded_and_not_yet_published_is_backed_up_and_published_after_the_restore(
    built, backups_dir, data_dir
):
    """A backup holds the published tables and the staged delivery with the markers that say it was loaded: the
    restore gives back both, and the next run heals and publishes the delivery (the same file is not loaded again)."""
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "payments.parquet")
    pq.write_table(table.slice(0, table.num_rows - 10), data_dir / "payments.parquet")
    assert build(LoadTable("payments")).scheduling_succeeded
    before = contents(built)
    assert before["incoming.payments"][0] == table.num_rows - 10 == before["raw.payments"][0] - 10
    assert cli("backup") == 0
    made = backup.backups()[0]
    assert "incoming.payments" in {f"{t['schema']}.{t['table']}" for t in made.manifest["tables"]}

    change_everything(built)
    execute(built, "DROP TABLE incoming.payments")
    assert cli("backup", "restore", made.name, "--yes") == 0
    after = contents(built)
    after.pop("analytics.kpis"), before.pop("analytics.kpis")  # its latest run: the load's, after the restore
    assert after == before
    assert build(Transform()).scheduling_succeeded
    ran = query(
        built,
        """SELECT task_family, params->>'table' FROM ops.task_runs
                          WHERE run_id = (SELECT run_id FROM ops.task_runs ORDER BY id DESC LIMIT 1) ORDER BY 1""",
    )
    assert ran == [("HealTable", "payments"), ("Transform", None)]
    assert scalar(built, "SELECT count(*) FROM raw.payments") == table.num_rows - 10
    assert scalar(built, "SELECT to_regclass('incoming.payments')") is None


def _verify(url: str, tables: list[dict]) -> str | None:
    """None when the database equals the manifest entries, else the mismatch message."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        try:
            cur.execute(verify_sql(tables))
            return None
        except psycopg2.Error as exc:
            return str(exc).splitlines()[0]
        finally:
            conn.rollback()


def test_checksums_see_json_changes_and_swapped_values_and_older_manifests_still_verify(database_url):
    execute(
        database_url,
        "CREATE TABLE public.q (id int, note text, original json, ok boolean, day date)",
        """INSERT INTO public.q VALUES (1, 'a', '{"x": 1}', true, '2024-01-01'), (2, 'b', '{"x": 2}', NULL, NULL)""",
        "CREATE TABLE public.plain (id int NOT NULL, note text, other text)",
        "INSERT INTO public.plain VALUES (1, 'a', 'c'), (2, 'b', 'd')",
    )
    with psycopg2.connect(database_url) as conn:
        tables = {t["table"]: t for t in table_checksums(conn)}
    conn.close()
    assert tables["q"]["method"] == "columns" and tables["plain"]["method"] == "columns"  # json hashed as its text
    assert _verify(database_url, list(tables.values())) is None

    execute(database_url, """UPDATE public.q SET original = '{"x": 3}' WHERE id = 2""")
    assert "public.q: checksum differs" in _verify(database_url, list(tables.values()))
    execute(
        database_url, """UPDATE public.q SET original = '{"x": 2}' WHERE id = 2""", "UPDATE public.q SET ok = false"
    )
    assert "public.q: checksum differs" in _verify(database_url, list(tables.values()))  # a NULL became a value
    execute(database_url, "UPDATE public.q SET ok = CASE id WHEN 1 THEN true END")
    assert _verify(database_url, list(tables.values())) is None
    execute(database_url, "UPDATE public.plain SET note = CASE id WHEN 1 THEN 'b' ELSE 'a' END")  # swapped between rows
    assert "public.plain: checksum differs" in _verify(database_url, list(tables.values()))
    execute(database_url, "UPDATE public.plain SET note = CASE id WHEN 1 THEN 'a' ELSE 'b' END")
    assert _verify(database_url, list(tables.values())) is None
    execute(database_url, "UPDATE public.plain SET note = other, other = note")  # swapped between columns
    assert "public.plain: checksum differs" in _verify(database_url, list(tables.values()))
    execute(database_url, "UPDATE public.plain SET note = other, other = note")

    # Manifests made before the "columns" method hold "row" or "hash" checksums: they are still checked.
    for method, cols in (("row", "t.id, t.note, t.other"), ("hash", "")):
        rows, checksum = query(database_url, CHECKSUM_SQL[method].format(table="public.plain", cols=cols))[0]
        older = {**tables, "plain": {**tables["plain"], "method": method, "rows": rows, "checksum": checksum}}
        assert _verify(database_url, list(older.values())) is None
        older["plain"]["checksum"] = "0"
        assert "public.plain: checksum differs" in _verify(database_url, list(older.values()))


def test_checksums_ignore_dropped_columns(database_url):
    """A dump recreates a table without its dropped columns, so later columns change position: same checksum."""
    execute(
        database_url,
        "CREATE TABLE public.d (id int, gone text, note text, at timestamptz)",
        "INSERT INTO public.d VALUES (1, 'x', 'a', '2024-01-01 10:00+00'), (2, 'y', NULL, NULL)",
        "ALTER TABLE public.d DROP COLUMN gone",
        "CREATE TABLE public.fresh (id int, note text, at timestamptz)",
        "INSERT INTO public.fresh SELECT * FROM public.d",
    )
    with psycopg2.connect(database_url) as conn:
        tables = {t["table"]: t for t in table_checksums(conn)}
    conn.close()
    assert tables["d"]["rows"] == 2 and tables["d"]["checksum"] == tables["fresh"]["checksum"]


def test_a_killed_heals_work_tables_stay_out_of_backups_and_restores(built, backups_dir):
    """Unlogged tables are scratch (a heal killed midway leaves its work tables): no rows in the archive, not in the
    manifest, back empty after a restore; an older manifest that listed them still verifies."""
    execute(built, "CREATE UNLOGGED TABLE ops.heal_customers_rows AS SELECT * FROM clean.customers")
    before = {name: found for name, found in contents(built).items() if name != "ops.heal_customers_rows"}
    assert cli("backup") == 0
    made = backup.backups()[0]
    listed = {f"{t['schema']}.{t['table']}" for t in made.manifest["tables"]}
    assert "ops.heal_customers_rows" not in listed and listed == set(before)
    archive = subprocess.run(
        [backup.check(made)["pg_restore"], "--list", str(made.archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE ops heal_customers_rows" in archive and "TABLE DATA ops heal_customers_rows" not in archive
    older = [
        *made.manifest["tables"],
        {"schema": "ops", "table": "heal_customers_rows", "kind": "table", "method": "row", "rows": 7, "checksum": "1"},
    ]
    assert _verify(built, older) is None

    change_everything(built)
    assert cli("backup", "restore", made.name, "--yes") == 0
    after = contents(built)
    assert after.pop("ops.heal_customers_rows")[0] == 0 and after == before


def test_altered_or_truncated_archive_is_refused_and_the_warehouse_untouched(built, backups_dir, capsys):
    made = backup.create()
    change_everything(built)
    changed = contents(built)
    original = made.archive.read_bytes()

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF
    made.archive.write_bytes(bytes(flipped))
    with pytest.raises(BackupError, match="sha256 differs"):
        backup.restore(made.name)
    assert cli("backup", "verify", made.name) == 1
    assert "sha256 differs" in capsys.readouterr().err

    made.archive.write_bytes(original[: len(original) * 2 // 3])
    with pytest.raises(BackupError, match="truncated"):
        backup.restore(made.name)
    assert contents(built) == changed

    # Bytes that match their manifest but are no archive: pg_restore --list refuses them.
    made.archive.write_bytes(b"PGDMP" + bytes(1000))
    manifest = json.loads((made.folder / "manifest.json").read_text())
    manifest["archive"].update(size=1005, sha256=file_sha256(made.archive))
    (made.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="pg_restore cannot read the archive"):
        backup.restore(made.name)
    assert contents(built) == changed

    # A whole archive whose manifest no longer matches it: the restore runs, its last step compares every
    # table with the manifest, finds the difference and rolls everything back.
    made.archive.write_bytes(original)
    manifest["archive"].update(size=len(original), sha256=file_sha256(made.archive))
    next(t for t in manifest["tables"] if t["table"] == "claims" and t["schema"] == "clean")["checksum"] = "42"
    (made.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match=r"clean\.claims: checksum differs.*nothing was changed"):
        backup.restore(made.name)
    assert contents(built) == changed
    with pytest.raises(BackupError, match=r"clean\.claims: checksum differs"):
        backup.verify(made.name, deep=True)


def _restore_backend(url: str, timeout: float = 30) -> int:
    """The pid of the restore's session once it waits for a lock after dropping the warehouse's schemas."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(
            url,
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (RESTORE_APP,),
        )
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError("the restore never reached the locked table")


def _holds_dropped_tables(url: str, pid: int) -> bool:
    """The restore's open transaction has dropped clean.* (it holds their exclusive locks)."""
    return (
        scalar(
            url,
            """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                          JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE l.pid = %s AND l.granted AND l.mode = 'AccessExclusiveLock'
                            AND n.nspname = 'clean'""",
            (pid,),
        )
        > 0
    )


@pytest.mark.faults
def test_restore_killed_midway_leaves_the_warehouse_exactly_as_before(built, backups_dir):
    # public.gate is in the backup; a session holding it stops the restore midway: after the restore has dropped
    # every schema in its transaction and before it loads anything.
    execute(built, "CREATE TABLE public.gate (x int)")
    made = backup.create()
    change_everything(built)
    changed = contents(built)
    gate = psycopg2.connect(built)
    try:
        # 1. the connection dies (server restart, network): the restore fails and says so
        gate.cursor().execute("SELECT * FROM public.gate")
        failure = []
        worker = threading.Thread(target=lambda: failure.append(_capture(lambda: backup.restore(made.name))))
        worker.start()
        pid = _restore_backend(built)
        assert _holds_dropped_tables(built, pid)
        execute(built, f"SELECT pg_terminate_backend({pid})")
        worker.join(60)
        assert isinstance(failure[0], BackupError) and "nothing was changed" in str(failure[0])
        gate.rollback()
        assert contents(built) == changed

        # 2. the restoring process is killed (kill -9)
        gate.cursor().execute("SELECT * FROM public.gate")
        child = subprocess.Popen(
            [sys.executable, "-c", f"from pipeline import backup; backup.restore({made.name!r})"],
            cwd=ROOT,
            env=os.environ.copy(),
        )
        pid = _restore_backend(built)
        assert _holds_dropped_tables(built, pid)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        gate.rollback()  # the orphaned session goes on until its input ends, and ends without COMMIT
        deadline = time.monotonic() + 30
        while query(built, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert contents(built) == changed
    finally:
        gate.close()


def _capture(function):
    try:
        return function()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


def test_restore_into_a_new_database(built, backups_dir, pg_admin_url):
    before = contents(built)
    made = backup.create()
    execute(
        built, "UPDATE clean.claims SET notes = 'changed' WHERE claim_id IN (SELECT claim_id FROM clean.claims LIMIT 9)"
    )
    changed = contents(built)
    target = f"restored_{uuid.uuid4().hex[:8]}"
    try:
        result = backup.restore(made.name, target_db=target)
        assert "new database" in str(result)
        assert result.rebuilt == []  # every materialized view rebuilt from the restored data equals the backup's
        assert contents(with_database(built, target)) == before
        assert contents(built) == changed  # the warehouse is left alone
        with pytest.raises(BackupError, match="already exists"):
            backup.restore(made.name, target_db=target)
    finally:
        execute(built, f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    # a failed restore into a new database leaves no database behind
    manifest = json.loads((made.folder / "manifest.json").read_text())
    next(t for t in manifest["tables"] if t["kind"] == "table")["rows"] += 1
    (made.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="rows, the backup"):
        backup.restore(made.name, target_db=target)
    assert scalar(built, "SELECT count(*) FROM pg_database WHERE datname = %s", (target,)) == 0


def test_retention_keeps_the_newest_n_and_list_shows_them_newest_first(database_url, backups_dir, capsys):
    with warehouse.transaction() as conn:
        warehouse.bootstrap(conn)
    crashed = backups_dir / f".{database_name(database_url)}-20200101T000000Z.partial-999999999"
    crashed.mkdir(parents=True)  # what a crashed backup left (its process is gone)
    made = [backup.create(keep=2) for _ in range(4)]
    kept = backup.backups()
    assert [b.name for b in kept] == [made[3].name, made[2].name]
    assert not (backups_dir / made[0].name).exists() and not (backups_dir / made[1].name).exists()
    assert cli("backup", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(made[3].name) and lines[2].startswith(made[2].name) and len(lines) == 3
    assert config.backups().keep == 10 and config.backups().after_run is False
    assert not any(p.name.startswith(".") for p in backups_dir.iterdir())


def test_backup_is_one_consistent_snapshot_while_the_warehouse_changes(database_url, backups_dir):
    execute(
        database_url,
        "CREATE TABLE public.ticker (n bigint)",
        "INSERT INTO public.ticker SELECT generate_series(1, 200000)",
        # json and point have no hash function: such a table is checksummed through its text form
        """CREATE TABLE public.odd AS SELECT '{"b": 1, "a": [1.5, null]}'::json AS j, point(n, -n) AS p,
                      now() - n * interval '1 hour' AS at FROM generate_series(1, 100) n""",
    )
    stop = threading.Event()

    def write():
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO public.ticker SELECT generate_series(1, 1000)")
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        made = backup.create()
    finally:
        stop.set()
        writer.join()
    assert "every count and checksum equals the manifest" in backup.verify(made.name, deep=True)
    odd = next(t for t in made.manifest["tables"] if t["table"] == "odd")
    assert odd["method"] == "text" and odd["rows"] == 100


def test_passwords_stay_out_of_command_lines_manifests_and_output(database_url, backups_dir, capsys, monkeypatch):
    secret = f"S3cret-{uuid.uuid4().hex[:8]}"
    with_password = make_url(database_url).set(password=secret).render_as_string(hide_password=False)
    conninfo, env = tool_connection(with_password, "test")
    assert secret not in conninfo and env["PGPASSWORD"] == secret
    seen, stop = [], threading.Event()

    def watch():  # every client tool's command line, as other users of the machine can read it
        while not stop.is_set():
            for proc in Path("/proc").iterdir():
                try:
                    line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if any(tool in line for tool in ("pg_dump ", "pg_restore ", "psql ")):
                    seen.append(line)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        monkeypatch.setenv("PIPELINE_DATABASE_URL", with_password)
        made = backup.create()
        backup.verify(made.name, deep=True)
    finally:
        stop.set()
        watcher.join()
    assert any("pg_dump " in line for line in seen) and any("psql " in line for line in seen)
    assert not [line for line in seen if secret in line]
    assert secret not in (made.folder / "manifest.json").read_text()
    out = capsys.readouterr()
    assert secret not in out.out + out.err


def test_tools_fit_the_server_or_the_error_says_which_are_missing(database_url):
    server_major = scalar(database_url, "SELECT current_setting('server_version_num')::int") // 10000
    tools = find_tools(server_major, "oldest", "test")
    assert tools.major >= server_major
    assert Path(tools["pg_dump"]).exists() and Path(tools["pg_restore"]).exists()
    with pytest.raises(BackupError, match=r"no pg_dump/pg_restore/psql of version 99 or newer.*found: .*16"):
        find_tools(99, "newest", "test")


def test_cli_errors_are_one_line_without_traceback(database_url, backups_dir, capsys):
    assert cli("backup", "verify", "no-such-backup") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no backup named no-such-backup") and err.count("\n") == 1
    with warehouse.transaction() as conn:
        warehouse.bootstrap(conn)
    made = backup.create()
    assert cli("backup", "restore", made.name) == 1  # not confirmed: stdin is no terminal here
    err = capsys.readouterr().err
    assert "Add --yes" in err and "Traceback" not in err and err.count("\n") == 1


def test_bundle_from_one_warehouse_imports_into_a_fresh_embedded_one(built, backups_dir, data_dir, tmp_path):
    source = contents(built)
    bundle = backup_bundle.export(out=tmp_path / "warehouse.zip")
    machine = tmp_path / "elsewhere"  # another machine: an embedded warehouse that does not exist yet
    env = {k: v for k, v in os.environ.items() if k not in ("PIPELINE_DATABASE_URL", "PGPASSWORD")}
    env.update(
        PIPELINE_EMBEDDED_DIR=str(machine / "warehouse"),
        PIPELINE_DATA_DIR=str(machine / "data"),
        PIPELINE_BACKUP_DIR=str(machine / "backups"),
    )
    command = (
        "import argparse, sys; from pipeline.cli import backup as backup_cli; p = argparse.ArgumentParser(); "
        "backup_cli.add_cli(p.add_subparsers(required=True)); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    done = subprocess.run(
        [sys.executable, "-c", command, "bundle", "import", str(bundle), "--yes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    server = pgserver.get_server(machine / "warehouse" / "pgdata", cleanup_mode="stop")
    try:
        assert done.returncode == 0, done.stderr
        assert "every count and checksum equals the manifest" in done.stdout
        assert contents(server.get_uri(config.warehouse().database)) == source
        for path in data_dir.glob("*.parquet"):
            assert file_sha256(machine / "data" / path.name) == file_sha256(path)
        assert [b.name for b in backup.backups(machine / "backups")] == [backup.backups()[0].name]
    finally:
        server.cleanup()
