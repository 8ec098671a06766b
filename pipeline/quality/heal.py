"""raw.<table> -> clean.<table>: cast, fix, check; failing rows to quality.quarantine, all in SQL."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cerberus import Validator
from psycopg2 import sql
from psycopg2.extras import execute_values

from .. import config, warehouse
from ..tables import KINDS, TableSpec
from ..ingest import LINEAGE
from ..warehouse import qualified
from .compile import FieldCheck, compile_schema
from .rules import CATALOG, Rule, field_policy

log = logging.getLogger(__name__)

ROWS = "heal_rows"      # temp table: the table's rows, typed as the spec says, fixes applied
FOUND = "heal_found"    # temp table: one row per (row, rule) violation
HELD = "heal_held"      # temp table: rows quarantined so far

TRY_CAST = {"int": "ops.try_bigint", "float": "ops.try_float8", "date": "ops.try_date",
            "timestamp": "ops.try_timestamp", "bool": "ops.try_boolean"}


class HealError(Exception):
    """Healing cannot finish: a rule above its error threshold, or rows that would be lost."""


@dataclass
class RuleOutcome:
    rule_id: str
    description: str
    severity: str
    action: str
    violations: int = 0
    fixed: int = 0
    quarantined: int = 0
    flagged: int = 0
    warn_if: float | None = None
    error_if: float | None = None


@dataclass
class HealResult:
    table: str
    raw_rows: int
    clean_rows: int
    quarantined: int
    fixed_rows: int
    valid_before: int
    rules: list[RuleOutcome] = field(default_factory=list)


def _cast(column: str, raw_type: str | None, kind: str) -> tuple[sql.Composable, sql.Composable | None]:
    """The SQL giving the spec's type from the raw column, and the predicate of a failed cast (or None)."""
    col = sql.SQL("r.{}").format(sql.Identifier(column))
    target = KINDS[kind][0]
    if raw_type == target:
        return col, None
    if kind == "text":
        return sql.SQL("{}::text").format(col), None
    if (kind, raw_type) in {("float", "bigint"), ("timestamp", "date"), ("date", "timestamp"), ("date", "timestamptz")}:
        return sql.SQL("{}::{}").format(col, sql.SQL(target)), None
    if (kind, raw_type) == ("timestamp", "timestamptz"):
        return sql.SQL("({} AT TIME ZONE 'UTC')").format(col), None
    if kind == "int" and raw_type == "double precision":
        expr = sql.SQL("CASE WHEN {c} = trunc({c}) AND {c} BETWEEN -9.2e18 AND 9.2e18 THEN {c}::bigint END").format(
            c=col)
    else:
        expr = sql.SQL("{}({}::text)").format(sql.SQL(TRY_CAST[kind]), col)
    return expr, sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(col, expr)


def _raw_types(conn, table: str) -> dict[str, str]:
    """raw.<table>'s column types, named as in tables.KINDS."""
    with conn.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped", (f'raw."{table}"',))
        short = {"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz"}
        return {name: short.get(t, t) for name, t in cur.fetchall()}


def _build_rows(cur, spec: TableSpec, raw_types: dict[str, str]) -> list[tuple[str, sql.Composable]]:
    """Create the typed temp table; return the cast-failure predicates per column."""
    selects, failures = [sql.SQL("r._source_row")], []
    for c in spec.columns:
        expr, failed = _cast(c.name, raw_types.get(c.name), c.kind)
        selects.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(c.name)))
        if failed is not None:
            failures.append((c.name, failed))
    selects.append(sql.SQL("NULL::text[] AS _flags"))
    cur.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} r").format(
        sql.Identifier(ROWS), sql.SQL(", ").join(selects), qualified("raw", spec.name)))
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(ROWS)))  # temp tables get no statistics otherwise
    cur.execute(sql.SQL("CREATE TEMP TABLE {} (source_row bigint, rule_id text, column_name text, message text,"
                        " action text, survivor_key text) ON COMMIT DROP").format(sql.Identifier(FOUND)))
    cur.execute(sql.SQL("CREATE TEMP TABLE {} (source_row bigint PRIMARY KEY) ON COMMIT DROP").format(
        sql.Identifier(HELD)))
    return failures


def _record_cast_failures(cur, spec: TableSpec, failures) -> None:
    for column, failed in failures:
        kind_name = KINDS[spec.column(column).kind][2]
        cur.execute(sql.SQL(
            "INSERT INTO {found} SELECT r._source_row, {rid}, {col}, {msg}, 'quarantine', NULL "
            "FROM {raw} r WHERE {failed}").format(
            found=sql.Identifier(FOUND), rid=sql.Literal(f"{spec.name}.{column}.type"), col=sql.Literal(column),
            msg=sql.Literal(f"must be of {kind_name} type"), raw=qualified("raw", spec.name), failed=failed))


def _record_field_checks(cur, spec: TableSpec, checks: list[FieldCheck], failures, run_id: str) -> None:
    """All compiled Cerberus rules in one scan of the typed rows."""
    compiled = [c for c in checks if c.compiled]
    if not compiled:
        return
    # A cast failure leaves NULL behind; it is reported as a type error, not as a null value.
    failed_cols = {column for column, _ in failures}
    predicates = []
    for c in compiled:
        pred = sql.SQL("({})").format(c.predicate)
        if c.rule == "nullable" and c.column in failed_cols:
            pred = sql.SQL("({} AND NOT EXISTS (SELECT 1 FROM {} f WHERE f.source_row = h._source_row "
                           "AND f.column_name = {}))").format(c.predicate, sql.Identifier(FOUND), sql.Literal(c.column))
        predicates.append(pred)
    values = sql.SQL(", ").join(
        sql.SQL("(CASE WHEN {} THEN {} END, {}, {}, {})").format(
            p, sql.Literal(c.rule_id), sql.Literal(c.column), c.message, sql.Literal(field_policy(c.rule_id).action))
        for p, c in zip(predicates, compiled))
    cur.execute(sql.SQL(
        "INSERT INTO {found} SELECT h._source_row, x.rule_id, x.column_name, x.message, x.action, NULL "
        "FROM {rows} h CROSS JOIN LATERAL (VALUES {values}) AS x(rule_id, column_name, message, action) "
        "WHERE ({any}) AND x.rule_id IS NOT NULL").format(
        found=sql.Identifier(FOUND), rows=sql.Identifier(ROWS), values=values,
        any=sql.SQL(" OR ").join(predicates)))
    for c in compiled:
        policy = field_policy(c.rule_id)
        _apply(cur, spec, c.rule_id, policy.action, policy.fixes, run_id)


def _record_fallback_checks(cur, spec: TableSpec, checks: list[FieldCheck], run_id: str) -> None:
    """Field rules the compiler cannot translate: Cerberus checks each non-null value (correct, slower)."""
    for c in (c for c in checks if not c.compiled):
        validator = Validator({c.column: {c.rule: c.constraint}})
        cur.execute(sql.SQL("SELECT _source_row, {col} FROM {rows} WHERE {col} IS NOT NULL").format(
            col=sql.Identifier(c.column), rows=sql.Identifier(ROWS)))
        failed = [(row, validator.errors[c.column][0]) for row, value in cur.fetchall()
                  if not validator.validate({c.column: value})]
        policy = field_policy(c.rule_id)
        execute_values(cur, sql.SQL("INSERT INTO {} (source_row, message, rule_id, column_name, action) VALUES %s")
                       .format(sql.Identifier(FOUND)).as_string(cur),
                       [(row, message, c.rule_id, c.column, policy.action) for row, message in failed])
        _apply(cur, spec, c.rule_id, policy.action, policy.fixes, run_id)


def _hold(cur, rule_id: str | None = None) -> None:
    """Add the rows quarantined by one rule (or by all so far) to the held rows."""
    only = sql.SQL(" AND rule_id = {}").format(sql.Literal(rule_id)) if rule_id else sql.SQL("")
    cur.execute(sql.SQL("INSERT INTO {held} SELECT DISTINCT source_row FROM {found} WHERE action = 'quarantine'{only} "
                        "ON CONFLICT DO NOTHING").format(held=sql.Identifier(HELD), found=sql.Identifier(FOUND),
                                                         only=only))


def _run_rule(cur, rule: Rule, spec: TableSpec, run_id: str) -> None:
    query = rule.sql.format(rows=ROWS, held=HELD)
    column = rule.fixes[0][0] if rule.fixes else None
    cur.execute(sql.SQL("INSERT INTO {found} (source_row, message, survivor_key, rule_id, column_name, action) "
                        "SELECT v.*, {rid}, {col}, {action} FROM ({query}) AS v").format(
        found=sql.Identifier(FOUND), rid=sql.Literal(rule.id), col=sql.Literal(column),
        action=sql.Literal(rule.action), query=sql.SQL(query)))
    _apply(cur, spec, rule.id, rule.action, rule.fixes, run_id)


def _apply(cur, spec: TableSpec, rule_id: str, action: str, fixes, run_id: str) -> None:
    """Carry out a fix (all columns at once, each change logged) or a flag on the rows a rule found."""
    where = sql.SQL("FROM {found} f WHERE f.source_row = h._source_row AND f.rule_id = {rid}").format(
        found=sql.Identifier(FOUND), rid=sql.Literal(rule_id))
    if action == "fix":
        for column, expr in fixes:
            cur.execute(sql.SQL(
                "INSERT INTO quality.heal_log SELECT {table}, h._source_row, {key}, {col}, {rid}, h.{ident}::text, "
                "({fix})::text, {run} FROM {rows} h JOIN {found} f ON f.source_row = h._source_row "
                "AND f.rule_id = {rid}").format(found=sql.Identifier(FOUND),
                table=sql.Literal(spec.name), key=_key_expr(spec, "h"), col=sql.Literal(column),
                rid=sql.Literal(rule_id), ident=sql.Identifier(column), fix=sql.SQL(expr), run=sql.Literal(run_id),
                rows=sql.Identifier(ROWS)))
        assignments = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.SQL(e)) for c, e in fixes)
        cur.execute(sql.SQL("UPDATE {rows} h SET {assign} {where}").format(
            rows=sql.Identifier(ROWS), assign=assignments, where=where))
    elif action == "flag":
        cur.execute(sql.SQL("UPDATE {rows} h SET _flags = array_append(h._flags, {rid}) {where}").format(
            rows=sql.Identifier(ROWS), rid=sql.Literal(rule_id), where=where))


def _key_expr(spec: TableSpec, alias: str) -> sql.Composable:
    return sql.SQL(" || '|' || ").join(
        sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(k)) for k in spec.primary_key)


def _original_json(file_columns: list[str]) -> sql.Composable:
    """The raw row as the file had it, lineage left out (jsonb_build_object takes at most 50 pairs)."""
    if len(file_columns) <= 50:
        return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
            sql.SQL("{}, r.{}").format(sql.Literal(c), sql.Identifier(c)) for c in file_columns))
    return sql.SQL("to_jsonb(r) - {}::text[]").format(sql.Literal(list(LINEAGE)))


def _write_quarantine(cur, spec: TableSpec, run_id: str, file_columns: list[str]) -> None:
    cur.execute(sql.SQL("ANALYZE {}, {}").format(sql.Identifier(FOUND), sql.Identifier(HELD)))
    cur.execute(sql.SQL("DELETE FROM quality.quarantine WHERE table_name = %s"), (spec.name,))
    cur.execute(sql.SQL("DELETE FROM quality.heal_log WHERE table_name = %s AND run_id <> %s"), (spec.name, run_id))
    cur.execute(sql.SQL("""
        INSERT INTO quality.quarantine (table_name, source_row, record_key, rule_ids, messages, original,
                                        survivor_key, run_id)
        SELECT {table}, f.source_row, {key}, f.rule_ids, f.messages, {original}, f.survivor_key, {run}
        FROM (SELECT source_row, array_agg(rule_id ORDER BY rule_id) AS rule_ids,
                     jsonb_object_agg(rule_id, message) AS messages, max(survivor_key) AS survivor_key
              FROM {found} WHERE source_row IN (SELECT source_row FROM {held})
              GROUP BY source_row) f
        JOIN {raw} r ON r._source_row = f.source_row""").format(
        table=sql.Literal(spec.name), key=_key_expr(spec, "r"), original=_original_json(file_columns),
        run=sql.Literal(run_id),
        found=sql.Identifier(FOUND), held=sql.Identifier(HELD), raw=qualified("raw", spec.name)))


def _ensure_clean_table(cur, conn, spec: TableSpec) -> None:
    """Create clean.<table> when missing or made from an older spec (its comment holds the spec hash)."""
    marker = f"spec {warehouse.spec_hash(spec)}"
    cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (f'clean."{spec.name}"',))
    row = cur.fetchone()
    if row and row[0] == marker:
        return
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(qualified("clean", spec.name)))
    cur.execute(warehouse.clean_ddl(spec))
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(qualified("clean", spec.name), sql.Literal(marker)))


def _write_clean(cur, conn, spec: TableSpec) -> None:
    """Replace clean.<table>'s rows; keys are dropped for the bulk insert and built again after it."""
    _ensure_clean_table(cur, conn, spec)
    table = qualified("clean", spec.name)
    # Children refer to this table: TRUNCATE ... CASCADE empties them and dropping the keys drops their
    # foreign keys; they are healed again after this table (their fingerprints include this one's).
    cur.execute(sql.SQL("TRUNCATE {} CASCADE").format(table))
    cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) ORDER BY contype = 'f' DESC",
                (f'clean."{spec.name}"',))
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {} CASCADE").format(table, sql.Identifier(name)))
    cols = sql.SQL(", ").join(map(sql.Identifier, [*spec.column_names, "_source_row", "_flags"]))
    cur.execute(sql.SQL("INSERT INTO {clean} ({cols}) SELECT {cols} FROM {rows} h "
                        "WHERE NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = h._source_row)").format(
        clean=table, cols=cols, rows=sql.Identifier(ROWS), held=sql.Identifier(HELD)))
    for statement in warehouse.key_ddl(spec) + warehouse.foreign_key_ddl(spec):
        cur.execute(statement)


def _count(cur, query: sql.Composable) -> int:
    cur.execute(query)
    return cur.fetchone()[0]


def _outcomes(cur, spec: TableSpec, checks: list[FieldCheck], rules: list[Rule]) -> list[RuleOutcome]:
    cur.execute(sql.SQL("""
        SELECT rule_id, count(*), count(*) FILTER (WHERE action = 'fix'),
               count(*) FILTER (WHERE action = 'quarantine'), count(*) FILTER (WHERE action = 'flag')
        FROM {} GROUP BY rule_id""").format(sql.Identifier(FOUND)))
    counts = {r[0]: r[1:] for r in cur.fetchall()}
    catalog = [(f"{spec.name}.{c.name}.type", f"{c.name} must be of {KINDS[c.kind][2]} type", "error",
                "quarantine", None, None) for c in spec.columns]
    for c in checks:
        policy = field_policy(c.rule_id)
        catalog.append((c.rule_id, f"Cerberus {c.rule}: {c.constraint!r} on {c.column}", policy.severity,
                        policy.action, policy.warn_if, policy.error_if))
    catalog += [(r.id, r.description, r.severity, r.action, r.warn_if, r.error_if) for r in rules]
    outcomes = []
    for rule_id, description, severity, action, warn_if, error_if in catalog:
        n, fixed, quarantined, flagged = counts.get(rule_id, (0, 0, 0, 0))
        outcomes.append(RuleOutcome(rule_id, description, severity, action, n, fixed, quarantined, flagged,
                                    warn_if, error_if))
    return outcomes


def check_thresholds(outcomes: list[RuleOutcome], rows: int) -> None:
    """Warn above a rule's warn_if share of rows; fail the heal above its error_if share (luigi.cfg may override)."""
    overrides = config.rule_thresholds()
    for o in outcomes:
        if o.rule_id in overrides:
            o.warn_if, o.error_if = overrides[o.rule_id]
        share = o.violations / rows if rows else 0.0
        if o.error_if is not None and share > o.error_if:
            raise HealError(f"rule {o.rule_id}: {o.violations:,} of {rows:,} rows ({share:.1%}) break it, above its "
                            f"error threshold of {o.error_if:.1%}; clean was left as it was")
        if o.warn_if is not None and share > o.warn_if:
            log.warning("rule %s: %s of %s rows (%.1f%%) break it, above its warning threshold of %.1f%%",
                        o.rule_id, o.violations, rows, 100 * share, 100 * o.warn_if)


def heal_table(conn, spec: TableSpec, run_id: str) -> HealResult:
    """Heal one table inside the caller's transaction: clean and quarantine are replaced together."""
    checks = compile_schema(spec)
    rules = CATALOG[spec.name]
    with conn.cursor() as cur:
        # Room for the temp tables and the hashes of a million-row table in memory, for this transaction only.
        cur.execute("SET LOCAL temp_buffers = '1GB'; SET LOCAL work_mem = '256MB'; SET LOCAL jit = off; "
                    "SET LOCAL enable_nestloop = off")  # every join here is bulk: row estimates of anti-joins are 1
        raw_types = _raw_types(conn, spec.name)
        failures = _build_rows(cur, spec, raw_types)
        _record_cast_failures(cur, spec, failures)
        for rule in (r for r in rules if r.phase == "normalise"):
            _run_rule(cur, rule, spec, run_id)
        _record_field_checks(cur, spec, checks, failures, run_id)
        _record_fallback_checks(cur, spec, checks, run_id)
        _hold(cur)
        for phase in ("check", "survivors"):
            for rule in (r for r in rules if r.phase == phase):
                _run_rule(cur, rule, spec, run_id)
                if rule.action == "quarantine":
                    _hold(cur, rule.id)
        _write_quarantine(cur, spec, run_id, [c for c in raw_types if c not in LINEAGE])
        _write_clean(cur, conn, spec)
        raw_rows = _count(cur, sql.SQL("SELECT count(*) FROM {}").format(qualified("raw", spec.name)))
        clean_rows = _count(cur, sql.SQL("SELECT count(*) FROM {}").format(qualified("clean", spec.name)))
        quarantined = _count(cur, sql.SQL("SELECT count(*) FROM quality.quarantine WHERE table_name = {}").format(
            sql.Literal(spec.name)))
        fixed_rows = _count(cur, sql.SQL("SELECT count(DISTINCT source_row) FROM {} WHERE action = 'fix'").format(
            sql.Identifier(FOUND)))
        flawed = _count(cur, sql.SQL("SELECT count(DISTINCT source_row) FROM {}").format(sql.Identifier(FOUND)))
        if raw_rows != clean_rows + quarantined:
            raise HealError(f"{spec.name}: {raw_rows} raw rows but {clean_rows} clean + {quarantined} quarantined; "
                            "nothing was written")
        outcomes = _outcomes(cur, spec, checks, rules)
        check_thresholds(outcomes, raw_rows)
    return HealResult(spec.name, raw_rows, clean_rows, quarantined, fixed_rows, raw_rows - flawed, outcomes)
