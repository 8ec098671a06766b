"""Defect kinds, their default rates, and the bookkeeping that gives each chosen row exactly one kind."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# Per table: each defect kind and the column it lives in (None for whole-row defects such as duplicates).
DEFECTS: dict[str, dict[str, str | None]] = {
    "customers": {
        "duplicate_customer": None,
        "malformed_email": "email",
        "risk_score_out_of_range": "risk_score",
        "login_before_signup": "last_login",
        "updated_before_created": "updated_at",
    },
    "policies": {
        "duplicate_policy": None,
        "negative_premium": "premium_amount",
        "end_before_start": "end_date",
        "overlapping_active_policy": None,
        "orphan_customer": "customer_id",
        "coverage_above_type_max": "coverage_amount",
        "unknown_currency": "currency",
        "updated_before_created": "updated_at",
    },
    "claims": {
        "orphan_policy": "policy_id",
        "claim_outside_policy_period": "claim_date",
        "claim_above_coverage": "claim_amount",
        "claim_resolved_before_filed": "resolved_date",
        "null_fraud_flag": "fraud_flag",
        "duplicate_key": None,
        "updated_before_created": "updated_at",
    },
    "payments": {
        "orphan_policy": "policy_id",
        "payment_for_cancelled_policy": "transaction_date",
        "payment_before_claim_resolved": "transaction_date",
        "refund_above_amount": "refunded_amount",
        "unknown_payment_method": "method",
        "null_success_flag": "success_flag",
        "duplicate_key": None,
        "updated_before_created": "updated_at",
    },
    # The reference tables carry the original export's quirk only; it is not rate-driven.
    **{
        t: {"updated_before_created": "updated_at"}
        for t in ("agents", "branches", "currency_rates", "policy_types", "payment_methods")
    },
}

# Kinds that add a row (a copy or a near-copy of an existing one) rather than spoil one.
EXTRA_KINDS = {"duplicate_customer", "duplicate_policy", "overlapping_active_policy", "duplicate_key"}


@dataclass(frozen=True)
class DefectRates:
    """Share of a big table's rows given each defect kind; a kind found in several tables uses its rate in each.

    The default profile touches about a third of the rows of the four big tables.
    """

    duplicate_customer: float = 0.05
    malformed_email: float = 0.04
    risk_score_out_of_range: float = 0.04
    login_before_signup: float = 0.04
    duplicate_policy: float = 0.12
    negative_premium: float = 0.025
    end_before_start: float = 0.025
    overlapping_active_policy: float = 0.02
    orphan_customer: float = 0.025
    coverage_above_type_max: float = 0.025
    unknown_currency: float = 0.025
    orphan_policy: float = 0.045
    claim_outside_policy_period: float = 0.05
    claim_above_coverage: float = 0.05
    claim_resolved_before_filed: float = 0.05
    null_fraud_flag: float = 0.05
    payment_for_cancelled_policy: float = 0.04
    payment_before_claim_resolved: float = 0.04
    refund_above_amount: float = 0.045
    unknown_payment_method: float = 0.045
    null_success_flag: float = 0.045
    duplicate_key: float = 0.045
    updated_before_created: float = 0.045

    def __post_init__(self):
        for f in fields(self):
            if not 0.0 <= getattr(self, f.name) < 1.0:
                raise ValueError(f"defect rate {f.name} must be in [0, 1), got {getattr(self, f.name)}")


class Injector:
    """Chooses distinct rows of one table for defects, so that every row has at most one defect kind.

    `code` holds, per original row, the index of its defect kind in DEFECTS[table] (-1: clean).
    Rows taken without a kind (sources of copies) stay clean but get no defect later.
    """

    def __init__(self, table: str, rng: np.random.Generator, rates: DefectRates, total_rows: int):
        self.table, self.rng, self.rates, self.total = table, rng, rates, total_rows
        self.kinds = list(DEFECTS[table])
        # The extra rows come on top of the originals, so that the table has exactly total_rows rows.
        self.originals = total_rows - sum(self.count(k) for k in self.kinds if k in EXTRA_KINDS)
        self.code = np.full(self.originals, -1, np.int8)
        self.free = np.ones(self.originals, bool)

    def count(self, kind: str) -> int:
        """Rows to give `kind`: its rate of the table's final size, and at least one when the rate is not 0."""
        rate = getattr(self.rates, kind)
        return max(1, round(rate * self.total)) if rate > 0 else 0

    def kind_code(self, kind: str) -> int:
        return self.kinds.index(kind)

    def take(self, n: int, eligible: np.ndarray | None = None, kind: str | None = None) -> np.ndarray:
        """Up to n distinct free rows among the eligible ones, in ascending order; marks them taken."""
        pool = np.flatnonzero(self.free if eligible is None else self.free & eligible)
        idx = np.sort(self.rng.choice(pool, min(n, len(pool)), replace=False))
        self.free[idx] = False
        if kind is not None:
            self.code[idx] = self.kind_code(kind)
        return idx

    def pick(self, kind: str, eligible: np.ndarray | None = None) -> np.ndarray:
        return self.take(self.count(kind), eligible, kind)


def is_extra(table: str, code: np.ndarray) -> np.ndarray:
    """Rows that an extra-row kind added (not the source's own records)."""
    return np.isin(code, [i for i, kind in enumerate(DEFECTS[table]) if kind in EXTRA_KINDS])
