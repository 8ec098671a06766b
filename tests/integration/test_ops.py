"""Run history, the runs/status/report commands, progress lines, retries of transient database errors."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time

import luigi.configuration
import psycopg2
import pyarrow.parquet as pq
import pytest

from pipeline.orchestration import markers
from pipeline.orchestration.tasks import LoadTable, Transform
from pipeline.tables import TABLES

from tests.support import ROOT, build, query, scalar

ALL_TASKS = 2 * len(TABLES) + 1


@pytest.fixture
def reports(tmp_path, monkeypatch):
    folder = tmp_path / "reports"
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(folder))
    return folder


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def row_of(output: str, first: str) -> list[str]:
    """The cells of the table row that starts with `first` (columns are two or more spaces apart)."""
    line = next(line for line in output.splitlines() if line.startswith(first))
    return re.split(r"\s{2,}", line.strip())


def latest_run(url: str) -> str:
    return scalar(url, "SELECT run_id FROM ops.runs ORDER BY started_at DESC LIMIT 1")


def test_history_runs_status_and_report_of_a_full_run(database_url, data_dir, reports):
    assert build(Transform(), workers=2).scheduling_succeeded
    run = latest_run(database_url)

    tasks = query(
        database_url,
        """SELECT task_family, params->>'table', reason, status, rows_in, rows_out,
                                          rows_quarantined, finished_at >= started_at, error
                                   FROM ops.task_runs WHERE run_id = %s""",
        (run,),
    )
    assert len(tasks) == ALL_TASKS
    assert {(t[2], t[3], t[7], t[8]) for t in tasks} == {("new", "done", True, None)}
    for family, table, _, _, rows_in, rows_out, held, _, _ in tasks:
        if family == "LoadTable":
            assert rows_in == rows_out == pq.ParquetFile(data_dir / f"{table}.parquet").metadata.num_rows
        elif family == "HealTable":
            assert rows_in == rows_out + held == scalar(database_url, f"SELECT count(*) FROM raw.{table}")
            assert rows_out == scalar(database_url, f"SELECT count(*) FROM clean.{table}")

    # The run is closed by its last task's event: done, finished when that task finished, all tasks planned.
    status, planned, closed_with_last_task = query(
        database_url,
        """
        SELECT r.status, r.tasks_planned, r.finished_at >= max(t.finished_at)
               AND r.finished_at - max(t.finished_at) < interval '5 seconds'
        FROM ops.runs r JOIN ops.task_runs t USING (run_id) WHERE run_id = %s GROUP BY r.run_id""",
        (run,),
    )[0]
    assert (status, planned, closed_with_last_task) == ("done", ALL_TASKS, True)

    # The report was written when the run ended: self-contained, with the figures of the run.
    page = (reports / f"{run}.html").read_text()
    assert "<script" not in page and "<link" not in page and not re.search(r"(src|href)=\"?https?:", page)
    assert page.count("<svg") >= 5 and page.count('class="bar') == ALL_TASKS  # a timeline bar per task
    clean_payments = scalar(database_url, "SELECT count(*) FROM clean.payments")
    assert f"{clean_payments:,}" in page
    top_reason = scalar(
        database_url,
        """SELECT rule_id FROM quality.rule_results WHERE run_id = %s
                                         ORDER BY quarantined DESC, rule_id LIMIT 1""",
        (run,),
    )
    assert top_reason in page.split("Top quarantine reasons", 1)[1]
    assert page.count("<td>full (no earlier heal to build on)</td>") == len(TABLES)  # how each heal did its work

    # A changed file: only its dependants run again, and the history says why.
    payments = pq.read_table(data_dir / "payments.parquet")
    pq.write_table(payments.slice(0, payments.num_rows - 100), data_dir / "payments.parquet")
    assert build(Transform()).scheduling_succeeded
    second = latest_run(database_url)
    assert sorted(
        query(database_url, "SELECT task_id ~ '^Transform', reason FROM ops.task_runs WHERE run_id = %s", (second,))
    ) == [(False, "changed input"), (False, "changed input"), (True, "changed input")]

    # python -m pipeline runs: both runs, newest first, with tasks done, failed and rows loaded.
    runs = cli("runs").stdout
    newest, older = row_of(runs, second), row_of(runs, run)
    assert runs.index(second) < runs.index(run)
    assert newest[3:6] == ["3", "0", f"{payments.num_rows - 100:,}"] and newest[-1] == "done"
    loaded = sum(pq.ParquetFile(data_dir / f"{t}.parquet").metadata.num_rows for t in TABLES) + 100
    assert older[3:6] == [str(ALL_TASKS), "0", f"{loaded:,}"] and older[-1] == "done"
    one = cli("runs", second).stdout
    assert row_of(one, "LoadTable(payments)")[1:3] == ["changed input", "done"]

    # python -m pipeline status: every task done; a file changed since makes its tasks stale.
    status = cli("status").stdout
    assert row_of(status, "payments")[1] == f"{payments.num_rows - 100:,}"
    assert row_of(status, "HealTable(payments)")[1:3] == ["done", second]
    pq.write_table(payments.slice(0, 50), data_dir / "payments.parquet")
    status = cli("status").stdout
    assert row_of(status, "LoadTable(payments)")[1] == "stale"
    assert row_of(status, "LoadTable(claims)")[1] == "done"
    assert f"{ALL_TASKS - 3} done, 3 stale" in status

    # python -m pipeline report RUN_ID writes the report again on demand.
    (reports / f"{run}.html").unlink()
    assert str(reports / f"{run}.html") in cli("report", run).stdout
    assert run in (reports / f"{run}.html").read_text()


def test_a_failed_run_says_what_to_do_and_the_next_run_is_a_retry(database_url, data_dir, reports):
    customers = pq.read_table(data_dir / "customers.parquet")
    pq.write_table(customers.drop_columns(["email"]), data_dir / "customers.parquet")
    assert not build(Transform(), workers=2).scheduling_succeeded
    run = latest_run(database_url)

    status, finished = query(
        database_url, "SELECT status, finished_at IS NOT NULL FROM ops.runs WHERE run_id = %s", (run,)
    )[0]
    assert (status, finished) == ("failed", True)
    failed = query(
        database_url, "SELECT task_id, error FROM ops.task_runs WHERE run_id = %s AND status = 'failed'", (run,)
    )
    assert len(failed) == 1 and failed[0][0].startswith("LoadTable_customers")
    assert "missing column email" in failed[0][1] and "fix or replace the file, then run again" in failed[0][1]
    # The tables that do not need customers were still loaded and healed.
    assert (
        scalar(
            database_url,
            "SELECT count(*) FROM ops.task_runs WHERE run_id = %s AND status = 'done' "
            "AND task_id LIKE 'HealTable_agents%%'",
            (run,),
        )
        == 1
    )
    page = (reports / f"{run}.html").read_text()
    assert "What failed, and what to do" in page and "missing column email" in page

    runs = cli("runs").stdout
    assert row_of(runs, run)[4] == "1" and row_of(runs, run)[-1] == "failed"

    pq.write_table(customers, data_dir / "customers.parquet")
    assert build(Transform()).scheduling_succeeded
    again = latest_run(database_url)
    reasons = dict(
        query(
            database_url,
            "SELECT params->>'table', reason FROM ops.task_runs WHERE run_id = %s AND task_family = 'LoadTable'",
            (again,),
        )
    )
    assert reasons == {"customers": "retry"}
    assert scalar(database_url, "SELECT status FROM ops.runs WHERE run_id = %s", (again,)) == "done"


@pytest.fixture
def quick_retries():
    settings = luigi.configuration.get_config()
    if not settings.has_section("retries"):
        settings.add_section("retries")
    settings.set("retries", "delay", "0.5")
    yield
    settings.remove_option("retries", "delay")


@pytest.mark.faults
def test_a_dropped_connection_is_retried_and_recorded(database_url, data_dir, reports, quick_retries):
    """A real transient error: the server ends the task's session while it waits for its table lock."""
    blocker = psycopg2.connect(database_url)
    blocked = threading.Event()

    def end_the_waiting_session():
        watcher = psycopg2.connect(database_url)
        watcher.autocommit = True  # a fresh view of pg_stat_activity on each query
        with contextlib.closing(watcher), watcher.cursor() as cur:
            for _ in range(300):
                cur.execute("""SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                               AND wait_event_type = 'Lock' AND query LIKE '%%pg_advisory_xact_lock%%'""")
                waiting = cur.fetchall()
                if waiting:
                    cur.execute("SELECT pg_terminate_backend(%s)", waiting[0])
                    blocked.set()
                    break
                time.sleep(0.05)
        blocker.rollback()  # frees the table for the second try

    with blocker.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('load:customers'))")
    watcher = threading.Thread(target=end_the_waiting_session)
    watcher.start()
    result = build(LoadTable("customers"))
    watcher.join()
    blocker.close()

    assert blocked.is_set() and result.scheduling_succeeded
    tries = query(
        database_url,
        "SELECT reason, status, error FROM ops.task_runs WHERE run_id = %s ORDER BY id",
        (markers.run_id(),),
    )
    assert [t[:2] for t in tries] == [("new", "failed"), ("retry", "done")]
    assert "transient database error" in tries[0][2] and "connection" in tries[0][2]
    assert "attempt 1 of 3, trying again in 0.5 s" in tries[0][2]
    assert (
        scalar(database_url, "SELECT count(*) FROM incoming.customers")
        == pq.ParquetFile(data_dir / "customers.parquet").metadata.num_rows
    )
    assert scalar(database_url, "SELECT status FROM ops.runs WHERE run_id = %s", (markers.run_id(),)) == "done"


@pytest.mark.faults
def test_progress_lines_and_a_killed_run(database_url, data_dir, reports, tmp_path):
    env = {**os.environ, "PIPELINE_PROGRESS": "1", "PIPELINE_RUN_ID": "killed-run"}
    with open(tmp_path / "stderr.txt", "w") as errors:
        worker = subprocess.Popen(
            [sys.executable, "-m", "luigi", "--module", "pipeline", "Transform", "--local-scheduler", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        first = worker.stdout.readline()  # printed when the first task is done
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    first = first or (tmp_path / "stderr.txt").read_text()[-3000:]
    assert re.match(
        rf"\[ ?1/{ALL_TASKS}\] LoadTable\(table=\w+\) done in [\d.]+ s: [\d,]+ -> [\d,]+ rows \| "
        r"run: 1 done, 0 failed, [\d,]+ rows loaded, 0 quarantined, 0:00:\d\d elapsed",
        first,
    ), first

    # Its process is gone: the runs command shows it interrupted; the next run closes it in ops.*.
    assert row_of(cli("runs").stdout, "killed-run")[-1] == "interrupted"
    loaded = {t for (t,) in query(database_url, "SELECT params->>'table' FROM ops.task_runs WHERE status = 'done'")}
    assert build(LoadTable(next(t for t in TABLES if t not in loaded))).scheduling_succeeded
    assert scalar(database_url, "SELECT status FROM ops.runs WHERE run_id = 'killed-run'") == "interrupted"
    assert scalar(database_url, "SELECT count(*) FROM ops.task_runs WHERE status = 'running'") == 0

    # A whole run with progress: the last line counts every task, then the report's path.
    done = cli("run", "--progress", "--workers", "2")
    lines = done.stdout.strip().splitlines()
    assert re.match(r"\[(\d+)/\1\] Transform\(\) done in", lines[-2]), lines[-2]
    assert lines[-1] == f"report: {reports / (latest_run(database_url) + '.html')}"
