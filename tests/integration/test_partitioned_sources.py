"""Folder sources: data/<table>/ of Parquet part files (Hive partitions as columns), lineage per part, one
unreadable part failing in one line while the others load, and the load's fingerprint over every part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.orchestration.tasks import LoadTable, Transform

from tests.support import ROOT, build, query, scalar
from tests.support.parts import split_into_parts


def run_cli(data_dir: Path, url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PIPELINE_DATABASE_URL": url,
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_hive_folder_loads_with_its_partition_column_and_lineage_per_part(database_url, data_dir):
    parts = split_into_parts(data_dir, "payments")
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in parts]

    assert build(LoadTable("payments")).scheduling_succeeded
    got = query(
        database_url,
        """SELECT _source_file, day, count(*), min(_part_row), max(_part_row), count(DISTINCT _source_row)
           FROM incoming.payments GROUP BY 1, 2 ORDER BY 1""",
    )
    assert got == [
        (f"payments/day={i}/part-0.parquet", str(i), n, 1, n, n) for i, n in enumerate(sizes)
    ]  # the partition key as a text column kept beside the spec's; each part's rows numbered from 1
    assert scalar(database_url, "SELECT count(DISTINCT _source_row) FROM incoming.payments") == sum(sizes)
    details = scalar(database_url, "SELECT details FROM ops.task_runs WHERE task_family = 'LoadTable'")
    assert details["extra_columns"] == ["day"]


def _healed(url: str) -> dict[str, list]:
    return {
        "clean": query(url, "SELECT * FROM clean.payments ORDER BY payment_id"),
        "claims": query(url, "SELECT * FROM clean.claims ORDER BY claim_id"),
        "quarantine": query(
            url, "SELECT table_name, source_row, record_key, rule_ids, messages FROM quality.quarantine ORDER BY 1, 2"
        ),
        "heal_log": query(
            url,
            "SELECT table_name, source_row, record_key, column_name, rule_id, before, after FROM quality.heal_log "
            "ORDER BY 1, 2, 4, 5",
        ),
    }


def test_the_same_rows_as_one_file_or_as_a_folder_heal_to_the_same_clean(
    database_url, data_dir, make_database, monkeypatch
):
    assert build(Transform()).scheduling_succeeded
    as_files = _healed(database_url)

    split_into_parts(data_dir, "payments")
    split_into_parts(data_dir, "claims", key="batch", parts=2)
    folders = make_database()
    monkeypatch.setenv("PIPELINE_DATABASE_URL", folders)
    assert build(Transform()).scheduling_succeeded
    as_folders = _healed(folders)

    assert len(as_files["clean"]) > 0 and len(as_files["quarantine"]) > 0
    for name in ("clean", "claims", "quarantine", "heal_log"):
        assert as_folders[name] == as_files[name], name


def _damage(path: Path, how: str) -> None:
    if how == "corrupt bytes":
        data = bytearray(path.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
        path.write_bytes(bytes(data))
    else:  # a schema that cannot be unified with the other parts': amounts as text
        rows = pq.read_table(path)
        at = rows.schema.get_field_index("amount")
        pq.write_table(rows.set_column(at, "amount", rows["amount"].cast(pa.string())), path)


@pytest.mark.parametrize(
    "how, says", [("corrupt bytes", "the Parquet data is damaged"), ("types", "cannot be unified")]
)
def test_a_folder_with_one_unreadable_part_fails_in_one_line_naming_it_while_the_others_load(
    database_url, data_dir, tmp_path, how, says
):
    parts = split_into_parts(data_dir, "payments")
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in parts]
    bad = parts[1] if how == "corrupt bytes" else parts[2]
    _damage(bad, how)

    done = run_cli(data_dir, database_url, tmp_path, "run")
    assert done.returncode != 0, done.stdout + done.stderr
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and str(bad) in errors[0] and says in errors[0], errors
    assert "the other part files of payments are loaded" in errors[0]

    good = sum(n for p, n in zip(parts, sizes, strict=True) if p != bad)
    assert scalar(database_url, "SELECT count(*) FROM raw.payments") == good  # published, not only staged
    named = f"payments/{bad.parent.name}/part-0.parquet"
    assert scalar(database_url, "SELECT count(*) FROM raw.payments WHERE _source_file = %s", (named,)) == 0
    clean = scalar(database_url, "SELECT count(*) FROM clean.payments")
    held = scalar(database_url, "SELECT count(*) FROM quality.quarantine WHERE table_name = 'payments'")
    assert clean > 0 and clean + held == good
    assert scalar(database_url, "SELECT count(*) FROM ops.markers WHERE task_id = 'transform'") == 1  # analytics built

    status = run_cli(data_dir, database_url, tmp_path, "status")
    assert f"part file {named} not loaded" in status.stdout

    again = run_cli(data_dir, database_url, tmp_path, "run")  # still failing, loud, until the file is fixed
    assert again.returncode != 0 and str(bad) in again.stdout + again.stderr


def test_a_part_damaged_after_it_loaded_keeps_its_rows_in_the_warehouse(database_url, data_dir, tmp_path):
    parts = split_into_parts(data_dir, "payments")
    assert run_cli(data_dir, database_url, tmp_path, "run").returncode == 0
    before = query(database_url, "SELECT payment_id, _source_file, _part_row FROM raw.payments ORDER BY 1, 2, 3")
    clean_before = query(database_url, "SELECT payment_id FROM clean.payments ORDER BY 1")

    _damage(parts[0], "corrupt bytes")
    assert run_cli(data_dir, database_url, tmp_path, "run").returncode != 0
    assert (
        query(database_url, "SELECT payment_id, _source_file, _part_row FROM raw.payments ORDER BY 1, 2, 3") == before
    )
    assert query(database_url, "SELECT payment_id FROM clean.payments ORDER BY 1") == clean_before


def test_a_changed_part_file_makes_the_load_incomplete_again(database_url, data_dir):
    parts = split_into_parts(data_dir, "payments")
    assert build(LoadTable("payments")).scheduling_succeeded
    assert LoadTable("payments").complete()

    stat = parts[2].stat()
    os.utime(parts[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same content: still complete
    assert LoadTable("payments").complete()

    rows = pq.read_table(parts[2])
    pq.write_table(rows.slice(1), parts[2])  # one row less in the last part
    assert not LoadTable("payments").complete()
    assert build(LoadTable("payments")).scheduling_succeeded
    assert scalar(
        database_url, "SELECT count(*) FROM incoming.payments WHERE _source_file = 'payments/day=2/part-0.parquet'"
    ) == (rows.num_rows - 1)

    (parts[1].parent / "part-1.parquet").write_bytes(parts[1].read_bytes())  # a new part file
    assert not LoadTable("payments").complete()


def _accounted(url: str) -> bool:
    """raw = clean + quarantine for payments."""
    raw = scalar(url, "SELECT count(*) FROM raw.payments")
    held = scalar(url, "SELECT count(*) FROM quality.quarantine WHERE table_name = 'payments'")
    return raw == scalar(url, "SELECT count(*) FROM clean.payments") + held


def test_a_removed_part_file_keeps_its_rows_until_forgotten_then_the_next_run_drops_them(
    database_url, data_dir, tmp_path
):
    parts = split_into_parts(data_dir, "payments")
    assert run_cli(data_dir, database_url, tmp_path, "run").returncode == 0
    name = "payments/day=1/part-0.parquet"
    rows = "SELECT payment_id, _part_row FROM raw.payments WHERE _source_file = %s ORDER BY 1, 2"
    its_rows = query(database_url, rows, (name,))
    total = scalar(database_url, "SELECT count(*) FROM raw.payments")
    clean_before = query(database_url, "SELECT payment_id FROM clean.payments ORDER BY 1")
    assert its_rows

    saved = parts[1].read_bytes()
    parts[1].unlink()
    parts[1].parent.rmdir()
    again = run_cli(data_dir, database_url, tmp_path, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert query(database_url, rows, (name,)) == its_rows  # kept, as they were, with their lineage
    assert scalar(database_url, "SELECT count(*) FROM raw.payments") == total and _accounted(database_url)
    assert query(database_url, "SELECT payment_id FROM clean.payments ORDER BY 1") == clean_before
    status = run_cli(data_dir, database_url, tmp_path, "status").stdout
    assert f"payments: part file {name} is gone from the folder; its {len(its_rows):,} rows are kept" in status

    wrong = run_cli(data_dir, database_url, tmp_path, "parts", "forget", "payments", "payments/day=7/part-0.parquet")
    assert wrong.returncode != 0
    assert (
        wrong.stderr.strip()
        .splitlines()[0]
        .endswith(f"payments: part file payments/day=7/part-0.parquet is not gone from its folder (gone: {name})")
    ), wrong.stderr
    forgot = run_cli(data_dir, database_url, tmp_path, "parts", "forget", "payments", name)
    assert forgot.returncode == 0 and f"drops their {len(its_rows):,} rows" in forgot.stdout, forgot.stderr

    third = run_cli(data_dir, database_url, tmp_path, "run")
    assert third.returncode == 0, third.stdout + third.stderr
    assert query(database_url, rows, (name,)) == []
    assert scalar(database_url, "SELECT count(*) FROM raw.payments") == total - len(its_rows)
    assert _accounted(database_url)
    assert "is gone from the folder" not in run_cli(data_dir, database_url, tmp_path, "status").stdout
    assert "no part file is gone" in run_cli(data_dir, database_url, tmp_path, "parts", "list").stdout

    # the part file back: it loads again like any part, and gone again, it is kept again
    parts[1].parent.mkdir()
    parts[1].write_bytes(saved)
    assert run_cli(data_dir, database_url, tmp_path, "run").returncode == 0
    assert query(database_url, rows, (name,)) == its_rows and _accounted(database_url)
    parts[1].unlink()
    assert run_cli(data_dir, database_url, tmp_path, "run").returncode == 0
    assert query(database_url, rows, (name,)) == its_rows
