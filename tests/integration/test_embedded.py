"""The embedded PostgreSQL after `kill -9` of its postmaster: the next command starts it again, a run whose server
died mid-run restarts it and finishes, and a start that fails says why in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import psycopg2
import pyarrow.parquet as pq
import pytest

from pipeline.synth import generate
from pipeline.tables import TABLES

from .test_faults import IN_TASK
from tests.support import ROOT, SAMPLE

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # kill -9 of the embedded postmaster


def cli(folder: Path, *args: str, data: Path = SAMPLE) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PIPELINE_DATABASE_URL": "",
        "PIPELINE_EMBEDDED_DIR": str(folder),
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_REPORT_DIR": str(folder / "reports"),
        "PIPELINE_PROGRESS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def postmaster(folder: Path) -> tuple[int, str]:
    """The running postmaster's pid and the URI of the warehouse database on it."""
    lines = (folder / "pgdata" / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), f"postgresql://postgres:@/warehouse?host={lines[4]}"


def server_processes(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if (
                process.info["name"] == "postgres"
                and Path(process.cwd()) == (folder / "pgdata").resolve()
                and alive(process.pid)
            ):
                found.append(process)
    return found


def alive(pid: int) -> bool:
    """Running (a killed process whose parent is gone may stay a zombie where nothing reaps it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def counts(uri: str) -> dict[str, tuple[int, int]]:
    """Per table: raw rows, and clean + quarantined rows."""
    with contextlib.closing(psycopg2.connect(uri)) as conn, conn.cursor() as cur:
        found = {}
        for name in TABLES:
            cur.execute(
                f"SELECT (SELECT count(*) FROM raw.{name}), (SELECT count(*) FROM clean.{name}) + "
                "(SELECT count(*) FROM quality.quarantine WHERE table_name = %s)",
                (name,),
            )
            found[name] = cur.fetchone()
        return found


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """An embedded warehouse of this module, filled by one run of the sample; its server stopped at the end."""
    folder = tmp_path_factory.mktemp("embedded") / "wh"
    first = cli(folder, "run")
    assert first.returncode == 0, first.stderr[-3000:]
    yield folder
    for process in server_processes(folder):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL)


def test_a_command_after_kill_9_of_the_postmaster_starts_the_server_again(embedded):
    pid, uri = postmaster(embedded)
    # A query is running when the postmaster dies: its backend lives on, holding the dead server's memory.
    busy = psycopg2.connect(uri)
    threading.Thread(target=_run, args=(busy,), daemon=True).start()
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    assert not alive(pid) and server_processes(embedded), "no orphaned backend: nothing to test"

    status = cli(embedded, "status")
    assert status.returncode == 0, status.stderr[-3000:]
    assert "23 done" in status.stdout and "Traceback" not in status.stderr
    new_pid, uri = postmaster(embedded)
    assert new_pid != pid
    assert all(raw == kept for raw, kept in counts(uri).values())
    busy.close()


def _run(conn) -> None:
    with contextlib.suppress(psycopg2.Error), conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM generate_series(1, 5000000000)")  # minutes of CPU, no wait on a latch


def test_a_run_whose_server_is_killed_mid_run_restarts_it_and_finishes(embedded, tmp_path):
    data = tmp_path / "data"
    generate.generate(data, scale=0.05, seed=7)
    env = {
        **os.environ,
        "PIPELINE_DATABASE_URL": "",
        "PIPELINE_EMBEDDED_DIR": str(embedded),
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
    }
    with open(tmp_path / "err.txt", "w") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        pid, uri = postmaster(embedded)
        with contextlib.closing(psycopg2.connect(uri)) as watcher:
            watcher.autocommit = True
            deadline = time.monotonic() + 300
            with watcher.cursor() as cur:
                while True:
                    cur.execute(IN_TASK, ("warehouse", "heal:payments", "%"))
                    if cur.fetchone():
                        break
                    assert run.poll() is None, (tmp_path / "err.txt").read_text()[-3000:]
                    assert time.monotonic() < deadline, "the payments heal never started"
                    time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)  # the server dies in the middle of the heal
        code = run.wait(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    errors = (tmp_path / "err.txt").read_text()
    assert code == 0, errors[-3000:]
    assert "HealTable(table=payments): transient database error" in errors, errors[-3000:]
    new_pid, uri = postmaster(embedded)
    assert new_pid != pid
    found = counts(uri)
    assert {name: raw for name, (raw, _) in found.items()} == {
        name: pq.ParquetFile(data / f"{name}.parquet").metadata.num_rows for name in TABLES
    }
    assert all(raw == kept for raw, kept in found.values()), found
    with contextlib.closing(psycopg2.connect(uri)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.markers WHERE fingerprint <> 'invalidated'")
        assert cur.fetchone()[0] == 2 * len(TABLES) + 1


def test_a_start_that_fails_says_what_happened_and_what_to_do_in_one_line(embedded):
    pid, _ = postmaster(embedded)
    os.kill(pid, signal.SIGKILL)
    settings = embedded / "pgdata" / "postgresql.auto.conf"
    kept = settings.read_text()
    settings.write_text(kept + "shared_buffers = 'plenty'\n")  # a setting the server refuses to start with
    try:
        for command, code in ((["status"], 30), (["run"], 35)):
            done = cli(embedded, *command)
            assert done.returncode == code, done.stderr[-3000:]
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr[-3000:]
            assert lines[-1].startswith(
                f"error: the embedded PostgreSQL in {(embedded / 'pgdata').resolve()} did not start (FATAL:"
            ), done.stderr[-3000:]
            assert "postgresql.auto.conf" in lines[-1] and lines[-1].endswith("then run again")
            assert "Traceback" not in done.stderr and "pg_ctl" not in done.stderr
    finally:
        settings.write_text(kept)
    again = cli(embedded, "status")
    assert again.returncode == 0, again.stderr[-3000:]
