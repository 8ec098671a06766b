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


def remember(cur, spec: TableSpec, quarantine: sql.Composable, only: sql.Composable | None = None) -> None:
    """Before the table's quarantine partition is emptied: its rows held for a parent (a temporary table of the
    caller's transaction); `only`: of these rows (an incremental heal's, by _source_row)."""
    among = sql.SQL("AND source_row IN (SELECT _source_row FROM {})").format(only) if only else sql.SQL("")
    cur.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {waiting} ON COMMIT DROP AS SELECT DISTINCT ON (record_key) record_key, rule_ids, "
            "run_id FROM {quarantine} WHERE rule_ids && %s {among} ORDER BY record_key, source_row"
        ).format(waiting=WAITING, quarantine=quarantine, among=among),
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


def _by_rule(spec: TableSpec) -> list[tuple[str, str, str, str]]:
    """(rule id, parent table, the parent's key as text over p, orphan or held) of each rule that holds a row for
    its parent."""
    found = []
    for fk in (f for f in spec.foreign_keys if not f.soft):
        cols = "_".join(fk.columns)
        key = " || '|' || ".join(f'p."{r}"::text' for r in fk.ref_columns)
        found += [(f"{spec.name}.orphan_{cols}", fk.ref_table, key, "orphan")]
        found += [(f"{spec.name}.parent_held_{cols}", fk.ref_table, key, "held")]
    return found


def stage_waiting(cur, spec: TableSpec, work) -> None:
    """On the heal's second connection: the held rows waiting for a parent, with the parent key the rule read."""
    rules = _by_rule(spec)
    parents = sql.SQL(", ").join(sql.SQL("({}, {})").format(sql.Literal(r), sql.Literal(t)) for r, t, _, _ in rules)
    cur.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE {waiting} WITH (autovacuum_enabled = false) AS "
            "SELECT {table}::text AS table_name, f.source_row, f.rule_id, r.parent, f.detail AS parent_key "
            "FROM {found} f JOIN (VALUES {parents}) AS r(rule_id, parent) ON r.rule_id = f.rule_id "
            "WHERE f.detail IS NOT NULL AND f.source_row IN (SELECT source_row FROM {held})"
        ).format(
            waiting=work.waiting,
            table=sql.Literal(spec.name),
            found=work.found,
            parents=parents if rules else sql.SQL("(NULL, NULL)"),
            held=work.held,
        )
    )


def publish_waiting(cur, spec: TableSpec, work, checked: sql.Composable | None) -> None:
    """In the heal's last transaction: ops.waiting_for_parent for the table (all of it after a full heal, the rows
    `checked` by an incremental one)."""
    if checked is None:
        cur.execute("DELETE FROM ops.waiting_for_parent WHERE table_name = %s", (spec.name,))
    else:
        cur.execute(
            sql.SQL(
                "DELETE FROM ops.waiting_for_parent WHERE table_name = %s AND source_row IN (SELECT _source_row FROM {})"
            ).format(checked),
            (spec.name,),
        )
    cur.execute(sql.SQL("INSERT INTO ops.waiting_for_parent SELECT * FROM {}").format(work.waiting))


def may_have_arrived(spec: TableSpec) -> sql.Composable:
    """The quarantined rows (by source_row) held for a parent that may now be there: its key in the parent's clean
    rows, or, for an orphan, in its raw rows; and any held for a parent without a key on record."""
    # One join per rule and layer, appended: the planner hashes the few waiting rows of the rule and scans the
    # parent in the parallel workers. As `parent_key IN (SELECT key FROM parent)` per rule, it hashed every key of
    # every parent on one core (payments at scale 1.0: 0.70 s -> 0.30 s, measured).
    matches = []
    for rule_id, parent, key, kind in _by_rule(spec):
        # Held: its parent is in raw, in the quarantine; an orphan's is in neither (raw's key read as text).
        for layer in ("clean", "raw") if kind == "orphan" else ("clean",):
            matches.append(
                sql.SQL(
                    "SELECT w.source_row FROM ops.waiting_for_parent w JOIN {parent} p ON {key} = w.parent_key "
                    "WHERE w.table_name = {table} AND w.rule_id = {rule}"
                ).format(
                    parent=qualified(layer, parent),
                    key=sql.SQL(key),
                    table=sql.Literal(spec.name),
                    rule=sql.Literal(rule_id),
                )
            )
    arrived = sql.SQL(" UNION ALL ").join(matches) if matches else sql.SQL("SELECT NULL::bigint WHERE false")
    return sql.SQL(
        "SELECT q.source_row FROM {quarantine} q WHERE q.rule_ids && {ids} AND (q.source_row IN ({arrived}) "
        "OR q.source_row NOT IN (SELECT source_row FROM ops.waiting_for_parent WHERE table_name = {table}))"
    ).format(
        quarantine=qualified("quality", f"quarantine_{spec.name}"),
        ids=sql.Literal(parent_rules(spec)),
        table=sql.Literal(spec.name),
        arrived=arrived,
    )
