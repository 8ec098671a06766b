"""Late parents: claims and payments held because their policy had not arrived go to clean in the run where it
arrives, and heal_log says so (`<table>.parent_arrived`, with the rules and the run that held them)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.orchestration import markers
from pipeline.orchestration.tasks import Transform

from tests.support import build, query, scalar


def _run() -> str:
    """A run of the whole job; its run id."""
    assert build(Transform(), workers=2).scheduling_succeeded
    return markers.run_id()


def _clean_children(url: str, policies: list[str]) -> dict[str, list[str]]:
    return {
        table: [
            r[0]
            for r in query(url, f"SELECT {key} FROM clean.{table} WHERE policy_id = ANY(%s) ORDER BY 1", (policies,))
        ]
        for table, key in (("claims", "claim_id"), ("payments", "payment_id"))
    }


def test_children_held_for_a_missing_policy_are_released_and_logged_when_it_arrives(database_url, data_dir):
    _run()
    policies = [
        r[0]
        for r in query(
            database_url,
            "SELECT policy_id FROM clean.claims GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1 LIMIT 5",
        )
    ]
    healthy = _clean_children(database_url, policies)
    assert len(policies) == 5 and healthy["claims"] and healthy["payments"]

    source = data_dir / "policies.parquet"
    everything = pq.read_table(source)
    ids = pc.cast(everything["policy_id"], pa.string())
    pq.write_table(everything.filter(pc.invert(pc.is_in(ids, value_set=pa.array(policies)))), source)  # not yet
    held_run = _run()
    assert _clean_children(database_url, policies) == {"claims": [], "payments": []}
    held = query(
        database_url,
        "SELECT DISTINCT record_key FROM quality.quarantine WHERE table_name = 'claims' AND record_key = ANY(%s) "
        "AND 'claims.orphan_policy_id' = ANY(rule_ids) ORDER BY 1",
        (healthy["claims"],),
    )
    assert [k for (k,) in held] == healthy["claims"]

    pq.write_table(everything, source)  # the policies arrive
    arrival_run = _run()
    assert _clean_children(database_url, policies) == healthy
    for table, keys in healthy.items():
        logged = query(
            database_url,
            "SELECT record_key, before, after, run_id FROM quality.heal_log WHERE rule_id = %s ORDER BY 1",
            (f"{table}.parent_arrived",),
        )
        assert [r[0] for r in logged] == keys, table
        assert all(
            r[1].startswith("held by ")
            and f"{table}.orphan_policy_id" in r[1]
            and r[1].endswith(f"in run {held_run}")
            and r[2] == "in clean: its parent arrived"
            and r[3] == arrival_run
            for r in logged
        ), logged[:3]
    details = scalar(
        database_url,
        "SELECT details FROM ops.task_runs WHERE run_id = %s AND task_id LIKE 'HealTable_claims%%'",
        (arrival_run,),
    )
    assert details["parents_arrived"] == len(healthy["claims"])
