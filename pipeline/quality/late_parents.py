"""Late parents: rows a table's previous heal held because their parent had not arrived (an orphan, or a parent
in quarantine) that this heal puts in clean, logged as `<table>.parent_arrived` in heal_log with what held them."""

from __future__ import annotations

from psycopg2 import sql

from ..tables import TableSpec
from ..warehouse import qualified
from .rules import reference_rules
from .work import key_expr

WAITING = sql.Identifier("waiting_for_parents")


def parent_rules(spec: TableSpec) -> list[str]:
    """The rules that hold a row for its parent: per hard foreign key, the orphan and the parent-held rule."""
    return [rule.id for rule in reference_rules(spec)]


def remember(cur, spec: TableSpec, quarantine: sql.Composable) -> None:
    """Before the table's quarantine partition is emptied: its rows held for a parent (a temporary table of the
    caller's transaction)."""
    cur.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {waiting} ON COMMIT DROP AS SELECT DISTINCT ON (record_key) record_key, rule_ids, "
            "run_id FROM {quarantine} WHERE rule_ids && %s ORDER BY record_key, source_row"
        ).format(waiting=WAITING, quarantine=quarantine),
        (parent_rules(spec),),
    )
    # Its size for the join in log_arrivals: without it the planner hashed all of clean (0.54 s for the 90,000
    # payments the sample defects hold at scale 1.0) instead of these rows (0.22 s).
    cur.execute(sql.SQL("ANALYZE {}").format(WAITING))


def log_arrivals(cur, spec: TableSpec, heal_log: sql.Composable, run_id: str) -> int:
    """Once clean is written: a heal_log row for each remembered row now in clean (by its key); how many."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {log} SELECT {table}, c._source_row, w.record_key, '*', {rule}, "
            "'held by ' || array_to_string(w.rule_ids, ', ') || ' in run ' || w.run_id, "
            "'in clean: its parent arrived', {run} "
            "FROM {waiting} w JOIN {clean} c ON {key} = w.record_key"
        ).format(
            log=heal_log,
            table=sql.Literal(spec.name),
            rule=sql.Literal(f"{spec.name}.parent_arrived"),
            run=sql.Literal(run_id),
            waiting=WAITING,
            clean=qualified("clean", spec.name),
            key=key_expr(spec, "c"),
        )
    )
    arrived = cur.rowcount
    cur.execute(sql.SQL("DROP TABLE {}").format(WAITING))
    return arrived
