"""What a user sees on the command line: the real cause of a failure in one line, the documented exit codes, the
traceback in the run's log (or on the terminal with --debug), and NUL in text healed and logged."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.orchestration.tasks import Transform

from tests.support import ROOT, SAMPLE, build, query, scalar

RETCODES = configparser.ConfigParser()
RETCODES.read(ROOT / "luigi.cfg")
TASK_FAILED = RETCODES.getint("retcode", "task_failed")


def _put(table: pa.Table, column: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, array)


def invalid_utf8(path: Path) -> None:
    table = pq.read_table(path)
    cities = [c.encode() for c in table.column("city").to_pylist()]
    cities[5] = b"Sp\xc3\x28ingfield"  # a string column whose bytes are not UTF-8, as a foreign system may write
    pq.write_table(_put(table, "city", pa.array(cities, pa.binary()).view(pa.string())), path)


def date_before_year_one(path: Path) -> None:
    table = pq.read_table(path)
    days = table.column("dob").combine_chunks().view(pa.int32()).to_pylist()
    days[3] = -800_000  # about 220 BC
    pq.write_table(_put(table, "dob", pa.array(days, pa.int32()).view(pa.date32())), path)


def binary_extra_column(path: Path) -> None:
    table = pq.read_table(path)
    blobs = [b"ok"] * table.num_rows
    blobs[2] = b"\xff\xfe\x00"
    pq.write_table(table.append_column("scan", pa.array(blobs, pa.binary())), path)


def flipped_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises((pa.ArrowException, OSError)):  # the damage is in the data, past the footer
        pq.read_table(path)


BAD_FILES = {
    "invalid UTF-8": (invalid_utf8, ["column 'city'", "not valid UTF-8", "row 6", "encoded as UTF-8"]),
    "date before year 1": (date_before_year_one, ["column 'dob'", "outside the years 1-9999", "row 4"]),
    "binary extra column": (binary_extra_column, ["column 'scan'", "binary values", "row 3", "drop the column"]),
    "flipped byte": (flipped_byte, ["Parquet data is damaged", "copy or export it again"]),
}


def run_cli(args: list[str], url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PIPELINE_DATABASE_URL": url,
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def warehouse_state(url: str) -> tuple:
    return (
        scalar(url, "SELECT count(*) FROM raw.customers"),
        scalar(url, "SELECT count(*) FROM clean.customers"),
        query(url, "SELECT task_id, fingerprint FROM ops.markers ORDER BY 1"),
    )


@pytest.fixture
def bad_copy(tmp_path) -> Path:
    folder = tmp_path / "delivery"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_source_files_name_the_real_cause_not_the_warehouse(healed_url, bad_copy, tmp_path, case):
    damage, expected = BAD_FILES[case]
    path = bad_copy / "customers.parquet"
    damage(path)
    before = warehouse_state(healed_url)

    done = run_cli(["-m", "pipeline", "run", "--data-dir", str(bad_copy)], healed_url, tmp_path)

    assert done.returncode == TASK_FAILED, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR LoadTable(table=customers): ")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert str(path) in lines[0] and lines[0].endswith("then run again"), lines[0]
    assert all(text in lines[0] for text in expected), lines[0]
    assert "cannot reach the warehouse" not in done.stderr and "PostgreSQL is running" not in done.stderr
    assert warehouse_state(healed_url) == before  # the failed load changed nothing


def test_a_failure_is_one_line_with_the_documented_exit_code_and_the_traceback_in_the_log(
    healed_url, bad_copy, tmp_path
):
    (bad_copy / "customers.parquet").unlink()
    (bad_copy / "customers.parquet").mkdir()  # a folder where a file should be
    (bad_copy / "customers.parquet" / "part-0.parquet").write_bytes((SAMPLE / "customers.parquet").read_bytes())
    before = warehouse_state(healed_url)

    for command in (
        ["-m", "pipeline", "run", "--data-dir", str(bad_copy)],
        ["-m", "luigi", "--module", "pipeline", "Transform", "--local-scheduler"],
    ):
        done = run_cli(command, healed_url, tmp_path, PIPELINE_DATA_DIR=str(bad_copy))
        assert done.returncode == TASK_FAILED, (command, done.stderr[-3000:])
        shown = (done.stdout + done.stderr).splitlines()
        errors = [line for line in shown if line.startswith("ERROR")]
        assert errors == [
            f"ERROR LoadTable(table=customers): {bad_copy / 'customers.parquet'}: is a folder, not a "
            "Parquet file; put the customers table in one Parquet file of that name, then run again"
        ]
        assert len(shown) <= 3, shown  # the warehouse, the one line, where the report and the log are
        assert "Traceback" not in done.stderr and "Luigi Execution Summary" not in done.stderr
        log = re.search(r"log(?:, with tracebacks)?: (\S+\.log)", done.stdout + done.stderr)
        assert log, shown
        text = Path(log.group(1)).read_text()
        assert "Traceback" in text and "SourceError" in text and "Luigi Execution Summary" in text
    assert warehouse_state(healed_url) == before

    debug = run_cli(["-m", "pipeline", "run", "--debug", "--data-dir", str(bad_copy)], healed_url, tmp_path)
    assert debug.returncode == TASK_FAILED
    assert "Traceback" in debug.stderr and "SourceError" in debug.stderr


def test_every_command_returns_the_exit_codes_the_readme_documents(tmp_path):
    documented = dict(re.findall(r"^\| (\d+) \| `(\w+)`", (ROOT / "README.md").read_text(), re.MULTILINE))
    assert {name: int(code) for code, name in documented.items()} == {
        name: int(value) for name, value in RETCODES.items("retcode")
    }
    nowhere = "postgresql://pipeline@127.0.0.1:1/warehouse"  # nothing listens on port 1
    run = run_cli(["-m", "pipeline", "run"], nowhere, tmp_path)
    status = run_cli(["-m", "pipeline", "status"], nowhere, tmp_path)
    assert run.returncode == RETCODES.getint("retcode", "scheduling_error"), run.stderr
    assert status.returncode == TASK_FAILED, status.stderr
    luigi = run_cli(["-m", "luigi", "--module", "pipeline", "Transform", "--local-scheduler"], nowhere, tmp_path)
    assert luigi.returncode == run.returncode  # the same failure, the same code, whichever way the run started
    for done in (run, status, luigi):
        assert done.stderr.count("\n") == 1 and "cannot reach the warehouse" in done.stderr, done.stderr[-3000:]


def test_nul_in_text_reaches_clean_without_it_and_every_change_is_in_the_heal_log(database_url, data_dir):
    path = data_dir / "customers.parquet"
    table = pq.read_table(path)
    cities, addresses = table.column("city").to_pylist(), table.column("address").to_pylist()
    cities[1], addresses[2] = "Spring\x00field", "back\\slash\x00\\0 x\x00"
    pq.write_table(_put(_put(table, "city", pa.array(cities)), "address", pa.array(addresses)), path)

    assert build(Transform()).scheduling_succeeded
    clean = dict(
        query(
            database_url,
            "SELECT _source_row, city || ' | ' || address FROM clean.customers WHERE _source_row IN (2, 3)",
        )
    )
    assert clean == {2: f"Springfield | {addresses[1]}", 3: f"{cities[2]} | back\\slash\\0 x"}
    logged = query(
        database_url,
        "SELECT source_row, column_name, rule_id, before, after FROM quality.heal_log "
        "WHERE table_name = 'customers' AND rule_id = 'customers.nul_removed' ORDER BY 1",
    )
    assert logged == [
        (2, "city", "customers.nul_removed", "Spring\\0field", "Springfield"),
        (3, "address", "customers.nul_removed", "back\\\\slash\\0\\\\0 x\\0", "back\\slash\\0 x"),
    ]
    assert scalar(database_url, "SELECT fixed FROM quality.rule_results WHERE rule_id = 'customers.nul_removed'") == 2
