"""Resolving quarantined rows on real PostgreSQL and real Luigi runs: released and corrected rows reach clean and stay
there through reruns and restores, revoked ones go back, a changed source row does not inherit a release."""

from __future__ import annotations

import contextlib
import shutil

import luigi.execution_summary
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import make_url

from pipeline import backup, errors
from pipeline.cli.main import main
from pipeline.orchestration.tasks import HealTable, Transform
from pipeline.quality import resolutions
from pipeline.quality.resolution_checks import ResolutionError

from tests.support import SAMPLE, admin_connection, build, execute, query, scalar


@pytest.fixture
def warehouse_url(healed_url, pg_admin_url, make_database, monkeypatch, tmp_path) -> str:
    """A private copy (a file copy of the module's healed warehouse) to resolve rows in."""
    template = make_url(healed_url).database
    with contextlib.closing(admin_connection(pg_admin_url)) as admin, admin.cursor() as cur:
        # A session the module's run left open (this process's) would stop the copy.
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,))
    url = make_database(template=template)
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    return url


def _rerun() -> list[str]:
    """A full run of the graph; the tasks that ran (family:table)."""
    result = build(Transform())
    assert result.scheduling_succeeded, result.summary_text
    done = luigi.execution_summary._summary_dict(result.worker)["completed"]
    return sorted(f"{t.task_family}:{getattr(t, 'table', '')}" for t in done)


def _held(url: str, table: str, rule: str) -> tuple[str, int]:
    return query(
        url,
        "SELECT record_key, source_row FROM quality.quarantine WHERE table_name = %s AND %s = ANY(rule_ids) "
        "ORDER BY source_row LIMIT 1",
        (table, rule),
    )[0]


def _in_clean(url: str, table: str, column: str, key: str) -> int:
    return scalar(url, f"SELECT count(*) FROM clean.{table} WHERE {column} = %s", (key,))  # noqa: S608


def _in_quarantine(url: str, table: str, key: str) -> int:
    return scalar(
        url, "SELECT count(*) FROM quality.quarantine WHERE table_name = %s AND record_key = %s", (table, key)
    )


def test_released_and_corrected_rows_are_in_clean_after_the_next_run_and_every_rerun(warehouse_url):
    url = warehouse_url
    duplicate, _ = _held(url, "customers", "customers.duplicate_person")
    late, _ = _held(url, "claims", "claims.resolved_before_filed")
    claim_date = scalar(
        url, "SELECT (original->>'claim_date')::date FROM quality.quarantine WHERE record_key = %s", (late,)
    )
    assert HealTable("customers").complete()
    resolutions.resolve("customers", duplicate, "another person of the same name", who="alice")
    resolutions.resolve("claims", late, "resolved the same day", {"resolved_date": str(claim_date)}, who="bob")
    assert not HealTable("customers").complete() and not HealTable("claims").complete()
    assert not Transform().complete()

    ran = _rerun()
    assert "HealTable:customers" in ran and "HealTable:claims" in ran
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1
    assert _in_quarantine(url, "customers", duplicate) == 0
    assert scalar(url, "SELECT resolved_date FROM clean.claims WHERE claim_id = %s", (late,)) == claim_date
    assert _in_quarantine(url, "claims", late) == 0
    logged = query(
        url,
        "SELECT rule_id, column_name, before, after FROM quality.heal_log WHERE rule_id LIKE '%%.resolution.%%' "
        "ORDER BY rule_id",
    )
    assert ("customers.resolution.release", "*", "held by customers.duplicate_person") == logged[1][:3]
    assert "alice" in logged[1][3] and "another person" in logged[1][3]
    assert logged[0][:2] == ("claims.resolution.correct", "resolved_date") and logged[0][3] == str(claim_date)
    assert {r["status"] for r in resolutions.resolutions()} == {"applied"}
    # Nothing else changed: raw = clean + quarantine still holds for both tables.
    for table in ("customers", "claims"):
        raw = scalar(url, f"SELECT count(*) FROM raw.{table}")  # noqa: S608
        kept = scalar(url, f"SELECT count(*) FROM clean.{table}") + scalar(  # noqa: S608
            url, "SELECT count(*) FROM quality.quarantine WHERE table_name = %s", (table,)
        )
        assert raw == kept

    assert _rerun() == []  # done: a rerun does nothing ...
    execute(url, "UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_family IN ('HealTable', 'Transform')")
    assert "HealTable:customers" in _rerun()  # ... and a forced full heal applies it again
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1
    assert scalar(url, "SELECT resolved_date FROM clean.claims WHERE claim_id = %s", (late,)) == claim_date


def test_a_revoked_release_puts_the_row_back_into_quarantine(warehouse_url):
    url = warehouse_url
    duplicate, _ = _held(url, "customers", "customers.duplicate_person")
    made = resolutions.resolve("customers", duplicate, "not a duplicate")
    _rerun()
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1
    resolutions.revoke(made, who="carol")
    assert not HealTable("customers").complete()
    assert "HealTable:customers" in _rerun()
    assert _in_clean(url, "customers", "customer_id", duplicate) == 0
    assert _in_quarantine(url, "customers", duplicate) == 1
    assert resolutions.resolutions()[0]["status"] == "revoked"


def test_a_release_is_in_clean_after_restoring_a_backup_made_after_it(warehouse_url):
    url = warehouse_url
    duplicate, _ = _held(url, "customers", "customers.duplicate_person")
    made = resolutions.resolve("customers", duplicate, "not a duplicate")
    _rerun()
    saved = backup.create()
    assert any(
        (t["schema"], t["table"]) == ("quality", "resolutions") and t["rows"] == 1 for t in saved.manifest["tables"]
    )
    resolutions.revoke(made)
    _rerun()
    assert _in_clean(url, "customers", "customer_id", duplicate) == 0
    backup.restore(saved.name)
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1
    assert resolutions.resolutions()[0]["status"] == "applied"
    assert _rerun() == []  # the restored markers vouch for the restored resolution
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1


def test_a_changed_source_row_does_not_inherit_its_release(warehouse_url, tmp_path, monkeypatch):
    url = warehouse_url
    duplicate, _ = _held(url, "customers", "customers.duplicate_person")
    resolutions.resolve("customers", duplicate, "not a duplicate")
    data = tmp_path / "changed"
    shutil.copytree(SAMPLE, data)
    customers = pq.read_table(data / "customers.parquet")
    changed = pc.if_else(pc.equal(customers["customer_id"], duplicate), "555-0100", customers["phone"])
    pq.write_table(
        customers.set_column(customers.schema.get_field_index("phone"), "phone", changed), data / "customers.parquet"
    )
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    _rerun()
    assert _in_quarantine(url, "customers", duplicate) == 1
    status = resolutions.resolutions()[0]
    assert status["status"] == "source changed" and "no source row" in status["outcome_detail"]


def test_releases_clean_could_not_hold_are_refused_in_one_line(warehouse_url):
    url = warehouse_url
    repeated, row = _held(url, "claims", "claims.duplicate_key")
    with pytest.raises(ResolutionError, match=f"claims {repeated}: claim_id = '{repeated}' is already the key"):
        resolutions.resolve("claims", repeated, "x", source_row=row)
    orphan, _ = _held(url, "payments", "payments.orphan_method")
    with pytest.raises(ResolutionError, match="is no row of clean.payment_methods"):
        resolutions.resolve("payments", orphan, "x")
    late, _ = _held(url, "claims", "claims.resolved_before_filed")
    with pytest.raises(ResolutionError, match=f"claims {late}: resolved_date = 'soon' is not a date"):
        resolutions.resolve("claims", late, "x", {"resolved_date": "soon"})
    # A repeated key corrected to a new one is released as a row of its own.
    resolutions.resolve("claims", repeated, "a different claim", {"claim_id": "CL99999999"}, source_row=row)
    _rerun()
    assert _in_clean(url, "claims", "claim_id", "CL99999999") == 1
    assert _in_clean(url, "claims", "claim_id", repeated) == 1


def test_the_command_line_lists_searches_releases_corrects_and_revokes(warehouse_url, capsys):
    url = warehouse_url
    duplicate, _ = _held(url, "customers", "customers.duplicate_person")
    late, _ = _held(url, "claims", "claims.resolved_before_filed")
    assert main(["quarantine", "list", "--table", "customers", "--search", duplicate.lower()]) == 0
    listed = capsys.readouterr().out
    assert duplicate in listed and "1-1 of 1 rows" in listed
    assert main(["quarantine", "list", "--rule", "claims.resolved_before_filed", "--limit", "5"]) == 0
    assert "1-5 of 250 rows" in capsys.readouterr().out

    assert main(["quarantine", "release", "customers", duplicate, "--why", "not a duplicate", "--who", "dora"]) == 0
    assert "resolution 1: release of customers" in capsys.readouterr().out
    assert main(["quarantine", "correct", "claims", late, "resolved_date=2031-01-01", "--why", "typo"]) == 0
    assert "resolution 2: correction and release" in capsys.readouterr().out
    assert main(["quarantine", "resolutions"]) == 0
    table = capsys.readouterr().out
    assert "pending" in table and "dora" in table and '{"resolved_date": "2031-01-01"}' in table
    assert main(["run"]) == 0
    capsys.readouterr()
    assert _in_clean(url, "customers", "customer_id", duplicate) == 1
    assert main(["quarantine", "revoke", "1"]) == 0
    assert "resolution 1 revoked" in capsys.readouterr().out

    for argv, said in (
        (["quarantine", "release", "customers", "CU9999999", "--why", "x"], "customers CU9999999: no quarantined row"),
        (["quarantine", "correct", "claims", late, "nope=1", "--why", "x"], f"claims {late}: no column 'nope'"),
        (["quarantine", "revoke", "1"], "resolution 1 was revoked already"),
        (["quarantine", "revoke", "99"], "no resolution 99"),
    ):
        assert main(argv) == errors.codes().task_failed, argv
        err = capsys.readouterr().err
        assert err.startswith(f"error: {said}") and err.count("\n") == 1, err
    late_again, _ = _held(url, "claims", "claims.outside_policy_period")
    assert main(["quarantine", "correct", "claims", late_again, "claim_amount=lots", "--why", "x"]) != 0
    err = capsys.readouterr().err
    assert err.startswith(f"error: claims {late_again}: claim_amount = 'lots' is not a float") and err.count("\n") == 1
