"""Overview figures within the app's date range (Qt-free): months in the range, and the KPIs the range changes."""

from __future__ import annotations

import contextlib
import datetime

from . import queries

RANGE_KPIS_SQL = """
    SELECT (SELECT count(*) FROM clean.claims WHERE claim_date >= %(start)s AND claim_date < %(end)s) AS claims,
           (SELECT count(*) FROM clean.policies WHERE start_date >= %(start)s AND start_date < %(end)s)
                                                                                          AS policies_started,
           coalesce(sum(net_amount_usd) FILTER (WHERE kind = 'premium'), 0)::numeric(16, 2) AS premium_collected_usd,
           coalesce(sum(net_amount_usd) FILTER (WHERE kind = 'payout'), 0)::numeric(16, 2) AS claims_paid_usd
    FROM analytics.payments_usd WHERE transaction_date >= %(start)s AND transaction_date < %(end)s"""
# As analytics.loss_ratio computes it (payouts over premium, USD, net of refunds), over the range's days.
RANGE_LOSS_BY_TYPE_SQL = """
    SELECT pol.policy_type,
           coalesce(sum(pay.net_amount_usd) FILTER (WHERE pay.kind = 'payout'), 0) AS claims_paid_usd,
           coalesce(sum(pay.net_amount_usd) FILTER (WHERE pay.kind = 'premium'), 0) AS premium_usd,
           coalesce(sum(pay.net_amount_usd) FILTER (WHERE pay.kind = 'payout'), 0)
             / nullif(sum(pay.net_amount_usd) FILTER (WHERE pay.kind = 'premium'), 0) AS loss_ratio
    FROM analytics.payments_usd pay JOIN clean.policies pol ON pol.policy_id = pay.policy_id
    WHERE pay.transaction_date >= %(start)s AND pay.transaction_date < %(end)s
    GROUP BY 1 ORDER BY 1"""
MONTHLY = ("claims_by_month", "premium_by_month")


def _day(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


def overview(dates: tuple[datetime.date | None, datetime.date | None] | None) -> dict:
    """queries.overview(), its monthly series cut to the months the range touches, the loss ratio by policy type
    within the range, and the range's own KPIs ('range_kpis': claims filed, policies started, premium collected,
    claims paid, loss ratio) beside it."""
    found = queries.overview()
    if found["empty"] or dates is None or dates == (None, None):
        return found
    start = dates[0] or datetime.date.min
    end = dates[1] or datetime.date.max
    for name in MONTHLY:
        found[name] = [r for r in found[name] if start.replace(day=1) <= _day(r["month"]) <= end]
    through = found.get("data_through") or {}
    for key, day in list(through.items()):  # a range ending mid-month makes its last month partial
        if day is not None and day > end:
            through[key] = end
    bound = {"start": start, "end": end + datetime.timedelta(days=1) if end < datetime.date.max else end}
    with contextlib.closing(queries.connect()) as conn, conn.cursor() as cur:
        cur.execute(RANGE_KPIS_SQL, bound)
        row = dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
        cur.execute(RANGE_LOSS_BY_TYPE_SQL, bound)
        names = [d.name for d in cur.description]
        found["loss_ratio_by_type"] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    paid, collected = row["claims_paid_usd"], row["premium_collected_usd"]
    row["loss_ratio"] = paid / collected if collected else None
    found["range_kpis"] = row
    found["range"] = (start, end)
    return found
