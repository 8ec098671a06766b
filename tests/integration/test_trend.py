"""A table whose clean share falls by more than its warn share is named by status, the run report and the app."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import report
from pipeline.orchestration.tasks import Transform

from tests.support import ROOT, build


def _spoil_emails_and_states(data_dir) -> None:
    """A delivery where a fifth of the customers have an unknown id shape: they are held, the share falls."""
    path = data_dir / "customers.parquet"
    table = pq.read_table(path)
    ids = table.column("customer_id").to_pylist()
    ids = [f"X{v}" if i % 5 == 0 else v for i, v in enumerate(ids)]
    pq.write_table(table.set_column(0, "customer_id", pa.array(ids)), path)


def test_a_falling_clean_share_is_named_by_status_and_the_report(database_url, data_dir, tmp_path):
    assert build(Transform(), workers=2).scheduling_succeeded
    _spoil_emails_and_states(data_dir)
    assert build(Transform(), workers=2).scheduling_succeeded
    env = {**os.environ, "PIPELINE_DATABASE_URL": database_url}
    status = subprocess.run(
        [sys.executable, "-m", "pipeline", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    (line,) = [line for line in status.stdout.splitlines() if line.startswith("warning: customers")]
    assert "clean share fell from" in line and "to 7" in line  # from about 97% to about 77%
    html = report.write_report(url=database_url, folder=tmp_path).read_text()
    assert "Clean share fell" in html and "customers: clean share fell" in html


def test_no_warning_when_the_same_data_heals_again(database_url, data_dir, tmp_path):
    assert build(Transform(), workers=2).scheduling_succeeded
    (data_dir / "customers.parquet").touch()
    assert build(Transform(), workers=2).scheduling_succeeded
    env = {**os.environ, "PIPELINE_DATABASE_URL": database_url}
    status = subprocess.run(
        [sys.executable, "-m", "pipeline", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "warning:" not in status.stdout
