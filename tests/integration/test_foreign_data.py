"""Another insurer's data: the default contract stops the run in one line, profile --write makes it heal fully."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import config
from pipeline.quality import score
from pipeline.synth import generate
from pipeline.synth.conventions import Conventions
from pipeline.tables import TABLES

from tests.support import ROOT, new_database, query, scalar

pytestmark = pytest.mark.slow  # whole runs on generated data, three hypothesis examples

BIG = ("customers", "policies", "claims", "payments")


def cli(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def environment(database_url: str, data, contracts, tmp_path) -> dict:
    return {
        **os.environ,
        "PIPELINE_DATABASE_URL": database_url,
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_CONTRACTS_DIR": str(contracts),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
    }


def held_without_defect(conn, truth_path) -> dict[str, int]:
    """Rows held back or flagged although the generator gave them no defect: golden rows lost, per table."""
    import pyarrow.parquet as pq

    truth = pq.read_table(truth_path, columns=["table", "key"]).to_pylist()
    spoiled: dict[str, set[str]] = {}
    for row in truth:
        spoiled.setdefault(row["table"], set()).add(row["key"])
    lost = {}
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute("SELECT record_key FROM quality.quarantine WHERE table_name = %s", (table,))
            wrong = {k for (k,) in cur.fetchall()} - spoiled.get(table, set())
            if wrong:
                lost[table] = len(wrong)
    return lost


def check_heals_fully(database_url: str, truth_path) -> None:
    with psycopg2.connect(database_url) as conn:
        scores = score.score(conn, truth_path)
        lost = held_without_defect(conn, truth_path)
    conn.close()
    poor = [s for s in scores if s.injected and (s.recall < 0.99 or s.precision < 0.99)]
    assert poor == [], score.format_scores(poor)
    assert lost == {}
    for table in BIG:
        assert scalar(database_url, f'SELECT count(*) FROM clean."{table}"') > 0


def test_foreign_data_fails_with_the_default_contract_then_heals_after_profile_write(database_url, tmp_path):
    data = tmp_path / "foreign"
    generate.generate(data, scale=0.01, seed=5, conventions=Conventions.foreign())
    contracts = tmp_path / "contracts"
    shutil.copytree(config.PROJECT_ROOT / "contracts", contracts)
    env = environment(database_url, data, contracts, tmp_path)

    first = cli("run", env=env)
    assert first.returncode != 0
    errors = [line for line in first.stderr.splitlines() if "error threshold" in line]
    assert errors, first.stderr[-3000:]
    assert "customers.customer_id.regex" in errors[0] and "python -m pipeline profile" in errors[0]
    for table in BIG:  # nothing a user reads was built from the failed heal
        if scalar(database_url, f"SELECT to_regclass('clean.\"{table}\"') IS NOT NULL"):
            assert scalar(database_url, f'SELECT count(*) FROM clean."{table}"') == 0

    proposed = cli("profile", "--write", env=env)
    assert proposed.returncode == 0, proposed.stderr
    assert "HC" in (contracts / "customers.yaml").read_text()

    second = cli("run", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    check_heals_fully(database_url, tmp_path / "foreign-truth.parquet")
    # case and spacing variants of the foreign vocabularies were fixed, not held or flagged
    assert scalar(database_url, "SELECT count(*) FROM quality.heal_log WHERE rule_id LIKE %s", ("%.synonym",)) > 0
    assert query(database_url, "SELECT DISTINCT region FROM clean.claims ORDER BY 1") == [
        (r,) for r in sorted(Conventions.foreign().regions)
    ]


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
def test_for_random_conventions_profile_then_heal_keeps_every_golden_row(pg_admin_url, tmp_path_factory, seed):
    folder = tmp_path_factory.mktemp("random")
    conventions = Conventions.random(np.random.default_rng(seed))
    generate.generate(folder / "data", scale=0.01, seed=seed % 1000, conventions=conventions)
    contracts = folder / "contracts"
    contracts.mkdir()
    with new_database(pg_admin_url) as url:  # one per hypothesis example: a function fixture would be shared
        env = environment(url, folder / "data", contracts, folder)
        assert cli("profile", "--write", env=env).returncode == 0
        done = cli("run", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        check_heals_fully(url, folder / "data-truth.parquet")


@pytest.fixture
def database_url(make_database):
    return make_database()
