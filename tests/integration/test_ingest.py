"""Parquet -> raw: exact values, lineage, hostile files, atomic reloads, a kill in the middle of a load."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import config, ingest, warehouse
from pipeline.orchestration import markers
from pipeline.orchestration.tasks import HealTable, LoadTable
from pipeline.tables import spec

from tests.support import SAMPLE, build, query, scalar

AWKWARD = [
    'say "hi", then leave',
    "back\\slash \\N \\.",
    "tab\there",
    "new\nline\r\nand CR",
    "emoji 😀🎉",
    "nul\x00inside",
    "\x00",
    "",
    None,
    "\\0 looks like an escape",
    "comma,semicolon;pipe|",
]


def _load(url: str, name: str, path) -> ingest.LoadResult:
    with psycopg2.connect(url) as conn:
        warehouse.bootstrap(conn)
        result = ingest.load_table(conn, spec(name), path, "batch-1")
    conn.close()
    return result


def _payment_methods(values: list) -> pa.Table:
    n = len(values)
    ts = pa.array([1_700_000_000_000_000] * n, pa.timestamp("us"))
    return pa.table(
        {
            "method_id": [f"PM{i:03d}" for i in range(n)],
            "method_name": [f"m{i}" for i in range(n)],
            "description": values,
            "created_at": ts,
            "updated_at": ts,
            "created_by": ["SYSTEM"] * n,
            "updated_by": ["SYSTEM"] * n,
        }
    )


def test_awkward_text_arrives_exactly_with_lineage(database_url, tmp_path):
    path = tmp_path / "payment_methods.parquet"
    pq.write_table(_payment_methods(AWKWARD), path)
    result = _load(database_url, "payment_methods", path)
    assert result.rows == len(AWKWARD) and result.escaped_values == 2

    rows = query(
        database_url,
        "SELECT description, _escaped, _source_file, _source_row, _batch_id "
        "FROM incoming.payment_methods ORDER BY _source_row",
    )
    restored = [ingest.unescape(d) if esc and "description" in esc else d for d, esc, *_ in rows]
    assert restored == AWKWARD
    assert [r[3] for r in rows] == list(range(1, len(AWKWARD) + 1))
    assert {(r[2], r[4]) for r in rows} == {("payment_methods.parquet", "batch-1")}
    # The stated escaped form: NUL as \0, backslash doubled, only in the values that held a NUL.
    assert rows[5][0] == "nul\\0inside" and rows[6][0] == "\\0" and rows[9][0] == "\\0 looks like an escape"


def test_every_arrow_number_and_time_type_arrives_exactly(database_url, tmp_path):
    """Binary COPY writes each value in its PostgreSQL type: narrow numbers widen, nanoseconds keep their
    microseconds, decimals and unsigned 64-bit numbers stay exact, a 256-bit decimal arrives as its text."""
    import datetime
    import decimal

    table = _payment_methods(["a", "b", None])
    extras = {
        "small": pa.array([-128, 127, None], pa.int8()),
        "unsigned": pa.array([0, 2**64 - 1, None], pa.uint64()),
        "single": pa.array([1.5, -0.25, None], pa.float32()),
        "day": pa.array([0, 86_400_000 * 365, None], pa.date64()),
        "nanos": pa.array([1_000_000_123_456_789, 0, None], pa.timestamp("ns")),
        "zoned": pa.array([0, 1_700_000_000, None], pa.timestamp("s", tz="Asia/Tokyo")),
        "money": pa.array(
            [decimal.Decimal("12345678901234567890.125"), decimal.Decimal("-0.001"), None], pa.decimal128(25, 3)
        ),
        "wide": pa.array([decimal.Decimal("1.5"), None, None], pa.decimal256(50, 2)),
    }
    for name, array in extras.items():
        table = table.append_column(name, array)
    path = tmp_path / "payment_methods.parquet"
    pq.write_table(table, path)
    _load(database_url, "payment_methods", path)
    rows = query(
        database_url,
        "SET TimeZone = 'UTC'; SELECT small, unsigned, single, day, nanos, zoned, money, "
        "wide, pg_typeof(wide)::text FROM incoming.payment_methods ORDER BY _source_row",
    )
    utc = datetime.UTC
    assert rows[0] == (
        -128,
        decimal.Decimal(0),
        1.5,
        datetime.date(1970, 1, 1),
        datetime.datetime(1970, 1, 12, 13, 46, 40, 123456),
        datetime.datetime(1970, 1, 1, tzinfo=utc),
        decimal.Decimal("12345678901234567890.125"),
        "1.50",
        "text",
    )
    assert rows[1][:7] == (
        127,
        decimal.Decimal(2**64 - 1),
        -0.25,
        datetime.date(1971, 1, 1),
        datetime.datetime(1970, 1, 1),
        datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=utc),
        decimal.Decimal("-0.001"),
    )
    assert rows[2][:8] == (None,) * 8


def test_text_in_an_amount_column_loads_and_healing_quarantines_it(database_url, data_dir, tmp_path, monkeypatch):
    table = pq.read_table(data_dir / "coverage_levels.parquet")
    amounts = pa.array(["10000", "lots", "100001", "5e5", None], pa.string())
    pq.write_table(table.set_column(2, "min_amount", amounts), data_dir / "coverage_levels.parquet")
    assert not build(HealTable("coverage_levels")).scheduling_succeeded  # 3 of 5 rows: above the default 50%
    assert scalar(database_url, "SELECT to_regclass('clean.coverage_levels') IS NULL")
    # The delivery waits, loaded and not published, for a heal that passes its gates.
    assert scalar(database_url, "SELECT to_regclass('raw.coverage_levels') IS NULL")
    assert scalar(database_url, "SELECT count(*) FROM incoming.coverage_levels") == 5

    contracts = tmp_path / "contracts"  # the user says such a share is expected for this table
    shutil.copytree(config.PROJECT_ROOT / "contracts", contracts)
    with open(contracts / "coverage_levels.yaml", "a") as f:
        f.write("  coverage_levels.rows_held: {error_if: 1}\n  coverage_levels.min_amount.type: {error_if: 1}\n")
    (contracts / "coverage_levels.yaml").write_text(
        (contracts / "coverage_levels.yaml").read_text().replace("rules: {}", "rules:")
    )
    monkeypatch.setenv("PIPELINE_CONTRACTS_DIR", str(contracts))
    assert build(HealTable("coverage_levels")).scheduling_succeeded
    assert scalar(database_url, "SELECT to_regclass('incoming.coverage_levels') IS NULL")  # published
    assert query(database_url, "SELECT min_amount FROM raw.coverage_levels ORDER BY _source_row") == [
        ("10000",),
        ("lots",),
        ("100001",),
        ("5e5",),
        (None,),
    ]
    held = dict(query(database_url, "SELECT record_key, rule_ids FROM quality.quarantine"))
    assert held == {
        "CL02": ["coverage_levels.min_amount.type"],
        "CL04": ["coverage_levels.min_amount.type"],
        "CL05": ["coverage_levels.min_amount.nullable"],
    }
    assert query(database_url, "SELECT coverage_id, min_amount FROM clean.coverage_levels ORDER BY 1") == [
        ("CL01", 10000),
        ("CL03", 100001),
    ]


def test_impossible_date_as_text_is_kept_raw_and_quarantined(database_url, data_dir):
    table = pq.read_table(data_dir / "agents.parquet")
    dates = pa.array(["2021-02-30"] + ["2020-01-01"] * (table.num_rows - 1), pa.string())
    pq.write_table(
        table.set_column(table.schema.get_field_index("hire_date"), "hire_date", dates), data_dir / "agents.parquet"
    )
    assert build(HealTable("agents")).scheduling_succeeded
    assert scalar(database_url, "SELECT hire_date FROM raw.agents WHERE _source_row = 1") == "2021-02-30"
    assert query(database_url, "SELECT rule_ids, messages FROM quality.quarantine") == [
        (["agents.hire_date.type"], {"agents.hire_date.type": "must be of date type"})
    ]


def test_extra_columns_are_kept_and_reported(database_url, data_dir):
    table = pq.read_table(data_dir / "branches.parquet")
    pq.write_table(table.append_column("region_code", pa.array(["X"] * table.num_rows)), data_dir / "branches.parquet")
    assert build(LoadTable("branches")).scheduling_succeeded
    assert scalar(database_url, "SELECT count(region_code) FROM incoming.branches") == table.num_rows
    details = scalar(database_url, "SELECT details FROM ops.task_runs WHERE task_family = 'LoadTable'")
    assert details["extra_columns"] == ["region_code"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a readable Parquet file"),
        (lambda p: p.write_bytes(b""), "not a readable Parquet file"),
        (lambda p: p.write_text("policy_id,amount\nPO1,3\n"), "not a readable Parquet file"),
        (lambda p: pq.write_table(pq.read_table(p).slice(0, 0), p), "file has no rows"),
        (
            lambda p: pq.write_table(pq.read_table(p).drop_columns(["claim_date"]), p),
            "missing column claim_date required by table claims",
        ),
        (lambda p: p.unlink(), "file is missing"),
    ],
)
def test_unreadable_file_fails_in_one_line_and_raw_keeps_its_rows(database_url, data_dir, damage, message):
    path = data_dir / "claims.parquet"
    rows = pq.ParquetFile(path).metadata.num_rows
    _load(database_url, "claims", path)
    damage(path)
    with pytest.raises(ingest.SourceError) as failure:
        _load(database_url, "claims", path)
    text = str(failure.value)
    assert "\n" not in text and str(path) in text and message in text
    assert scalar(database_url, "SELECT count(*) FROM incoming.claims") == rows


@pytest.mark.faults
def test_kill_during_a_load_then_rerun_gives_exact_counts(database_url, tmp_path, monkeypatch):
    # A file big enough that COPY is still streaming when the process is killed.
    source = pq.read_table(SAMPLE / "payments.parquet")
    big = pa.concat_tables([source] * 30)
    folder = tmp_path / "big"
    folder.mkdir()
    pq.write_table(big, folder / "payments.parquet")
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(folder))
    _load(database_url, "payments", SAMPLE / "payments.parquet")
    before = scalar(database_url, "SELECT count(*) FROM incoming.payments")

    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "luigi",
            "--module",
            "pipeline",
            "LoadTable",
            "--table",
            "payments",
            "--local-scheduler",
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        copying = scalar(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%' AND datname = current_database()",
        )
        if copying:
            break
        time.sleep(0.02)
    else:
        child.kill()
        pytest.fail("the load never started copying")
    child.send_signal(signal.SIGKILL)
    child.wait()
    time.sleep(0.5)  # the server notices the dropped connection and rolls back
    assert scalar(database_url, "SELECT count(*) FROM incoming.payments") == before
    assert scalar(database_url, "SELECT count(*) FROM ops.markers WHERE task_id = 'load:payments'") == 0

    markers.new_run_id()
    assert build(LoadTable("payments")).scheduling_succeeded
    assert scalar(database_url, "SELECT count(*) FROM incoming.payments") == big.num_rows
    assert scalar(database_url, "SELECT count(DISTINCT _source_row) FROM incoming.payments") == big.num_rows
