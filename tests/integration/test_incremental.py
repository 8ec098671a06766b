"""Incremental loads and heals: a day's new part files are loaded and healed alone, against what clean holds, and
give the warehouse a full load and heal of the same files gives: clean, quarantine, heal_log, the quality figures
and the analytics, table by table (run ids apart)."""

from __future__ import annotations

import datetime
import json
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.cli.main import main
from pipeline.orchestration import markers
from pipeline.orchestration.tasks import Transform
from pipeline.synth import daily

from tests.support import build, query

BIG = ("customers", "policies", "claims", "payments")
# The keyed tables (refreshed by policy and customer) and views built on them among the rest.
ANALYTICS = (
    "policy_summary",
    "policy_financials",
    "agent_performance",
    "loss_ratio",
    "revenue_monthly",
    "claims_trends",
    "customer_values",
    "customer_lifetime_value",
    "customer_segments",
)
LATE_POLICIES = 3  # held back from the history, they arrive with the last day: their claims wait for them


def _folders(sample, data_dir):
    """The sample's big tables as a history plus five daily part files each; the last day, and a late part of
    policies whose claims are in the history, set aside for later. What to add for the next day."""
    tables = {name: pq.read_table(sample / f"{name}.parquet") for name in BIG}
    for name in BIG:
        (data_dir / f"{name}.parquet").unlink()
    daily.write_daily(tables, data_dir, 5, 7, lambda table, path: pq.write_table(table, path))
    last = sorted((data_dir / "payments").glob("date=*"))[-1].name
    later = data_dir.parent / "later"
    for name in BIG:
        if (data_dir / name / last).exists():
            shutil.move(data_dir / name / last, later / name / last)
    claims = pq.read_table(data_dir / "claims" / "history.parquet")
    waiting = pc.unique(claims["policy_id"]).to_pylist()[:LATE_POLICIES]
    history = data_dir / "policies" / "history.parquet"
    policies = pq.read_table(history)
    late = pc.is_in(policies["policy_id"], value_set=pa.array(waiting, policies.schema.field("policy_id").type))
    kept = policies.filter(pc.invert(late))
    pq.write_table(kept, history)
    # A policy that arrives late but starts before an Active one clean holds (same customer and type): a full heal
    # flags the one in clean as overlapping it.
    first = next(r for r in kept.to_pylist() if r["status"] == "Active" and r["end_date"] > r["start_date"])
    earlier = dict(first, policy_id="PO90000001", start_date=first["start_date"] - datetime.timedelta(days=30))
    # The first late policy arrives with a currency no rate exists for: quarantined, its claims wait on as held by a
    # parent in quarantine (no longer orphans).
    arrived = [
        dict(r, currency="ZZZ") if r["policy_id"] == waiting[0] else r for r in policies.filter(late).to_pylist()
    ]
    arriving = pa.Table.from_pylist([*arrived, earlier], schema=policies.schema)
    (later / "policies").mkdir(parents=True, exist_ok=True)
    pq.write_table(arriving, later / "policies" / "late.parquet")
    return later, [str(w) for w in waiting], first["policy_id"]


def _first_customer_again(data_dir) -> str:
    """The first customer of the history again, a day earlier and under a new id, in a part file of its own; the
    id of the one that was first."""
    first = pq.read_table(data_dir / "customers" / "history.parquet").slice(0, 1)
    row = first.to_pylist()[0]
    earlier = dict(row, customer_id="CU9000001", created_at=row["created_at"] - datetime.timedelta(days=1))
    pq.write_table(pa.Table.from_pylist([earlier], schema=first.schema), data_dir / "customers" / "early.parquet")
    return row["customer_id"]


def _extra_payments(data_dir) -> None:
    """Three payments of the history again under new ids, in a part file of their own."""
    rows = pq.read_table(data_dir / "payments" / "history.parquet").slice(0, 3)
    again = [
        dict(r, payment_id=f"PA90000000{n}", transaction_id=f"TX90000000000{n}") for n, r in enumerate(rows.to_pylist())
    ]
    pq.write_table(pa.Table.from_pylist(again, schema=rows.schema), data_dir / "payments" / "extra.parquet")


def _run(monkeypatch, url: str, incremental: bool) -> str:
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    monkeypatch.setenv("PIPELINE_INCREMENTAL", "1" if incremental else "0")
    result = build(Transform(), workers=2)
    assert result.scheduling_succeeded, result.summary_text
    return markers.run_id()


def _details(url: str, run_id: str, family: str) -> dict[str, dict]:
    rows = query(
        url,
        "SELECT task_id, details FROM ops.task_runs WHERE run_id = %s AND task_id LIKE %s",
        (run_id, f"{family}%"),
    )
    found = {}
    for task_id, details in rows:
        table = next(
            t
            for t in BIG
            + (
                "agents",
                "branches",
                "coverage_levels",
                "currency_rates",
                "payment_methods",
                "policy_types",
                "snapshots",
            )
            if f"_{t}_" in task_id
        )
        found[table] = details if isinstance(details, dict) else json.loads(details)
    return found


def _transform(url: str, run_id: str) -> dict:
    """How the run's Transform built the analytics (details: built, why, refreshed)."""
    details = query(url, "SELECT details FROM ops.task_runs WHERE run_id = %s AND task_family = 'Transform'", (run_id,))
    return details[0][0] if isinstance(details[0][0], dict) else json.loads(details[0][0])


def _state(url: str) -> dict[str, list]:
    """What users read, run ids and the runs named in heal_log's words left out."""
    state = {}
    for table in BIG:
        state[f"clean.{table}"] = query(url, f"SELECT * FROM clean.{table} ORDER BY _source_row")
        state[f"raw.{table}"] = query(
            url,
            f"SELECT md5(string_agg((to_jsonb(r) - '_batch_id')::text, '|' ORDER BY _source_row)), count(*) FROM raw.{table} r",
        )
    state["quarantine"] = query(
        url,
        "SELECT table_name, source_row, record_key, rule_ids, messages::text, original::text, survivor_key "
        "FROM quality.quarantine ORDER BY table_name, source_row",
    )
    state["heal_log"] = query(
        url,
        "SELECT table_name, source_row, record_key, column_name, rule_id, regexp_replace(before, ' in run .*$', ''), "
        "after FROM quality.heal_log ORDER BY 1, 2, 4, 5, 6",
    )
    latest = (
        "(SELECT run_id FROM quality.table_results t2 WHERE t2.table_name = t.table_name ORDER BY run_id DESC LIMIT 1)"
    )
    state["table_results"] = query(
        url,
        "SELECT table_name, raw_rows, clean_rows, quarantined, valid_before, fixed_rows, replaced "
        f"FROM quality.table_results t WHERE run_id = {latest} ORDER BY 1",
    )
    state["rule_results"] = query(
        url,
        "SELECT table_name, rule_id, rows_checked, violations, fixed, quarantined, flagged FROM quality.rule_results t "
        f"WHERE run_id = {latest} ORDER BY 1, 2",
    )
    state["analytics.kpis"] = query(
        url, "SELECT to_jsonb(k) - 'built_at' - 'last_healed_at' - 'latest_run_id' FROM analytics.kpis k"
    )
    for view in ANALYTICS:
        state[f"analytics.{view}"] = sorted(query(url, f"SELECT * FROM analytics.{view}"), key=repr)
    return state


@pytest.mark.slow
def test_a_new_day_heals_incrementally_to_what_a_full_heal_gives(make_database, data_dir, monkeypatch, capsys):
    from tests.support import SAMPLE

    later, waiting, overlapped = _folders(SAMPLE, data_dir)
    incremental, full = make_database(), make_database()
    for url in (incremental, full):
        _run(monkeypatch, url, incremental=True)
    held = query(
        incremental,
        "SELECT count(*) FROM quality.quarantine WHERE table_name = 'claims' AND 'claims.orphan_policy_id' = ANY(rule_ids)",
    )[0][0]
    assert held > 0  # the claims of the late policies wait for them

    forecast_table = query(incremental, "SELECT 'analytics.claims_forecast'::regclass::oid")[0][0]
    shutil.copytree(later, data_dir, dirs_exist_ok=True)  # the next day arrives, and the late policies
    run = _run(monkeypatch, incremental, incremental=True)
    loads, heals = _details(incremental, run, "LoadTable"), _details(incremental, run, "HealTable")
    for table in BIG:
        assert loads[table]["staged"] == "delta", (table, loads[table])
        assert heals[table]["healed"] == "incremental", (table, heals[table])
        total = query(incremental, f"SELECT count(*) FROM raw.{table}")[0][0]
        assert 0 < heals[table]["checked"] < total / 5, (table, heals[table], total)
    assert heals["claims"]["parents_arrived"] >= LATE_POLICIES
    for table in BIG:  # raw and clean read by row number through an index that covers the delivery's pages too
        for schema in ("raw", "clean"):
            left = query(
                incremental, "SELECT brin_summarize_new_values(%s::regclass)", (f"{schema}.{table}__source_row",)
            )
            assert left == [(0,)], (schema, table, left)
    for table in BIG:  # the planner's row counts are within a tenth of clean's (statistics taken again past that)
        counted = query(incremental, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f"clean.{table}",))
        rows = query(incremental, f"SELECT count(*) FROM clean.{table}")[0][0]
        assert 0 < counted[0][0] <= rows <= 1.1 * counted[0][0], (table, rows, counted)
    # The keyed analytics tables took in only the policies and customers the new rows touch.
    built = _transform(incremental, run)
    assert built["built"] == "incremental", built
    # The tables of sums added the new rows' sums to theirs, without reading the history (compared below).
    assert built["added"] == [
        "policy_summary",
        "claims_trends",
        "policy_financials",
        "revenue_monthly",
        "loss_ratio",
    ], built
    assert "not_additive" not in built
    # The forecast was made again (a new table) or kept as it was, and Transform says which.
    made = query(incremental, "SELECT 'analytics.claims_forecast'::regclass::oid")[0][0] != forecast_table
    assert built["forecast"] == ("made" if made else "kept"), built
    policies, customers = (
        query(incremental, f"SELECT count(*) FROM clean.{t}")[0][0] for t in ("policies", "customers")
    )
    assert 0 < built["refreshed"]["policies"] < policies / 5 and 0 < built["refreshed"]["customers"] < customers / 5
    months = query(incremental, "SELECT count(DISTINCT month) FROM analytics.revenue_monthly")[0][0]
    assert 0 < built["refreshed"]["months"] < months / 2, (built, months)
    monkeypatch.setenv("PIPELINE_DATABASE_URL", incremental)
    assert main(["status"]) == 0  # users see how each task did its work
    shown = {
        line.split()[0]: line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("Load", "Heal", "Transform"))
    }
    for table in BIG:
        assert " delta " in shown[f"LoadTable({table})"], shown
        assert f" incremental, {heals[table]['checked']:,} rows checked " in shown[f"HealTable({table})"], shown
    assert " full " in shown["HealTable(branches)"], shown
    refreshed = built["refreshed"]
    assert (
        f" incremental, {refreshed['policies']:,} policies, {refreshed['customers']:,} customers, "
        f"{refreshed['months']:,} months refreshed (5 tables by adding the new rows)" in (shown["Transform()"])
    ), shown
    assert ("; the forecast kept (no whole month changed)" in shown["Transform()"]) == (not made), shown
    _run(monkeypatch, full, incremental=False)
    assert _details(full, markers.run_id(), "HealTable")["payments"]["healed"] == "full"

    got, expected = _state(incremental), _state(full)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], name
    released = query(incremental, "SELECT count(*) FROM clean.claims WHERE policy_id = ANY(%s)", (waiting[1:],))
    assert released[0][0] > 0
    still = query(
        incremental,
        "SELECT DISTINCT q.rule_ids FROM quality.quarantine q JOIN raw.claims r ON r._source_row = q.source_row "
        "WHERE q.table_name = 'claims' AND r.policy_id = %s",
        (waiting[0],),
    )
    assert still and all("claims.parent_held_policy_id" in r[0] for r in still), still
    flags = query(incremental, "SELECT _flags FROM clean.policies WHERE policy_id = %s", (overlapped,))
    assert flags == [(["policies.overlapping_active"],)]

    # A customer who arrives now but signed up before a customer clean holds, the same person: a full heal keeps the
    # earlier and holds the one in clean, so customers and the tables below heal in full, the staged payments too.
    person = _first_customer_again(data_dir)
    _extra_payments(data_dir)
    run = _run(monkeypatch, incremental, incremental=True)
    heals = _details(incremental, run, "HealTable")
    assert heals["customers"]["healed"] == "full" and "come before" in heals["customers"]["why"], heals["customers"]
    assert heals["payments"]["healed"] == "full" and "healed in full" in heals["payments"]["why"], heals["payments"]
    assert _details(incremental, run, "LoadTable")["payments"]["staged"] == "delta"
    built = _transform(incremental, run)
    assert built["built"] == "full" and built["why"] in {f"{t} was healed in full" for t in BIG}, built
    _run(monkeypatch, full, incremental=False)
    got, expected = _state(incremental), _state(full)
    for name in expected:
        assert got[name] == expected[name], name
    assert query(incremental, "SELECT count(*) FROM clean.customers WHERE customer_id = %s", (person,)) == [(0,)]

    # A full rebuild is one command: every table loaded and healed whole, in the order its parts arrived.
    monkeypatch.setenv("PIPELINE_DATABASE_URL", incremental)
    monkeypatch.delenv("PIPELINE_INCREMENTAL")
    assert main(["run", "--rebuild"]) == 0
    run = markers.run_id()
    loads, heals = _details(incremental, run, "LoadTable"), _details(incremental, run, "HealTable")
    assert len(heals) == 11 and {h["healed"] for h in heals.values()} == {"full"}, heals
    assert {h["why"] for h in heals.values()} == {"a full rebuild was asked for"}
    assert {loads[t]["staged"] for t in BIG} == {"full"}
    assert _transform(incremental, run)["why"] == "a full rebuild was asked for"
    assert _state(incremental) == expected


def _a_customer_held_back(data_dir, monkeypatch, *urls: str) -> tuple[str, str, str, str]:
    """The sample's big tables as folders; a customer with a policy, a claim of it and a payment of that claim in
    clean after a first run (of the first warehouse), then left out of the customers' history; the warehouses run
    on that. The customer, policy, claim and payment ids."""
    for name in BIG:
        (data_dir / name).mkdir()
        shutil.move(data_dir / f"{name}.parquet", data_dir / name / "history.parquet")
    _run(monkeypatch, urls[0], incremental=True)
    chain = query(
        urls[0],
        "SELECT c.customer_id, p.policy_id, cl.claim_id, pa.payment_id FROM clean.customers c "
        "JOIN clean.policies p USING (customer_id) JOIN clean.claims cl USING (policy_id) "
        "JOIN clean.payments pa ON pa.claim_id = cl.claim_id ORDER BY 1, 2, 3, 4 LIMIT 1",
    )[0]
    history = data_dir / "customers" / "history.parquet"
    customers = pq.read_table(history)
    pq.write_table(customers.filter(pc.invert(_theirs(customers, chain[0]))), history)
    pq.write_table(customers.filter(_theirs(customers, chain[0])), data_dir.parent / "late_customer.parquet")
    for url in urls:
        _run(monkeypatch, url, incremental=True)
    return chain


def _theirs(customers: pa.Table, customer: str):
    return pc.equal(pc.cast(customers["customer_id"], pa.string()), customer)


def _arrives(data_dir, customer: str) -> None:
    """The customer held back arrives, in a part file of its own."""
    shutil.copy(data_dir.parent / "late_customer.parquet", data_dir / "customers" / "late.parquet")


@pytest.mark.slow
def test_a_late_customer_releases_its_policies_and_through_them_their_claims_and_payments(
    make_database, data_dir, monkeypatch
):
    """Late parents in a chain: a customer arrives; the policies held for it are released by the policies' heal, and
    the claims and payments held for those policies, and the payments held for those claims, by the heals below in
    the same run: incrementally, as a full heal releases them (the parents released, not new, are found in the
    parent's heal_log)."""
    incremental, full = make_database(), make_database()
    customer, policy, claim, payment = _a_customer_held_back(data_dir, monkeypatch, incremental, full)
    for table, key, rule in (
        ("policies", policy, "policies.orphan_customer_id"),
        ("claims", claim, "claims.parent_held_policy_id"),
        ("payments", payment, "payments.parent_held_claim_id"),
    ):
        held = query(
            incremental,
            "SELECT rule_ids FROM quality.quarantine WHERE table_name = %s AND record_key = %s",
            (table, key),
        )
        assert held and rule in held[0][0], (table, key, held)

    _arrives(data_dir, customer)
    run = _run(monkeypatch, incremental, incremental=True)
    heals = _details(incremental, run, "HealTable")
    for table in BIG:
        assert heals[table]["healed"] == "incremental", (table, heals[table])
    for table in ("policies", "claims", "payments"):
        assert heals[table]["parents_arrived"] >= 1, (table, heals[table])
    for table, column, key in (
        ("policies", "policy_id", policy),
        ("claims", "claim_id", claim),
        ("payments", "payment_id", payment),
    ):
        assert query(incremental, f"SELECT count(*) FROM clean.{table} WHERE {column} = %s", (key,)) == [(1,)], table
    _run(monkeypatch, full, incremental=False)
    got, expected = _state(incremental), _state(full)
    for name in expected:
        assert got[name] == expected[name], name


@pytest.mark.slow
def test_a_row_recorded_as_waiting_but_not_held_makes_the_heal_full(make_database, data_dir, monkeypatch):
    """ops.waiting_for_parent out of step with the quarantine (a row of clean recorded as waiting for the customer
    that arrives): the incremental heal would put that row in clean a second time; the policies heal in full instead,
    says why, and the warehouse equals a full heal's."""
    incremental, full = make_database(), make_database()
    customer, policy, _, _ = _a_customer_held_back(data_dir, monkeypatch, incremental, full)
    query(
        incremental,
        "INSERT INTO ops.waiting_for_parent SELECT 'policies', _source_row, 'policies.orphan_customer_id', "
        "'customers', %s FROM clean.policies WHERE policy_id <> %s ORDER BY _source_row LIMIT 1 RETURNING 1",
        (customer, policy),
    )
    _arrives(data_dir, customer)
    run = _run(monkeypatch, incremental, incremental=True)
    policies = _details(incremental, run, "HealTable")["policies"]
    assert policies["healed"] == "full", policies
    assert policies["why"] == "1 row(s) recorded as waiting for a parent are not in the quarantine", policies
    _run(monkeypatch, full, incremental=False)
    got, expected = _state(incremental), _state(full)
    for name in expected:
        assert got[name] == expected[name], name


def test_new_payments_alone_keep_the_forecast_as_it_was(make_database, data_dir, monkeypatch, capsys):
    """No claim arrives, so no month the forecast learns from changes: Transform keeps it (the same table, the same
    rows) and says so."""
    for name in BIG:
        (data_dir / name).mkdir()
        shutil.move(data_dir / f"{name}.parquet", data_dir / name / "history.parquet")
    url = make_database()
    _run(monkeypatch, url, incremental=True)
    before = query(url, "SELECT 'analytics.claims_forecast'::regclass::oid")[0][0]
    forecast_rows = sorted(query(url, "SELECT * FROM analytics.claims_forecast"), key=repr)
    _extra_payments(data_dir)
    run = _run(monkeypatch, url, incremental=True)
    assert _details(url, run, "HealTable")["payments"]["healed"] == "incremental"
    built = _transform(url, run)
    assert built["built"] == "incremental" and built["forecast"] == "kept", built
    assert query(url, "SELECT 'analytics.claims_forecast'::regclass::oid")[0][0] == before
    assert sorted(query(url, "SELECT * FROM analytics.claims_forecast"), key=repr) == forecast_rows
    assert query(url, "SELECT count(*) FROM clean.payments WHERE payment_id LIKE 'PA90000000_'") == [(3,)]
    assert main(["status"]) == 0
    transform = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Transform"))
    assert "; the forecast kept (no whole month changed)" in transform, transform
