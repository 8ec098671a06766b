"""Payments: premiums on the clean policies and payouts of their settled claims, then their defects."""

from __future__ import annotations

import numpy as np

from pipeline.synth import vocab
from pipeline.synth.claims import APPROVED, PAID, claimable
from pipeline.synth.common import (
    AS_OF,
    AS_OF_TS,
    SECONDS_PER_DAY,
    Frame,
    before,
    choice,
    days_between,
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
from pipeline.synth.policies import CANCELLED, PER_YEAR
from pipeline.synth.policies import VOCAB as POLICY_VOCAB
from pipeline.synth.reference import PAYMENT_METHOD_NAMES

BAD_METHODS = ["Crypto", "Cheque", "card", "Venmo", "WIRE "]
INTERNAL = 4  # the payment_gateway code of payouts (the last of conventions.DEFAULT_LABELS)
# Methods and currencies are the reference tables' (foreign keys); gateway labels are conventions.
VOCAB = {
    "method": PAYMENT_METHOD_NAMES + BAD_METHODS,
    "currency": POLICY_VOCAB["currency"],
    "created_by": vocab.AUDIT_USERS,
    "updated_by": vocab.AUDIT_USERS,
}
NULL = -1


def payments(rng: np.random.Generator, inj: Injector, policies: Frame, claims: Frame) -> Frame:
    m = inj.originals
    # Payouts: every clean Paid claim and a third of the clean Approved ones.
    status = claims["status"]
    settled = (claims["_defect"] == -1) & ((status == PAID) | ((status == APPROVED) & (rng.random(len(status)) < 0.3)))
    out = take(claims, np.flatnonzero(settled)[:m])
    k = len(out["claim_id"])
    ids = policies["policy_id"]
    row_of = np.full(ids.max() + 1, -1)
    row_of[ids] = np.arange(len(ids))
    # Premiums: on clean policies that have started, more on longer-running and more often paying ones.
    rows = claimable(policies)
    start, end, freq = policies["start_date"], policies["end_date"], policies["payment_frequency"]
    last = np.minimum(end - 1, AS_OF - 1)  # paid before the end day, so no timestamp passes the end date
    premium_pol = rows[choice(rng, m - k, ((last - start)[rows].astype(np.int64) + 1) * PER_YEAR[freq[rows]])]
    pol = np.concatenate([premium_pol, row_of[out["policy_id"]]])
    payout = np.arange(m) >= m - k
    resolved = np.concatenate([np.full(m - k, np.datetime64("NaT", "D")), out["resolved_date"]])
    lag = np.minimum(
        rng.lognormal(1.5, 0.8, k).astype(np.int64),  # paid some days after the decision
        (AS_OF - 1 - out["resolved_date"]).astype(np.int64),
    )
    day = np.concatenate([days_between(rng, start[premium_pol], last[premium_pol]), out["resolved_date"] + lag])

    sources = inj.take(inj.count("duplicate_key"))
    policy_id = ids[pol]
    idx = inj.pick("orphan_policy", ~payout)
    policy_id[idx] = missing_ids(rng, ids, len(idx))
    cancelled = rows[(policies["status"][rows] == CANCELLED) & (end[rows] <= AS_OF - 2)]
    idx = inj.pick("payment_for_cancelled_policy", ~payout & (len(cancelled) > 0))
    pol[idx] = cancelled[rng.integers(0, len(cancelled), len(idx))]
    policy_id[idx] = ids[pol[idx]]
    day[idx] = days_between(rng, end[pol[idx]] + 1, AS_OF - 1)
    idx = inj.pick("payment_before_claim_resolved", payout)
    day[idx] = resolved[idx] - rng.integers(1, 31, len(idx))

    payout_amount = np.where(np.isnan(out["adjusted_amount"]), out["claim_amount"], out["adjusted_amount"])
    instalment = money(policies["premium_amount"][pol[: m - k]] / PER_YEAR[freq[pol[: m - k]]])
    amount = np.concatenate([instalment, payout_amount])
    success = (rng.random(m) < np.where(payout, 0.99, 0.95)).astype(np.int8)
    partly_refunded = (success == 1) & ~payout & (rng.random(m) < 0.03)
    refunded = np.where(partly_refunded, np.floor(amount * rng.uniform(0.05, 1, m) * 100) / 100, 0.0)
    ts = during(rng, day)
    created = np.minimum(ts + rng.integers(0, 300, m), AS_OF_TS - 1)
    f = {
        "policy_id": policy_id,
        "claim_id": np.concatenate([np.full(m - k, NULL), out["claim_id"]]),
        "transaction_date": ts,
        "amount": amount,
        "method": np.where(
            payout,
            choice(rng, m, [0, 0.6, 0.4, 0, 0]),  # payouts go by ACH or wire
            choice(rng, m, [0.45, 0.25, 0.05, 0.15, 0.1]),
        ),
        "success_flag": success,
        "refunded_amount": refunded,
        "currency": policies["currency"][pol],
        "payment_gateway": np.where(payout, INTERNAL, choice(rng, m, [0.35, 0.2, 0.15, 0.1, 0.2])),
        "created_at": created,
        "updated_at": seconds_between(rng, created, np.minimum(created + 30 * SECONDS_PER_DAY, AS_OF_TS)),
        "created_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
        "updated_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
    }
    idx = inj.pick("refund_above_amount")
    put(f, "refunded_amount", idx, money(amount[idx] * rng.uniform(1.1, 2.0, len(idx))))
    idx = inj.pick("unknown_payment_method")
    put(f, "method", idx, len(PAYMENT_METHOD_NAMES) + rng.integers(0, len(BAD_METHODS), len(idx)))
    idx = inj.pick("null_success_flag")
    put(f, "success_flag", idx, NULL)
    idx = inj.pick("updated_before_created")
    put(f, "updated_at", idx, before(rng, f["created_at"][idx]))
    f["_defect"] = inj.code

    f = numbered(rng, f, "payment_id")
    # A bijection of the payment number onto 12 digits: unique, and not in payment order.
    f["transaction_id"] = (f["payment_id"] * 982_451_653 + 271_828_182) % 10**12
    dup = take(f, sources)  # exact copies, keys included
    dup["_defect"] = np.full(len(sources), inj.kind_code("duplicate_key"), np.int8)
    return shuffled(rng, f, dup)
