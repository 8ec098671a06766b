"""Luigi's central scheduler: two workers against one luigid and one PostgreSQL run every task once."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pyarrow.parquet as pq
import pytest

from pipeline import ops_cli
from pipeline.tables import TABLES
from pipeline.tasks import HealTable

from .conftest import ROOT, query, scalar

ALL_TASKS = 2 * len(TABLES) + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not ops_cli.listening(port):
        assert process.poll() is None, f"luigid exited with {process.returncode}"
        assert time.monotonic() < deadline, f"luigid does not listen on {port}"
        time.sleep(0.1)


@pytest.fixture
def luigid(tmp_path, request) -> int:
    """A real luigid on a free loopback port, its state and log in the test's folder; stopped at the end."""
    port, folder = free_port(), tmp_path / "luigid"
    folder.mkdir()
    with open(folder / "out.txt", "wb") as out:
        process = subprocess.Popen(ops_cli.luigid_command(folder, port, "127.0.0.1"), cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT)

    def stop():
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    request.addfinalizer(stop)
    wait_until_listening(port, process)
    return port


def scheduler_tasks(port: int, status: str) -> dict:
    """What luigid's page shows: its task list by status, from the API the page reads."""
    data = urllib.parse.quote(json.dumps({"status": status, "upstream_status": "", "search": ""}))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?data={data}", timeout=10) as answer:
        return json.load(answer)["response"]


def test_two_workers_against_one_luigid_run_every_task_once(database_url, data_dir, luigid, tmp_path):
    # --no-lock: Luigi refuses a second identical command on one machine unless told (two hosts need not).
    command = [sys.executable, "-m", "luigi", "--module", "pipeline", "Transform", "--workers", "1", "--no-lock",
               "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid)]
    env = {**os.environ, "PIPELINE_REPORT_DIR": str(tmp_path / "reports")}
    workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    # Each ran part of the graph: Luigi ends such a worker with luigi.cfg [retcode] not_run (25), or
    # already_running (10) when the other one was still running its tasks; never with task_failed (30).
    for worker, (_, errors) in zip(workers, outputs):
        assert worker.returncode in (0, 10, 25), errors[-3000:]
        if worker.returncode:
            assert "run permission by the scheduler" in errors or "run by another worker" in errors, errors[-3000:]

    # Each task ran exactly once, successfully, across the two processes, which were two runs.
    ran = query(database_url, "SELECT task_id, count(*), bool_and(status = 'done') FROM ops.task_runs GROUP BY 1")
    assert len(ran) == ALL_TASKS
    assert all(count == 1 and done for _, count, done in ran), ran
    runs = query(database_url, """SELECT r.run_id, r.status, r.finished_at IS NOT NULL, count(t.id)
                                  FROM ops.runs r JOIN ops.task_runs t USING (run_id) GROUP BY 1, 2, 3""")
    assert len(runs) == 2 and sum(r[3] for r in runs) == ALL_TASKS
    assert {r[1:3] for r in runs} == {("done", True)}

    # No row lost or doubled: raw = the file, and raw = clean + quarantined, per table.
    held = dict(query(database_url, "SELECT table_name, count(*) FROM quality.quarantine GROUP BY 1"))
    for name in TABLES:
        raw = scalar(database_url, f"SELECT count(*) FROM raw.{name}")
        assert raw == pq.ParquetFile(data_dir / f"{name}.parquet").metadata.num_rows, name
        assert raw == scalar(database_url, f"SELECT count(*) FROM clean.{name}") + held.get(name, 0), name
    assert scalar(database_url, "SELECT count(*) FROM analytics.policy_summary") > 0

    # luigid saw the whole graph done.
    assert len(scheduler_tasks(luigid, "DONE")) == ALL_TASKS


def test_scheduler_command_starts_and_stops_luigid(tmp_path):
    port, folder = free_port(), tmp_path / "state"
    scheduler = [sys.executable, "-m", "pipeline", "scheduler", "--port", str(port), "--dir", str(folder),
                 "--address", "127.0.0.1"]
    started = subprocess.run([*scheduler, "--background"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    try:
        assert started.returncode == 0, started.stderr
        assert f"http://localhost:{port}" in started.stdout
        assert ops_cli.listening(port)
        assert scheduler_tasks(port, "PENDING") == {}
        again = subprocess.run([*scheduler, "--background"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert "already running" in again.stdout
    finally:
        stopped = subprocess.run([*scheduler, "--stop"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert stopped.returncode == 0 and "luigid stopped" in stopped.stdout
    assert not ops_cli.listening(port)
    assert (folder / "luigi-server.log").exists() and not (folder / "luigid.pid").exists()


def test_the_long_heal_path_is_scheduled_first():
    """customers -> policies -> claims -> payments heal one after another: Luigi runs higher priorities first."""
    chain = [HealTable(t).priority for t in ("customers", "policies", "claims", "payments")]
    assert chain == sorted(chain, reverse=True) and len(set(chain)) == 4
    assert HealTable("policy_types").priority > HealTable("policies").priority > HealTable("snapshots").priority
