"""Claims on the clean policies that have begun, then their defects and exact duplicate rows."""

from __future__ import annotations

import numpy as np

from pipeline.synth import vocab
from pipeline.synth.common import (
    AS_OF,
    AS_OF_TS,
    Frame,
    before,
    choice,
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
from pipeline.synth.policies import PENDING

SUBMITTED, UNDER_REVIEW, APPROVED, REJECTED, PAID = range(5)  # status codes (conventions.DEFAULT_LABELS order)
# Word lists; claim type, status and region labels are conventions.
VOCAB = {
    "notes": vocab.CLAIM_NOTES,
    "created_by": vocab.AUDIT_USERS,
    "updated_by": vocab.AUDIT_USERS,
}
N_ADJUSTERS = 60
NULL = -1


def claimable(policies: Frame) -> np.ndarray:
    """Rows of the policies that may have claims and payments: clean originals that have started."""
    return np.flatnonzero((policies["_defect"] == -1) & (policies["status"] != PENDING))


def seasonal(rng: np.random.Generator, day: np.ndarray, lo: np.ndarray, hi: np.ndarray, amplitude: float) -> np.ndarray:
    """Days redrawn (inside the same bounds) so that claims follow a yearly cycle peaking in January.

    A month's weight is 1 + amplitude * cos(2 pi month / 12); rejection sampling, a few rounds, in bulk.
    """
    if amplitude <= 0:
        return day
    day = day.copy()
    for _ in range(10):
        month = day.astype("datetime64[M]").astype(np.int64) % 12
        redo = np.flatnonzero(rng.random(len(day)) * (1 + amplitude) > 1 + amplitude * np.cos(2 * np.pi * month / 12))
        if not len(redo):
            break
        day[redo] = days_between(rng, lo[redo], hi[redo])
    return day


def claims(rng: np.random.Generator, inj: Injector, policies: Frame, seasonality: float = 0.0) -> Frame:
    m = inj.originals
    rows = claimable(policies)
    start, last_day = policies["start_date"], np.minimum(policies["end_date"], AS_OF - 1)
    p = rows[choice(rng, m, (last_day[rows] - start[rows]).astype(np.int64) + 1)]  # longer-running, more claims
    start, last_day, cover = start[p], last_day[p], policies["coverage_amount"][p]
    day = seasonal(rng, days_between(rng, start, last_day), start, last_day, seasonality)
    status = choice(rng, m, [0.3, 0.3, 0.15, 0.1, 0.15])
    # Claims filed months ago are nearly all decided by now.
    decided = choice(rng, m, [0, 0, 0.25, 0.2, 0.55])
    status = np.where((day < AS_OF - 120) & (status < APPROVED) & (rng.random(m) < 0.97), decided, status)
    resolved = status >= APPROVED
    f = {
        "policy_id": policies["policy_id"][p],
        "claim_date": day,
        "claim_type": choice(rng, m, [0.2, 0.3, 0.08, 0.12, 0.1, 0.08, 0.12]),
        "claim_amount": np.maximum(money(cover * rng.beta(1.0, 120.0, m)), 50.0),  # loss ratio near 0.6
        "status": status,
        "fraud_flag": (rng.random(m) < 0.042).astype(np.int8),
        "approved_by": np.where((status == APPROVED) | (status == PAID), rng.integers(1, N_ADJUSTERS + 1, m), NULL),
        "notes": np.where(rng.random(m) < 0.5, rng.integers(0, len(vocab.CLAIM_NOTES), m), NULL),
        "region": vocab.STATE_REGION[policies["_state"][p]],
        "created_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
        "updated_by": choice(rng, m, vocab.AUDIT_WEIGHTS),
    }
    sources = inj.take(inj.count("duplicate_key"))
    # Defects of the date and amount come first: the resolution, delay and audit stamps follow from them.
    idx = inj.pick("orphan_policy")
    put(f, "policy_id", idx, missing_ids(rng, policies["policy_id"], len(idx)))
    idx = inj.pick("claim_outside_policy_period")
    after = (last_day[idx] < AS_OF - 2) & (rng.random(len(idx)) < 0.5)  # after the end, where it ended already
    room = np.where(after, np.minimum(365, (AS_OF - 2 - last_day[idx]).astype(np.int64)), 365)
    gap = 1 + (rng.random(len(idx)) * room).astype(np.int64)
    put(f, "claim_date", idx, np.where(after, last_day[idx] + gap, start[idx] - gap))
    idx = inj.pick("claim_above_coverage")
    put(f, "claim_amount", idx, money(cover[idx] * rng.uniform(1.05, 2.5, len(idx))))
    while (clash := duplicated(f["policy_id"], f["claim_date"], f["claim_type"], f["claim_amount"])).any():
        f["claim_amount"][clash] -= 0.01  # the natural key stays unique among originals

    amount, day = f["claim_amount"], f["claim_date"]
    delay = np.minimum(rng.lognormal(3.0, 0.9, m).astype(np.int64), (AS_OF - 1 - day).astype(np.int64))
    f["resolved_date"] = np.where(resolved, day + delay, np.datetime64("NaT"))
    f["delay_days"] = np.where(resolved, delay, np.nan)
    paid = (status == APPROVED) | (status == PAID)
    f["adjusted_amount"] = np.where(paid, money(amount * rng.uniform(0.6, 1.0, m)), np.nan)
    f["created_at"] = during(rng, day)
    f["updated_at"] = np.where(
        resolved,
        np.maximum(during(rng, f["resolved_date"]), f["created_at"]),
        seconds_between(rng, f["created_at"], AS_OF_TS),
    )
    idx = inj.pick("claim_resolved_before_filed", resolved)
    put(f, "resolved_date", idx, f["claim_date"][idx] - rng.integers(1, 61, len(idx)))
    put(f, "delay_days", idx, np.nan)  # a negative delay would be a second defect in the same row
    idx = inj.pick("null_fraud_flag")
    put(f, "fraud_flag", idx, NULL)
    idx = inj.pick("updated_before_created")
    put(f, "updated_at", idx, before(rng, f["created_at"][idx]))
    f["_defect"] = inj.code
    f = numbered(rng, f, "claim_id")
    dup = take(f, sources)  # exact copies, claim_id included
    dup["_defect"] = np.full(len(sources), inj.kind_code("duplicate_key"), np.int8)
    return shuffled(rng, f, dup)
