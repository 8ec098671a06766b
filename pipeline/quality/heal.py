"""raw.<table> -> clean.<table>: cast, fix, check; failing rows to quality.quarantine, all in SQL.

A delivery that its load staged in incoming.<table> is healed from there and published by the heal's last
transaction: raw, clean, the quarantine and heal_log of the table change together, or not at all."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field

from psycopg2 import sql

from .. import analytics_changes, delta_load, warehouse
from ..ingest import LINEAGE, staged
from ..tables import TableSpec
from ..warehouse import qualified
from . import corrections, delta_heal, delta_publish, late_parents, resolved
from .catalog import CATALOG
from .compile import compile_schema
from .contract import load
from .find import Findings, find, log_fixes
from .gates import HealError, ThresholdError, check_thresholds, gates, thresholds  # noqa: F401 - heal.HealError for callers
from .rules import ROWS_HELD_WARN_IF, synonym_rules
from .work import RuleOutcome, Work, analyze_sampled, key_expr, original_row, raw_file, scalar

log = logging.getLogger(__name__)


@dataclass
class HealResult:
    table: str
    raw_rows: int
    clean_rows: int
    quarantined: int
    fixed_rows: int
    valid_before: int
    rules: list[RuleOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # rules above their warn share, in words
    parents_arrived: int = 0  # rows held for a missing parent by the previous heal, in clean now
    superseded: int = 0  # older versions that corrections replaced (history.<table>)
    mode: str = "full"  # or "incremental" (delta_heal)
    checked: int = 0  # rows the rules checked: all of raw, or the new ones and those held for a parent
    checked_again: int = 0  # of which rows held for a parent that may have arrived (an incremental heal)
    why: str = ""  # why this mode


def _partition(table: str, spec: TableSpec) -> sql.Composable:
    """The partition of quality.quarantine or quality.heal_log that holds one table's rows."""
    return qualified("quality", f"{table}_{spec.name}")


def _stage_quarantine(cur, spec: TableSpec, work: Work, run_id: str, file_columns: list[str]) -> None:
    """The held rows as quarantine rows (the original as json, every rule and message) in a work table.

    A new unlogged table (no WAL, no index to keep up); most rows have one finding, so the rule ids
    are sorted only where there are several (array_agg(... ORDER BY) would sort every group).
    """
    cur.execute(
        sql.SQL("""
        CREATE UNLOGGED TABLE {target} WITH (autovacuum_enabled = false) AS
        SELECT {table}::text AS table_name, f.source_row, {key} AS record_key, f.rule_ids, f.messages,
               row_to_json(o) AS original, f.survivor_key, {run}::text AS run_id
        FROM (SELECT source_row,
                     CASE WHEN count(*) = 1 THEN array_agg(rule_id)
                          ELSE (SELECT array_agg(x ORDER BY x) FROM unnest(array_agg(rule_id)) x) END AS rule_ids,
                     jsonb_object_agg(rule_id, message) AS messages, max(survivor_key) AS survivor_key
              FROM {found} WHERE source_row IN (SELECT source_row FROM {held})
              GROUP BY source_row) f
        JOIN {raw} r ON r._source_row = f.source_row {original}""").format(
            target=work.quarantine,
            table=sql.Literal(spec.name),
            key=key_expr(spec, "r"),
            original=original_row(file_columns),
            run=sql.Literal(run_id),
            found=work.found,
            held=work.held,
            raw=work.source,
        )
    )


def _no_autovacuum(cur, *tables: sql.Composable) -> None:
    """Tables that every heal empties and writes whole: they never hold dead rows, and clean is ANALYZEd here.

    Autovacuum would only set hint bits and statistics, and it did so while the next heal ran: about 4 s of the
    payments heal at scale 1.0 (measured). The wraparound vacuum still runs when due. Set here, under the heal's
    lock, so that warehouses made before this get it too.
    """
    for table in tables:
        cur.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(table))


def _ensure_clean_table(cur, spec: TableSpec) -> None:
    """Create clean.<table> when missing or made from an older spec (its comment holds the spec hash)."""
    marker = f"spec {warehouse.spec_hash(spec)}"
    cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (f'clean."{spec.name}"',))
    row = cur.fetchone()
    if row and row[0] == marker:
        return
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(qualified("clean", spec.name)))
    cur.execute(warehouse.clean_ddl(spec))
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(qualified("clean", spec.name), sql.Literal(marker)))


def _child_keys(cur, spec: TableSpec) -> list[tuple[str, str, str]]:
    """The foreign keys of other clean tables that refer to this one: (table, name, definition)."""
    cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = to_regclass(%s) AND conrelid <> confrelid ORDER BY 1, 2",
        (f'clean."{spec.name}"',),
    )
    return cur.fetchall()


def _write_clean(cur, spec: TableSpec, work: Work, superseded: int) -> None:
    """Replace clean.<table>'s rows; keys are dropped for the bulk insert and built again after it.

    The tables that refer to this one keep their rows (no TRUNCATE ... CASCADE: a child is never emptied by its
    parent's heal, so raw = clean + quarantine holds for it at rest whatever happens next). Their foreign keys
    come back NOT VALID, which costs no scan: a child whose parent's rows changed has a new fingerprint and is
    healed again in the same run, which builds its keys anew and checks them.
    """
    _ensure_clean_table(cur, spec)
    table = qualified("clean", spec.name)
    children = _child_keys(cur, spec)
    for child, name, _ in children:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(child), sql.Identifier(name)))
    cur.execute(sql.SQL("TRUNCATE {}").format(table))
    cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(warehouse.row_number_index_name("clean", spec.name)))
    _no_autovacuum(cur, table)
    cur.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) ORDER BY contype = 'f' DESC",
        (f'clean."{spec.name}"',),
    )
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, sql.Identifier(name)))
    corrections.insert_current(cur, spec, work, superseded)
    for statement in warehouse.key_ddl(spec) + warehouse.foreign_key_ddl(spec):
        cur.execute(statement)
    cur.execute(warehouse.row_number_index("clean", spec.name))
    for child, name, definition in children:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
                sql.SQL(child), sql.Identifier(name), sql.SQL(definition)
            )
        )
    # Statistics now, not when autovacuum comes by: Transform and the app plan their joins over this table next.
    # Target 30, a sample of 9,000 rows (300 per unit), is enough for their whole-table joins and aggregates, and
    # costs a fifth of the default 30,000 (measured at scale 1.0: 0.25-0.33 s -> 0.06 s per table).
    analyze_sampled(cur, 30, table)


def _tune(cur, scope: str = "") -> None:
    """Settings for bulk work on a million-row table ("LOCAL": for the caller's transaction only)."""
    cur.execute(
        sql.SQL(
            # Hashes of a whole table in memory. Every join here is bulk: row estimates of anti-joins are 1.
            "SET {s} work_mem = '256MB'; SET {s} jit = off; SET {s} enable_nestloop = off; "
            # The work tables have no statistics when they are read; without these the planner thinks them too
            # small for parallel workers, and the unnest of the findings runs on one core.
            "SET {s} parallel_setup_cost = 0; SET {s} parallel_tuple_cost = 0"
        ).format(s=sql.SQL(scope))
    )


def _stage(conn, spec: TableSpec, work: Work, found: Findings, run_id: str) -> None:
    """On its own connection, while the caller writes clean: the quarantine rows, in a work table."""
    with conn, conn.cursor() as cur:
        _tune(cur)
        cur.execute("SET max_parallel_workers_per_gather = 0")  # one core: the caller's writing has the other
        _stage_quarantine(cur, spec, work, run_id, [c for c in found.raw_types if c not in LINEAGE])
        late_parents.stage_waiting(cur, spec, work)


def _replace(cur, spec: TableSpec, work: Work, found: Findings, run_id: str, staging: Future) -> int:
    """In the caller's transaction: clean and the table's quarantine and heal_log partitions replaced, and a staged
    delivery published as raw.<table> with them; clean rows."""
    raw, source = qualified("raw", spec.name), work.source
    # No load of the table commits while this transaction writes (a load holds its task's lock until it commits):
    # a delivery staged after the rules ran would otherwise be left for a heal that its marker says is done.
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"load:{spec.name}",))
    published = work.source_schema == warehouse.STAGE
    if published and warehouse.table_exists(cur.connection, "raw", spec.name):
        # Readers of raw wait for this transaction, as readers of clean do: they see the old table or the new.
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(raw))
    cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(source))
    if raw_file(cur, work) != found.raw_node or (not published and staged(cur, spec.name)):
        raise HealError(
            f"{source.as_string(cur).replace(chr(34), '')} was loaded again while it was being healed; "
            "nothing was written, run again"
        )
    # The table's previous heal goes (its partitions are empty again); readers wait for this one to commit.
    quarantine, heal_log = _partition("quarantine", spec), _partition("heal_log", spec)
    late_parents.remember(cur, spec, quarantine)
    cur.execute(sql.SQL("TRUNCATE {}, {}").format(quarantine, heal_log))
    _no_autovacuum(cur, quarantine, heal_log)
    _write_clean(cur, spec, work, found.superseded)
    found.parents_arrived = late_parents.log_arrivals(cur, spec, heal_log, run_id)
    corrections.publish(cur, spec, work, run_id, heal_log, found.superseded)
    log_fixes(cur, spec, work, found.plan, run_id, heal_log)
    staging.result()
    late_parents.publish_waiting(cur, spec, work, None)
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(quarantine, work.quarantine))
    if cur.rowcount != found.quarantined:
        raise HealError(
            f"{spec.name}: {found.quarantined} rows held but {cur.rowcount} quarantined; nothing was written"
        )
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(heal_log, work.log))  # fixes of rules run alone
    late_parents.analyze(cur, quarantine)
    clean_rows = scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(qualified("clean", spec.name)))
    if found.raw_rows != clean_rows + found.quarantined + found.superseded:
        raise HealError(
            f"{spec.name}: {found.raw_rows} raw rows but {clean_rows} clean + {found.quarantined} "
            f"quarantined + {found.superseded} replaced by corrections; nothing was written"
        )
    resolved.store_outcomes(cur, spec, work, run_id)
    if published:  # the delivery becomes raw.<table>: a rename, whatever its size
        note = delta_load.staged_note(cur, spec.name)
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(raw))
        cur.execute(sql.SQL("ALTER TABLE {} SET SCHEMA raw").format(source))
        delta_load.record(cur, spec.name, note, run_id)
    cur.execute(warehouse.row_number_index("raw", spec.name))  # loaded by an earlier version: without one
    work.drop(cur)
    return clean_rows


def heal_table(conn, spec: TableSpec, run_id: str, inputs: str = "", full_because: str | None = None) -> HealResult:
    """Heal one table: incrementally where that gives what a full heal would (delta_heal: the rows a load staged
    as a delta and the rows held for a parent, against what clean holds), else in full (below). `inputs`: digest of
    what the rules apply besides the data (code, contract, thresholds, resolutions); without it, or with
    `full_because` (a reason), in full; without it the next heal is in full too."""
    contract = load(spec.name)
    checks = compile_schema(spec)
    rules = corrections.with_corrections(spec, synonym_rules(spec) + CATALOG[spec.name], contract.corrections)
    with closing(warehouse.sibling(conn)) as side:
        with side, side.cursor() as cur:
            stage = staged(cur, spec.name)
            marks = delta_heal.parent_marks(cur, spec)
            basis, why = None, full_because or "healed alone"
            if inputs and not full_because:
                basis, why = delta_heal.decide(cur, spec, inputs, rules, stage)
        if basis is not None:
            outcome = _heal_delta(conn, side, spec, run_id, inputs, basis, marks, contract, checks, rules, stage)
            if isinstance(outcome, HealResult):
                outcome.why = why
                return outcome
            why = outcome
        if stage:
            with side, side.cursor() as cur:
                note = delta_load.staged_note(cur, spec.name)
                if note is not None and note["mode"] == delta_load.DELTA:
                    delta_publish.widen(cur, spec)
        result = _heal_full(conn, side, spec, run_id, inputs, marks, contract, checks, rules)
        result.why = why
        with conn.cursor() as cur:
            analytics_changes.record_full(cur, spec.name, run_id)  # the next Transform builds every view
        return result


def _heal_delta(conn, side, spec, run_id, inputs, basis, marks, contract, checks, rules, stage) -> HealResult | str:
    """The incremental heal; or why a full heal must decide after all (a new row comes before a clean one)."""
    work = delta_heal.work_of(spec)
    with side, side.cursor() as cur:
        cur.execute("SET lock_timeout = '5min'")
        _tune(cur)
        stage_node = delta_publish.stage_file(cur, spec) if stage else None
        unfit = delta_heal.gather(cur, spec, work, stage, basis)
        if unfit:
            work.drop(cur)
            delta_publish.drop_scratch(cur, spec)
            return unfit
        found = find(
            cur,
            spec,
            work,
            checks,
            rules,
            run_id,
            contract.corrections,
            before_survivors=lambda c: delta_heal.add_context(c, spec, work, rules),
            delta=True,
        )
        settled = delta_heal.settle_context(cur, spec, work)
        if settled.why:
            work.drop(cur)
            delta_publish.drop_scratch(cur, spec)
            return settled.why
        totals = delta_heal.totals(cur, spec, work, basis, found, settled)
    warnings = gates(side, spec, work, contract, totals.outcomes, totals.quarantined, totals.raw_rows)
    if totals.delta_rows and found.quarantined > ROWS_HELD_WARN_IF * found.raw_rows:
        warnings.append(
            f"this delivery: {found.quarantined:,} of {found.raw_rows:,} rows checked ({found.quarantined / found.raw_rows:.1%}) "
            f"held back, above the warning share of {ROWS_HELD_WARN_IF:.0%}"
        )
    parts = (_partition("heal_log", spec), _partition("quarantine", spec), stage_node)
    with ThreadPoolExecutor(1) as pool, conn.cursor() as cur:
        staging = pool.submit(_stage, side, spec, work, found, run_id)
        try:
            _tune(cur, "LOCAL")
            clean_rows = delta_publish.append(cur, spec, work, found, totals, run_id, staging, stage, parts)
            figures = delta_heal.figures_of(
                totals.outcomes, totals.quarantined, totals.flawed, totals.fixed_rows, totals.superseded
            )
            delta_heal.record_basis(cur, spec, run_id, inputs, totals.raw_rows, figures, marks, basis.generation)
        except BaseException:
            side.cancel()
            raise
    return HealResult(
        spec.name,
        totals.raw_rows,
        clean_rows,
        totals.quarantined,
        totals.fixed_rows,
        totals.raw_rows - totals.flawed,
        totals.outcomes,
        warnings,
        found.parents_arrived,
        totals.superseded,
        mode=delta_heal.INCREMENTAL,
        checked=found.raw_rows,
        checked_again=totals.rechecked,
    )


def _heal_full(conn, side, spec, run_id, inputs, marks, contract, checks, rules) -> HealResult:
    """Heal every row of the table; clean and quarantine are replaced together in the caller's transaction, with raw
    when the rows come from a delivery staged by the load (incoming.<table>), which that transaction publishes.

    The rules run first on a connection of their own, committing only work tables. Then two connections write
    at once, so the second core is used: the caller's replaces clean while another builds the quarantine rows
    (json of every held row), which the caller then copies in. If the caller's transaction fails, the
    warehouse keeps what it had; the next heal drops the work tables left behind.
    """
    with side, side.cursor() as cur:
        # The caller waits on this connection with its own transaction open: were a lock it holds ever
        # needed here, the wait would never end. A bound turns that into an error.
        cur.execute("SET lock_timeout = '5min'")
        _tune(cur)
        work = Work.of(spec, warehouse.STAGE if staged(cur, spec.name) else "raw")
        found = find(cur, spec, work, checks, rules, run_id, contract.corrections)
    warnings = gates(side, spec, work, contract, found.outcomes, found.quarantined, found.raw_rows)
    with ThreadPoolExecutor(1) as pool, conn.cursor() as cur:
        staging = pool.submit(_stage, side, spec, work, found, run_id)
        try:
            _tune(cur, "LOCAL")
            clean_rows = _replace(cur, spec, work, found, run_id, staging)
            if inputs:
                figures = delta_heal.figures_of(
                    found.outcomes, found.quarantined, found.flawed, found.fixed_rows, found.superseded
                )
                delta_heal.record_basis(cur, spec, run_id, inputs, found.raw_rows, figures, marks)
            else:  # healed outside the task (its inputs unknown): no incremental heal builds on it
                cur.execute("DELETE FROM ops.incremental_basis WHERE table_name = %s", (spec.name,))
        except BaseException:
            side.cancel()
            raise
    return HealResult(
        spec.name,
        found.raw_rows,
        clean_rows,
        found.quarantined,
        found.fixed_rows,
        found.raw_rows - found.flawed,
        found.outcomes,
        warnings,
        found.parents_arrived,
        found.superseded,
        checked=found.raw_rows,
    )
