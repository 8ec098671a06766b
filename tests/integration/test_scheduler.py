"""Luigi's central scheduler: two workers against one luigid and one PostgreSQL run every task once."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.orchestration.scheduler import listening, luigid_command
from pipeline.orchestration.tasks import HealTable
from pipeline.quality.catalog import heal_descendants
from pipeline.tables import TABLES

from tests.support import ROOT, SAMPLE, query, scalar

pytestmark = pytest.mark.slow  # runs through a real luigid, pairs of workers

ALL_TASKS = 2 * len(TABLES) + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not listening(port):
        assert process.poll() is None, f"luigid exited with {process.returncode}"
        assert time.monotonic() < deadline, f"luigid does not listen on {port}"
        time.sleep(0.1)


@pytest.fixture
def luigid(tmp_path, request) -> int:
    """A real luigid on a free loopback port, its state and log in the test's folder; stopped at the end."""
    port, folder = free_port(), tmp_path / "luigid"
    folder.mkdir()
    with open(folder / "out.txt", "wb") as out:
        process = subprocess.Popen(
            luigid_command(folder, port, "127.0.0.1"), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )

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
    command = [
        sys.executable,
        "-m",
        "luigi",
        "--module",
        "pipeline",
        "Transform",
        "--workers",
        "1",
        "--no-lock",
        "--scheduler-host",
        "127.0.0.1",
        "--scheduler-port",
        str(luigid),
    ]
    env = {**os.environ, "PIPELINE_REPORT_DIR": str(tmp_path / "reports")}
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    # Each ran part of the graph: Luigi ends such a worker with luigi.cfg [retcode] not_run (25), or
    # already_running (10) when the other one was still running its tasks; never with task_failed (30).
    for worker, (_, errors) in zip(workers, outputs, strict=True):
        assert worker.returncode in (0, 10, 25), errors[-3000:]
        if worker.returncode:
            assert "run permission by the scheduler" in errors or "run by another worker" in errors, errors[-3000:]

    # Each task ran exactly once, successfully, across the two processes, which were two runs.
    ran = query(database_url, "SELECT task_id, count(*), bool_and(status = 'done') FROM ops.task_runs GROUP BY 1")
    assert len(ran) == ALL_TASKS
    assert all(count == 1 and done for _, count, done in ran), ran
    runs = query(
        database_url,
        """SELECT r.run_id, r.status, r.finished_at IS NOT NULL, count(t.id)
                                  FROM ops.runs r JOIN ops.task_runs t USING (run_id) GROUP BY 1, 2, 3""",
    )
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
    scheduler = [
        sys.executable,
        "-m",
        "pipeline",
        "scheduler",
        "--port",
        str(port),
        "--dir",
        str(folder),
        "--address",
        "127.0.0.1",
    ]
    started = subprocess.run(
        [*scheduler, "--background"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    try:
        assert started.returncode == 0, started.stderr
        assert f"http://localhost:{port}" in started.stdout
        assert listening(port)
        assert scheduler_tasks(port, "PENDING") == {}
        again = subprocess.run(
            [*scheduler, "--background"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert "already running" in again.stdout
    finally:
        stopped = subprocess.run(
            [*scheduler, "--stop"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    assert stopped.returncode == 0 and "luigid stopped" in stopped.stdout
    assert not listening(port)
    assert (folder / "luigi-server.log").exists() and not (folder / "luigid.pid").exists()


def test_the_long_heal_path_is_scheduled_first():
    """customers -> policies -> claims -> payments heal one after another: Luigi runs higher priorities first."""
    chain = [HealTable(t).priority for t in ("customers", "policies", "claims", "payments")]
    assert chain == sorted(chain, reverse=True) and len(set(chain)) == 4
    assert HealTable("policy_types").priority > HealTable("policies").priority > HealTable("snapshots").priority


# ---------------------------------------------------------------- task ids that follow the data


def luigi_run(url: str, data_dir, tmp_path, port: int, host: str = "127.0.0.1", **env: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "luigi",
        "--module",
        "pipeline",
        "Transform",
        "--workers",
        "1",
        "--no-lock",
        "--scheduler-host",
        host,
        "--scheduler-port",
        str(port),
    ]
    environment = {
        **os.environ,
        "PIPELINE_DATABASE_URL": url,
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        **env,
    }
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_run_right_after_the_data_changed_runs_what_changed(database_url, data_dir, luigid, tmp_path):
    first = luigi_run(database_url, data_dir, tmp_path, luigid)
    assert first.wait(timeout=300) == 0, first.communicate()[1][-3000:]
    path = data_dir / "payment_methods.parquet"
    table = pq.read_table(path)
    descriptions = table.column("description").to_pylist()
    descriptions[0] = "changed a second after the last run"
    pq.write_table(
        table.set_column(table.schema.get_field_index("description"), "description", pa.array(descriptions)), path
    )

    # At once: within luigid's stable_done_cooldown_secs (10 s) of the tasks the first run finished.
    second = luigi_run(database_url, data_dir, tmp_path, luigid)
    _, errors = second.communicate(timeout=300)
    assert second.returncode == 0, errors[-3000:]
    assert scalar(database_url, "SELECT description FROM raw.payment_methods WHERE _source_row = 1") == descriptions[0]
    run = scalar(database_url, "SELECT run_id FROM ops.runs ORDER BY started_at DESC LIMIT 1")
    ran = {
        tuple(r)
        for r in query(
            database_url,
            "SELECT task_family, coalesce(params->>'table', '') FROM "
            "ops.task_runs WHERE run_id = %s AND status = 'done'",
            (run,),
        )
    }
    healed = {("HealTable", t) for t in ["payment_methods", *heal_descendants("payment_methods")]}
    assert ran == {("LoadTable", "payment_methods"), ("Transform", ""), *healed}
    assert (
        scalar(database_url, "SELECT count(*) FROM clean.payment_methods WHERE description = %s", (descriptions[0],))
        == 1
    )


def test_back_to_back_pairs_of_workers_on_new_warehouses_each_build_everything(
    database_url, make_database, data_dir, luigid, tmp_path
):
    other_url = make_database()
    for url in (database_url, other_url):  # the second pair starts as soon as the first is done
        pair = [luigi_run(url, data_dir, tmp_path, luigid) for _ in range(2)]
        outputs = [worker.communicate(timeout=300) for worker in pair]
        assert all(worker.returncode in (0, 10, 25) for worker in pair), [e[-2000:] for _, e in outputs]
        ran = query(url, "SELECT task_id, count(*) FROM ops.task_runs WHERE status = 'done' GROUP BY 1")
        assert len(ran) == ALL_TASKS and all(count == 1 for _, count in ran), ran
        assert scalar(url, "SELECT count(*) FROM ops.markers") == ALL_TASKS
        assert scalar(url, "SELECT count(*) FROM analytics.policy_summary") > 0


# ---------------------------------------------------------------- no luigid answering


def test_luigi_with_no_scheduler_running_starts_one_in_the_background_and_runs(database_url, data_dir, tmp_path):
    port, folder = free_port(), tmp_path / "luigid"
    stop = [sys.executable, "-m", "pipeline", "scheduler", "--stop", "--dir", str(folder)]
    try:
        run = luigi_run(database_url, data_dir, tmp_path, port, host="localhost", PIPELINE_LUIGID_DIR=str(folder))
        out, errors = run.communicate(timeout=300)
        assert run.returncode == 0, errors[-3000:]
        lines = (out + errors).strip().splitlines()
        assert len(lines) == 1 and re.fullmatch(
            rf"started luigid in the background on http://localhost:{port} \(pid \d+, state and log in "
            rf"{re.escape(str(folder))}\); python -m pipeline scheduler --stop stops it",
            lines[0],
        ), lines
        assert len(scheduler_tasks(port, "DONE")) == ALL_TASKS  # the page shows the graph the run built
        assert scalar(database_url, "SELECT count(*) FROM ops.markers") == ALL_TASKS
    finally:
        stopped = subprocess.run(stop, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert "luigid stopped" in stopped.stdout and not listening(port)
    assert (folder / "luigi-server.log").exists()


def test_a_remote_scheduler_that_does_not_answer_is_one_line_naming_it(tmp_path):
    nowhere = "postgresql://pipeline@127.0.0.1:1/warehouse"  # the run ends before it needs the warehouse
    run = luigi_run(nowhere, SAMPLE, tmp_path, 8082, host="192.0.2.1")  # TEST-NET-1: nothing answers there
    out, errors = run.communicate(timeout=300)
    assert run.returncode == 35, errors[-3000:]  # luigi.cfg [retcode] scheduling_error
    assert (out + errors).strip().splitlines() == [
        "error: the central scheduler at http://192.0.2.1:8082 does not answer; start luigid there, or run without "
        "it (--local-scheduler)"
    ]
