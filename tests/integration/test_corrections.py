"""Corrections by updated_at: where a table's contract says `corrections: updated_at`, a repeated key with a later
updated_at replaces the older version in clean and the older goes to history.<table>; without it, or with the same
updated_at, a repeated key stays a duplicate in the quarantine."""

from __future__ import annotations

import datetime
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import config
from pipeline.cli.main import main
from pipeline.orchestration import markers
from pipeline.orchestration.tasks import Transform

from tests.support import build, query, scalar


@pytest.fixture
def contracts(tmp_path, monkeypatch):
    folder = tmp_path / "contracts"
    shutil.copytree(config.PROJECT_ROOT / "contracts", folder)
    monkeypatch.setenv("PIPELINE_CONTRACTS_DIR", str(folder))
    return folder


def _run() -> str:
    assert build(Transform(), workers=2).scheduling_succeeded
    return markers.run_id()


def _add_versions(data_dir, changed: list[str], repeated: str) -> dict[str, str]:
    """New versions of `changed` customers (a day later, another address) and an exact copy of `repeated`."""
    source = data_dir / "customers.parquet"
    table = pq.read_table(source)
    rows = {r["customer_id"]: r for r in table.to_pylist()}
    added, addresses = [], {}
    for n, key in enumerate(changed):
        row = dict(rows[key])
        row["updated_at"] = row["updated_at"] + datetime.timedelta(days=1)
        row["address"] = addresses[key] = f"{100 + n} Corrected Street"
        added.append(row)
    added.append(dict(rows[repeated]))
    pq.write_table(pa.concat_tables([table, pa.Table.from_pylist(added, schema=table.schema)]), source)
    return addresses


def test_a_later_updated_at_replaces_the_older_version_and_keeps_it_in_history(
    database_url, data_dir, contracts, capsys
):
    _run()
    keys = [r[0] for r in query(database_url, "SELECT customer_id FROM clean.customers ORDER BY 1 LIMIT 4")]
    changed, repeated = keys[:3], keys[3]
    before = dict(
        query(database_url, "SELECT customer_id, address FROM clean.customers WHERE customer_id = ANY(%s)", (changed,))
    )
    addresses = _add_versions(data_dir, changed, repeated)

    _run()  # the shipped contract: no corrections, the new versions are duplicates of the first ones
    held = query(
        database_url,
        "SELECT record_key FROM quality.quarantine WHERE 'customers.duplicate_key' = ANY(rule_ids) "
        "AND record_key = ANY(%s) ORDER BY 1",
        (keys,),
    )
    assert [k for (k,) in held] == sorted(keys)
    assert (
        dict(
            query(
                database_url, "SELECT customer_id, address FROM clean.customers WHERE customer_id = ANY(%s)", (changed,)
            )
        )
        == before
    )

    with (contracts / "customers.yaml").open("a") as f:
        f.write("corrections: updated_at\n")
    run_id = _run()
    assert (
        dict(
            query(
                database_url, "SELECT customer_id, address FROM clean.customers WHERE customer_id = ANY(%s)", (changed,)
            )
        )
        == addresses
    )
    history = query(database_url, "SELECT customer_id, address, _replaced, _run_id FROM history.customers ORDER BY 1")
    assert [(k, a) for k, a, _, _ in history] == sorted(before.items())
    assert all(r.startswith("replaced by the version of updated_at ") and run == run_id for _, _, r, run in history)
    logged = query(
        database_url, "SELECT record_key FROM quality.heal_log WHERE rule_id = 'customers.corrected' ORDER BY 1"
    )
    assert [k for (k,) in logged] == sorted(changed)
    # an exact copy (same updated_at) is still a duplicate, held in the quarantine
    assert query(
        database_url,
        "SELECT record_key FROM quality.quarantine WHERE 'customers.duplicate_key' = ANY(rule_ids) AND record_key = ANY(%s)",
        (keys,),
    ) == [(repeated,)]
    raw = scalar(database_url, "SELECT count(*) FROM raw.customers")
    clean = scalar(database_url, "SELECT count(*) FROM clean.customers")
    held_rows = scalar(database_url, "SELECT count(*) FROM quality.quarantine WHERE table_name = 'customers'")
    assert raw == clean + held_rows + len(changed)
    details = scalar(
        database_url,
        "SELECT details FROM ops.task_runs WHERE run_id = %s AND task_id LIKE 'HealTable_customers%%'",
        (run_id,),
    )
    assert details["corrected"] == len(changed)
    assert scalar(
        database_url,
        "SELECT violations FROM quality.rule_results WHERE run_id = %s AND rule_id = 'customers.corrected'",
        (run_id,),
    ) == len(changed)
    assert scalar(
        database_url,
        "SELECT replaced FROM quality.table_results WHERE run_id = %s AND table_name = 'customers'",
        (run_id,),
    ) == len(changed)
    capsys.readouterr()
    assert main(["status"]) == 0
    assert f"customers: {len(changed)} older versions replaced by corrections" in capsys.readouterr().out
