"""One lock on writing the warehouse, with real processes: a restore or bundle import is refused while a run (either
entry point) holds the warehouse, even between two of its tasks; a run started during a restore waits for it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from pipeline import backup, warehouse
from pipeline.backup import bundle as backup_bundle
from pipeline.backup.manifest import file_sha256, with_database

from tests.support import ROOT, execute, query, scalar

ENTRY_POINTS = {
    "python -m pipeline run": ["-m", "pipeline", "run", "--workers", "2"],
    "luigi --module pipeline Transform": [
        "-m",
        "luigi",
        "--module",
        "pipeline",
        "Transform",
        "--local-scheduler",
        "--no-lock",
        "--workers",
        "2",
    ],
}
BUSY = 10  # luigi.cfg [retcode] already_running: another process holds the warehouse


@pytest.fixture
def backups_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "backups"
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(folder))
    return folder


def start(args: list[str], folder: Path, name: str) -> subprocess.Popen:
    """A pipeline command in its own process group (its forked workers stop and die with it); output to files."""
    env = {**os.environ, "PIPELINE_PROGRESS": "0"}
    with open(folder / f"{name}.out", "w") as out, open(folder / f"{name}.err", "w") as err:
        child = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
    child.output = (folder / f"{name}.out", folder / f"{name}.err")
    return child


def output(child: subprocess.Popen) -> tuple[str, str]:
    return tuple(p.read_text(errors="replace") for p in child.output)


def finish(child: subprocess.Popen, timeout: float = 300) -> int:
    try:
        return child.wait(timeout)
    finally:
        stop(child)


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


OPEN_TRANSACTIONS = """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                       AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"""


def stop_between_tasks(url: str, child: subprocess.Popen, timeout: float = 180) -> None:
    """SIGSTOP the run (its whole process group) once some task is done and none has a transaction open: the gap
    between two tasks, where nothing of the run holds a lock on any table."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, f"the run ended ({child.returncode}) first: {output(child)[1][-2000:]}"
        done = (
            scalar(url, "SELECT count(*) FROM ops.markers")
            if scalar(url, "SELECT to_regclass('ops.markers') IS NOT NULL")
            else 0
        )
        if (
            done
            and not scalar(url, "SELECT count(*) FROM ops.markers WHERE task_id = 'transform'")
            and not scalar(url, OPEN_TRANSACTIONS)
        ):
            os.killpg(child.pid, signal.SIGSTOP)
            time.sleep(0.3)  # a statement sent just before the stop has reached the server by now
            if not scalar(url, OPEN_TRANSACTIONS):
                return
            os.killpg(child.pid, signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the run was never between two tasks")


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_restore_and_bundle_import_are_refused_between_two_tasks_of_a_run(
    entry, database_url, data_dir, backups_dir, tmp_path
):
    with warehouse.transaction() as conn:
        warehouse.bootstrap(conn)
    execute(database_url, "CREATE TABLE public.from_backup (x int)")
    made = backup.create()
    # The bundle's source files differ from the folder's: a refused import must leave the folder alone.
    other_data = tmp_path / "other-data"
    shutil.copytree(data_dir, other_data)
    shutil.copyfile(data_dir / "agents.parquet", other_data / "branches.parquet")
    bundle = backup_bundle.export(out=tmp_path / "bundle.zip", name=made.name, data_dir=other_data)
    execute(database_url, "DROP TABLE public.from_backup")
    sources = {p.name: file_sha256(p) for p in data_dir.glob("*.parquet")}

    run = start(ENTRY_POINTS[entry], tmp_path, "run")
    new_db = f"aside_{make_url(database_url).database[-10:]}"
    try:
        stop_between_tasks(database_url, run)
        run_id = scalar(database_url, "SELECT run_id FROM ops.runs WHERE pid = %s", (run.pid,))
        holder = f"a run (pid {run.pid}, run {run_id}) is writing the warehouse"

        restored = command("backup", "restore", made.name, "--yes")
        assert restored.returncode == BUSY, restored.stdout + restored.stderr
        assert restored.stderr == f"error: {holder}; restore refused: wait for it to finish or stop it\n"
        imported = command("bundle", "import", str(bundle), "--yes")
        assert imported.returncode == BUSY, imported.stdout + imported.stderr
        assert imported.stderr == f"error: {holder}; bundle import refused: wait for it to finish or stop it\n"
        # Another database is not the warehouse: a restore into a new one goes ahead.
        aside = command("backup", "restore", made.name, "--target-db", new_db)
        assert aside.returncode == 0, aside.stderr
        assert scalar(with_database(database_url, new_db), "SELECT to_regclass('public.from_backup') IS NOT NULL")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGCONT)
        code = finish(run)
        execute(database_url, f'DROP DATABASE IF EXISTS "{new_db}" WITH (FORCE)')
    assert code == 0, output(run)[1][-3000:]
    assert scalar(database_url, "SELECT to_regclass('public.from_backup')") is None  # never restored
    assert scalar(database_url, "SELECT status FROM ops.runs WHERE run_id = %s", (run_id,)) == "done"
    assert scalar(database_url, "SELECT count(*) FROM ops.markers WHERE task_id = 'transform'") == 1
    assert {p.name: file_sha256(p) for p in data_dir.glob("*.parquet")} == sources


def _restore_waits_at_gate(url: str, restore: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert restore.poll() is None, output(restore)
        if query(
            url,
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'insurance-pipeline-restore' "
            "AND wait_event_type = 'Lock'",
        ):
            return
        time.sleep(0.05)
    pytest.fail("the restore never reached the gate")


def _wait_for_line(child: subprocess.Popen, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in output(child)[0]:
            return
        assert child.poll() is None, output(child)
        time.sleep(0.05)
    pytest.fail(f"the run never said {text!r}: {output(child)}")


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_run_started_during_a_restore_waits_for_it_then_runs_on_the_restored_warehouse(
    entry, database_url, data_dir, backups_dir, tmp_path
):
    with warehouse.transaction() as conn:
        warehouse.bootstrap(conn)
    execute(database_url, "CREATE TABLE public.gate (x int)")  # in the backup: a session reading it stops the restore
    made = backup.create()
    execute(database_url, "CREATE TABLE ops.stray (x int)")

    gate = psycopg2.connect(database_url)
    restore = start(["-m", "pipeline", "backup", "restore", made.name, "--yes"], tmp_path, "restore")
    run = None
    try:
        gate.cursor().execute("SELECT * FROM public.gate")
        _restore_waits_at_gate(database_url, restore)
        run = start(ENTRY_POINTS[entry], tmp_path, "run")
        waiting = f"a restore (pid {restore.pid}) is replacing the warehouse; the run waits for it to finish"
        _wait_for_line(run, waiting)
        # Waiting for the lock, not stuck behind the restore's tables halfway through something.
        sessions = query(
            database_url,
            """SELECT wait_event FROM pg_stat_activity WHERE datname = current_database()
                                          AND application_name LIKE 'insurance-pipeline-lock run%%'""",
        )
        assert sessions == [("advisory",)]
        gate.rollback()
        assert finish(restore) == 0, output(restore)
        assert finish(run) == 0, output(run)[1][-3000:]
    finally:
        gate.close()
        stop(restore)
        if run is not None:
            stop(run)
    assert "every count and checksum equals the manifest" in output(restore)[0]
    assert output(run)[0].count(waiting) == 1
    assert scalar(database_url, "SELECT to_regclass('ops.stray')") is None  # the restore happened, then the run
    assert scalar(database_url, "SELECT status FROM ops.runs WHERE pid = %s", (run.pid,)) == "done"
    assert scalar(database_url, "SELECT count(*) FROM ops.markers WHERE task_id = 'transform'") == 1
