"""Late parents: rows a table's previous heal held because their parent had not arrived (an orphan, or a parent
in quarantine) that this heal puts in clean, logged as `<table>.parent_arrived` in heal_log with what held them."""

from __future__ import annotations

from psycopg2 import sql

from ..tables import TABLES, TableSpec
from ..warehouse import qualified
from .rules import reference_rules
from .work import analyze_sampled, key_expr

WAITING = sql.Identifier("waiting_for_parents")


def parent_rules(spec: TableSpec) -> list[str]:
    """The rules that hold a row for its parent: per hard foreign key, the orphan and the parent-held rule."""
    return [rule.id for rule in reference_rules(spec)]


def remember(cur, spec: TableSpec, quarantine: sql.Composable, only: sql.Composable | None = None) -> None:
    """Before the table's quarantine partition is emptied: its rows held for a parent (a temporary table of the
    caller's transaction); `only`: of the rows (source_row) this table lists (an incremental heal's rows checked again)."""
    among: sql.Composable = sql.SQL("")
    if only is not None:
        among = sql.SQL("AND table_name = {} AND source_row IN (SELECT source_row FROM {})").format(
            sql.Literal(spec.name), only
        )
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


def _by_foreign_key(spec: TableSpec) -> list[tuple[str, str, str, str, bool]]:
    """(orphan rule id, held rule id, parent table, the parent's key as text over p, whether that key is the parent's
    primary key) of each hard foreign key."""
    found = []
    for fk in (f for f in spec.foreign_keys if not f.soft):
        cols = "_".join(fk.columns)
        key = " || '|' || ".join(f'p."{r}"::text' for r in fk.ref_columns)
        primary = list(fk.ref_columns) == list(TABLES[fk.ref_table].primary_key)
        found.append((f"{spec.name}.orphan_{cols}", f"{spec.name}.parent_held_{cols}", fk.ref_table, key, primary))
    return found


def _by_rule(spec: TableSpec) -> list[tuple[str, str, str, str]]:
    """(rule id, parent table, the parent's key as text over p, orphan or held) of each rule that holds a row for
    its parent."""
    return [
        (rule, parent, key, kind)
        for orphan, held, parent, key, _ in _by_foreign_key(spec)
        for rule, kind in ((orphan, "orphan"), (held, "held"))
    ]


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
    """In the heal's last transaction: ops.waiting_for_parent for the table: all of it after a full heal; after an
    incremental one, the rows it checked again (`checked`: a table of their source_row)."""
    if checked is None:
        cur.execute("DELETE FROM ops.waiting_for_parent WHERE table_name = %s", (spec.name,))
    else:
        cur.execute(
            sql.SQL(
                "DELETE FROM ops.waiting_for_parent WHERE table_name = %s AND source_row IN (SELECT source_row FROM {})"
            ).format(checked),
            (spec.name,),
        )
    cur.execute(sql.SQL("INSERT INTO ops.waiting_for_parent SELECT * FROM {}").format(work.waiting))


def analyze(cur, quarantine: sql.Composable) -> None:
    """Statistics of the table's quarantine partition (autovacuum leaves it alone) and of the waiting rows, from a
    small sample: without them the planner took the quarantine of 2.6 million payments for 31,000 rows, and looked
    up the rows checked again by a scan of all of it (2.2 s at scale 10)."""
    analyze_sampled(cur, 10, quarantine, sql.SQL("ops.waiting_for_parent"))


def may_have_arrived(spec: TableSpec, marks: dict[str, int] | None = None) -> sql.Composable:
    """The quarantined rows (by source_row) held for a parent that may now be there. With `marks` (each parent's raw
    row count when the table was last healed): those whose parent key is among the parent rows numbered after it or
    released since (all a parent's incremental heals add to clean; a full heal of it heals this table in full), so
    the cost follows the delivery, not the history. Without: every waiting row joined with the whole parent."""
    keys = _by_foreign_key(spec)
    parents = {parent for _, _, parent, _, _ in keys}
    if not keys or marks is None or not parents <= set(marks) or spec.name in parents:
        return _joined_with_whole_parents(spec)
    tests = []
    for orphan, held, parent, key, primary in keys:
        # Released rows by their key in heal_log when the key is the parent's primary key (its record_key), else
        # looked up in clean. The numbered ones through the BRIN index on _source_row: the tail of each table.
        names = {
            "key": sql.SQL(key),
            "clean": qualified("clean", parent),
            "raw": qualified("raw", parent),
            "log": qualified("quality", f"heal_log_{parent}"),
            "parent": sql.Literal(parent),
            "released": sql.Literal(f"{parent}.parent_arrived"),
            "mark": sql.Literal(int(marks[parent])),
        }
        released = sql.SQL(
            "SELECT l.record_key FROM {log} l WHERE l.table_name = {parent} AND l.rule_id = {released}"
            if primary
            else "SELECT {key} FROM {clean} p WHERE p._source_row IN "
            "(SELECT l.source_row FROM {log} l WHERE l.table_name = {parent} AND l.rule_id = {released})"
        ).format(**names)
        arrived = sql.SQL(
            "SELECT {key} FROM {clean} p WHERE p._source_row > {mark} "
            "UNION ALL SELECT {key} FROM {raw} p WHERE p._source_row > {mark} UNION ALL {released_rows}"
        ).format(released_rows=released, **names)
        tests.append(
            sql.SQL("(w.rule_id = ANY({}) AND w.parent_key IN ({}))").format(sql.Literal([orphan, held]), arrived)
        )
    return sql.SQL("SELECT w.source_row FROM ops.waiting_for_parent w WHERE w.table_name = {} AND ({})").format(
        sql.Literal(spec.name), sql.SQL(" OR ").join(tests)
    )


def _joined_with_whole_parents(spec: TableSpec) -> sql.Composable:
    """may_have_arrived without marks: every waiting row joined with its whole parent; and any held for a parent
    without a key on record."""
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
