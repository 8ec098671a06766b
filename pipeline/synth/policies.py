"""Policies of the clean customers, then their defects, repeated policies and overlapping active ones."""

from __future__ import annotations

import numpy as np

from pipeline.synth import vocab
from pipeline.synth.common import (
    AS_OF,
    AS_OF_TS,
    FIRST_DAY,
    SECONDS_PER_DAY,
    Frame,
    before,
    choice,
    concat,
    days_between,
    duplicated,
    during,
    missing_ids,
    money,
    numbered,
    put,
    seconds_between,
    shuffled,
    take,
)
from pipeline.synth.defects import Injector
from pipeline.synth.reference import CURRENCIES, POLICY_TYPE_MAX, POLICY_TYPE_NAMES

ACTIVE, EXPIRED, CANCELLED, PENDING, LAPSED = range(5)  # status codes (conventions.DEFAULT_LABELS order)
BAD_CURRENCIES = ["XYZ", "usd ", "US$", "eur", "Pound"]
PER_YEAR = np.array([12, 4, 2, 1])  # payments a year, by payment_frequency code (Monthly .. Annual)
# Policy types and currencies are the reference tables' (foreign keys); status and frequency labels are conventions.
VOCAB = {
    "policy_type": POLICY_TYPE_NAMES,
    "currency": CURRENCIES + BAD_CURRENCIES,
    "created_by": vocab.AUDIT_USERS,
    "updated_by": vocab.AUDIT_USERS,
}

# By policy type (POLICY_TYPE_NAMES): popularity, possible terms in years, median cover, premium per unit cover.
TYPE_WEIGHTS = np.array([0.18, 0.2, 0.25, 0.07, 0.1, 0.08, 0.12])
TERM_YEARS = np.array(
    [
        [10, 20, 30, 20],
        [10, 15, 20, 30],
        [1, 1, 1, 2],
        [5, 10, 15, 20],
        [20, 30, 40, 30],
        [20, 25, 30, 30],
        [1, 2, 3, 5],
    ]
)
COVER_MEDIAN = np.array([500e3, 750e3, 100e3, 250e3, 400e3, 400e3, 150e3])
PREMIUM_RATE = np.array([0.012, 0.004, 0.06, 0.03, 0.015, 0.012, 0.03])
LIFE_LIKE = np.array([True, True, False, True, True, True, False])


def _amounts(rng: np.random.Generator, ptype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skewed cover within the type's maximum, and an annual premium in proportion to it."""
    n = len(ptype)
    cover = np.clip(np.round(COVER_MEDIAN[ptype] * rng.lognormal(0, 0.8, n), -3), 10_000, POLICY_TYPE_MAX[ptype])
    premium = np.maximum(money(cover * PREMIUM_RATE[ptype] * rng.lognormal(0, 0.3, n)), 25.0)
    return cover, premium


def _created(rng: np.random.Generator, start: np.ndarray, not_before: np.ndarray) -> np.ndarray:
    """Entered up to three weeks before the start (pending ones lately), never before the customer signed up."""
    n = len(start)
    entered = np.where(
        start < AS_OF,
        during(rng, start) - (rng.random(n) * 20 * SECONDS_PER_DAY).astype(np.int64),
        AS_OF_TS - (rng.uniform(1, 30, n) * SECONDS_PER_DAY).astype(np.int64),
    )
    return np.minimum(np.maximum(entered, not_before + 60), AS_OF_TS - 1)


def policies(rng: np.random.Generator, inj: Injector, customers: Frame, agent_branch: np.ndarray) -> Frame:
    m = inj.originals
    clean = customers["_defect"] == -1
    cust_id, cust_created, cust_state = (customers[c][clean] for c in ("customer_id", "created_at", "state"))
    # Policies per customer; a customer's first seven are of distinct types, further ones repeat a type
    # and are older, closed policies of it. So no customer has two Active policies of one type.
    counts = rng.multinomial(m, (w := rng.gamma(4.0, size=len(cust_id))) / w.sum())
    owner = np.repeat(np.arange(len(cust_id)), counts)
    nth = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
    preference = np.argsort(-(np.log(TYPE_WEIGHTS) + rng.gumbel(size=(len(cust_id), 7))), axis=1)
    ptype = preference[owner, nth % 7]
    status = np.where(nth < 7, choice(rng, m, [0.86, 0.05, 0.03, 0.03, 0.03]), choice(rng, m, [0, 0.6, 0.2, 0, 0.2]))

    term = (TERM_YEARS[ptype, rng.integers(0, 4, m)] * 365.25).astype(np.int64)
    signup = np.maximum(FIRST_DAY, cust_created[owner].astype("datetime64[D]"))
    active_start = days_between(rng, np.maximum(signup, AS_OF - term + 1), AS_OF - 1)  # running on the export day
    closed_start = days_between(rng, signup, AS_OF - 31)
    pending_start = days_between(rng, AS_OF, AS_OF + 60, m)
    start = np.select([status == ACTIVE, status == PENDING], [active_start, pending_start], closed_start)
    # Closed policies ended (expired, lapsed, were cancelled) at least a day before the export.
    ran = 30 + (rng.random(m) * ((AS_OF - 1 - start).astype(np.int64) - 29)).astype(np.int64)
    end = np.where((status == ACTIVE) | (status == PENDING), start + term, start + np.minimum(term, ran))
    cover, premium = _amounts(rng, ptype)
    while (clash := duplicated(cust_id[owner], ptype, start, cover, premium)).any():
        premium[clash] += 0.01  # the natural key stays unique among originals
    freq = choice(rng, m, [0.45, 0.2, 0.1, 0.25])
    agent = rng.integers(0, len(agent_branch), m)
    created = _created(rng, start, cust_created[owner])
    nat = np.datetime64("NaT", "D")
    f = {
        "customer_id": cust_id[owner],
        "policy_type": ptype,
        "coverage_amount": cover,
        "premium_amount": premium,
        "start_date": start,
        "end_date": end,
        "status": status,
        "branch_code": agent_branch[agent],
        "assigned_agent_id": agent + 1,
        "payment_frequency": freq,
        "renewal_date": np.where((status == PENDING) | ((status == ACTIVE) & (rng.random(m) < 0.9)), end, nat),
        "beneficiary_count": np.where(LIFE_LIKE[ptype], rng.integers(1, 5, m), rng.integers(0, 3, m)),
        "currency": choice(rng, m, [0.8, 0.12, 0.08]),
        "premium_due_date": np.where(
            status == ACTIVE, AS_OF + 1 + (rng.random(m) * 365 / PER_YEAR[freq]).astype(int), nat
        ),
        "created_at": created,
        "updated_at": seconds_between(rng, created, AS_OF_TS),
        "created_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
        "updated_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
        "_term": term,
        "_state": cust_state[owner],
    }
    active = f["status"] == ACTIVE
    # Repeated policies copy non-Active ones only: a copy of an Active policy would also be an overlapping one.
    repeated = inj.take(inj.count("duplicate_policy"), ~active)
    # ... and start before the export's eve, so the second one can start later than the first.
    overlapped = inj.take(inj.count("overlapping_active_policy"), active & (f["start_date"] < AS_OF - 1))
    idx = inj.pick("negative_premium")
    put(f, "premium_amount", idx, -f["premium_amount"][idx])
    idx = inj.pick("end_before_start")
    put(f, "end_date", idx, f["start_date"][idx] - rng.integers(1, 366, len(idx)))
    idx = inj.pick("orphan_customer")
    put(f, "customer_id", idx, missing_ids(rng, customers["customer_id"], len(idx)))
    idx = inj.pick("coverage_above_type_max")
    above = POLICY_TYPE_MAX[f["policy_type"][idx]] * rng.uniform(1.05, 3, len(idx))
    put(f, "coverage_amount", idx, np.round(above, -3))
    idx = inj.pick("unknown_currency")
    put(f, "currency", idx, len(CURRENCIES) + rng.integers(0, len(BAD_CURRENCIES), len(idx)))
    idx = inj.pick("updated_before_created")
    put(f, "updated_at", idx, before(rng, f["created_at"][idx]))
    f["_defect"] = inj.code

    dup = take(f, repeated)
    # Entered again within three days, strictly later: the first entry is the original (ids are no guide).
    dup["created_at"] = seconds_between(
        rng, dup["created_at"] + 1, np.minimum(dup["created_at"] + 3 * SECONDS_PER_DAY, AS_OF_TS)
    )
    dup["updated_at"] = seconds_between(rng, dup["created_at"], AS_OF_TS)
    dup["_defect"] = np.full(len(repeated), inj.kind_code("duplicate_policy"), np.int8)

    # A second Active policy of the same customer and type, starting a little later than the first.
    ovl = take(f, overlapped)
    k, s = len(overlapped), ovl["start_date"]
    ovl["start_date"] = days_between(rng, s + 1, np.minimum(s + 180, AS_OF - 1))
    ovl["end_date"] = ovl["start_date"] + ovl["_term"]
    ovl["renewal_date"] = ovl["end_date"]
    ovl["coverage_amount"], ovl["premium_amount"] = _amounts(rng, ovl["policy_type"])
    ovl["created_at"] = _created(rng, ovl["start_date"], ovl["created_at"])
    ovl["updated_at"] = seconds_between(rng, ovl["created_at"], AS_OF_TS)
    ovl["_defect"] = np.full(k, inj.kind_code("overlapping_active_policy"), np.int8)
    return shuffled(rng, numbered(rng, concat(concat(f, dup), ovl), "policy_id"))
