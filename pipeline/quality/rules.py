"""The rule catalog: what each field rule does when it fails, and the SQL row, cross-row and cross-table rules."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..tables import TABLES, TableSpec

ACTIONS = ("fix", "quarantine", "flag")
PHASES = ("normalise", "check", "survivors")


@dataclass(frozen=True)
class Rule:
    """A SQL rule over one table's typed rows.

    `sql` selects the violating rows as (source_row, message, survivor_key) from {rows}, the typed rows being
    healed (alias h); {held} holds the rows quarantined so far. A fix rule sets `fixes`: (column, SQL
    expression over h) pairs applied together where the rule holds, each change logged in quality.heal_log.
    `normalise` rules run before the field rules, `check` rules after them, `survivors` rules last and only
    over rows not already quarantined (duplicates, overlaps). `detects` names the generator's defect kind.
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
    warn_if: float | None = None   # share of rows above which the run logs a warning
    error_if: float | None = None  # share of rows above which the run fails and nothing is written

    def __post_init__(self):
        assert self.action in ACTIONS and self.phase in PHASES, self.id
        assert (self.action == "fix") == bool(self.fixes), self.id


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
    "customers.email.regex": FieldPolicy("flag", detects="malformed_email", severity="warn"),
    "customers.risk_score.min": FieldPolicy("fix", (("risk_score", "0"),), "risk_score_out_of_range"),
    "customers.risk_score.max": FieldPolicy("fix", (("risk_score", "100"),), "risk_score_out_of_range"),
    "policies.premium_amount.min": FieldPolicy("fix", (("premium_amount", "abs(h.premium_amount)"),),
                                               "negative_premium"),
    "claims.fraud_flag.nullable": FieldPolicy("fix", (("fraud_flag", "false"),), "null_fraud_flag", "warn"),
    "payments.success_flag.nullable": FieldPolicy("fix", (("success_flag", "false"),), "null_success_flag", "warn"),
}


def field_policy(rule_id: str) -> FieldPolicy:
    return FIELD_POLICIES.get(rule_id, FieldPolicy())


def _key_text(names, alias="h") -> str:
    return " || '|' || ".join(f'{alias}."{n}"::text' for n in names)


def duplicate_rule(spec: TableSpec, key: tuple[str, ...], rule: str, detects: str | None,
                   normalised: tuple[str, ...] | None = None, order: str = "h._source_row") -> Rule:
    """Rows repeating another row's key: the first (by `order`) survives, the others point to it."""
    label = ", ".join(key)
    partition = ", ".join(normalised or [f'h."{k}"' for k in key])
    # The window runs only over keys seen more than once: a hash aggregate finds them cheaply.
    return Rule(
        id=f"{spec.name}.{rule}", table=spec.name, action="quarantine", phase="survivors", detects=detects,
        description=f"another row has the same {label}; the first one is kept and this one points to it",
        sql=f"""
            WITH alive AS (
                SELECT h.* FROM {{rows}} h
                WHERE NOT EXISTS (SELECT 1 FROM {{held}} q WHERE q.source_row = h._source_row)),
            repeated AS (
                SELECT {partition} FROM alive h GROUP BY {partition} HAVING count(*) > 1)
            SELECT source_row, 'duplicate of ' || first_key, first_key FROM (
                SELECT h._source_row AS source_row,
                       first_value({_key_text(spec.primary_key)}) OVER w AS first_key,
                       row_number() OVER w AS n
                FROM alive h
                WHERE ({partition}) IN (SELECT * FROM repeated)
                WINDOW w AS (PARTITION BY {partition} ORDER BY {order})) d
            WHERE n > 1""",
    )


def reference_rules(spec: TableSpec) -> list[Rule]:
    """Per hard foreign key: a value that no source row has (orphan), or whose row was quarantined."""
    rules = []
    for fk in spec.foreign_keys:
        if fk.soft:
            continue
        cols = "_".join(fk.columns)
        present = " AND ".join(f'h."{c}" IS NOT NULL' for c in fk.columns)
        in_clean = " AND ".join(f'p."{r}" = h."{c}"' for c, r in zip(fk.columns, fk.ref_columns))
        in_raw = " AND ".join(f'p."{r}"::text = h."{c}"::text' for c, r in zip(fk.columns, fk.ref_columns))
        missing = f'NOT EXISTS (SELECT 1 FROM clean."{fk.ref_table}" p WHERE {in_clean})'
        detects = {"customers": "orphan_customer", "policies": "orphan_policy",
                   "payment_methods": "unknown_payment_method"}.get(fk.ref_table)
        rules.append(Rule(
            id=f"{spec.name}.orphan_{cols}", table=spec.name, action="quarantine", detects=detects,
            description=f"{', '.join(fk.columns)} matches no row of the {fk.ref_table} source",
            sql=f"""SELECT h._source_row, 'no {fk.ref_table} with {', '.join(fk.ref_columns)} = '
                           || {_key_text(fk.columns)}, NULL
                    FROM {{rows}} h WHERE {present} AND {missing}
                      AND NOT EXISTS (SELECT 1 FROM raw."{fk.ref_table}" p WHERE {in_raw})"""))
        rules.append(Rule(
            id=f"{spec.name}.parent_held_{cols}", table=spec.name, action="quarantine",
            description=f"the {fk.ref_table} row that {', '.join(fk.columns)} refers to is in quarantine",
            sql=f"""SELECT h._source_row, '{fk.ref_table} ' || {_key_text(fk.columns)} || ' is in quarantine', NULL
                    FROM {{rows}} h WHERE {present} AND {missing}
                      AND EXISTS (SELECT 1 FROM raw."{fk.ref_table}" p WHERE {in_raw})"""))
    return rules


def updated_before_created(spec: TableSpec) -> list[Rule]:
    if "updated_at" not in spec.column_names or "created_at" not in spec.column_names:
        return []
    return [Rule(
        id=f"{spec.name}.updated_before_created", table=spec.name, action="fix", severity="warn",
        detects="updated_before_created", fixes=(("updated_at", "h.created_at::timestamp"),),
        description="updated_at is earlier than created_at; it is set to created_at",
        sql="""SELECT h._source_row, 'updated_at ' || h.updated_at || ' before created_at ' || h.created_at, NULL
               FROM {rows} h WHERE h.updated_at < h.created_at""")]


def _rule(table: str, name: str, description: str, action: str, where: str, message: str, **kw) -> Rule:
    """A rule over single rows (optionally joined to clean parents via `joins`)."""
    joins = kw.pop("joins", "")
    return Rule(id=f"{table}.{name}", table=table, description=description, action=action,
                sql=f"SELECT h._source_row, {message}, NULL FROM {{rows}} h {joins} WHERE {where}", **kw)


POLICY = 'JOIN clean.policies p ON p.policy_id = h.policy_id'

TABLE_RULES: dict[str, list[Rule]] = {
    "customers": [
        _rule("customers", "email_normalised", "email has capitals or surrounding spaces; it is lower-cased and "
              "trimmed", "fix", "h.email <> lower(btrim(h.email))", "'email ' || h.email || ' normalised'",
              phase="normalise", severity="info", fixes=(("email", "lower(btrim(h.email))"),)),
        _rule("customers", "login_before_signup", "last_login is before the customer signed up; it is cleared",
              "fix", "h.last_login < h.created_at", "'last_login ' || h.last_login || ' before created_at'",
              severity="warn", fixes=(("last_login", "NULL"),), detects="login_before_signup"),
    ],
    "policies": [
        _rule("policies", "currency_normalised", "currency code in lower case or with spaces; it is normalised",
              "fix", "h.currency <> upper(btrim(h.currency))", "'currency ' || h.currency || ' normalised'",
              phase="normalise", severity="info", fixes=(("currency", "upper(btrim(h.currency))"),),
              detects="unknown_currency"),
        _rule("policies", "unknown_currency", "currency has no rate in currency_rates", "quarantine",
              "NOT EXISTS (SELECT 1 FROM clean.currency_rates r WHERE r.currency = h.currency)",
              "'unknown currency ' || h.currency", detects="unknown_currency"),
        _rule("policies", "end_before_start", "end_date is before start_date; the two are swapped", "fix",
              "h.end_date < h.start_date", "'end_date ' || h.end_date || ' before start_date ' || h.start_date",
              fixes=(("start_date", "h.end_date"), ("end_date", "h.start_date")), detects="end_before_start"),
        _rule("policies", "coverage_above_type_max", "coverage above the policy type's maximum coverage", "flag",
              "h.coverage_amount > t.max_coverage",
              "'coverage ' || h.coverage_amount || ' above the ' || t.type_name || ' maximum ' || t.max_coverage",
              joins="JOIN clean.policy_types t ON t.type_name = h.policy_type", severity="warn",
              detects="coverage_above_type_max"),
    ],
    "claims": [
        _rule("claims", "outside_policy_period", "claim_date outside its policy's start and end dates",
              "quarantine", "h.claim_date NOT BETWEEN p.start_date AND p.end_date",
              "'claim_date ' || h.claim_date || ' outside ' || p.start_date || '..' || p.end_date",
              joins=POLICY, detects="claim_outside_policy_period"),
        _rule("claims", "above_coverage", "claim_amount above its policy's coverage_amount", "flag",
              "h.claim_amount > p.coverage_amount",
              "'claim_amount ' || h.claim_amount || ' above coverage ' || p.coverage_amount",
              joins=POLICY, severity="warn", detects="claim_above_coverage"),
        _rule("claims", "resolved_before_filed", "resolved_date before claim_date", "quarantine",
              "h.resolved_date < h.claim_date",
              "'resolved_date ' || h.resolved_date || ' before claim_date ' || h.claim_date",
              detects="claim_resolved_before_filed"),
    ],
    "payments": [
        _rule("payments", "cancelled_policy", "premium payment dated after its cancelled policy ended",
              "quarantine", "h.claim_id IS NULL AND p.status = 'Cancelled' AND h.transaction_date::date > p.end_date",
              "'payment on ' || h.transaction_date::date || ' after policy cancelled on ' || p.end_date",
              joins=POLICY, detects="payment_for_cancelled_policy"),
        _rule("payments", "before_claim_resolved", "claim payout dated before the claim was resolved",
              "quarantine", "h.transaction_date::date < c.resolved_date OR c.resolved_date IS NULL",
              "'payout on ' || h.transaction_date::date || ' but claim resolved ' || coalesce(c.resolved_date::text, "
              "'never')", joins="JOIN clean.claims c ON c.claim_id = h.claim_id",
              detects="payment_before_claim_resolved"),
        _rule("payments", "refund_above_amount", "refunded_amount above the amount paid", "quarantine",
              "h.refunded_amount > h.amount", "'refund ' || h.refunded_amount || ' above amount ' || h.amount",
              detects="refund_above_amount"),
        _rule("payments", "unknown_currency", "currency has no rate in currency_rates", "quarantine",
              "NOT EXISTS (SELECT 1 FROM clean.currency_rates r WHERE r.currency = h.currency)",
              "'unknown currency ' || h.currency"),
    ],
}

SURVIVOR_RULES: dict[str, list[Rule]] = {
    "customers": [duplicate_rule(
        TABLES["customers"], ("email", "first_name", "last_name", "dob"), "duplicate_person", "duplicate_customer",
        normalised=("lower(btrim(h.email))", "lower(h.first_name)", "lower(h.last_name)", "h.dob"),
        order="h.created_at, h.customer_id")],
    "policies": [
        duplicate_rule(TABLES["policies"], TABLES["policies"].natural_key, "repeated_policy", "duplicate_policy",
                       order="h.created_at, h.policy_id"),
        Rule(id="policies.overlapping_active", table="policies", action="flag", phase="survivors",
             severity="warn", detects="overlapping_active_policy",
             description="an Active policy overlapping an earlier Active policy of the same customer and type",
             sql="""SELECT h._source_row, 'overlaps active policy ' || min(o.policy_id), NULL
                    FROM {rows} h JOIN {rows} o
                      ON o.customer_id = h.customer_id AND o.policy_type = h.policy_type
                     AND o.status = 'Active' AND o.policy_id <> h.policy_id
                     AND o.start_date <= h.end_date AND h.start_date <= o.end_date
                     AND (o.start_date, o.policy_id) < (h.start_date, h.policy_id)
                    WHERE h.status = 'Active'
                      AND NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = h._source_row)
                      AND NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = o._source_row)
                    GROUP BY h._source_row"""),
    ],
}


def table_rules(spec: TableSpec) -> list[Rule]:
    """Every catalog rule of one table, in the order they run within their phase."""
    rules = list(TABLE_RULES.get(spec.name, [])) + updated_before_created(spec) + reference_rules(spec)
    rules.append(duplicate_rule(spec, spec.primary_key, "duplicate_key", "duplicate_key"))
    rules += [duplicate_rule(spec, key, "duplicate_" + "_".join(key), None) for key in spec.unique]
    rules += SURVIVOR_RULES.get(spec.name, [])
    return rules


CATALOG: dict[str, list[Rule]] = {name: table_rules(spec) for name, spec in TABLES.items()}


def heal_parents(table: str) -> list[str]:
    """Tables whose clean rows this table's healing reads: its hard foreign keys and its rules' joins."""
    referenced = {m for rule in CATALOG[table] for m in re.findall(r'clean\."?(\w+)', rule.sql)}
    return sorted((referenced | set(TABLES[table].parents)) - {table})


def heal_descendants(table: str) -> list[str]:
    """Tables whose healing reads this one's clean rows, directly or through others."""
    found, frontier = set(), {table}
    while frontier:
        frontier = {t for t in TABLES if set(heal_parents(t)) & frontier} - found
        found |= frontier
    return sorted(found)
