"""The whole job on the committed sample: Parquet -> raw -> clean -> analytics, reruns, bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow.parquet as pq

from pipeline.orchestration.tasks import Transform
from pipeline.tables import TABLES

from tests.support import ROOT, build, query, scalar


def _counts(url: str) -> dict[str, tuple[int, int, int]]:
    held = dict(query(url, "SELECT table_name, count(*) FROM quality.quarantine GROUP BY 1"))
    return {
        name: (
            scalar(url, f"SELECT count(*) FROM raw.{name}"),
            scalar(url, f"SELECT count(*) FROM clean.{name}"),
            held.get(name, 0),
        )
        for name in TABLES
    }


def test_transform_fills_analytics_and_accounts_for_every_row(database_url, data_dir):
    result = build(Transform(), workers=2)
    assert result.scheduling_succeeded, result.summary_text

    counts = _counts(database_url)
    for name, (raw, clean, held) in counts.items():
        source_rows = pq.ParquetFile(data_dir / f"{name}.parquet").metadata.num_rows
        assert raw == source_rows, name
        assert raw == clean + held, f"{name}: {raw} raw != {clean} clean + {held} quarantined"
        assert clean > 0, name
    # The sample is messy on purpose: healing must have held rows back from the big tables.
    assert all(counts[t][2] > 0 for t in ("customers", "policies", "claims", "payments"))

    customers = scalar(database_url, "SELECT count(*) FROM clean.customers")
    assert scalar(database_url, "SELECT count(*) FROM analytics.policy_summary") == customers
    assert scalar(database_url, "SELECT sum(policies) FROM analytics.policy_summary") == scalar(
        database_url, "SELECT count(*) FROM clean.policies"
    )
    assert scalar(database_url, "SELECT sum(claims) FROM analytics.claims_trends") == scalar(
        database_url, "SELECT count(*) FROM clean.claims"
    )

    # Every quarantined row keeps its original values and at least one reason.
    assert (
        scalar(
            database_url,
            "SELECT count(*) FROM quality.quarantine WHERE cardinality(rule_ids) = 0 OR original::jsonb = '{}'::jsonb",
        )
        == 0
    )


def test_second_run_does_no_work(database_url, data_dir):
    assert build(Transform()).scheduling_succeeded
    runs_before = scalar(database_url, "SELECT count(*) FROM ops.task_runs")
    again = build(Transform())
    assert again.scheduling_succeeded
    assert scalar(database_url, "SELECT count(*) FROM ops.task_runs") == runs_before
    assert "already done" in again.summary_text or "complete" in again.summary_text


def test_changed_file_reruns_only_its_dependants(database_url, data_dir):
    assert build(Transform()).scheduling_succeeded
    table = pq.read_table(data_dir / "payments.parquet")
    pq.write_table(table.slice(0, table.num_rows - 10), data_dir / "payments.parquet")

    assert build(Transform()).scheduling_succeeded
    ran = query(
        database_url,
        """SELECT task_family, params->>'table', reason FROM ops.task_runs
                                 WHERE run_id = (SELECT run_id FROM ops.task_runs ORDER BY id DESC LIMIT 1)
                                 ORDER BY 1""",
    )
    assert ran == [
        ("HealTable", "payments", "changed input"),
        ("LoadTable", "payments", "changed input"),
        ("Transform", None, "changed input"),
    ]
    assert scalar(database_url, "SELECT count(*) FROM raw.payments") == table.num_rows - 10


def _run_cli(env_overrides: dict, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "pipeline", "Transform", "--local-scheduler"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_missing_column_fails_with_one_clear_line_and_keeps_the_warehouse(database_url, data_dir, tmp_path):
    assert build(Transform()).scheduling_succeeded
    before = _counts(database_url)
    customers = pq.read_table(data_dir / "customers.parquet")
    pq.write_table(customers.drop_columns(["email"]).slice(0, 5), data_dir / "customers.parquet")

    done = _run_cli({}, tmp_path)
    assert done.returncode == 30, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR LoadTable")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert str(data_dir / "customers.parquet") in lines[0] and "missing column email" in lines[0]
    assert _counts(database_url) == before


def test_not_parquet_and_missing_file_fail_clearly(database_url, data_dir, tmp_path):
    (data_dir / "agents.parquet").write_text("agent_id,name\nAG001,Frank\n")
    (data_dir / "branches.parquet").unlink()
    done = _run_cli({}, tmp_path)
    assert done.returncode == 30
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR ")]
    assert any("agents.parquet: not a readable Parquet file" in e for e in errors), errors
    assert any("branches.parquet: file is missing" in e for e in errors), errors


def test_readme_command_runs_on_the_embedded_warehouse(tmp_path, data_dir):
    """No URL configured: the package starts its own PostgreSQL in the configured folder."""
    env = {"PIPELINE_EMBEDDED_DIR": str(tmp_path / "embedded"), "PIPELINE_DATABASE_URL": ""}
    try:
        done = _run_cli(env, ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
        status = subprocess.run(
            [sys.executable, "-m", "pipeline", "status"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert status.returncode == 0, status.stderr
        assert f"embedded PostgreSQL in {tmp_path / 'embedded'}" in status.stdout
        line = next(line for line in status.stdout.splitlines() if line.startswith("policies"))
        raw, clean, held = (int(x.replace(",", "")) for x in line.split()[1:4])
        assert raw == clean + held and clean > 0
    finally:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import pgserver, sys; pgserver.get_server(sys.argv[1], cleanup_mode='stop')",
                str(tmp_path / "embedded" / "pgdata"),
            ],
            timeout=120,
        )
