"""The one-scan SQL of healing: a table's casts, normalise fixes, field rules and row rules in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from psycopg2 import sql

from ..tables import KINDS, TableSpec
from ..warehouse import qualified
from .compile import FieldCheck
from .rules import Join, Rule, field_policy

NO_JOINS = sql.SQL("")
TRY_CAST = {
    "int": "ops.try_bigint",
    "float": "ops.try_float8",
    "date": "ops.try_date",
    "timestamp": "ops.try_timestamp",
    "bool": "ops.try_boolean",
}


@dataclass
class Finding:
    """One rule evaluated in the scan: the work-table column (`slot`) holds its message where it fired."""

    rule_id: str
    column: str | None
    action: str
    slot: str
    detail_slot: str | None = None
    # (column, before slot, after slot) per fixed column
    logged: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class ScanPlan:
    select: sql.Composable  # the work rows: _source_row, the spec's columns healed, slots, _flags
    findings: list[Finding]


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
            c=col
        )
    else:
        expr = sql.SQL("{}({}::text)").format(sql.SQL(TRY_CAST[kind]), col)
    return expr, sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(col, expr)


class _Builder:
    """Stacks the scan's layers; each layer reads the one below as h."""

    def __init__(self, spec: TableSpec):
        self.spec = spec
        self.slots: list[str] = []
        self.findings: list[Finding] = []
        self.query: sql.Composable = sql.SQL("")

    def slot(self, prefix: str) -> str:
        name = f"_{prefix}{len(self.slots)}"
        self.slots.append(name)
        return name

    def layer(self, extra: Sequence[sql.Composable], joins: sql.Composable = NO_JOINS) -> None:
        """A layer adding columns to everything below."""
        self.query = sql.SQL("SELECT h.*, {} FROM ({}) h {}").format(sql.SQL(", ").join(extra), self.query, joins)

    def fired(self, finding: Finding) -> sql.Composable:
        return sql.SQL("h.{} IS NOT NULL").format(sql.Identifier(finding.slot))

    def applied(self, fix_rules: list[tuple[Finding, tuple]], flags: list[Finding] | None = None) -> None:
        """A layer carrying out fixes (each change's before and after kept in slots) and collecting flags."""
        below = list(self.slots)
        by_column: dict[str, list[tuple[Finding, str]]] = {}
        extra: list[sql.Composable] = []
        for finding, fixes in fix_rules:
            for column, expr in fixes:
                by_column.setdefault(column, []).append((finding, expr))
                before, after = self.slot("b"), self.slot("a")
                finding.logged.append((column, before, after))
                extra += [
                    sql.SQL("CASE WHEN {} THEN h.{}::text END AS {}").format(
                        self.fired(finding), sql.Identifier(column), sql.Identifier(before)
                    ),
                    sql.SQL("CASE WHEN {} THEN ({})::text END AS {}").format(
                        self.fired(finding), sql.SQL(expr), sql.Identifier(after)
                    ),
                ]
        columns = []
        for c in self.spec.columns:
            value = sql.SQL("h.{}").format(sql.Identifier(c.name))
            for finding, expr in reversed(by_column.get(c.name, [])):
                value = sql.SQL("CASE WHEN {} THEN ({})::{} ELSE {} END").format(
                    self.fired(finding), sql.SQL(expr), sql.SQL(c.pg_type), value
                )
            columns.append(sql.SQL("{} AS {}").format(value, sql.Identifier(c.name)))
        if flags is not None:
            # The array is built only on a row with a flag (a few in a hundred), not built and emptied on every row;
            # the result is the same (null where no flag fired).
            items = [sql.SQL("CASE WHEN {} THEN {} END").format(self.fired(f), sql.Literal(f.rule_id)) for f in flags]
            extra.append(
                sql.SQL("CASE WHEN {} THEN array_remove(ARRAY[{}]::text[], NULL) END AS _flags").format(
                    sql.SQL(" OR ").join(self.fired(f) for f in flags), sql.SQL(", ").join(items)
                )
                if items
                else sql.SQL("NULL::text[] AS _flags")
            )
        carried = [sql.SQL("h.{}").format(sql.Identifier(s)) for s in below]
        self.query = sql.SQL("SELECT h._source_row, {} FROM ({}) h").format(
            sql.SQL(", ").join(columns + carried + extra), self.query
        )


def _rule_value(rule: Rule) -> sql.Composable:
    guard = [j.matched for j in rule.joins if j.required] + [f"({rule.where})"]
    return sql.SQL("CASE WHEN {} THEN coalesce(({})::text, {}) END").format(
        sql.SQL(" AND ".join(guard)), sql.SQL(rule.message or "NULL"), sql.Literal(rule.id)
    )


def plan_scan(
    spec: TableSpec,
    raw_types: dict[str, str],
    checks: list[FieldCheck],
    rules: list[Rule],
    source: sql.Composable | None = None,
) -> ScanPlan:
    """The work rows of one table (read from `source`, raw.<table> unless given): typed, normalised, checked
    against every field and row rule, fixed."""
    b = _Builder(spec)
    # Layer 1: the spec's types; a value that does not cast is a type error.
    typed: list[sql.Composable] = [sql.SQL("r._source_row"), sql.SQL("r._escaped")]  # _escaped: until the fixes
    cast_slots: dict[str, str] = {}
    for c in spec.columns:
        expr, failed = _cast(c.name, raw_types.get(c.name), c.kind)
        typed.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(c.name)))
        if failed is not None:
            finding = Finding(f"{spec.name}.{c.name}.type", c.name, "quarantine", b.slot("t"))
            cast_slots[c.name] = finding.slot
            b.findings.append(finding)
            typed.append(
                sql.SQL("CASE WHEN {} THEN {} END AS {}").format(
                    failed, sql.Literal(f"must be of {KINDS[c.kind][2]} type"), sql.Identifier(finding.slot)
                )
            )
        if c.kind == "float":  # NaN and infinities are no amount or score: they would poison every sum
            finding = Finding(f"{spec.name}.{c.name}.finite", c.name, "quarantine", b.slot("t"))
            b.findings.append(finding)
            typed.append(
                sql.SQL("CASE WHEN {} IN ('NaN', 'Infinity', '-Infinity') THEN {} END AS {}").format(
                    expr, sql.Literal("must be a finite number"), sql.Identifier(finding.slot)
                )
            )
    b.query = sql.SQL("SELECT {} FROM {} r").format(sql.SQL(", ").join(typed), source or qualified("raw", spec.name))

    # Layers 2-3: NUL given back, then the normalising fixes, which the field and row rules then see.
    for phase in ("unescape", "normalise"):
        normalise = [r for r in rules if r.fused and r.phase == phase]
        if normalise:
            found = [_finding(b, r) for r in normalise]
            b.layer(
                [
                    sql.SQL("{} AS {}").format(_rule_value(r), sql.Identifier(f.slot))
                    for r, f in zip(normalise, found, strict=True)
                ]
            )
            b.applied([(f, r.fixes) for r, f in zip(normalise, found, strict=True) if r.action == "fix"])

    # Layer 4: the compiled Cerberus field rules (a failed cast is reported as a type error, not as a null).
    field_found = []
    compiled = [c for c in checks if c.compiled]
    if compiled:
        values = []
        for check in compiled:
            predicate = check.predicate
            if predicate is None:  # never: compiled means it has one (said for the type checker)
                continue
            policy = field_policy(check.rule_id)
            finding = Finding(check.rule_id, check.column, policy.action, b.slot("m"))
            field_found.append((finding, policy.fixes))
            if check.rule == "nullable" and check.column in cast_slots:
                predicate = sql.SQL("{} AND {} IS NULL").format(predicate, sql.Identifier(cast_slots[check.column]))
            values.append(
                sql.SQL("CASE WHEN {} THEN {} END AS {}").format(predicate, check.message, sql.Identifier(finding.slot))
            )
        b.findings += [f for f, _ in field_found]
        b.layer(values)

    # Layer 5: row rules, reading clean parents through left joins.
    checked = [r for r in rules if r.fused and r.phase == "check"]
    joins: dict[str, Join] = {}
    values, rule_found = [], []
    for rule in checked:
        finding = _finding(b, rule)
        rule_found.append((finding, rule.fixes))
        values.append(sql.SQL("{} AS {}").format(_rule_value(rule), sql.Identifier(finding.slot)))
        if rule.detail:
            finding.detail_slot = b.slot("d")
            values.append(
                sql.SQL("CASE WHEN {} THEN {} END AS {}").format(
                    sql.SQL(f"({rule.where})"), sql.SQL(rule.detail), sql.Identifier(finding.detail_slot)
                )
            )
        for j in rule.joins:
            assert joins.setdefault(j.alias, j) == j or joins[j.alias].on == j.on, (rule.id, j.alias)
    if values:
        b.layer(
            values,
            sql.SQL(" ").join(
                sql.SQL("LEFT JOIN {} {} ON {}").format(sql.SQL(j.table), sql.SQL(j.alias), sql.SQL(j.on))
                for j in joins.values()
            ),
        )

    # Layer 6: the field and row rules' fixes, and their flags.
    fixes = [(f, fx) for f, fx in field_found + rule_found if f.action == "fix"]
    _check_fix_columns(spec, fixes)
    b.applied(fixes, flags=[f for f, _ in field_found + rule_found if f.action == "flag"])
    return ScanPlan(b.query, b.findings)


def _finding(b: _Builder, rule: Rule) -> Finding:
    finding = Finding(rule.id, rule.fixes[0][0] if rule.fixes else None, rule.action, b.slot("m"))
    b.findings.append(finding)
    return finding


def _check_fix_columns(spec: TableSpec, fixes: list[tuple[Finding, tuple]]) -> None:
    """Fixes applied together must not both change one column, unless they can never fire together."""
    writers: dict[str, list[str]] = {}
    for finding, fx in fixes:
        for column, _ in fx:
            writers.setdefault(column, []).append(finding.rule_id)
    for column, ids in writers.items():
        exclusive = {f"{spec.name}.{column}.min", f"{spec.name}.{column}.max"}
        assert len(ids) == 1 or set(ids) <= exclusive, f"{spec.name}.{column} is fixed by {ids} in one step"


def idle_rules(cur, source: sql.Composable, raw_types: dict[str, str], rules: list[Rule]) -> set[str]:
    """The probed rules (synonyms) that fire on no source row (the staged delivery, or raw): asked of it in one
    parallel pass for all of them.

    Left in the scan they would cost more than this pass: PostgreSQL flattens the scan's layers, so a fixed
    column's CASE is copied into every rule above that reads the column (measured at scale 1.0: one synonym rule
    of payments made its scan 20% slower). A table with escaped NUL values is not probed (raw is not yet what
    the rules see); the caller then keeps every rule.
    """
    probed = [r for r in rules if r.probed and r.where is not None and raw_types.get(r.fixes[0][0]) == "text"]
    if not probed:
        return set()
    cur.execute(
        sql.SQL("SELECT ARRAY[{}] FROM {} h").format(
            sql.SQL(", ").join(sql.SQL("coalesce(bool_or({}), false)").format(sql.SQL(str(r.where))) for r in probed),
            source,
        )
    )
    return {r.id for r, fires in zip(probed, cur.fetchone()[0], strict=True) if not fires}
