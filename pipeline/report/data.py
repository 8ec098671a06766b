"""What a run's report shows, read from ops.* and quality.*; where reports are written (luigi.cfg [reports])."""

from __future__ import annotations

from pathlib import Path

import psycopg2.extras

from .. import config

reports = config.reports  # luigi.cfg [reports]
report_dir = config.report_dir


def report_path(run_id: str) -> Path:
    return report_dir() / f"{run_id}.html"


# ---------------------------------------------------------------- data


def latest_run(conn) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT run_id FROM ops.runs ORDER BY started_at DESC, run_id DESC LIMIT 1")
        row = cur.fetchone()
    return row[0] if row else None


def collect(conn, run_id: str) -> dict:
    """Everything the report shows, read from ops.* and quality.* (the state as of the run's end)."""
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute(
        "SELECT *, coalesce(finished_at, clock_timestamp()) AS until FROM ops.run_summary WHERE run_id = %s", (run_id,)
    )
    run = cur.fetchone()
    if run is None:
        raise LookupError(f"no run {run_id} in ops.runs (python -m pipeline runs lists them)")
    cur.execute(
        """SELECT task_id, task_family, params, reason, status, started_at, finished_at, rows_in, rows_out,
                          rows_quarantined, error, details,
                          extract(epoch FROM started_at - %s) AS start_s,
                          extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) AS seconds
                   FROM ops.task_runs WHERE run_id = %s ORDER BY started_at, id""",
        (run["started_at"], run_id),
    )
    tasks = cur.fetchall()
    # Each table's latest quality figures as of the run's end: healed in this run, or still from an earlier one.
    cur.execute(
        """SELECT DISTINCT ON (table_name) table_name, run_id, raw_rows, clean_rows, quarantined,
                          valid_before, fixed_rows
                   FROM quality.table_results WHERE checked_at <= %s
                   ORDER BY table_name, checked_at DESC, run_id DESC""",
        (run["until"],),
    )
    tables = sorted(cur.fetchall(), key=lambda t: -t["raw_rows"])
    rules = []
    if tables:
        cur.execute(
            """SELECT r.table_name, r.rule_id, r.description, r.severity, r.action, r.violations, r.fixed,
                              r.quarantined, r.flagged
                       FROM quality.rule_results r
                       JOIN unnest(%s::text[], %s::text[]) AS t(table_name, run_id) USING (table_name, run_id)
                       WHERE r.violations > 0 ORDER BY r.violations DESC, r.rule_id""",
            ([t["table_name"] for t in tables], [t["run_id"] for t in tables]),
        )
        rules = cur.fetchall()
    reasons = sorted((r for r in rules if r["quarantined"] > 0), key=lambda r: (-r["quarantined"], r["rule_id"]))[:10]
    for reason in reasons:  # one example of the message a quarantined row carries
        cur.execute(
            """SELECT messages ->> %s FROM quality.quarantine
                       WHERE table_name = %s AND %s = ANY(rule_ids) LIMIT 1""",
            (reason["rule_id"], reason["table_name"], reason["rule_id"]),
        )
        row = cur.fetchone()
        reason["example"] = row["?column?"] if row else None
    cur.close()
    from ..quality.trend import clean_share_drops

    return {
        "run": run,
        "tasks": tasks,
        "tables": tables,
        "rules": rules,
        "reasons": reasons,
        "drops": [d.message for d in clean_share_drops(conn)],
    }
