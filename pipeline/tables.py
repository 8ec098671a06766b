"""The eleven source table specs, the facts of the domain (types, keys, ranges): DDL, COPY, rules and app read them;
the conventions of a source system (id shapes, vocabularies) are in the user's contracts/."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

# One kind per logical type: its PostgreSQL type, its Arrow type and its Cerberus type.
KINDS = {
    "text": ("text", pa.string(), "string"),
    "int": ("bigint", pa.int64(), "integer"),
    "float": ("double precision", pa.float64(), "float"),
    "date": ("date", pa.date32(), "date"),
    "timestamp": ("timestamp", pa.timestamp("us"), "datetime"),
    "bool": ("boolean", pa.bool_(), "boolean"),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    rules: dict = field(default_factory=dict)  # extra Cerberus rules: min, max, allowed, regex, ...

    @property
    def pg_type(self) -> str:
        return KINDS[self.kind][0]

    @property
    def arrow_type(self) -> pa.DataType:
        return KINDS[self.kind][1]

    def cerberus(self) -> dict:
        return {"type": KINDS[self.kind][2], "required": True, "nullable": self.nullable, **self.rules}


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    # A soft key is checked and flagged, never enforced as a constraint (branches <-> agents is a cycle).
    soft: bool = False

    @property
    def name(self) -> str:
        return f"{'_'.join(self.columns)}_{self.ref_table}"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    natural_key: tuple[str, ...] = ()  # identifies the same real-world thing under two keys
    unique: tuple[tuple[str, ...], ...] = ()  # referenced by a foreign key, other than the primary key

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def cerberus_schema(self) -> dict:
        return {c.name: c.cerberus() for c in self.columns}

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns])

    @property
    def parents(self) -> list[str]:
        """Tables this one must be healed after (hard foreign keys only)."""
        return sorted({fk.ref_table for fk in self.foreign_keys if not fk.soft and fk.ref_table != self.name})


def _audit() -> tuple[Column, ...]:
    return (
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
        Column("created_by", "text"),
        Column("updated_by", "text"),
    )


C = Column
FK = ForeignKey

CUSTOMERS = TableSpec(
    "customers",
    (
        C("customer_id", "text"),
        C("first_name", "text", rules={"minlength": 1}),
        C("last_name", "text", rules={"minlength": 1}),
        C("gender", "text"),
        C("dob", "date"),
        C("age", "int", rules={"min": 18, "max": 110}),
        C("email", "text"),
        C("phone", "text", nullable=True),
        C("address", "text"),
        C("city", "text"),
        C("state", "text"),
        C("zip", "text"),
        C("created_at", "timestamp"),
        C("last_login", "timestamp", nullable=True),
        C("risk_score", "float", rules={"min": 0.0, "max": 100.0}),
        C("customer_status", "text"),
        C("segment", "text"),
        C("referral_source", "text", nullable=True),
        C("preferred_contact", "text"),
        C("updated_at", "timestamp"),
        C("created_by", "text"),
        C("updated_by", "text"),
    ),
    primary_key=("customer_id",),
    natural_key=("email", "first_name", "last_name", "dob"),
)

POLICIES = TableSpec(
    "policies",
    (
        C("policy_id", "text"),
        C("customer_id", "text"),
        C("policy_type", "text"),
        C("coverage_amount", "float", rules={"min": 0.0}),
        C("premium_amount", "float", rules={"min": 0.0}),
        C("start_date", "date"),
        C("end_date", "date"),
        C("status", "text"),
        C("branch_code", "text"),
        C("assigned_agent_id", "text"),
        C("payment_frequency", "text"),
        C("renewal_date", "date", nullable=True),
        C("beneficiary_count", "int", rules={"min": 0, "max": 10}),
        C("currency", "text"),
        C("premium_due_date", "date", nullable=True),
        *_audit(),
    ),
    primary_key=("policy_id",),
    foreign_keys=(
        FK(("customer_id",), "customers", ("customer_id",)),
        FK(("policy_type",), "policy_types", ("type_name",)),
        FK(("branch_code",), "branches", ("branch_id",)),
        FK(("assigned_agent_id",), "agents", ("agent_id",)),
    ),
    natural_key=("customer_id", "policy_type", "start_date", "coverage_amount", "premium_amount"),
)

CLAIMS = TableSpec(
    "claims",
    (
        C("claim_id", "text"),
        C("policy_id", "text"),
        C("claim_date", "date"),
        C("claim_type", "text"),
        C("claim_amount", "float", rules={"min": 0.0}),
        C("adjusted_amount", "float", nullable=True, rules={"min": 0.0}),
        C("status", "text"),
        C("resolved_date", "date", nullable=True),
        C("fraud_flag", "bool"),
        C("delay_days", "int", nullable=True, rules={"min": 0}),
        C("approved_by", "text", nullable=True),
        C("notes", "text", nullable=True),
        C("region", "text"),
        *_audit(),
    ),
    primary_key=("claim_id",),
    foreign_keys=(FK(("policy_id",), "policies", ("policy_id",)),),
    natural_key=("policy_id", "claim_date", "claim_type", "claim_amount"),
)

PAYMENTS = TableSpec(
    "payments",
    (
        C("payment_id", "text"),
        C("policy_id", "text"),
        C("claim_id", "text", nullable=True),
        C("transaction_date", "timestamp"),
        C("amount", "float", rules={"min": 0.0}),
        C("method", "text"),
        C("success_flag", "bool"),
        C("refunded_amount", "float", rules={"min": 0.0}),
        C("currency", "text"),
        C("payment_gateway", "text"),
        C("transaction_id", "text"),
        *_audit(),
    ),
    primary_key=("payment_id",),
    foreign_keys=(
        FK(("policy_id",), "policies", ("policy_id",)),
        FK(("claim_id",), "claims", ("claim_id",)),
        FK(("method",), "payment_methods", ("method_name",)),
    ),
    natural_key=("transaction_id",),
)

AGENTS = TableSpec(
    "agents",
    (
        C("agent_id", "text"),
        C("name", "text"),
        C("branch_id", "text"),
        C("role", "text"),
        C("hire_date", "date"),
        *_audit(),
    ),
    primary_key=("agent_id",),
    foreign_keys=(FK(("branch_id",), "branches", ("branch_id",)),),
)

BRANCHES = TableSpec(
    "branches",
    (
        C("branch_id", "text"),
        C("city", "text"),
        C("state", "text"),
        C("manager_id", "text", nullable=True),
        *_audit(),
    ),
    primary_key=("branch_id",),
    foreign_keys=(FK(("manager_id",), "agents", ("agent_id",), soft=True),),
)

COVERAGE_LEVELS = TableSpec(
    "coverage_levels",
    (
        C("coverage_id", "text"),
        C("level_name", "text"),
        C("min_amount", "int", rules={"min": 0}),
        C("max_amount", "int", rules={"min": 0}),
    ),
    primary_key=("coverage_id",),
    unique=(("level_name",),),
)

CURRENCY_RATES = TableSpec(
    "currency_rates",
    (
        C("currency", "text", rules={"regex": r"[A-Z]{3}"}),
        C("conversion_rate", "float", rules={"min": 0.0}),
        C("date", "date"),
        *_audit(),
    ),
    primary_key=("currency", "date"),
)

POLICY_TYPES = TableSpec(
    "policy_types",
    (
        C("type_id", "text"),
        C("type_name", "text"),
        C("description", "text", nullable=True),
        C("max_coverage", "int", rules={"min": 0}),
        *_audit(),
    ),
    primary_key=("type_id",),
    unique=(("type_name",),),
)

PAYMENT_METHODS = TableSpec(
    "payment_methods",
    (
        C("method_id", "text"),
        C("method_name", "text"),
        C("description", "text", nullable=True),
        *_audit(),
    ),
    primary_key=("method_id",),
    unique=(("method_name",),),
)

SNAPSHOTS = TableSpec(
    "snapshots",
    (
        C("snapshot_date", "date"),
        *_audit(),
        C("total_customers", "int", rules={"min": 0}),
        C("active_customers", "int", rules={"min": 0}),
        C("avg_risk_score", "float", nullable=True),
        C("total_policies", "int", rules={"min": 0}),
        C("active_policies", "int", rules={"min": 0}),
        C("avg_premium", "float", nullable=True),
        C("total_claims", "int", rules={"min": 0}),
        C("avg_claim_amount", "float", nullable=True),
        C("fraud_rate", "float", nullable=True, rules={"min": 0.0, "max": 1.0}),
        C("total_payments", "int", rules={"min": 0}),
        C("success_rate", "float", nullable=True, rules={"min": 0.0, "max": 1.0}),
    ),
    primary_key=("snapshot_date",),
)

# Dependency order: every table comes after the tables its hard foreign keys refer to.
TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        COVERAGE_LEVELS,
        CURRENCY_RATES,
        POLICY_TYPES,
        PAYMENT_METHODS,
        SNAPSHOTS,
        BRANCHES,
        AGENTS,
        CUSTOMERS,
        POLICIES,
        CLAIMS,
        PAYMENTS,
    )
}


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
