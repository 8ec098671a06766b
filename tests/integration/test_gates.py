"""No silent mass quarantine and no half-built clean: bad deliveries fail in one line and clean keeps what it had."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.orchestration.tasks import Transform
from pipeline.tables import TABLES

from tests.support import ROOT, build, execute, query, scalar

BIG = ("customers", "policies", "claims", "payments")


def counts(url: str) -> dict[str, tuple[int, int, int]]:
    """raw, clean and quarantined rows per table."""
    return {
        t: (
            scalar(url, f'SELECT count(*) FROM raw."{t}"'),
            scalar(url, f'SELECT count(*) FROM clean."{t}"'),
            scalar(url, "SELECT count(*) FROM quality.quarantine WHERE table_name = %s", (t,)),
        )
        for t in TABLES
    }


def assert_accounting(url: str) -> None:
    """raw = clean + quarantine for every table, at rest."""
    broken = {t: c for t, c in counts(url).items() if c[0] != c[1] + c[2]}
    assert broken == {}, broken


def replace_column(path: Path, column: str, values) -> None:
    table = pq.read_table(path)
    array = values if isinstance(values, pa.Array) else pa.array(values)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, array), path)


def run_cli(database_url: str, data_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **__import__("os").environ,
        "PIPELINE_DATABASE_URL": database_url,
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--workers", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def healed(database_url, data_dir):
    """A warehouse that holds a good run of the sample; its counts before the bad delivery."""
    assert build(Transform(), workers=2).scheduling_succeeded
    return counts(database_url)


@pytest.mark.parametrize(
    "column, values, rule",
    [
        ("premium_amount", "abc", "policies.premium_amount.type"),
        ("customer_id", None, "policies.customer_id.nullable"),
    ],
)
def test_a_whole_column_of_the_wrong_kind_fails_the_heal_and_clean_keeps_what_it_had(
    database_url, data_dir, healed, tmp_path, column, values, rule
):
    path = data_dir / "policies.parquet"
    rows = pq.read_metadata(path).num_rows
    replace_column(path, column, pa.array([values] * rows, pa.string()))
    done = run_cli(database_url, data_dir, tmp_path)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if rule in line]
    assert lines, done.stderr[-2000:]
    assert "100.0%" in lines[0] and "profile" in lines[0]
    now = counts(database_url)
    assert {t: now[t][1:] for t in TABLES} == {t: healed[t][1:] for t in TABLES}  # clean and quarantine as before
    assert now["claims"][1] > 0 and now["payments"][1] > 0
    assert_accounting(database_url)


def test_another_systems_id_shape_fails_naming_the_rule_and_examples(database_url, data_dir, healed, tmp_path):
    path = data_dir / "customers.parquet"
    ids = pq.read_table(path).column("customer_id")
    replace_column(path, "customer_id", pc.utf8_replace_slice(ids, 0, 2, "HC"))  # another system's id shape
    done = run_cli(database_url, data_dir, tmp_path)
    assert done.returncode != 0
    line = next(line for line in done.stderr.splitlines() if "customers.customer_id.regex" in line)
    assert "'HC" in line and "python -m pipeline profile" in line
    assert scalar(database_url, "SELECT count(*) FROM clean.customers") == healed["customers"][1]


def test_a_corrupt_payments_file_in_a_new_delivery_leaves_every_table_whole(database_url, data_dir, healed, tmp_path):
    table = pq.read_table(data_dir / "policies.parquet")  # a new delivery of policies ...
    pq.write_table(table.slice(0, table.num_rows - 10), data_dir / "policies.parquet")
    (data_dir / "payments.parquet").write_bytes(b"PAR1 this is not parquet")  # ... and a corrupt payments file
    done = run_cli(database_url, data_dir, tmp_path)
    assert done.returncode != 0 and "payments.parquet" in done.stderr
    now = counts(database_url)
    assert now["payments"][1] == healed["payments"][1] > 0  # the children of a re-healed parent keep their rows
    assert now["claims"][1] > 0
    assert_accounting(database_url)
    assert scalar(database_url, "SELECT count(*) FROM analytics.payments_usd") > 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_amounts_are_quarantined_and_the_analytics_build(database_url, data_dir, tmp_path, bad):
    path = data_dir / "policies.parquet"
    premiums = pq.read_table(path).column("premium_amount").to_pylist()
    premiums[:3] = [bad] * 3
    replace_column(path, "premium_amount", pa.array(premiums, pa.float64()))
    assert build(Transform(), workers=2).scheduling_succeeded
    held = query(
        database_url,
        "SELECT count(*) FROM quality.quarantine WHERE table_name = 'policies' "
        "AND 'policies.premium_amount.finite' = ANY(rule_ids)",
    )[0][0]
    assert held == 3
    assert (
        scalar(
            database_url, "SELECT count(*) FROM clean.policies WHERE premium_amount IN ('NaN', 'Infinity', '-Infinity')"
        )
        == 0
    )
    assert scalar(database_url, "SELECT count(*) FROM analytics.policy_summary") > 0


def test_an_invalidated_parent_marker_reheals_the_parent_and_keeps_its_children(database_url, data_dir, healed):
    execute(database_url, "UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_id = 'heal:policies'")
    result = build(Transform(), workers=2)
    assert result.scheduling_succeeded, result.summary_text
    assert counts(database_url) == healed
    assert_accounting(database_url)
    status = query(database_url, "SELECT status FROM ops.runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert status == "done"


def run_status(database_url: str, data_dir: Path) -> str:
    env = {**__import__("os").environ, "PIPELINE_DATABASE_URL": database_url, "PIPELINE_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def ran_last(url: str) -> set[tuple[str, str]]:
    return set(
        query(
            url,
            """SELECT task_family, coalesce(params->>'table', '') FROM ops.task_runs
                             WHERE run_id = (SELECT run_id FROM ops.task_runs ORDER BY id DESC LIMIT 1)""",
        )
    )


def test_a_delivery_that_fails_its_gate_stays_staged_beside_the_published_tables(
    database_url, data_dir, healed, tmp_path
):
    """The load stages the delivery in incoming.<table>: raw is published by the heal with clean and the quarantine,
    so a delivery its heal refuses changes nothing users read, raw included. It waits there: the next run does not
    load the same file again but heals it again; the file put back as it was is loaded and published."""
    path = data_dir / "policies.parquet"
    original = path.read_bytes()
    rows = pq.read_metadata(path).num_rows
    replace_column(path, "premium_amount", pa.array(["abc"] * rows, pa.string()))
    assert run_cli(database_url, data_dir, tmp_path).returncode != 0
    assert counts(database_url) == healed  # raw, clean and quarantine: all the previous run's
    assert scalar(database_url, "SELECT count(*) FROM incoming.policies WHERE premium_amount = 'abc'") == rows
    assert (
        f"policies: a new delivery of {rows:,} rows is loaded (incoming.policies) but not yet published"
        in run_status(database_url, data_dir)
    )

    assert run_cli(database_url, data_dir, tmp_path).returncode != 0
    assert ran_last(database_url) == {("HealTable", "policies")}  # the same file is not loaded again
    assert scalar(database_url, "SELECT count(*) FROM incoming.policies") == rows

    # The file as it was: the heal's and Transform's markers match it again, but the staged delivery is still there
    # (and is not this file): it is loaded again, healed and published.
    path.write_bytes(original)
    assert run_cli(database_url, data_dir, tmp_path).returncode == 0
    assert ("LoadTable", "policies") in ran_last(database_url) and ("HealTable", "policies") in ran_last(database_url)
    assert counts(database_url) == healed
    assert scalar(database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'incoming'") == 0
    assert "not yet published" not in run_status(database_url, data_dir)
    assert_accounting(database_url)
