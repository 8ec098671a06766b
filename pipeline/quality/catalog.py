"""The per-table rule catalog: each table's row, cross-row and survivor rules, and the tables its healing reads."""

from __future__ import annotations

import re

from ..tables import TABLES, TableSpec
from .rules import (
    Join,
    Rule,
    duplicate_rule,
    folded,
    nul_removed,
    parent_alias,
    parent_join,
    reference_rules,
    row_rule,
    updated_before_created,
)


def _parent(table: str, *fk_columns: str) -> tuple[Join]:
    return (parent_join(TABLES[table], fk_columns),)


# Sets of allowed codes are read once per statement (an InitPlan), not looked up row by row.
KNOWN_CURRENCY = "h.currency = ANY(ARRAY(SELECT r.currency FROM clean.currency_rates r))"
POL, CLM = parent_alias(("policy_id",)), parent_alias(("claim_id",))  # a claim's or payment's policy, claim

TABLE_RULES: dict[str, list[Rule]] = {
    "customers": [
        row_rule(
            "customers",
            "email_normalised",
            "email has capitals or surrounding spaces; it is lower-cased and trimmed",
            "fix",
            "h.email <> lower(btrim(h.email))",
            "'email ' || h.email || ' normalised'",
            phase="normalise",
            severity="info",
            fixes=(("email", "lower(btrim(h.email))"),),
        ),
        row_rule(
            "customers",
            "login_before_signup",
            "last_login is before the customer signed up; it is cleared",
            "fix",
            "h.last_login < h.created_at",
            "'last_login ' || h.last_login || ' before created_at'",
            severity="warn",
            fixes=(("last_login", "NULL"),),
            detects="login_before_signup",
        ),
    ],
    "policies": [
        row_rule(
            "policies",
            "currency_normalised",
            "currency code in lower case or with spaces; it is normalised",
            "fix",
            "h.currency <> upper(btrim(h.currency))",
            "'currency ' || h.currency || ' normalised'",
            phase="normalise",
            severity="info",
            fixes=(("currency", "upper(btrim(h.currency))"),),
            detects="unknown_currency",
        ),
        row_rule(
            "policies",
            "unknown_currency",
            "currency has no rate in currency_rates",
            "quarantine",
            f"h.currency IS NULL OR NOT ({KNOWN_CURRENCY})",
            "'unknown currency ' || h.currency",
            detects="unknown_currency",
        ),
        row_rule(
            "policies",
            "end_before_start",
            "end_date is before start_date; the two are swapped",
            "fix",
            "h.end_date < h.start_date",
            "'end_date ' || h.end_date || ' before start_date ' || h.start_date",
            fixes=(("start_date", "h.end_date"), ("end_date", "h.start_date")),
            detects="end_before_start",
        ),
        row_rule(
            "policies",
            "coverage_above_type_max",
            "coverage above the policy type's maximum coverage",
            "flag",
            "h.coverage_amount > t.max_coverage",
            "'coverage ' || h.coverage_amount || ' above the ' || t.type_name || ' maximum ' || t.max_coverage",
            joins=(Join("t", "clean.policy_types", "t.type_name = h.policy_type", "type_name"),),
            severity="warn",
            detects="coverage_above_type_max",
        ),
    ],
    "claims": [
        row_rule(
            "claims",
            "outside_policy_period",
            "claim_date outside its policy's start and end dates",
            "quarantine",
            f"h.claim_date NOT BETWEEN {POL}.start_date AND {POL}.end_date",
            f"'claim_date ' || h.claim_date || ' outside ' || {POL}.start_date || '..' || {POL}.end_date",
            joins=_parent("claims", "policy_id"),
            detects="claim_outside_policy_period",
        ),
        row_rule(
            "claims",
            "above_coverage",
            "claim_amount above its policy's coverage_amount",
            "flag",
            f"h.claim_amount > {POL}.coverage_amount",
            f"'claim_amount ' || h.claim_amount || ' above coverage ' || {POL}.coverage_amount",
            joins=_parent("claims", "policy_id"),
            severity="warn",
            detects="claim_above_coverage",
        ),
        row_rule(
            "claims",
            "resolved_before_filed",
            "resolved_date before claim_date",
            "quarantine",
            "h.resolved_date < h.claim_date",
            "'resolved_date ' || h.resolved_date || ' before claim_date ' || h.claim_date",
            detects="claim_resolved_before_filed",
        ),
    ],
    "payments": [
        row_rule(
            "payments",
            "cancelled_policy",
            "premium payment dated after its cancelled policy ended",
            "quarantine",
            f"h.claim_id IS NULL AND {POL}.status = 'Cancelled' AND h.transaction_date::date > {POL}.end_date",
            f"'payment on ' || h.transaction_date::date || ' after policy cancelled on ' || {POL}.end_date",
            joins=_parent("payments", "policy_id"),
            detects="payment_for_cancelled_policy",
        ),
        row_rule(
            "payments",
            "before_claim_resolved",
            "claim payout dated before the claim was resolved",
            "quarantine",
            f"h.transaction_date::date < {CLM}.resolved_date OR {CLM}.resolved_date IS NULL",
            f"'payout on ' || h.transaction_date::date || ' but claim resolved ' || "
            f"coalesce({CLM}.resolved_date::text, 'never')",
            joins=_parent("payments", "claim_id"),
            detects="payment_before_claim_resolved",
        ),
        row_rule(
            "payments",
            "refund_above_amount",
            "refunded_amount above the amount paid",
            "quarantine",
            "h.refunded_amount > h.amount",
            "'refund ' || h.refunded_amount || ' above amount ' || h.amount",
            detects="refund_above_amount",
        ),
        row_rule(
            "payments",
            "unknown_currency",
            "currency has no rate in currency_rates",
            "quarantine",
            f"h.currency IS NULL OR NOT ({KNOWN_CURRENCY})",
            "'unknown currency ' || h.currency",
        ),
    ],
}

SURVIVOR_RULES: dict[str, list[Rule]] = {
    "customers": [
        duplicate_rule(
            TABLES["customers"],
            ("email", "first_name", "last_name", "dob"),
            "duplicate_person",
            "duplicate_customer",
            normalised=(folded("btrim(h.email)"), folded("h.first_name"), folded("h.last_name"), "h.dob"),
            order="h.created_at, h.customer_id",
        )
    ],
    "policies": [
        duplicate_rule(
            TABLES["policies"],
            TABLES["policies"].natural_key,
            "repeated_policy",
            "duplicate_policy",
            order="h.created_at, h.policy_id",
        ),
        Rule(
            id="policies.overlapping_active",
            table="policies",
            action="flag",
            phase="survivors",
            severity="warn",
            detects="overlapping_active_policy",
            context="h.customer_id, h.policy_type",
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
                    GROUP BY h._source_row""",
        ),
    ],
}


def table_rules(spec: TableSpec) -> list[Rule]:
    """Every catalog rule of one table, in the order they run within their phase."""
    rules = nul_removed(spec) + list(TABLE_RULES.get(spec.name, [])) + updated_before_created(spec)
    rules += reference_rules(spec)
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
    found: set[str] = set()
    frontier = {table}
    while frontier:
        frontier = {t for t in TABLES if set(heal_parents(t)) & frontier} - found
        found |= frontier
    return sorted(found)
