"""Rule types and builders: field-rule policies, and the SQL row, cross-row and cross-table rule makers."""

from __future__ import annotations

from dataclasses import dataclass

from ..tables import TableSpec

ACTIONS = ("fix", "quarantine", "flag")
PHASES = ("unescape", "normalise", "check", "survivors")


@dataclass(frozen=True)
class Join:
    """A parent table a row rule reads, as `alias`; `key` is a column of it that is never null in a matched row."""

    alias: str
    table: str
    on: str
    key: str
    required: bool = True  # the rule holds only for rows that have a match

    @property
    def matched(self) -> str:
        return f'{self.alias}."{self.key}" IS NOT NULL'


@dataclass(frozen=True)
class Rule:
    """A SQL rule over one table's typed rows.

    `sql` selects the violating rows as (source_row, message, survivor_key) from {rows}, the typed rows being
    healed (alias h); {held} holds the rows quarantined so far. A fix rule sets `fixes`: (column, SQL
    expression over h) pairs applied together where the rule holds, each change logged in quality.heal_log.
    `normalise` rules run before the field rules, `check` rules after them, `survivors` rules last and only
    over rows not already quarantined (duplicates, overlaps). `detects` names the generator's defect kind.

    A row rule also has `where` and `message` (SQL over h and its `joins`): healing evaluates all row rules
    of a phase in one scan instead of running `sql` once per rule; `sql` says the same thing on its own.
    A rule with `takes_from` (orphan rule id, raw parent, key text over p, message over the finding f) takes
    over the rows that rule found whose key is in the raw parent: the parent row exists but was quarantined.
    """

    id: str
    table: str
    description: str
    action: str
    sql: str
    phase: str = "check"
    severity: str = "error"
    fixes: tuple[tuple[str, str], ...] = ()
    detects: str | None = None
    warn_if: float | None = None  # share of rows above which the run logs a warning
    error_if: float | None = None  # share of rows above which the run fails and nothing is written
    where: str | None = None
    message: str | None = None
    joins: tuple[Join, ...] = ()
    detail: str | None = None  # SQL over h kept with each finding (the key a takes_from rule looks up)
    takes_from: tuple[str, str, str, str] | None = None
    # A normalise rule whose `where` reads only its own column, a text column of raw: a heal asks raw first, in
    # one pass for all such rules of a table, and leaves a rule out of the scan when it fires on no row.
    probed: bool = False
    # A survivors rule: SQL over h giving what ties a row to the others it is compared with (a duplicate's key); an
    # incremental heal compares new rows with the clean rows that share it. None: only a full heal runs the rule.
    context: str | None = None

    def __post_init__(self):
        assert self.action in ACTIONS and self.phase in PHASES, self.id
        assert (self.action == "fix") == bool(self.fixes), self.id
        assert self.where is None or self.phase != "survivors", self.id
        assert not (self.joins and self.phase in ("unescape", "normalise")), self.id
        assert not self.probed or (self.phase == "normalise" and self.where and len(self.fixes) == 1), self.id

    @property
    def fused(self) -> bool:
        """Evaluated with the other row rules of its phase in one scan."""
        return self.where is not None


@dataclass(frozen=True)
class FieldPolicy:
    """What a failing Cerberus field rule does (the default: quarantine the row)."""

    action: str = "quarantine"
    fixes: tuple[tuple[str, str], ...] = ()
    detects: str | None = None
    severity: str = "error"
    warn_if: float | None = None
    error_if: float | None = None


FIELD_POLICIES: dict[str, FieldPolicy] = {
    "customers.risk_score.min": FieldPolicy("fix", (("risk_score", "0"),), "risk_score_out_of_range"),
    "customers.risk_score.max": FieldPolicy("fix", (("risk_score", "100"),), "risk_score_out_of_range"),
    "policies.premium_amount.min": FieldPolicy(
        "fix", (("premium_amount", "abs(h.premium_amount)"),), "negative_premium"
    ),
    "claims.fraud_flag.nullable": FieldPolicy("fix", (("fraud_flag", "false"),), "null_fraud_flag", "warn"),
    "payments.success_flag.nullable": FieldPolicy("fix", (("success_flag", "false"),), "null_success_flag", "warn"),
}
# What the contract's conventions do by default: a value of another id shape is held back, an unknown value of a
# vocabulary is flagged (quarantined where the contract says `strict: true`), a malformed e-mail is flagged.
CONVENTION_POLICIES = {
    "regex": FieldPolicy("quarantine"),
    "allowed": FieldPolicy("flag", severity="warn"),
    "email": FieldPolicy("flag", severity="warn"),
}
DETECTS = {"customers.email.email": "malformed_email"}
# Every quarantining rule has thresholds, so that no run quarantines most of a table in silence: warn above
# 5% of the rows, fail above half of them (the contract's `rules` and luigi.cfg [quality_thresholds] override).
DEFAULT_WARN_IF, DEFAULT_ERROR_IF = 0.05, 0.5
# Rows held because their parent was, and all held rows of a table together, are many in any real delivery.
PARENT_HELD_WARN_IF, ROWS_HELD_WARN_IF = 0.25, 0.3


def field_policy(rule_id: str) -> FieldPolicy:
    """What a failing field rule does: the product's fix where it has one, else the contract's or the default."""
    if rule_id in FIELD_POLICIES:
        return FIELD_POLICIES[rule_id]
    from .contract import load

    table, column, rule = rule_id.split(".", 2)
    policy = CONVENTION_POLICIES.get(rule, FieldPolicy())
    contract = load(table)
    if rule == "allowed" and contract.column(column).strict:
        policy = FieldPolicy("quarantine")
    setting = contract.rules.get(rule_id)
    if setting and setting.action and rule in CONVENTION_POLICIES:
        policy = FieldPolicy(setting.action, severity="error" if setting.action == "quarantine" else "warn")
    return FieldPolicy(
        policy.action,
        policy.fixes,
        DETECTS.get(rule_id, policy.detects),
        policy.severity,
        policy.warn_if,
        policy.error_if,
    )


def synonym_rules(spec: TableSpec) -> list[Rule]:
    """Per vocabulary column of the contract: a variant of a value (other case, spaces, a synonym) is set to it."""
    import json

    from .contract import SPACES, fold, load

    contract = load(spec.name)
    rules = []
    for column in spec.columns:
        c = contract.column(column.name)
        if not c.values:
            continue
        mapping = {fold(v): v for v in c.values} | dict(c.synonyms)
        folded_value = f'lower(btrim(h."{column.name}", {sql_literal(SPACES)}))'  # as contract.fold does it
        lookup = f"({sql_literal(json.dumps(mapping, ensure_ascii=False))}::jsonb ->> {folded_value})"
        known = ", ".join(sql_literal(v) for v in c.values)
        rules.append(
            row_rule(
                spec.name,
                f"{column.name}.synonym",
                f"{column.name} is a variant or synonym of a value of its vocabulary; it is set to that value",
                "fix",
                f'h."{column.name}" <> ALL(ARRAY[{known}]) AND {lookup} IS NOT NULL',
                f"'{column.name} ' || h.\"{column.name}\" || ' is ' || {lookup}",
                phase="normalise",
                severity="info",
                fixes=((column.name, lookup),),
                probed=True,
            )
        )
    return rules


def folded(expr: str) -> str:
    """Text compared without case, as Python's casefold does it: PostgreSQL lower-cases a final capital sigma to
    'σ' where a lower-case word ends in 'ς' (a Greek name written in capitals would not match itself)."""
    return f"translate(lower({expr}), 'ς', 'σ')"


def sql_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported PostgreSQL)."""
    return "'" + text.replace("'", "''") + "'"


def _key_text(names, alias="h") -> str:
    return " || '|' || ".join(f'{alias}."{n}"::text' for n in names)


def duplicate_rule(
    spec: TableSpec,
    key: tuple[str, ...],
    rule: str,
    detects: str | None,
    normalised: tuple[str, ...] | None = None,
    order: str = "h._source_row",
) -> Rule:
    """Rows repeating another row's key: the first (by `order`) survives, the others point to it."""
    label = ", ".join(key)
    partition = ", ".join(normalised or [f'h."{k}"' for k in key])
    # The window runs only over keys seen more than once: a hash aggregate over all rows finds them cheaply,
    # and only the rows with such a key are checked against the held rows.
    return Rule(
        id=f"{spec.name}.{rule}",
        table=spec.name,
        action="quarantine",
        phase="survivors",
        detects=detects,
        context=partition,
        description=f"another row has the same {label}; the first one is kept and this one points to it",
        sql=f"""
            WITH repeated AS (
                SELECT {partition} FROM {{rows}} h GROUP BY {partition} HAVING count(*) > 1),
            alive AS (
                SELECT h.* FROM {{rows}} h
                WHERE ({partition}) IN (SELECT * FROM repeated)
                  AND NOT EXISTS (SELECT 1 FROM {{held}} q WHERE q.source_row = h._source_row))
            SELECT source_row, 'duplicate of ' || first_key, first_key FROM (
                SELECT h._source_row AS source_row,
                       first_value({_key_text(spec.primary_key)}) OVER w AS first_key,
                       row_number() OVER w AS n
                FROM alive h
                WINDOW w AS (PARTITION BY {partition} ORDER BY {order})) d
            WHERE n > 1""",
    )


def parent_alias(fk_columns: tuple[str, ...]) -> str:
    """The alias under which row rules read the clean parent row of a foreign key (e.g. parent_policy_id)."""
    return "parent_" + "_".join(fk_columns)


def parent_join(spec: TableSpec, fk_columns: tuple[str, ...], required: bool = True) -> Join:
    fk = next(f for f in spec.foreign_keys if f.columns == fk_columns)
    alias = parent_alias(fk.columns)
    on = " AND ".join(f'{alias}."{r}" = h."{c}"' for c, r in zip(fk.columns, fk.ref_columns, strict=True))
    return Join(alias, f'clean."{fk.ref_table}"', on, fk.ref_columns[0], required)


def reference_rules(spec: TableSpec) -> list[Rule]:
    """Per hard foreign key: a value that no source row has (orphan), or whose row was quarantined."""
    rules = []
    for fk in spec.foreign_keys:
        if fk.soft:
            continue
        cols = "_".join(fk.columns)
        present = " AND ".join(f'h."{c}" IS NOT NULL' for c in fk.columns)
        in_clean = " AND ".join(f'p."{r}" = h."{c}"' for c, r in zip(fk.columns, fk.ref_columns, strict=True))
        in_raw = " AND ".join(f'p."{r}"::text = h."{c}"::text' for c, r in zip(fk.columns, fk.ref_columns, strict=True))
        missing = f'NOT EXISTS (SELECT 1 FROM clean."{fk.ref_table}" p WHERE {in_clean})'
        detects = {
            "customers": "orphan_customer",
            "policies": "orphan_policy",
            "payment_methods": "unknown_payment_method",
        }.get(fk.ref_table)
        join = parent_join(spec, fk.columns, required=False)
        orphan_id = f"{spec.name}.orphan_{cols}"
        rules.append(
            Rule(
                id=orphan_id,
                table=spec.name,
                action="quarantine",
                detects=detects,
                description=f"{', '.join(fk.columns)} matches no row of the {fk.ref_table} source",
                sql=f"""SELECT h._source_row, 'no {fk.ref_table} with {", ".join(fk.ref_columns)} = '
                           || {_key_text(fk.columns)}, NULL
                    FROM {{rows}} h WHERE {present} AND {missing}
                      AND NOT EXISTS (SELECT 1 FROM raw."{fk.ref_table}" p WHERE {in_raw})""",
                where=f"{present} AND NOT ({join.matched})",
                joins=(join,),
                detail=_key_text(fk.columns),
                message=f"'no {fk.ref_table} with {', '.join(fk.ref_columns)} = ' || {_key_text(fk.columns)}",
            )
        )
        rules.append(
            Rule(
                id=f"{spec.name}.parent_held_{cols}",
                table=spec.name,
                action="quarantine",
                warn_if=PARENT_HELD_WARN_IF,
                description=f"the {fk.ref_table} row that {', '.join(fk.columns)} refers to is in quarantine",
                sql=f"""SELECT h._source_row, '{fk.ref_table} ' || {_key_text(fk.columns)} || ' is in quarantine', NULL
                    FROM {{rows}} h WHERE {present} AND {missing}
                      AND EXISTS (SELECT 1 FROM raw."{fk.ref_table}" p WHERE {in_raw})""",
                takes_from=(
                    orphan_id,
                    f'raw."{fk.ref_table}"',
                    _key_text(fk.ref_columns, "p"),
                    f"'{fk.ref_table} ' || f.detail || ' is in quarantine'",
                ),
            )
        )
    return rules


def updated_before_created(spec: TableSpec) -> list[Rule]:
    if "updated_at" not in spec.column_names or "created_at" not in spec.column_names:
        return []
    return [
        row_rule(
            spec.name,
            "updated_before_created",
            "updated_at is earlier than created_at; it is set to created_at",
            "fix",
            "h.updated_at < h.created_at",
            "'updated_at ' || h.updated_at || ' before created_at ' || h.created_at",
            severity="warn",
            detects="updated_before_created",
            fixes=(("updated_at", "h.created_at::timestamp"),),
        )
    ]


def nul_removed(spec: TableSpec) -> list[Rule]:
    """Text that held NUL, which PostgreSQL text cannot: ingest stored it escaped (NUL as \\0, backslash doubled)
    and named the column in _escaped; healing gives the value back without its NUL characters, and logs it."""
    texts = [c.name for c in spec.columns if c.kind == "text"]
    if not texts:
        return []
    # Split on the escaped backslash, drop the escaped NULs from each piece, join with a plain backslash.
    unescape = (
        "array_to_string(ARRAY(SELECT replace(p, '\\0', '') FROM unnest(string_to_array(h.\"{0}\", '\\\\')) p), '\\')"
    )
    fixes = tuple((c, f"CASE WHEN '{c}' = ANY(h._escaped) THEN {unescape.format(c)} ELSE h.\"{c}\" END") for c in texts)
    listed = ", ".join(f"'{c}'" for c in texts)
    escaped = f"ARRAY(SELECT unnest(h._escaped) INTERSECT SELECT unnest(ARRAY[{listed}]))"
    # On its own (`sql`), over rows that lack _escaped: a value still equal to its escaped raw one is unfixed.
    unfixed = " OR ".join(f'(\'{c}\' = ANY(r._escaped) AND h."{c}" = r."{c}")' for c in texts)
    return [
        Rule(
            id=f"{spec.name}.nul_removed",
            table=spec.name,
            action="fix",
            phase="unescape",
            severity="info",
            description="text held NUL characters, which PostgreSQL cannot store; they are removed",
            sql=f"""SELECT h._source_row, 'NUL in ' || array_to_string(r._escaped, ', '), NULL FROM {{rows}} h
                         JOIN {{raw}} r ON r._source_row = h._source_row WHERE {unfixed}""",
            where=f"h._escaped && ARRAY[{listed}]",
            message=f"'NUL removed from ' || array_to_string({escaped}, ', ')",
            fixes=fixes,
        )
    ]


def row_rule(table: str, name: str, description: str, action: str, where: str, message: str, **kw) -> Rule:
    """A rule over single rows (optionally joined to clean parents via `joins`, which must match)."""
    joins = kw.pop("joins", ())
    inner = " ".join(f"JOIN {j.table} {j.alias} ON {j.on}" for j in joins)
    return Rule(
        id=f"{table}.{name}",
        table=table,
        description=description,
        action=action,
        sql=f"SELECT h._source_row, {message}, NULL FROM {{rows}} h {inner} WHERE {where}",
        where=where,
        message=message,
        joins=joins,
        **kw,
    )
