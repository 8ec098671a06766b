"""Healing on real PostgreSQL: every row accounted for, clean obeys every rule, fixes logged, thresholds enforced."""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import Future

import luigi.configuration
import psycopg2
import pytest
from psycopg2 import sql

from pipeline import ingest
from pipeline.ingest import LINEAGE
from pipeline.orchestration.tasks import HealTable, Transform
from pipeline.quality import heal, score
from pipeline.quality.catalog import CATALOG
from pipeline.quality.compile import compile_schema
from pipeline.quality.find import find
from pipeline.quality.rules import field_policy
from pipeline.quality.work import Work
from pipeline.synth import generate
from pipeline.tables import TABLES, spec

from tests.support import build, query, scalar


@pytest.fixture
def healed(healed_url):
    return healed_url


def test_clean_satisfies_every_quarantine_and_fix_rule(healed):
    with psycopg2.connect(healed) as conn, conn.cursor() as cur:
        for name, spec in TABLES.items():
            for check in compile_schema(spec):
                if field_policy(check.rule_id).action == "flag":
                    continue
                cur.execute(
                    sql.SQL("SELECT count(*) FROM clean.{} h WHERE {}").format(sql.Identifier(name), check.predicate)
                )
                assert cur.fetchone()[0] == 0, check.rule_id
            for rule in CATALOG[name]:
                if rule.action == "flag" or rule.phase == "survivors" and "duplicate" not in rule.id:
                    continue
                text = rule.sql.format(
                    rows=f'clean."{name}"', held="(SELECT NULL::bigint AS source_row)", raw=f'raw."{name}"'
                )
                cur.execute(f"SELECT count(*) FROM ({text}) v")
                assert cur.fetchone()[0] == 0, rule.id
    conn.close()


def test_flagged_rows_are_kept_and_marked(healed):
    flagged = scalar(
        healed, "SELECT count(*) FROM clean.policies WHERE 'policies.coverage_above_type_max' = ANY(_flags)"
    )
    assert flagged == scalar(
        healed,
        """SELECT count(*) FROM clean.policies p JOIN clean.policy_types t
                                        ON t.type_name = p.policy_type WHERE p.coverage_amount > t.max_coverage""",
    )
    assert flagged > 0


def test_every_fix_is_logged_with_before_and_after(healed):
    fixed = query(
        healed,
        """SELECT l.before, l.after, p.premium_amount::text FROM quality.heal_log l
                             JOIN clean.policies p ON p.policy_id = l.record_key
                             WHERE l.rule_id = 'policies.premium_amount.min'""",
    )
    assert fixed, "the sample has negative premiums"
    for before, after, now in fixed:
        assert float(before) < 0 and float(after) == -float(before) == float(now)
    counts = dict(query(healed, "SELECT rule_id, fixed FROM quality.rule_results WHERE fixed > 0"))
    logged = dict(query(healed, "SELECT rule_id, count(DISTINCT source_row) FROM quality.heal_log GROUP BY 1"))
    assert counts == logged


def test_merged_duplicates_point_to_a_surviving_row(healed):
    pairs = query(
        healed,
        """SELECT q.record_key, q.survivor_key, c.email FROM quality.quarantine q
                             LEFT JOIN clean.customers c ON c.customer_id = q.survivor_key
                             WHERE 'customers.duplicate_person' = ANY(q.rule_ids)""",
    )
    assert pairs
    for duplicate, survivor, email in pairs:
        assert duplicate != survivor and email is not None
    messages = scalar(
        healed, "SELECT messages FROM quality.quarantine WHERE 'customers.duplicate_person' = ANY(rule_ids) LIMIT 1"
    )
    assert messages["customers.duplicate_person"].startswith("duplicate of CU")


def test_quality_figures_per_run_add_up(healed):
    for table, raw, clean, held, valid_before in query(
        healed, "SELECT table_name, raw_rows, clean_rows, quarantined, valid_before FROM quality.table_results"
    ):
        assert raw == clean + held, table
        assert valid_before <= clean
        assert held == scalar(healed, "SELECT count(*) FROM quality.quarantine WHERE table_name = %s", (table,))


def test_error_threshold_blocks_transform_with_a_clear_message(database_url, data_dir):
    parser = luigi.configuration.get_config()
    before = parser.get("quality_thresholds", "policies.repeated_policy", None)
    parser.set("quality_thresholds", "policies.repeated_policy", ", 0.05")
    try:
        result = build(Transform())
    finally:
        parser.set("quality_thresholds", "policies.repeated_policy", before)
    assert not result.scheduling_succeeded
    error = scalar(database_url, "SELECT error FROM ops.task_runs WHERE status = 'failed'")
    assert "rule policies.repeated_policy: 420 of 3,500 rows (12.0%)" in error and "threshold of 5.0%" in error
    assert scalar(database_url, "SELECT count(*) FROM ops.task_runs WHERE task_family = 'Transform'") == 0
    assert scalar(database_url, "SELECT to_regclass('analytics.policy_summary')") is None
    assert scalar(database_url, "SELECT count(*) FROM pg_tables WHERE left(tablename, 14) = 'heal_policies_'") == 0


def test_healing_finds_every_injected_defect(database_url, tmp_path, monkeypatch):
    folder = tmp_path / "fresh"
    generate.generate(folder, scale=0.01, seed=11)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(folder))
    assert build(Transform(), workers=2).scheduling_succeeded
    with psycopg2.connect(database_url) as conn:
        scores = score.score(conn, tmp_path / "fresh-truth.parquet")
    conn.close()
    assert len({s.defect for s in scores if s.injected}) >= 20
    for s in scores:
        assert s.recall >= 0.99 and s.precision >= 0.99, s


def test_quarantined_rows_keep_the_raw_row_as_it_came(healed):
    checked = 0
    for name in TABLES:
        rows = query(
            healed,
            f"""SELECT q.original::text, (to_jsonb(r) - %s::text[]) = q.original::jsonb
                                 FROM quality.quarantine q JOIN raw."{name}" r ON r._source_row = q.source_row
                                 WHERE q.table_name = %s""",
            (list(LINEAGE), name),
        )
        columns = [
            c
            for (c,) in query(
                healed,
                "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (f"raw.{name}",),
            )
            if c not in LINEAGE
        ]
        for text, same in rows:
            assert same, (name, text)  # every value as it was in raw
            assert list(json.loads(text)) == columns, name  # in the file's column order
        checked += len(rows)
    assert checked > 1000


def test_tables_each_heal_rewrites_are_left_out_of_autovacuum(healed):
    """Every heal empties and rewrites them (no dead rows) and ANALYZEs clean: autovacuum only competed."""
    left_out = dict(
        query(
            healed,
            """
        SELECT n.nspname || '.' || c.relname, coalesce('autovacuum_enabled=false' = ANY(c.reloptions), false)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND (n.nspname = 'clean' OR c.relname ~ '^(quarantine|heal_log)_')""",
        )
    )
    assert len(left_out) == 3 * len(TABLES) and all(left_out.values()), left_out
    assert scalar(healed, "SELECT count(*) FROM pg_tables WHERE schemaname = 'ops' AND tablename LIKE 'heal%%'") == 0


def test_every_clean_table_has_planner_statistics_after_its_heal(healed):
    """Autovacuum is off for clean: the heal's own ANALYZE is what Transform and the app plan their queries with."""
    stats = query(
        healed,
        """
        SELECT c.relname, c.reltuples::bigint,
               EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'clean' AND s.tablename = c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'clean' AND c.relkind = 'r'""",
    )
    assert len(stats) == len(TABLES)
    for table, estimated, has_stats in stats:
        rows = scalar(healed, f'SELECT count(*) FROM clean."{table}"')
        assert (estimated, has_stats) == (rows, rows > 0), table
    for table in TABLES:  # the quarantine too (autovacuum is off for it): looked up by the rows checked again
        estimated = scalar(
            healed, "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (f"quality.quarantine_{table}",)
        )
        assert estimated == scalar(healed, f'SELECT count(*) FROM quality."quarantine_{table}"'), table


def test_a_load_between_finding_and_writing_stops_the_heal_and_keeps_clean(database_url, data_dir):
    assert build(HealTable("customers")).scheduling_succeeded
    before = query(database_url, "SELECT count(*), sum(hashtext(c::text)) FROM clean.customers c")
    table, work = spec("customers"), Work.of(spec("customers"))
    with contextlib.closing(psycopg2.connect(database_url)) as side:
        with side, side.cursor() as cur:
            found = find(cur, table, work, compile_schema(table), CATALOG["customers"], "test")
        with side:  # the file is loaded again after the rules ran
            ingest.load_table(side, table, data_dir / "customers.parquet", "again")
    staged = Future()
    staged.set_result(None)
    with (
        contextlib.closing(psycopg2.connect(database_url)) as conn,
        pytest.raises(heal.HealError, match="raw.customers was loaded again while it was being healed"),
        conn,
        conn.cursor() as cur,
    ):
        heal._replace(cur, table, work, found, "test", staged)
    assert query(database_url, "SELECT count(*), sum(hashtext(c::text)) FROM clean.customers c") == before
