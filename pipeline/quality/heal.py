"""raw.<table> -> clean.<table>: cast, fix, check; failing rows to quality.quarantine, all in SQL.

A delivery that its load staged in incoming.<table> is healed from there and published by the heal's last
transaction: raw, clean, the quarantine and heal_log of the table change together, or not at all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field

from psycopg2 import sql

from .. import config, warehouse
from ..errors import PipelineError
from ..ingest import LINEAGE, staged
from ..tables import TableSpec
from ..warehouse import qualified
from . import corrections, late_parents, resolved
from .catalog import CATALOG
from .compile import compile_schema
from .contract import TableContract, load
from .find import Findings, find, log_fixes
from .rules import DEFAULT_ERROR_IF, DEFAULT_WARN_IF, ROWS_HELD_WARN_IF, synonym_rules
from .work import RuleOutcome, Work, key_expr, original_row, raw_file, scalar

log = logging.getLogger(__name__)


class HealError(PipelineError):
    """Healing cannot finish: rows that would be lost, or a rule above its error threshold."""

    hint = "this is a bug in healing: report it with the run id (python -m pipeline runs shows it)"


class ThresholdError(HealError):
    """A rule breaks on more rows than its error threshold allows: the data or the contract needs a look."""

    hint = (
        "look at the source file; if the data follows other conventions, run `python -m pipeline profile` "
        "and confirm its proposal (--write), or raise the rule's threshold in contracts/<table>.yaml or "
        "luigi.cfg [quality_thresholds]"
    )


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
    _no_autovacuum(cur, table)
    cur.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) ORDER BY contype = 'f' DESC",
        (f'clean."{spec.name}"',),
    )
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, sql.Identifier(name)))
    cols = sql.SQL(", ").join(map(sql.Identifier, [*spec.column_names, "_source_row", "_flags"]))
    cur.execute(
        sql.SQL(
            "INSERT INTO {clean} ({cols}) SELECT {cols} FROM {rows} h "
            "WHERE NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = h._source_row) AND {current}"
        ).format(
            clean=table,
            cols=cols,
            rows=work.rows,
            held=work.held,
            current=corrections.not_superseded(work) if superseded else sql.SQL("true"),
        )
    )
    for statement in warehouse.key_ddl(spec) + warehouse.foreign_key_ddl(spec):
        cur.execute(statement)
    for child, name, definition in children:
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
                sql.SQL(child), sql.Identifier(name), sql.SQL(definition)
            )
        )
    # Statistics now, not when autovacuum comes by: Transform and the app plan their joins over this table next.
    # Target 30, a sample of 9,000 rows (300 per unit), is enough for their whole-table joins and aggregates, and
    # costs a fifth of the default 30,000 (measured at scale 1.0: 0.25-0.33 s -> 0.06 s per table).
    cur.execute("SET LOCAL default_statistics_target = 30")
    cur.execute(sql.SQL("ANALYZE {}").format(table))
    cur.execute("RESET default_statistics_target")


def thresholds(outcome: RuleOutcome, contract: TableContract, overrides: dict) -> tuple[float | None, float | None]:
    """A rule's warn and error shares: luigi.cfg, else the contract, else the rule's own, else the default for a
    rule that quarantines (no quarantining rule is without them)."""
    if outcome.rule_id in overrides:
        return overrides[outcome.rule_id]
    setting = contract.rules.get(outcome.rule_id)
    warn_if = setting.warn_if if setting and setting.warn_if is not None else outcome.warn_if
    error_if = setting.error_if if setting and setting.error_if is not None else outcome.error_if
    if outcome.action == "quarantine":
        warn_if = DEFAULT_WARN_IF if warn_if is None else warn_if
        error_if = DEFAULT_ERROR_IF if error_if is None else error_if
    return warn_if, error_if


def check_thresholds(
    outcomes: list[RuleOutcome],
    rows: int,
    contract: TableContract | None = None,
    examples: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """Warn above a rule's warn_if share of rows (the warnings, in words); fail the heal above its error_if share."""
    overrides = config.rule_thresholds()
    contract = contract or TableContract("")
    warnings = []
    for o in outcomes:
        o.warn_if, o.error_if = thresholds(o, contract, overrides)
        share = o.violations / rows if rows else 0.0
        if o.error_if is not None and share > o.error_if:
            shown = ", ".join(repr(e) for e in (examples(o.rule_id) if examples else []))
            raise ThresholdError(
                f"rule {o.rule_id}: {o.violations:,} of {rows:,} rows ({share:.1%}) break it, above its error "
                f"threshold of {o.error_if:.1%}" + (f" (e.g. {shown})" if shown else "") + "; clean was left as it was"
            )
        if o.warn_if is not None and share > o.warn_if:
            warnings.append(
                f"rule {o.rule_id}: {o.violations:,} of {rows:,} rows ({share:.1%}) break it, above its "
                f"warning threshold of {o.warn_if:.1%}"
            )
            log.warning("%s", warnings[-1])
    return warnings


def _examples(conn, spec: TableSpec, work: Work, rule_id: str) -> list[str]:
    """Three values that broke a rule, as the file had them (or the rule's message where no column is its own)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT coalesce(to_jsonb(r) ->> p.column_name, p.message) FROM (SELECT * FROM {found} WHERE "
                "rule_id = {rid} OR {rid} = {held} ORDER BY source_row LIMIT 3) p "
                "JOIN {raw} r ON r._source_row = p.source_row ORDER BY p.source_row"
            ).format(
                found=work.found, rid=sql.Literal(rule_id), held=sql.Literal(f"{spec.name}.rows_held"), raw=work.source
            )
        )
        return [v if v is None or len(v) <= 40 else v[:37] + "..." for (v,) in cur.fetchall()]


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
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(quarantine, work.quarantine))
    if cur.rowcount != found.quarantined:
        raise HealError(
            f"{spec.name}: {found.quarantined} rows held but {cur.rowcount} quarantined; nothing was written"
        )
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(heal_log, work.log))  # fixes of rules run alone
    clean_rows = scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(qualified("clean", spec.name)))
    if found.raw_rows != clean_rows + found.quarantined + found.superseded:
        raise HealError(
            f"{spec.name}: {found.raw_rows} raw rows but {clean_rows} clean + {found.quarantined} "
            f"quarantined + {found.superseded} replaced by corrections; nothing was written"
        )
    resolved.store_outcomes(cur, spec, work, run_id)
    if published:  # the delivery becomes raw.<table>: a rename, whatever its size
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(raw))
        cur.execute(sql.SQL("ALTER TABLE {} SET SCHEMA raw").format(source))
    work.drop(cur)
    return clean_rows


def heal_table(conn, spec: TableSpec, run_id: str) -> HealResult:
    """Heal one table; clean and quarantine are replaced together in the caller's transaction, with raw when the
    rows come from a delivery staged by the load (incoming.<table>), which that transaction publishes.

    The rules run first on a connection of their own, committing only work tables. Then two connections write
    at once, so the second core is used: the caller's replaces clean while another builds the quarantine rows
    (json of every held row), which the caller then copies in. If the caller's transaction fails, the
    warehouse keeps what it had; the next heal drops the work tables left behind.
    """
    contract = load(spec.name)
    checks = compile_schema(spec)
    rules = corrections.with_corrections(spec, synonym_rules(spec) + CATALOG[spec.name], contract.corrections)
    with closing(warehouse.sibling(conn)) as side:
        with side, side.cursor() as cur:
            # The caller waits on this connection with its own transaction open: were a lock it holds ever
            # needed here, the wait would never end. A bound turns that into an error.
            cur.execute("SET lock_timeout = '5min'")
            _tune(cur)
            work = Work.of(spec, warehouse.STAGE if staged(cur, spec.name) else "raw")
            found = find(cur, spec, work, checks, rules, run_id, contract.corrections)
        # All held rows together are a gate too, checked like a rule (not stored as one: no rule of its own); a
        # real delivery holds many rows back, so it warns from 30%.
        held = RuleOutcome(
            f"{spec.name}.rows_held",
            "rows held back by any rule",
            "error",
            "quarantine",
            found.quarantined,
            quarantined=found.quarantined,
            warn_if=ROWS_HELD_WARN_IF,
        )
        try:
            warnings = check_thresholds(
                [*found.outcomes, held], found.raw_rows, contract, lambda rule: _examples(side, spec, work, rule)
            )
        except HealError:
            with side, side.cursor() as cur:
                work.drop(cur)
            raise
        with ThreadPoolExecutor(1) as pool, conn.cursor() as cur:
            staging = pool.submit(_stage, side, spec, work, found, run_id)
            try:
                _tune(cur, "LOCAL")
                clean_rows = _replace(cur, spec, work, found, run_id, staging)
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
    )
