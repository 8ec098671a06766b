"""The writing half of an incremental heal (delta_heal): in the heal's last transaction, the checked rows' verdicts
added to clean, the quarantine and heal_log, and the staged delta appended to raw; or, when a full heal must take
the delta after all, the delta widened to the whole table."""

from __future__ import annotations

import json

from psycopg2 import sql

from .. import analytics_changes, delta_load, warehouse
from ..escaping import ESCAPED_NOTE, escaped_values
from ..tables import TableSpec
from ..warehouse import STAGE, qualified
from . import corrections, late_parents
from .delta_heal import Totals, again_table, reflag_table, scratch_tables
from .find import log_fixes
from .gates import HealError
from .work import Work, analyze_sampled, nested_loops, scalar


def widen(cur, spec: TableSpec) -> None:
    """A staged delta that a full heal must take: raw's rows join it, so the delivery is the whole table."""
    staged = qualified(STAGE, spec.name)
    before = escaped_values(cur, spec.name, "raw")
    added = escaped_values(cur, spec.name, STAGE)
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(staged, qualified("raw", spec.name)))
    note = delta_load.staged_note(cur, spec.name)
    if note is not None:
        note["mode"] = delta_load.WIDENED
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(staged, sql.Literal(json.dumps(note))))
    _escaped_note(cur, staged, None if before is None or added is None else before + added)


def _escaped_note(cur, table: sql.Composable, count: int | None) -> None:
    note = sql.Literal(f"{ESCAPED_NOTE}{count}") if count is not None else sql.SQL("NULL")
    cur.execute(sql.SQL("COMMENT ON COLUMN {}._escaped IS {}").format(table, note))


def _reflag_clean(cur, spec: TableSpec) -> None:
    """The new flags of clean rows (settle_context), after the flags they had."""
    cur.execute(
        sql.SQL(
            "UPDATE {clean} c SET _flags = coalesce(c._flags, '{{}}') || r.flags FROM (SELECT source_row, "
            "array_agg(rule_id ORDER BY rule_id) AS flags FROM {reflag} GROUP BY 1) r WHERE c._source_row = r.source_row"
        ).format(clean=qualified("clean", spec.name), reflag=reflag_table(spec))
    )


def drop_scratch(cur, spec: TableSpec) -> None:
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(scratch_tables(spec))))


def publish(cur, spec: TableSpec, stage: bool) -> None:
    """In the heal's last transaction: the staged delta appended to raw.<table> (its rows numbered after raw's)."""
    drop_scratch(cur, spec)
    if not stage:
        return
    raw, staged = qualified("raw", spec.name), qualified(STAGE, spec.name)
    before, added = escaped_values(cur, spec.name, "raw"), escaped_values(cur, spec.name, STAGE)
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(raw, staged))
    warehouse.summarize_appended(cur, "raw", spec.name)
    _escaped_note(cur, raw, None if before is None or added is None else before + added)
    cur.execute(sql.SQL("DROP TABLE {}").format(staged))


def append(cur, spec: TableSpec, work: Work, found, totals: Totals, run_id: str, staging, stage: bool, parts) -> int:
    """In the caller's transaction: the checked rows' verdicts added to clean, the quarantine and heal_log (the rows
    checked again leave the quarantine first), the delta appended to raw; clean rows. `parts`: (heal_log,
    quarantine, stage_node) of the table."""
    heal_log, quarantine, stage_node = parts
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"load:{spec.name}",))
    now = stage_file(cur, spec) if stage else None
    if now != stage_node:
        raise HealError(f"{spec.name} was loaded again while it was being healed; nothing was written, run again")
    again = again_table(spec)  # the rows held for a parent, checked again: the new rows are in neither table
    with nested_loops(cur):
        late_parents.remember(cur, spec, quarantine, again)
        for target in (quarantine, heal_log):
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE table_name = {} AND source_row IN (SELECT source_row FROM {})").format(
                    target, sql.Literal(spec.name), again
                )
            )
    table = qualified("clean", spec.name)
    corrections.insert_current(cur, spec, work, found.superseded)
    warehouse.summarize_appended(cur, "clean", spec.name)
    _reflag_clean(cur, spec)
    with nested_loops(cur):  # the few rows checked again, found in clean by its key's index
        found.parents_arrived = late_parents.log_arrivals(cur, spec, heal_log, run_id)
    corrections.publish(cur, spec, work, run_id, heal_log, found.superseded, keep=True)
    log_fixes(cur, spec, work, found.plan, run_id, heal_log)
    staging.result()
    with nested_loops(cur):
        late_parents.publish_waiting(cur, spec, work, again)
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(quarantine, work.quarantine))
    if cur.rowcount != found.quarantined:
        raise HealError(
            f"{spec.name}: {found.quarantined} rows held but {cur.rowcount} quarantined; nothing was written"
        )
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(heal_log, work.log))
    late_parents.analyze(cur, quarantine)
    clean_rows = scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(table))
    held = scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(quarantine))
    if held != totals.quarantined or totals.raw_rows != clean_rows + held + totals.superseded:
        raise HealError(
            f"{spec.name}: {totals.raw_rows} raw rows but {clean_rows} clean + {held} quarantined (expected "
            f"{totals.quarantined}) + {totals.superseded} replaced by corrections; nothing was written"
        )
    analytics_changes.record_rows(cur, spec.name, work, run_id)  # the next Transform refreshes their keys
    note = delta_load.staged_note(cur, spec.name) if stage else None
    publish(cur, spec, stage)
    if note is not None:
        delta_load.record(cur, spec.name, note, run_id)
    # Statistics for Transform's joins, taken again once clean has grown by a tenth since they were (autovacuum's
    # rule; it is off for clean): meanwhile the planner scales their row counts by the table's size. A sample each
    # time cost 0.06-0.12 s per table of a 1% increment at scale 1.0.
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table.as_string(cur),))
    (counted,) = cur.fetchone()
    if counted < 0 or clean_rows > 1.1 * counted:
        analyze_sampled(cur, 30, table)
    work.drop(cur)
    return clean_rows


def stage_file(cur, spec: TableSpec) -> int | None:
    """The file of the staged delivery: a new one after each load."""
    cur.execute("SELECT pg_relation_filenode(to_regclass(%s))", (f'{STAGE}."{spec.name}"',))
    return cur.fetchone()[0]
