"""The rules' half of a heal: the table's rows (a staged delivery, else raw.<table>) scanned, fixed and checked into
work tables, in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from cerberus import Validator
from psycopg2 import sql
from psycopg2.extras import execute_values

from ..escaping import escaped_values
from ..ingest import LINEAGE
from ..tables import KINDS, TableSpec
from . import corrections, emails, resolved
from .compile import FieldCheck
from .rules import Rule, field_policy
from .scan import ScanPlan, idle_rules, plan_scan
from .work import RuleOutcome, Work, key_expr, nested_loops, raw_file, scalar


def _raw_types(cur, work: Work) -> dict[str, str]:
    """The column types of the rows being healed, named as in tables.KINDS."""
    cur.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (work.source.as_string(cur),),
    )
    short = {"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz"}
    return {name: short.get(t, t) for name, t in cur.fetchall()}


def _scan(cur, spec: TableSpec, work: Work, plan: ScanPlan) -> None:
    """The work rows in one (parallel) scan, then every finding of the scan as a row of `found`."""
    cur.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS {}").format(work.rows, plan.select)
    )
    if plan.findings:
        # The findings' messages as one array per row, unnested where any is set; x.i says which finding.
        messages = sql.SQL(", ").join(sql.SQL("h.{}").format(sql.Identifier(f.slot)) for f in plan.findings)
        details = sql.SQL(", ").join(
            sql.SQL("h.{}").format(sql.Identifier(f.detail_slot)) if f.detail_slot else sql.SQL("NULL")
            for f in plan.findings
        )
        rules = sql.SQL(", ").join(
            sql.SQL("({}, {}, {}, {})").format(
                sql.Literal(i), sql.Literal(f.rule_id), sql.Literal(f.column), sql.Literal(f.action)
            )
            for i, f in enumerate(plan.findings, start=1)
        )
        # The unnest is a nested loop by nature; allowed here, it runs in the parallel workers.
        cur.execute("SET LOCAL enable_nestloop = on")
        cur.execute(
            sql.SQL(
                "CREATE UNLOGGED TABLE {found} WITH (autovacuum_enabled = false) AS "
                "SELECT h._source_row AS source_row, r.rule_id, r.column_name, "
                "x.message, r.action, NULL::text AS survivor_key, (ARRAY[{details}]::text[])[x.i] AS detail "
                "FROM {rows} h CROSS JOIN LATERAL unnest(ARRAY[{messages}]::text[]) WITH ORDINALITY AS x(message, i) "
                "JOIN (VALUES {rules}) AS r(i, rule_id, column_name, action) ON r.i = x.i "
                "WHERE num_nonnulls({messages}) > 0 AND x.message IS NOT NULL"
            ).format(found=work.found, rows=work.rows, messages=messages, details=details, rules=rules)
        )
        cur.execute("SET LOCAL enable_nestloop = off")
    else:
        cur.execute(
            sql.SQL(
                "CREATE UNLOGGED TABLE {} (source_row bigint, rule_id text, column_name text, "
                "message text, action text, survivor_key text, detail text) "
                "WITH (autovacuum_enabled = false)"
            ).format(work.found)
        )
    cur.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} (LIKE quality.heal_log) WITH (autovacuum_enabled = false)").format(work.log)
    )


def log_fixes(cur, spec: TableSpec, work: Work, plan: ScanPlan, run_id: str, target: sql.Composable) -> None:
    """Every value the scan's fixes changed, with its before and after, into `target` (shaped as quality.heal_log)."""
    entries = [(f, column, before, after) for f in plan.findings for column, before, after in f.logged]
    if not entries:
        return
    values = sql.SQL(", ").join(
        sql.SQL("({}, {}, h.{} IS NOT NULL, h.{}, h.{})").format(
            sql.Literal(column),
            sql.Literal(f.rule_id),
            sql.Identifier(f.slot),
            sql.Identifier(before),
            sql.Identifier(after),
        )
        for f, column, before, after in entries
    )
    any_fixed = sql.SQL(" OR ").join(
        sql.SQL("h.{} IS NOT NULL").format(sql.Identifier(f.slot)) for f in {e[0].slot: e[0] for e in entries}.values()
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {heal_log} SELECT {table}, h._source_row, {key}, x.column_name, x.rule_id, x.before, "
            "x.after, {run} FROM {rows} h CROSS JOIN LATERAL (VALUES {values}) AS x(column_name, rule_id, fired, "
            "before, after) WHERE ({any}) AND x.fired AND x.before IS DISTINCT FROM x.after"
        ).format(
            heal_log=target,
            table=sql.Literal(spec.name),
            key=key_expr(spec, "h"),
            run=sql.Literal(run_id),
            rows=work.rows,
            values=values,
            any=any_fixed,
        )
    )


def _take_over(cur, work: Work, rule: Rule) -> None:
    """Orphans whose parent row exists in raw (so it was quarantined) become this rule's findings."""
    if rule.takes_from is None:  # never: only rules that take over orphans come here
        return
    orphan_id, raw_parent, key, message = rule.takes_from
    cur.execute(
        sql.SQL(
            # The parent joined with the orphans' keys, not `IN (SELECT key FROM parent)`: the planner hashes the
            # few orphans and scans the parent, instead of hashing every key of the parent.
            "UPDATE {found} f SET rule_id = {rid}, message = {message} WHERE f.rule_id = {orphan} "
            "AND f.detail IN (SELECT o.detail FROM {found} o JOIN {parent} p ON {key} = o.detail "
            "WHERE o.rule_id = {orphan})"
        ).format(
            found=work.found,
            rid=sql.Literal(rule.id),
            message=sql.SQL(message),
            orphan=sql.Literal(orphan_id),
            key=sql.SQL(key),
            parent=sql.SQL(raw_parent),
        )
    )


def _check_emails(cur, work: Work, check: FieldCheck) -> None:
    """Addresses not plainly valid in SQL go to email-validator, each distinct value once."""
    column = sql.Identifier(check.column)
    cur.execute(
        sql.SQL("SELECT DISTINCT {col} FROM {rows} h WHERE {col} IS NOT NULL AND NOT {fast}").format(
            col=column, rows=work.rows, fast=sql.SQL(emails.fast_valid_sql(f"h.{column.as_string(cur)}"))
        )
    )
    invalid = [
        (value, f"not a valid e-mail address: {reason}")
        for (value,) in cur.fetchall()
        if (reason := emails.problem(value))
    ]
    if not invalid:
        return
    cur.execute("CREATE TEMPORARY TABLE invalid_emails (value text, message text) ON COMMIT DROP")
    execute_values(cur, "INSERT INTO invalid_emails VALUES %s", invalid)
    cur.execute(
        sql.SQL(
            "INSERT INTO {found} (source_row, message, rule_id, column_name, action) "
            "SELECT h._source_row, i.message, {rid}, {name}, {action} FROM {rows} h "
            "JOIN invalid_emails i ON i.value = h.{col}"
        ).format(
            found=work.found,
            rid=sql.Literal(check.rule_id),
            name=sql.Literal(check.column),
            action=sql.Literal(field_policy(check.rule_id).action),
            rows=work.rows,
            col=column,
        )
    )
    cur.execute("DROP TABLE invalid_emails")


def _record_fallback_checks(cur, spec: TableSpec, work: Work, checks: list[FieldCheck], run_id: str) -> None:
    """Field rules the compiler cannot translate: Cerberus checks each non-null value (correct, slower)."""
    for c in (c for c in checks if not c.compiled):
        if c.rule == "email":
            _check_emails(cur, work, c)
            _apply(cur, spec, work, c.rule_id, field_policy(c.rule_id).action, (), run_id)
            continue
        validator = Validator({c.column: {c.rule: c.constraint}})
        cur.execute(
            sql.SQL("SELECT _source_row, {col} FROM {rows} WHERE {col} IS NOT NULL").format(
                col=sql.Identifier(c.column), rows=work.rows
            )
        )
        failed = [
            (row, validator.errors[c.column][0])
            for row, value in cur.fetchall()
            if not validator.validate({c.column: value})
        ]
        policy = field_policy(c.rule_id)
        execute_values(
            cur,
            sql.SQL("INSERT INTO {} (source_row, message, rule_id, column_name, action) VALUES %s")
            .format(work.found)
            .as_string(cur),
            [(row, message, c.rule_id, c.column, policy.action) for row, message in failed],
        )
        _apply(cur, spec, work, c.rule_id, policy.action, policy.fixes, run_id)


def _hold_all(cur, work: Work) -> None:
    """The held rows: every row a rule so far quarantines (a new table: cheaper than inserting into one)."""
    cur.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE {held} WITH (autovacuum_enabled = false) AS "
            "SELECT DISTINCT source_row FROM {found} "
            "WHERE action = 'quarantine'"
        ).format(held=work.held, found=work.found)
    )


def _hold(cur, work: Work, rule_id: str) -> None:
    """Add the rows one later rule quarantines to the held rows."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {held} SELECT DISTINCT source_row FROM {found} f WHERE action = 'quarantine' "
            "AND rule_id = {rid} AND NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = f.source_row)"
        ).format(held=work.held, found=work.found, rid=sql.Literal(rule_id))
    )


def _run_rule(cur, rule: Rule, spec: TableSpec, work: Work, run_id: str) -> None:
    """A rule run on its own (survivors; rules a scan cannot hold): its findings, then its fixes or flags."""
    query = rule.sql.format(
        rows=work.rows.as_string(cur), held=work.held.as_string(cur), raw=work.source.as_string(cur)
    )
    column = rule.fixes[0][0] if rule.fixes else None
    cur.execute(
        sql.SQL(
            "INSERT INTO {found} (source_row, message, survivor_key, rule_id, column_name, action) "
            "SELECT v.*, {rid}, {col}, {action} FROM ({query}) AS v"
        ).format(
            found=work.found,
            rid=sql.Literal(rule.id),
            col=sql.Literal(column),
            action=sql.Literal(rule.action),
            query=sql.SQL(query),
        )
    )
    _apply(cur, spec, work, rule.id, rule.action, rule.fixes, run_id)


def _apply(cur, spec: TableSpec, work: Work, rule_id: str, action: str, fixes, run_id: str) -> None:
    """Carry out a fix (all columns at once, each change logged) or a flag on the rows a rule found."""
    where = sql.SQL("FROM {found} f WHERE f.source_row = h._source_row AND f.rule_id = {rid}").format(
        found=work.found, rid=sql.Literal(rule_id)
    )
    if action == "fix":
        for column, expr in fixes:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {heal_log} SELECT {table}, h._source_row, {key}, {col}, {rid}, h.{ident}::text, "
                    "({fix})::text, {run} FROM {rows} h JOIN {found} f ON f.source_row = h._source_row "
                    "AND f.rule_id = {rid}"
                ).format(
                    found=work.found,
                    heal_log=work.log,
                    table=sql.Literal(spec.name),
                    key=key_expr(spec, "h"),
                    col=sql.Literal(column),
                    rid=sql.Literal(rule_id),
                    ident=sql.Identifier(column),
                    fix=sql.SQL(expr),
                    run=sql.Literal(run_id),
                    rows=work.rows,
                )
            )
        assignments = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.SQL(e)) for c, e in fixes)
        cur.execute(
            sql.SQL("UPDATE {rows} h SET {assign} {where}").format(rows=work.rows, assign=assignments, where=where)
        )
    elif action == "flag":
        cur.execute(
            sql.SQL("UPDATE {rows} h SET _flags = array_append(h._flags, {rid}) {where}").format(
                rows=work.rows, rid=sql.Literal(rule_id), where=where
            )
        )


def _outcomes(
    cur, spec: TableSpec, work: Work, checks: list[FieldCheck], rules: list[Rule], corrected_by: str | None
) -> list[RuleOutcome]:
    cur.execute(
        sql.SQL("""
        SELECT rule_id, count(*), count(*) FILTER (WHERE action = 'fix'),
               count(*) FILTER (WHERE action = 'quarantine'), count(*) FILTER (WHERE action = 'flag')
        FROM {} GROUP BY rule_id""").format(work.found)
    )
    counts = {r[0]: r[1:] for r in cur.fetchall()}
    catalog: list[tuple[str, str, str, str, float | None, float | None]]
    catalog = [
        (
            f"{spec.name}.{c.name}.type",
            f"{c.name} must be of {KINDS[c.kind][2]} type",
            "error",
            "quarantine",
            None,
            None,
        )
        for c in spec.columns
    ]
    catalog += [
        (
            f"{spec.name}.{c.name}.finite",
            f"{c.name} must be a finite number (not NaN or infinite)",
            "error",
            "quarantine",
            None,
            None,
        )
        for c in spec.columns
        if c.kind == "float"
    ]
    for c in checks:
        policy = field_policy(c.rule_id)
        catalog.append(
            (
                c.rule_id,
                f"Cerberus {c.rule}: {c.constraint!r} on {c.column}",
                policy.severity,
                policy.action,
                policy.warn_if,
                policy.error_if,
            )
        )
    catalog += [(r.id, r.description, r.severity, r.action, r.warn_if, r.error_if) for r in rules]
    if corrected_by:
        description = f"a later version of the same key (by {corrected_by}) replaced this row; kept in history"
        catalog.append((corrections.corrected_id(spec), description, "info", corrections.ACTION, None, None))
    outcomes = []
    for rule_id, description, severity, action, warn_if, error_if in catalog:
        n, fixed, quarantined, flagged = counts.get(rule_id, (0, 0, 0, 0))
        outcomes.append(
            RuleOutcome(rule_id, description, severity, action, n, fixed, quarantined, flagged, warn_if, error_if)
        )
    return outcomes


@dataclass
class Findings:
    """What the rules found in one table, before anything user-visible is written."""

    raw_types: dict[str, str]
    plan: ScanPlan
    raw_node: int  # the source table's file: a reload between finding and writing changes it
    raw_rows: int
    quarantined: int
    fixed_rows: int
    flawed: int
    outcomes: list[RuleOutcome]
    parents_arrived: int = 0  # set when clean is written (late_parents)
    superseded: int = 0  # older versions a correction replaced: neither clean nor quarantined (history.<table>)


def find(
    cur,
    spec: TableSpec,
    work: Work,
    checks: list[FieldCheck],
    rules: list[Rule],
    run_id: str,
    corrected_by: str | None = None,
    before_survivors=None,
    delta: bool = False,
) -> Findings:
    """Scan, fix and check every row; every finding in `found`, the rows to quarantine in `held`; with
    `corrected_by` (the contract's corrections column), a repeated key's older versions as corrections;
    `before_survivors(cur)` adds rows the survivor rules compare with (an incremental heal's clean rows). `delta`:
    the rows of an incremental heal, few beside their parents, which the scan looks up by key."""
    raw = work.source
    raw_types = _raw_types(cur, work)
    # NUL is rare: the unescape step (a fix of every text column) only where raw holds an escaped value.
    escaped = escaped_values(cur, spec.name, work.source_schema)
    if escaped is None:
        escaped = scalar(cur, sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE _escaped IS NOT NULL)").format(raw))
    scanned = [r for r in rules if r.phase != "unescape" or escaped]
    idle = set() if escaped else idle_rules(cur, raw, raw_types, scanned)
    work.drop(cur)
    resolved.match(cur, spec, work, raw_types, [c for c in raw_types if c not in LINEAGE])
    source = resolved.source(cur, spec, work, raw_types)
    plan = plan_scan(spec, raw_types, checks, [r for r in scanned if r.id not in idle], source)
    if delta:
        with nested_loops(cur):  # the parents' rows by their keys' indexes, not every parent hashed
            _scan(cur, spec, work, plan)
    else:
        _scan(cur, spec, work, plan)
    for rule in (r for r in rules if r.takes_from):
        _take_over(cur, work, rule)
    for rule in (r for r in rules if r.phase != "survivors" and not r.fused and not r.takes_from):
        _run_rule(cur, rule, spec, work, run_id)
    _record_fallback_checks(cur, spec, work, checks, run_id)
    _hold_all(cur, work)
    resolved.release(cur, spec, work)  # before the survivor rules: a released row is checked for duplicates
    if before_survivors is not None:
        before_survivors(cur)
    for rule in (r for r in rules if r.phase == "survivors"):
        _run_rule(cur, rule, spec, work, run_id)
        if corrected_by and rule.id == f"{spec.name}.duplicate_key":
            corrections.split(cur, spec, work, corrected_by)
        if rule.action == "quarantine":
            _hold(cur, work, rule.id)
    resolved.release(cur, spec, work)
    superseded = corrections.settle(cur, work)
    resolved.record(cur, spec, work, run_id)
    # The statements that read these next need their row counts and key spread: a 3,000-row sample gives them.
    cur.execute("SET LOCAL default_statistics_target = 10")
    cur.execute(sql.SQL("ANALYZE {}, {}").format(work.found, work.held))
    return Findings(
        raw_types,
        plan,
        raw_file(cur, work),
        scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(raw)),
        scalar(cur, sql.SQL("SELECT count(*) FROM {}").format(work.held)),
        scalar(cur, sql.SQL("SELECT count(DISTINCT source_row) FROM {} WHERE action = 'fix'").format(work.found)),
        scalar(cur, sql.SQL("SELECT count(DISTINCT source_row) FROM {}").format(work.found)),
        _outcomes(cur, spec, work, checks, rules, corrected_by),
        superseded=superseded,
    )
