"""The app's data access: named SELECTs on the warehouse (read-only sessions), run from worker threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psycopg2

# Every figure the app shows comes from one of these statements: views and tables of the warehouse.
SQL = {
    # -- what exists (an empty or half-built warehouse is a state, not an error)
    "relations": """
        SELECT name, to_regclass(name) IS NOT NULL FROM unnest(%(names)s::text[]) AS name""",
    "user_tables": """
        SELECT table_schema, table_name FROM information_schema.tables
        WHERE table_schema IN ('raw', 'clean') AND table_type = 'BASE TABLE' ORDER BY 1, 2""",
    "warehouse_state": """
        SELECT (SELECT to_jsonb(r) FROM (SELECT run_id, status, started_at, finished_at, host, pid, command
                                         FROM ops.runs ORDER BY started_at DESC LIMIT 1) r) AS last_run,
               (SELECT to_jsonb(m) FROM (SELECT run_id, completed_at FROM ops.markers WHERE task_family = 'Transform'
                                         ORDER BY completed_at DESC LIMIT 1) m) AS analytics,
               (SELECT to_jsonb(m) FROM (SELECT run_id, completed_at FROM ops.markers WHERE task_family = 'HealTable'
                                         ORDER BY completed_at DESC LIMIT 1) m) AS clean""",
    # -- overview
    "kpis": """
        SELECT customers, policies, active_policies, claims, premium_collected_usd, claims_paid_usd, loss_ratio,
               data_quality_score, built_at, latest_run_id, last_healed_at
        FROM analytics.kpis""",
    "data_through": """
        SELECT (SELECT max(transaction_date)::date FROM clean.payments) AS payments,
               (SELECT max(claim_date)::date FROM clean.claims) AS claims""",
    "claims_by_month": """
        SELECT month, claim_type, claims FROM analytics.claims_trends ORDER BY month, claim_type""",
    "premium_by_month": """
        SELECT month, sum(written_usd) AS written_usd, sum(collected_usd) AS collected_usd
        FROM analytics.premium_written_vs_collected GROUP BY month ORDER BY month""",
    "policies_by_type_status": """
        SELECT policy_type, status, count(*) AS policies FROM clean.policies GROUP BY 1, 2 ORDER BY 1, 2""",
    "customer_segments": """
        SELECT segment, risk_band, customers, avg_lifetime_value_usd
        FROM analytics.customer_segments WHERE risk_band <> 'All' ORDER BY segment, risk_band""",
    "loss_ratio_by_type": """
        SELECT policy_type, sum(claims_paid_usd) AS claims_paid_usd, sum(premium_usd) AS premium_usd,
               sum(claims_paid_usd) / nullif(sum(premium_usd), 0) AS loss_ratio
        FROM analytics.loss_ratio WHERE region = 'All' AND policy_type <> 'All' GROUP BY 1 ORDER BY 1""",
    # -- pipeline runs
    "run_tasks": """
        SELECT task_family, coalesce(params->>'table', '') AS table_name, status, reason, started_at, finished_at,
               extract(epoch FROM coalesce(finished_at, now()) - started_at) AS seconds,
               rows_in, rows_out, rows_quarantined, error, task_id, details
        FROM ops.task_runs WHERE run_id = %(run_id)s ORDER BY started_at, id""",
    "run_history": """
        SELECT run_id, started_at, status, attempts AS tasks, failed, seconds, loaded AS rows_loaded,
               quarantined AS rows_quarantined, host
        FROM ops.run_summary ORDER BY started_at DESC, run_id DESC LIMIT 200""",
    "task_durations": """
        WITH recent AS (SELECT run_id, min(started_at) AS run_started FROM ops.task_runs
                        GROUP BY run_id ORDER BY 2 DESC LIMIT 60)
        SELECT recent.run_started, t.task_family, coalesce(t.params->>'table', '') AS table_name,
               extract(epoch FROM t.finished_at - t.started_at) AS seconds
        FROM ops.task_runs t JOIN recent USING (run_id)
        WHERE t.status = 'done' ORDER BY recent.run_started, t.task_family, table_name""",
    "run": """
        SELECT to_jsonb(r) AS run FROM ops.runs r WHERE run_id = %(run_id)s""",
    "run_started_since": """
        SELECT run_id FROM ops.runs WHERE started_at >= %(since)s ORDER BY started_at DESC LIMIT 1""",
    # -- data quality
    "table_quality": """
        SELECT DISTINCT ON (table_name) table_name, raw_rows, valid_before, fixed_rows, quarantined, replaced,
               clean_rows, valid_before::numeric / nullif(raw_rows, 0) AS valid_rate_before,
               clean_rows::numeric / nullif(raw_rows - replaced, 0) AS valid_rate_after, run_id, checked_at
        -- replaced: a warehouse no run of this version has touched yet lacks the column (the app never writes)
        FROM (SELECT table_name, raw_rows, valid_before, fixed_rows, quarantined, clean_rows, run_id, checked_at,
                     coalesce((to_jsonb(r) ->> 'replaced')::bigint, 0) AS replaced
              FROM quality.table_results r) t
        ORDER BY table_name, checked_at DESC, run_id DESC""",
    "rule_violations": """
        WITH latest AS (SELECT DISTINCT ON (table_name) table_name, run_id FROM quality.table_results
                        ORDER BY table_name, checked_at DESC, run_id DESC)
        SELECT r.table_name, r.rule_id, r.description, r.action, r.severity, r.violations, r.fixed,
               r.quarantined, r.flagged
        FROM quality.rule_results r JOIN latest USING (table_name, run_id)
        WHERE r.violations > 0 ORDER BY r.violations DESC, r.rule_id""",
    "quality_trend": """
        WITH per_table AS (SELECT DISTINCT run_id, table_name, raw_rows, valid_before, clean_rows, checked_at
                           FROM (SELECT run_id, table_name, raw_rows, valid_before, clean_rows,
                                        max(checked_at) OVER (PARTITION BY run_id) AS checked_at
                                 FROM analytics.data_quality) d)
        SELECT run_id, checked_at, table_name, valid_before::numeric / nullif(raw_rows, 0) AS valid_rate_before,
               clean_rows::numeric / nullif(raw_rows, 0) AS valid_rate_after, raw_rows
        FROM per_table ORDER BY checked_at, table_name""",
    "quality_trend_overall": """
        WITH per_table AS (SELECT DISTINCT run_id, table_name, raw_rows, valid_before, clean_rows
                           FROM analytics.data_quality)
        SELECT p.run_id, max(d.checked_at) AS checked_at, sum(p.valid_before) / nullif(sum(p.raw_rows), 0)
               AS valid_rate_before, sum(p.clean_rows) / nullif(sum(p.raw_rows), 0) AS valid_rate_after
        FROM per_table p JOIN (SELECT run_id, max(checked_at) AS checked_at FROM analytics.data_quality
                               GROUP BY run_id) d USING (run_id)
        GROUP BY p.run_id ORDER BY 2""",
    # -- quarantine browser (filters: table and rule, NULL for all)
    "quarantine_tables": """
        SELECT table_name, count(*) FROM quality.quarantine GROUP BY 1 ORDER BY 1""",
    "quarantine_rules": """
        SELECT rule_id, count(*) FROM quality.quarantine, unnest(rule_ids) AS rule_id
        WHERE %(table)s::text IS NULL OR table_name = %(table)s GROUP BY 1 ORDER BY 1""",
    "quarantine_count": """
        SELECT count(*) FROM quality.quarantine
        WHERE (%(table)s::text IS NULL OR table_name = %(table)s) AND (%(rule)s::text IS NULL OR %(rule)s = ANY(rule_ids))""",
    "quarantine_page": """
        SELECT table_name, source_row, record_key, rule_ids, survivor_key, run_id FROM quality.quarantine
        WHERE (%(table)s::text IS NULL OR table_name = %(table)s) AND (%(rule)s::text IS NULL OR %(rule)s = ANY(rule_ids))
        ORDER BY table_name, source_row LIMIT %(limit)s OFFSET %(offset)s""",
    "quarantine_record": """
        SELECT original, messages, rule_ids, record_key, survivor_key, run_id FROM quality.quarantine
        WHERE table_name = %(table)s AND source_row = %(source_row)s""",
    "quarantine_export": """
        SELECT table_name, source_row, record_key, array_to_string(rule_ids, ' ') AS rule_ids, survivor_key, run_id,
               messages::text AS messages, original::text AS original
        FROM quality.quarantine
        WHERE (%(table)s::text IS NULL OR table_name = %(table)s) AND (%(rule)s::text IS NULL OR %(rule)s = ANY(rule_ids))
        ORDER BY table_name, source_row""",
}


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict | None:
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else None


_local = threading.local()


def url() -> str:
    """The warehouse's libpq URL, as the pipeline finds it (may start the embedded server: call off the GUI)."""
    from pipeline import warehouse

    return warehouse.url()


def connect(read_only: bool = True, autocommit: bool = True):
    """A new session on the warehouse, read-only: the app never writes to it."""
    from pipeline import warehouse

    conn = warehouse.connect(
        address=url(),
        name="insurance-app",
        timeout=10,
        options="-c default_transaction_read_only=on" if read_only else None,
    )
    conn.autocommit = autocommit
    return conn


def _connection():
    """This thread's session (autocommit: it holds no locks between statements, so restores never wait for it)."""
    target = url()
    conn = getattr(_local, "conn", None)
    if conn is not None and (conn.closed or getattr(_local, "url", None) != target):
        conn.close()
        conn = None
    if conn is None:
        conn = connect()
        _local.conn, _local.url = conn, target
    return conn


def select(name: str, **params) -> Rows:
    """Run a named SELECT; a session that the server dropped is opened again once."""
    for attempt in (1, 2):
        conn = _connection()
        try:
            with conn.cursor() as cur:
                cur.execute(SQL[name], params)
                return Rows([d.name for d in cur.description], cur.fetchall())
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def select_many(*names: str, **params) -> dict[str, Rows]:
    return {name: select(name, **params) for name in names}


def existing(*relations: str) -> set[str]:
    """Which of the relations (schema.name) exist."""
    found = select("relations", names=list(relations))
    return {name for name, present in found.rows if present}


OVERVIEW_NEEDS = (
    "analytics.kpis",
    "analytics.claims_trends",
    "analytics.premium_written_vs_collected",
    "analytics.customer_segments",
    "analytics.loss_ratio",
    "clean.policies",
)
OVERVIEW_CHARTS = ("claims_by_month", "premium_by_month", "customer_segments", "loss_ratio_by_type")


def overview() -> dict:
    """What the overview shows, or {'empty': True} before the first Transform. The one statement that scans a
    clean table (policies by type and status) runs on a second session meanwhile."""
    from pipeline import warehouse

    where = warehouse.describe()
    if "analytics.kpis" not in existing(*OVERVIEW_NEEDS):
        return {"empty": True, "where": where}
    found: dict = {}

    def policies() -> None:
        try:
            conn = connect()
            try:
                with conn.cursor() as cur:
                    cur.execute(SQL["policies_by_type_status"])
                    found["policies_by_type_status"] = Rows([d.name for d in cur.description], cur.fetchall()).dicts()
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - raised below, on the thread that asked
            found["error"] = exc

    aside = threading.Thread(target=policies, name="overview-policies")
    aside.start()
    found.update(
        {"empty": False, "where": where, "kpis": select("kpis").first(), "data_through": select("data_through").first()}
    )
    for name in OVERVIEW_CHARTS:
        found[name] = select(name).dicts()
    aside.join()
    if "error" in found:
        raise found.pop("error")
    return found


def export_csv(path: str, table: str | None, rule: str | None) -> int:
    """Write the quarantined records the filters select to a CSV file (streamed from the server); rows written."""
    import csv

    conn = connect(autocommit=False)
    try:
        with open(path, "w", newline="", encoding="utf-8") as f, conn.cursor(name="quarantine_export") as cur:
            cur.itersize = 5000
            cur.execute(SQL["quarantine_export"], {"table": table, "rule": rule})
            writer = csv.writer(f)
            written = 0
            for row in cur:
                if written == 0:
                    writer.writerow([d.name for d in cur.description])
                writer.writerow(row)
                written += 1
            if written == 0:
                writer.writerow(
                    [
                        "table_name",
                        "source_row",
                        "record_key",
                        "rule_ids",
                        "survivor_key",
                        "run_id",
                        "messages",
                        "original",
                    ]
                )
        conn.rollback()
    finally:
        conn.close()
    return written
