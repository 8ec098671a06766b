"""Faults on a real PostgreSQL: the job killed in each stage, the server stopped mid-run, two runs at once, a restore
killed halfway. After each, the warehouse holds exactly what an uninterrupted run leaves (or what it held before)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import psycopg2
import pyarrow.parquet as pq
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

from pipeline import warehouse
from pipeline.synth import generate
from pipeline.tables import TABLES

from tests.support import ROOT, execute, new_database, query, scalar
from tests.support import SAMPLE as SAMPLE_DIR

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # kills workers, luigid and runs halfway through every stage

SCALE = 0.05  # about 96,000 records: each stage lasts long enough to be killed in its middle

# Columns that hold the run's id or the time of the build, not data: left out of the comparison.
RUN_COLUMNS = {
    "raw": ("_batch_id",),
    "incoming": ("_batch_id",),
    "quality": ("run_id",),
    "analytics.kpis": ("built_at", "latest_run_id", "last_healed_at"),
    "analytics.customer_lifetime_value": ("tenure_years",),
    "analytics.customer_segments": ("avg_tenure_years",),
}
# quality.rule_results / table_results and the analytics.data_quality view over them are history (a row per heal
# run): a rerun adds rows by design. What healing decided is compared through quarantine and heal_log.
HISTORY = ("analytics.data_quality",)


def checksums(url: str) -> dict[str, tuple[int, int]]:
    """Rows and an order-independent checksum (sum of a 64-bit hash of each row as JSON) of every relation in raw,
    incoming (deliveries loaded, not yet published), clean and analytics and of quality.quarantine and
    quality.heal_log; run ids and build times left out."""
    found = {}
    with contextlib.closing(psycopg2.connect(url, options="-c TimeZone=UTC")) as conn, conn.cursor() as cur:
        cur.execute("""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relkind IN ('r', 'm', 'v', 'p') AND NOT c.relispartition
                         AND (n.nspname IN ('raw', 'incoming', 'clean', 'analytics')
                              OR (n.nspname, c.relname) IN (('quality', 'quarantine'), ('quality', 'heal_log')))
                       ORDER BY 1, 2""")
        for schema, name in cur.fetchall():
            key = f"{schema}.{name}"
            if key in HISTORY:
                continue
            left_out = list(RUN_COLUMNS.get(schema, ()) + RUN_COLUMNS.get(key, ()))
            cur.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(hashtextextended((to_jsonb(t) - %s::text[])::text, 0)"
                    "::numeric), 0) FROM {} t"
                ).format(sql.Identifier(schema, name)),
                (left_out,),
            )
            count, total = cur.fetchone()
            found[key] = (count, int(total))
    return found


def markers_of(url: str) -> dict[str, str]:
    return dict(query(url, "SELECT task_id, fingerprint FROM ops.markers"))


def with_database(url: str, name: str) -> str:
    return make_url(warehouse.libpq_url(url)).set(database=name).render_as_string(hide_password=False)


# ---------------------------------------------------------------- the job as a user runs it


def run_env(url: str, data: Path, folder: Path, **extra: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PIPELINE_DATABASE_URL": url,
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_REPORT_DIR": str(folder / "reports"),
        "PIPELINE_PROGRESS": "0",
        **extra,
    }


def start_run(url: str, data: Path, folder: Path, name: str = "run", **extra: str) -> subprocess.Popen:
    """`python -m pipeline run --workers 2` in its own process group (its forked workers die with it)."""
    env = run_env(url, data, folder, **extra)
    out = open(folder / f"{name}.out", "w")  # noqa: SIM115 - closed by the child's end
    err = open(folder / f"{name}.err", "w")  # noqa: SIM115
    child = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    child.output = (folder / f"{name}.out", folder / f"{name}.err")
    out.close()
    err.close()
    return child


def finish(child: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        code = child.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise
    out, err = (p.read_text(errors="replace") for p in child.output)
    return code, out, err


def run(url: str, data: Path, folder: Path, name: str = "run") -> tuple[str, str]:
    code, out, err = finish(start_run(url, data, folder, name))
    assert code == 0, err[-3000:]
    return out, err


# The session inside a task's transaction holds the task's advisory lock (tasks._lock(conn, marker_id)).
IN_TASK = """
SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = %s)
  AND l.objid::bigint = (hashtext(%s)::bigint & 4294967295) AND a.query LIKE %s"""


def kill_during(
    url: str, child: subprocess.Popen, marker_id: str, statement_like: str = "%", timeout: float = 120
) -> None:
    """SIGKILL the run (its whole process group) while it is inside the task's transaction, running a statement
    like statement_like."""
    database = make_url(url).database
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cur.execute(IN_TASK, (database, marker_id, statement_like))
                if cur.fetchone():
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
                    return
                if child.poll() is not None:
                    err = child.output[1].read_text(errors="replace")
                    pytest.fail(
                        f"the run ended ({child.returncode}) before {marker_id} ran {statement_like}: {err[-2000:]}"
                    )
                time.sleep(0.005)
    finally:
        conn.close()
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    pytest.fail(f"{marker_id} never ran {statement_like}")


def wait_until_alone(url: str, timeout: float = 60) -> None:
    """Until the killed run's sessions are gone: the server rolls back what they had not committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        others = scalar(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        if not others:
            return
        time.sleep(0.05)
    pytest.fail("the killed run's sessions are still there")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def big_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faults") / "data"
    generate.generate(folder, scale=SCALE, seed=42)
    return folder


@pytest.fixture(scope="module")
def reference(pg_admin_url, big_data, tmp_path_factory) -> dict:
    """A run that was never interrupted: its database (a template for the other tests), checksums and markers."""
    with new_database(pg_admin_url) as url:
        run(url, big_data, tmp_path_factory.mktemp("reference"))
        yield {"name": make_url(url).database, "url": url, "checksums": checksums(url), "markers": markers_of(url)}


@pytest.fixture
def copy_of_reference(make_database, reference):
    return make_database(template=reference["name"])  # a file copy: no run needed


@pytest.fixture
def empty_url(make_database):
    return make_database()


def test_reference_run_is_complete_and_exact(reference, big_data):
    sums = reference["checksums"]
    for table in TABLES:
        rows = pq.ParquetFile(big_data / f"{table}.parquet").metadata.num_rows
        assert sums[f"raw.{table}"][0] == rows
        held = scalar(reference["url"], "SELECT count(*) FROM quality.quarantine WHERE table_name = %s", (table,))
        assert sums[f"clean.{table}"][0] + held == rows
    assert len(reference["markers"]) == 2 * len(TABLES) + 1
    assert sums["analytics.kpis"][0] == 1 and sums["analytics.policy_summary"][0] > 1000


# ---------------------------------------------------------------- killed in each stage


def test_killed_during_load_then_rerun_gives_the_uninterrupted_result(empty_url, big_data, reference, tmp_path):
    child = start_run(empty_url, big_data, tmp_path)
    kill_during(empty_url, child, "load:payments", 'COPY "incoming"."payments"%')
    wait_until_alone(empty_url)

    # What was committed before the kill is exact; the load that was killed left nothing behind.
    done = markers_of(empty_url)
    assert "load:payments" not in done and "transform" not in done
    now = checksums(empty_url)
    assert "raw.payments" not in now and "incoming.payments" not in now
    for task_id in done:
        stage, _, table = task_id.partition(":")
        schema = {"load": "raw", "heal": "clean"}[stage]
        # A load whose heal has not committed is staged, not published: raw has nothing of it yet.
        where = "incoming" if stage == "load" and f"heal:{table}" not in done else schema
        assert now[f"{where}.{table}"] == reference["checksums"][f"{schema}.{table}"], task_id
        assert done[task_id] == reference["markers"][task_id]

    killed_run = dict(query(empty_url, "SELECT task_id, run_id FROM ops.markers"))

    run(empty_url, big_data, tmp_path, "rerun")
    assert checksums(empty_url) == reference["checksums"]
    assert markers_of(empty_url) == reference["markers"]
    # The rerun did only what the killed run had not finished: the rest keeps the killed run's markers.
    by_run = dict(query(empty_url, "SELECT task_id, run_id FROM ops.markers"))
    assert {t: by_run[t] for t in killed_run} == killed_run
    assert len({by_run[t] for t in by_run if t not in killed_run} - set(killed_run.values())) == 1


def test_killed_during_heal_then_rerun_gives_the_uninterrupted_result(copy_of_reference, big_data, reference, tmp_path):
    # The payments heal is due again (as after a change of its rules): the warehouse holds the previous heal.
    execute(
        copy_of_reference,
        "UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_id IN ('heal:payments', 'transform')",
    )
    child = start_run(copy_of_reference, big_data, tmp_path)
    kill_during(copy_of_reference, child, "heal:payments", '%INSERT INTO "clean"."payments"%')
    wait_until_alone(copy_of_reference)
    # The heal had emptied clean.payments and quarantine in its transaction: all of it rolled back. Its work
    # tables (ops.heal_payments_*, committed before that transaction began) wait for the next heal of payments.
    assert checksums(copy_of_reference) == reference["checksums"]
    assert markers_of(copy_of_reference)["heal:payments"] == "invalidated"

    run(copy_of_reference, big_data, tmp_path, "rerun")
    assert checksums(copy_of_reference) == reference["checksums"]
    assert markers_of(copy_of_reference) == reference["markers"]
    assert (
        scalar(
            copy_of_reference,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'ops' AND left(tablename, 5) = 'heal_'",
        )
        == 0
    )


def test_killed_during_transform_then_rerun_gives_the_uninterrupted_result(
    copy_of_reference, big_data, reference, tmp_path
):
    execute(copy_of_reference, "UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_id = 'transform'")
    child = start_run(copy_of_reference, big_data, tmp_path)
    kill_during(copy_of_reference, child, "transform", "%CREATE MATERIALIZED VIEW analytics.%")
    wait_until_alone(copy_of_reference)
    # Transform had dropped every view in its transaction: the previous build is still there, whole.
    assert checksums(copy_of_reference) == reference["checksums"]
    assert markers_of(copy_of_reference)["transform"] == "invalidated"

    run(copy_of_reference, big_data, tmp_path, "rerun")
    assert checksums(copy_of_reference) == reference["checksums"]
    assert markers_of(copy_of_reference) == reference["markers"]


# ---------------------------------------------------------------- the server stops in the middle of a run


@pytest.fixture
def own_server(tmp_path):
    """A server of this test alone, to stop and start again."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver
    from pgserver import _commands

    folder = tmp_path / "pgdata"
    folder.mkdir()
    server = pgserver.get_server(folder, cleanup_mode="stop")

    def stop() -> None:
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

    def start() -> None:
        with server._lock:
            server.ensure_postgres_running()

    server.stop, server.start = stop, start
    yield server
    server.cleanup()


def test_server_stopped_mid_run_fails_in_one_line_and_a_rerun_completes(own_server, big_data, reference, tmp_path):
    execute(own_server.get_uri("postgres"), "CREATE DATABASE warehouse")
    url = own_server.get_uri("warehouse")
    # Fail fast where the pipeline retries transient errors ([retries] in luigi.cfg): the server stays down.
    settings = tmp_path / "luigi.cfg"
    settings.write_text("[retries]\nattempts = 2\ndelay = 0.5\n")
    child = start_run(url, big_data, tmp_path, LUIGI_CONFIG_PATH=str(settings))
    database = "warehouse"
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                cur.execute(IN_TASK, (database, "heal:payments", "%"))
                if cur.fetchone():
                    break
                time.sleep(0.005)
    assert child.poll() is None, "the run ended before healing payments"
    own_server.stop()
    code, _, err = finish(child, timeout=180)

    assert code != 0
    lines = [line for line in err.splitlines() if "cannot reach the warehouse" in line]
    assert lines, err[-3000:]
    assert all("check that PostgreSQL is running" in line and "then run again" in line for line in lines)
    assert any("HealTable(table=payments)" in line for line in lines), lines

    own_server.start()
    # What was committed before the stop is exact; the heal that was cut off left nothing.
    done = markers_of(url)
    assert "heal:payments" not in done and "transform" not in done
    assert all(done[t] == reference["markers"][t] for t in done)

    run(url, big_data, tmp_path, "rerun")
    assert checksums(url) == reference["checksums"]
    assert markers_of(url) == reference["markers"]


def test_warehouse_unreachable_at_the_start_fails_in_one_line_saying_what_to_do(tmp_path):
    nowhere = "postgresql://pipeline:S3cret-pw-42@127.0.0.1:1/warehouse"  # nothing listens on port 1
    for command in (["run", "--workers", "2"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *command],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=run_env(nowhere, SAMPLE_DIR, tmp_path),
        )
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if "cannot reach the warehouse" in line]
        assert len(lines) == 1, done.stderr[-3000:]
        assert "postgresql://pipeline:***@127.0.0.1:1/warehouse" in lines[0]
        assert lines[0].endswith("check that PostgreSQL is running and the URL is right, then run again")
        assert "Traceback" not in done.stderr and "S3cret" not in done.stderr + done.stdout


# ---------------------------------------------------------------- two runs at once


def test_two_runs_at_once_do_each_task_once(empty_url, big_data, reference, tmp_path):
    first = start_run(empty_url, big_data, tmp_path, "first")
    second = start_run(empty_url, big_data, tmp_path, "second")
    results = [finish(first), finish(second)]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    # One of them said that it waited for the other.
    assert sum("another run is working on the warehouse" in out for _, out, _ in results) == 1

    sums = checksums(empty_url)
    assert {t: sums[f"raw.{t}"][0] for t in TABLES} == {
        t: pq.ParquetFile(big_data / f"{t}.parquet").metadata.num_rows for t in TABLES
    }
    assert sums == reference["checksums"]
    assert markers_of(empty_url) == reference["markers"]
    # Every task was done once, by one of the two runs: none was done twice on the same inputs.
    done = query(
        empty_url,
        """SELECT task_family, params::text, count(*) FROM ops.task_runs WHERE status = 'done'
                               GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    assert len(done) == 2 * len(TABLES) + 1
    assert [row for row in done if row[2] != 1] == []


def test_processes_setting_up_a_new_warehouse_at_once_all_succeed(empty_url):
    # Every task and every history record opens its own connection and sets the warehouse up (schemas, ops tables,
    # functions) once per process; history's connections are autocommit. Eight at once on an empty database:
    conns = [psycopg2.connect(empty_url, application_name=f"bootstrap-{i}") for i in range(8)]
    for conn in conns:
        conn.autocommit = True
    barrier, errors = threading.Barrier(len(conns)), []

    def set_up(conn):
        barrier.wait()
        try:
            warehouse.bootstrap(conn)
        except psycopg2.Error as exc:
            errors.append(str(exc).splitlines()[0])

    threads = [threading.Thread(target=set_up, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in conns:
        conn.close()
    assert errors == []
    assert (
        scalar(
            empty_url,
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('raw', 'clean', 'quality', 'analytics', 'ops')",
        )
        == 5
    )


# ---------------------------------------------------------------- a restore killed halfway


def test_restore_killed_halfway_leaves_the_warehouse_as_before(copy_of_reference, reference, tmp_path, monkeypatch):
    from pipeline import backup

    monkeypatch.setenv("PIPELINE_DATABASE_URL", copy_of_reference)
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    made = backup.create()
    # After the backup, the warehouse moves on: the restore would take these changes back.
    execute(
        copy_of_reference,
        "DELETE FROM clean.payments WHERE payment_id IN "
        "(SELECT payment_id FROM clean.payments ORDER BY payment_id LIMIT 100)",
        "UPDATE raw.customers SET city = 'Springfield' WHERE _source_row <= 50",
    )
    before = checksums(copy_of_reference)
    assert before != reference["checksums"]

    env = {**os.environ, "PIPELINE_REPORT_DIR": str(tmp_path / "reports")}
    child = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "backup", "restore", made.name, "--yes"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with contextlib.closing(psycopg2.connect(copy_of_reference)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                # Midway: the restore's session has dropped the schemas and is copying the backup's rows back.
                cur.execute("""SELECT pid FROM pg_stat_activity WHERE application_name = 'insurance-pipeline-restore'
                               AND datname = current_database() AND query LIKE 'COPY %%'""")
                if cur.fetchone():
                    break
                time.sleep(0.002)
    assert child.poll() is None, "the restore ended before it copied any rows"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    wait_until_alone(copy_of_reference)
    assert checksums(copy_of_reference) == before
    assert markers_of(copy_of_reference) == reference["markers"]
