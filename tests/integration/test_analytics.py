"""analytics.* on a small hand-made clean warehouse: every figure below is worked out by hand in the comments.

The data set (all money in the payment's or policy's own currency; USD = amount * rate in force):

  rates      USD 1.00 from 2025-06-11, 1.00 from 2025-07-11
             EUR 1.10 from 2025-06-11, 1.20 from 2025-07-11, 1.30 from 2025-08-10
             GBP 1.25 from 2025-06-11, 1.50 from 2025-07-11
  customers  CU1 Retail  risk 20   Active    NY (Northeast)  since 2020-01-01
             CU2 Retail  risk 34   Active    CA (West)       since 2022-01-01
             CU3 Premium risk 67   Inactive  TX (South)      since 2024-01-01
             CU4 Retail  risk 33.9 Suspended NY              since 2021-01-01   (no policies)
  policies   PO1 CU1 Life   100/Monthly     USD start 2025-06-15 Active BR001 AG001  written 1200*1.00 = 1200.00
             PO2 CU2 Health 300/Quarterly   EUR start 2025-07-20 Active BR002 AG003  written 1200*1.20 = 1440.00
             PO3 CU3 Life   1000/Annual     GBP start 2025-05-01 Lapsed BR001 AG001  written 1000*1.25 = 1250.00
                                                        (before GBP's first rate: its earliest rate, 1.25)
             PO4 CU1 Health 50/Semi-Annual  USD start 2025-07-01 Active BR001 AG003  written  100*1.00 =  100.00
  claims     CL1 PO1 2025-06-20  500 Paid     Northeast      CL2 PO2 2025-07-25 2000 Paid fraud West
             CL3 PO3 2025-06-05 1000 Rejected South          CL4 PO4 2025-07-10  300 Approved   Midwest
  payments   premium (claim_id null)                                         net      USD
             PA1  PO1 2025-06-15  100 USD                                    100  *1.00 =  100.00
             PA2  PO1 2025-07-15  100 USD refunded 20                         80  *1.00 =   80.00
             PA3  PO1 2025-08-15  100 USD FAILED                               -            -
             PA4  PO2 2025-07-20  300 EUR                                    300  *1.20 =  360.00
             PA5  PO2 2025-08-12  300 EUR refunded 50                        250  *1.30 =  325.00
             PA6  PO3 2025-05-01 1000 GBP (before the first rate)           1000  *1.25 = 1250.00
             PA7  PO3 2025-07-11  200 GBP (00:00 on a rate's day)            200  *1.50 =  300.00
             PA8  PO4 2025-07-01   50 USD                                     50  *1.00 =   50.00
             PA13 PO1 2025-07-20  100 USD                                    100  *1.00 =  100.00
             payouts                                                          premium total  2565.00
             PA9  PO1 CL1 2025-06-25  400 USD                                400  *1.00 =  400.00
             PA10 PO2 CL2 2025-07-30 1500 EUR                               1500  *1.20 = 1800.00
             PA11 PO4 CL4 2025-07-15  300 USD FAILED                           -            -
             PA12 PO4 CL4 2025-07-16  300 USD                                300  *1.00 =  300.00
                                                                             payout total  2500.00
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - keeps the expected rows of figures short

import psycopg2
import pytest
from psycopg2 import sql

from pipeline import analytics, warehouse
from pipeline.tables import TABLES

TODAY = dt.date.today()

# Values for the NOT NULL columns a row below leaves out (the analytics never read them).
DEFAULTS = {
    "text": "x",
    "int": 0,
    "float": 0.0,
    "date": dt.date(2020, 1, 1),
    "timestamp": dt.datetime(2020, 1, 1),
    "bool": False,
}


def _customer(cid, segment, risk, status, state, since):
    return dict(
        customer_id=cid,
        segment=segment,
        risk_score=risk,
        customer_status=status,
        state=state,
        created_at=dt.datetime.fromisoformat(since),
    )


def _policy(pid, cid, ptype, premium, frequency, currency, start, status, branch, agent):
    start = dt.date.fromisoformat(start)
    return dict(
        policy_id=pid,
        customer_id=cid,
        policy_type=ptype,
        premium_amount=premium,
        payment_frequency=frequency,
        currency=currency,
        start_date=start,
        end_date=start + dt.timedelta(days=364),
        status=status,
        branch_code=branch,
        assigned_agent_id=agent,
        coverage_amount=100000.0,
    )


def _claim(cid, pid, day, amount, status, fraud, region):
    return dict(
        claim_id=cid,
        policy_id=pid,
        claim_date=dt.date.fromisoformat(day),
        claim_amount=amount,
        status=status,
        fraud_flag=fraud,
        region=region,
        claim_type="Medical",
    )


def _payment(pid, policy, claim, when, amount, currency, ok=True, refunded=0.0):
    return dict(
        payment_id=pid,
        policy_id=policy,
        claim_id=claim,
        transaction_date=dt.datetime.fromisoformat(when),
        amount=amount,
        currency=currency,
        success_flag=ok,
        refunded_amount=refunded,
        method="Card",
        transaction_id="T" + pid,
    )


ROWS = {
    "coverage_levels": [dict(coverage_id="CV1", level_name="Basic")],
    "currency_rates": [
        dict(currency=c, conversion_rate=r, date=dt.date.fromisoformat(d))
        for c, r, d in (
            ("USD", 1.0, "2025-06-11"),
            ("USD", 1.0, "2025-07-11"),
            ("EUR", 1.10, "2025-06-11"),
            ("EUR", 1.20, "2025-07-11"),
            ("EUR", 1.30, "2025-08-10"),
            ("GBP", 1.25, "2025-06-11"),
            ("GBP", 1.50, "2025-07-11"),
        )
    ],
    "policy_types": [dict(type_id="PT001", type_name="Life"), dict(type_id="PT003", type_name="Health")],
    "payment_methods": [dict(method_id="PM001", method_name="Card")],
    "snapshots": [
        dict(
            snapshot_date=dt.date(2025, 9, 9),
            total_customers=5,
            active_customers=2,
            avg_risk_score=40.0,
            total_policies=4,
            active_policies=2,
            avg_premium=400.0,
            total_claims=4,
            avg_claim_amount=1000.0,
            fraud_rate=0.2,
            total_payments=12,
            success_rate=0.9,
        ),
        dict(
            snapshot_date=dt.date(2025, 9, 10),
            total_customers=4,
            active_customers=2,
            avg_risk_score=None,
            total_policies=4,
            active_policies=3,
            avg_premium=362.5,
            total_claims=4,
            avg_claim_amount=950.0,
            fraud_rate=0.25,
            total_payments=13,
            success_rate=0.8,
        ),
    ],
    "branches": [
        dict(branch_id="BR001", state="NY", manager_id="AG001"),
        dict(branch_id="BR002", state="CA", manager_id="AG003"),
        dict(branch_id="BR003", state="TX", manager_id=None),
    ],
    "agents": [
        dict(agent_id="AG001", name="Ann", branch_id="BR001", role="Manager"),
        dict(agent_id="AG002", name="Bob", branch_id="BR001", role="Agent"),
        dict(agent_id="AG003", name="Cat", branch_id="BR002", role="Manager"),
        dict(agent_id="AG004", name="Dan", branch_id="BR002", role="Agent"),
    ],
    "customers": [
        _customer("CU0000001", "Retail", 20.0, "Active", "NY", "2020-01-01"),
        _customer("CU0000002", "Retail", 34.0, "Active", "CA", "2022-01-01"),
        _customer("CU0000003", "Premium", 67.0, "Inactive", "TX", "2024-01-01"),
        _customer("CU0000004", "Retail", 33.9, "Suspended", "NY", "2021-01-01"),
    ],
    "policies": [
        _policy("PO00000001", "CU0000001", "Life", 100.0, "Monthly", "USD", "2025-06-15", "Active", "BR001", "AG001"),
        _policy(
            "PO00000002", "CU0000002", "Health", 300.0, "Quarterly", "EUR", "2025-07-20", "Active", "BR002", "AG003"
        ),
        _policy("PO00000003", "CU0000003", "Life", 1000.0, "Annual", "GBP", "2025-05-01", "Lapsed", "BR001", "AG001"),
        _policy(
            "PO00000004", "CU0000001", "Health", 50.0, "Semi-Annual", "USD", "2025-07-01", "Active", "BR001", "AG003"
        ),
    ],
    "claims": [
        _claim("CL00000001", "PO00000001", "2025-06-20", 500.0, "Paid", False, "Northeast"),
        _claim("CL00000002", "PO00000002", "2025-07-25", 2000.0, "Paid", True, "West"),
        _claim("CL00000003", "PO00000003", "2025-06-05", 1000.0, "Rejected", False, "South"),
        _claim("CL00000004", "PO00000004", "2025-07-10", 300.0, "Approved", False, "Midwest"),
    ],
    "payments": [
        _payment("PA000000001", "PO00000001", None, "2025-06-15 10:00", 100.0, "USD"),
        _payment("PA000000002", "PO00000001", None, "2025-07-15 10:00", 100.0, "USD", refunded=20.0),
        _payment("PA000000003", "PO00000001", None, "2025-08-15 10:00", 100.0, "USD", ok=False),
        _payment("PA000000004", "PO00000002", None, "2025-07-20 12:00", 300.0, "EUR"),
        _payment("PA000000005", "PO00000002", None, "2025-08-12 12:00", 300.0, "EUR", refunded=50.0),
        _payment("PA000000006", "PO00000003", None, "2025-05-01 08:00", 1000.0, "GBP"),
        _payment("PA000000007", "PO00000003", None, "2025-07-11 00:00", 200.0, "GBP"),
        _payment("PA000000008", "PO00000004", None, "2025-07-01 00:00", 50.0, "USD"),
        _payment("PA000000009", "PO00000001", "CL00000001", "2025-06-25 15:00", 400.0, "USD"),
        _payment("PA000000010", "PO00000002", "CL00000002", "2025-07-30 15:00", 1500.0, "EUR"),
        _payment("PA000000011", "PO00000004", "CL00000004", "2025-07-15 15:00", 300.0, "USD", ok=False),
        _payment("PA000000012", "PO00000004", "CL00000004", "2025-07-16 15:00", 300.0, "USD"),
        _payment("PA000000013", "PO00000001", None, "2025-07-20 10:00", 100.0, "USD"),
    ],
}

UTC = dt.UTC
TABLE_RESULTS = [  # run_id, table, raw, clean, quarantined, valid_before, fixed_rows, checked_at
    ("run-1", "customers", 5, 4, 1, 3, 1, dt.datetime(2025, 10, 1, 10, 0, tzinfo=UTC)),
    ("run-1", "payments", 14, 12, 2, 10, 1, dt.datetime(2025, 10, 1, 10, 5, tzinfo=UTC)),
    ("run-2", "customers", 6, 3, 3, 2, 1, dt.datetime(2025, 10, 2, 9, 0, tzinfo=UTC)),
]
RULE_RESULTS = [  # run_id, table, rule, action, rows_checked, violations, fixed, quarantined, flagged
    ("run-1", "customers", "customers.duplicate_key", "quarantine", 5, 1, 0, 1, 0),
    ("run-1", "customers", "customers.email", "fix", 5, 1, 1, 0, 0),
    ("run-1", "payments", "payments.duplicate_key", "quarantine", 14, 2, 0, 2, 0),
    ("run-2", "customers", "customers.duplicate_key", "quarantine", 6, 3, 0, 3, 0),
    ("run-2", "customers", "customers.email", "fix", 6, 1, 1, 0, 0),
]
RUNS = [
    ("run-1", dt.datetime(2025, 10, 1, 9, 59, tzinfo=UTC)),
    ("run-2", dt.datetime(2025, 10, 2, 8, 59, tzinfo=UTC)),
    ("run-3", dt.datetime(2025, 10, 3, 8, 0, tzinfo=UTC)),
]  # run-3 healed nothing


def load_sample(conn) -> None:
    """Bootstrap, create clean.* from the specs, insert ROWS (defaults for the rest), add keys and foreign keys."""
    warehouse.bootstrap(conn)
    with conn.cursor() as cur:
        for spec in TABLES.values():
            cur.execute(warehouse.clean_ddl(spec))
            for n, given in enumerate(ROWS.get(spec.name, []), start=1):
                row = {c.name: given.get(c.name, None if c.nullable else DEFAULTS[c.kind]) for c in spec.columns}
                row["_source_row"] = n
                cur.execute(
                    sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        warehouse.qualified("clean", spec.name),
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    list(row.values()),
                )
        # Keys and foreign keys: the hand-made rows must be consistent, as healed rows are. (key_ddl is new; before
        # it, clean_ddl made the keys itself.)
        for spec in TABLES.values():
            for ddl in warehouse.key_ddl(spec) if hasattr(warehouse, "key_ddl") else []:
                cur.execute(ddl)
        for spec in TABLES.values():
            for ddl in warehouse.foreign_key_ddl(spec):
                cur.execute(ddl)
        cur.executemany(
            "INSERT INTO quality.table_results (run_id, table_name, raw_rows, clean_rows, quarantined, "
            "valid_before, fixed_rows, checked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            TABLE_RESULTS,
        )
        cur.executemany(
            "INSERT INTO quality.rule_results (run_id, table_name, rule_id, description, severity, action, "
            "rows_checked, violations, fixed, quarantined, flagged, checked_at) "
            "SELECT %s, %s, %s, 'd', 'error', %s, %s, %s, %s, %s, %s, checked_at "
            "FROM quality.table_results WHERE run_id = %s AND table_name = %s",
            [(*r, r[0], r[1]) for r in RULE_RESULTS],
        )
        cur.executemany("INSERT INTO ops.runs (run_id, started_at, status) VALUES (%s, %s, 'done')", RUNS)


@pytest.fixture
def built(database_url) -> str:
    """A fresh warehouse holding the hand-made data, with analytics.* built."""
    with psycopg2.connect(database_url) as conn:
        load_sample(conn)
        analytics.build(conn)
    conn.close()
    return database_url


def rows(url: str, text: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(text)
        found = cur.fetchall()
    conn.close()
    return found


def test_payments_convert_at_the_rate_in_force_on_their_date(built):
    got = {
        r[0]: r[1:]
        for r in rows(
            built,
            "SELECT payment_id, kind, net_amount::numeric(16, 2), "
            "usd_rate::numeric(12, 6), net_amount_usd::numeric(16, 2) "
            "FROM analytics.payments_usd",
        )
    }
    assert "PA000000003" not in got and "PA000000011" not in got  # failed payments are not money moved
    assert len(got) == 11
    assert got["PA000000002"] == ("premium", D("80.00"), D("1"), D("80.00"))  # 100 - 20 refunded
    assert got["PA000000004"] == ("premium", D("300.00"), D("1.2"), D("360.00"))  # 07-20: EUR rate of 07-11
    assert got["PA000000005"] == ("premium", D("250.00"), D("1.3"), D("325.00"))  # 08-12: rate of 08-10, 250*1.3
    assert got["PA000000006"][2:] == (D("1.25"), D("1250.00"))  # 2025-05-01 is before GBP's first rate: earliest
    assert got["PA000000007"][2:] == (D("1.5"), D("300.00"))  # on 07-11 the rate dated 07-11 is in force
    assert got["PA000000010"] == ("payout", D("1500.00"), D("1.2"), D("1800.00"))


def test_policy_summary_per_customer_policies_premium_claims_and_payouts(built):
    # CU1: PO1 + PO4, both Active, premium 100 + 50; claims CL1 500 + CL4 300; payouts PA9 400 + PA12 300 (PA11 failed).
    # CU2: PO2; CL2 2000; PA10 1500 (in EUR, as paid). CU3: PO3 Lapsed; CL3 1000 (rejected claims count); no payout.
    # CU4: no policies.
    assert rows(
        built,
        "SELECT customer_id, segment, policies, active_policies, total_premium, claims, claimed_amount, paid_out "
        "FROM analytics.policy_summary ORDER BY customer_id",
    ) == [
        ("CU0000001", "Retail", 2, 2, D("150.00"), 2, D("800.00"), D("700.00")),
        ("CU0000002", "Retail", 1, 1, D("300.00"), 1, D("2000.00"), D("1500.00")),
        ("CU0000003", "Premium", 1, 0, D("1000.00"), 1, D("1000.00"), D("0.00")),
        ("CU0000004", "Retail", 0, 0, D("0.00"), 0, D("0.00"), D("0.00")),
    ]


def test_revenue_monthly_is_net_premium_per_month_type_branch_currency(built):
    got = rows(
        built,
        "SELECT month::text, policy_type, branch_code, currency, payments, gross_amount, "
        "refunded_amount, collected_amount, collected_usd FROM analytics.revenue_monthly "
        "ORDER BY 1, 2, 3, 4",
    )
    assert got == [
        ("2025-05-01", "Life", "BR001", "GBP", 1, D("1000"), D("0"), D("1000"), D("1250")),  # PA6 1000*1.25
        ("2025-06-01", "Life", "BR001", "USD", 1, D("100"), D("0"), D("100"), D("100")),  # PA1
        ("2025-07-01", "Health", "BR001", "USD", 1, D("50"), D("0"), D("50"), D("50")),  # PA8 (PO4 sold by BR001)
        ("2025-07-01", "Health", "BR002", "EUR", 1, D("300"), D("0"), D("300"), D("360")),  # PA4 300*1.20
        ("2025-07-01", "Life", "BR001", "GBP", 1, D("200"), D("0"), D("200"), D("300")),  # PA7 200*1.50
        ("2025-07-01", "Life", "BR001", "USD", 2, D("200"), D("20"), D("180"), D("180")),  # PA2 80 + PA13 100
        ("2025-08-01", "Health", "BR002", "EUR", 1, D("300"), D("50"), D("250"), D("325")),  # PA5 250*1.30; PA3 failed
    ]


def test_premium_written_vs_collected(built):
    got = rows(
        built,
        "SELECT month::text, policy_type, policies_written, written_usd, collected_usd, "
        "collected_to_written FROM analytics.premium_written_vs_collected ORDER BY 1, 2",
    )
    assert got == [
        ("2025-05-01", "Life", 1, D("1250"), D("1250"), D("1.0000")),  # PO3 1000/yr GBP * 1.25; PA6
        ("2025-06-01", "Life", 1, D("1200"), D("100"), D("0.0833")),  # PO1 100*12 USD; PA1 -> 100/1200
        ("2025-07-01", "Health", 2, D("1540"), D("410"), D("0.2662")),  # PO2 300*4*1.20 + PO4 50*2; PA4 360 + PA8 50
        ("2025-07-01", "Life", 0, D("0"), D("480"), None),  # PA2 80 + PA7 300 + PA13 100
        ("2025-08-01", "Health", 0, D("0"), D("325"), None),  # PA5
    ]


def test_loss_ratio_by_type_month_and_region(built):
    got = {
        r[:3]: r[3:]
        for r in rows(
            built,
            "SELECT month::text, policy_type, region, premium_usd, claims_paid_usd, "
            "loss_ratio FROM analytics.loss_ratio",
        )
    }
    # Premium takes the policyholder's Census region (CU1 NY Northeast, CU2 CA West, CU3 TX South), payouts the claim's.
    assert got[("2025-06-01", "Life", "Northeast")] == (D("100"), D("400"), D("4.0000"))  # PA1; PA9 for CL1
    assert got[("2025-07-01", "Health", "West")] == (D("360"), D("1800"), D("5.0000"))  # PA4; PA10 1500*1.20
    assert got[("2025-07-01", "Health", "Northeast")] == (D("50"), D("0"), D("0.0000"))  # PA8 (CU1)
    assert got[("2025-07-01", "Health", "Midwest")] == (D("0"), D("300"), None)  # PA12 for CL4 (Midwest)
    assert got[("2025-05-01", "Life", "South")] == (D("1250"), D("0"), D("0.0000"))
    # By (month, policy type): 07 Health premium 360 + 50 = 410, paid 1800 + 300 = 2100 -> 5.12195
    assert got[("2025-07-01", "Health", "All")] == (D("410"), D("2100"), D("5.1220"))
    assert got[("2025-07-01", "Life", "All")] == (D("480"), D("0"), D("0.0000"))  # 180 + 300
    # By (month, region): July Northeast premium 180 (Life) + 50 (Health) = 230, no payout there.
    assert got[("2025-07-01", "All", "Northeast")] == (D("230"), D("0"), D("0.0000"))
    # July overall: premium 480 + 410 = 890, paid 2100 -> 2.359550...
    assert got[("2025-07-01", "All", "All")] == (D("890"), D("2100"), D("2.3596"))
    # Every level adds up to the same totals: premium 2565, payouts 2500.
    for level in (
        "policy_type <> 'All' AND region <> 'All'",
        "region = 'All' AND policy_type <> 'All'",
        "policy_type = 'All' AND region <> 'All'",
        "policy_type = 'All' AND region = 'All'",
    ):
        assert rows(
            built, f"SELECT sum(premium_usd), sum(claims_paid_usd) FROM analytics.loss_ratio WHERE {level}"
        ) == [(D("2565"), D("2500"))], level


def test_customer_lifetime_value_and_segments(built):
    clv = {
        r[0]: r[1:]
        for r in rows(
            built,
            "SELECT customer_id, risk_band, policies, premium_paid_usd, "
            "claims_paid_usd, lifetime_value_usd "
            "FROM analytics.customer_lifetime_value",
        )
    }
    assert clv == {
        # PA1 100 + PA2 80 + PA13 100 + PA8 50; PA9 400 + PA12 300
        "CU0000001": ("Low", 2, D("330"), D("700"), D("-370")),
        "CU0000002": ("Medium", 1, D("685"), D("1800"), D("-1115")),  # risk 34 is Medium; PA4 360+PA5 325; PA10
        "CU0000003": ("High", 1, D("1550"), D("0"), D("1550")),  # risk 67 is High; PA6 1250 + PA7 300
        "CU0000004": ("Low", 0, D("0"), D("0"), D("0")),  # risk 33.9 is Low; no policies
    }
    seg = {
        r[:2]: r[2:]
        for r in rows(
            built,
            "SELECT segment, risk_band, customers, avg_tenure_years, policies, "
            "premium_paid_usd, claims_paid_usd, lifetime_value_usd, "
            "avg_lifetime_value_usd FROM analytics.customer_segments",
        )
    }
    assert set(seg) == {
        ("Retail", "Low"),
        ("Retail", "Medium"),
        ("Retail", "All"),
        ("Premium", "High"),
        ("Premium", "All"),
    }
    assert seg[("Retail", "Low")][:1] + seg[("Retail", "Low")][2:] == (2, 2, D("330"), D("700"), D("-370"), D("-185"))
    assert seg[("Retail", "Medium")][:1] + seg[("Retail", "Medium")][2:] == (
        1,
        1,
        D("685"),
        D("1800"),
        D("-1115"),
        D("-1115"),
    )
    # Retail in all bands: CU1 + CU2 + CU4: premium 330 + 685 = 1015, claims 2500, value -1485, -495 each.
    assert seg[("Retail", "All")][:1] + seg[("Retail", "All")][2:] == (
        3,
        3,
        D("1015"),
        D("2500"),
        D("-1485"),
        D("-495"),
    )
    assert seg[("Premium", "All")][2:] == (1, D("1550"), D("0"), D("1550"), D("1550"))

    def years(*since: str) -> float:  # mean days since sign-up / 365.25
        return sum((TODAY - dt.date.fromisoformat(s)).days for s in since) / len(since) / 365.25

    assert float(seg[("Retail", "Low")][1]) == pytest.approx(years("2020-01-01", "2021-01-01"), abs=0.006)
    assert float(seg[("Retail", "All")][1]) == pytest.approx(years("2020-01-01", "2021-01-01", "2022-01-01"), abs=0.006)
    assert float(seg[("Premium", "High")][1]) == pytest.approx(years("2024-01-01"), abs=0.006)


def test_agent_performance(built):
    got = rows(
        built,
        "SELECT agent_id, policies_sold, active_policies, premium_written_usd, premium_collected_usd, "
        "claims_paid_usd, claims_ratio, premium_rank FROM analytics.agent_performance ORDER BY agent_id",
    )
    assert got == [
        # PO1 + PO3 (Lapsed): written 1200 + 1250; collected (100+80+100) + (1250+300) = 1830; paid 400 -> 0.21858
        ("AG001", 2, 1, D("2450"), D("1830"), D("400"), D("0.2186"), 1),
        ("AG002", 0, 0, D("0"), D("0"), D("0"), None, 3),
        # PO2 + PO4: written 1440 + 100; collected 685 + 50 = 735; paid 1800 + 300 = 2100 -> 2.857142...
        ("AG003", 2, 2, D("1540"), D("735"), D("2100"), D("2.8571"), 2),
        ("AG004", 0, 0, D("0"), D("0"), D("0"), None, 3),  # dense rank: the tie after rank 2 is 3
    ]


def test_branch_performance(built):
    got = rows(
        built,
        "SELECT branch_id, agents, policies_sold, premium_written_usd, premium_collected_usd, "
        "claims_paid_usd, claims_ratio, premium_rank FROM analytics.branch_performance "
        "ORDER BY branch_id",
    )
    assert got == [
        # PO1, PO3, PO4 (sold by BR001 through AG003 of BR002): written 1200 + 1250 + 100 = 2550;
        # collected 280 + 1550 + 50 = 1880; paid 400 + 300 = 700 -> 0.372340...
        ("BR001", 2, 3, D("2550"), D("1880"), D("700"), D("0.3723"), 1),
        # PO2: written 1440, collected 685, paid 1800 -> 2.627737...
        ("BR002", 2, 1, D("1440"), D("685"), D("1800"), D("2.6277"), 2),
        ("BR003", 0, 0, D("0"), D("0"), D("0"), None, 3),
    ]


def test_ties_share_a_rank_and_the_next_rank_follows_on(built):
    # AG005 (BR003) sells PO5 (1440/Annual USD, branch BR003) and PO6 (100/Annual USD, branch BR001): AG005 writes
    # 1540 like AG003; BR003 writes 1440 like BR002, BR001 2550 + 100 = 2650, BR004 nothing.
    with psycopg2.connect(built) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO clean.branches (branch_id, city, state, created_at, updated_at, created_by, "
            "updated_by, _source_row) VALUES ('BR004', 'x', 'OH', now(), now(), 'x', 'x', 4)"
        )
        cur.execute(
            "INSERT INTO clean.agents SELECT 'AG005', 'Eve', 'BR003', role, hire_date, created_at, updated_at,"
            " created_by, updated_by, 5 FROM clean.agents WHERE agent_id = 'AG004'"
        )
        for pid, premium, branch in (("PO00000005", 1440.0, "BR003"), ("PO00000006", 100.0, "BR001")):
            cur.execute(
                "INSERT INTO clean.policies SELECT %s, 'CU0000004', policy_type, coverage_amount, %s,"
                " start_date, end_date, status, %s, 'AG005', 'Annual', renewal_date, beneficiary_count, 'USD',"
                " premium_due_date, created_at, updated_at, created_by, updated_by, _source_row + 10, _flags"
                " FROM clean.policies WHERE policy_id = 'PO00000004'",
                (pid, premium, branch),
            )
        analytics.build(conn)
    conn.close()
    assert rows(
        built, "SELECT agent_id, premium_written_usd, premium_rank FROM analytics.agent_performance ORDER BY agent_id"
    ) == [
        ("AG001", D("2450"), 1),
        ("AG002", D("0"), 3),
        ("AG003", D("1540"), 2),
        ("AG004", D("0"), 3),
        ("AG005", D("1540"), 2),
    ]
    assert rows(
        built,
        "SELECT branch_id, premium_written_usd, premium_rank FROM analytics.branch_performance ORDER BY branch_id",
    ) == [("BR001", D("2650"), 1), ("BR002", D("1440"), 2), ("BR003", D("1440"), 2), ("BR004", D("0"), 3)]


def test_data_quality_per_run_table_and_rule(built):
    got = {
        r[:3]: r[3:]
        for r in rows(
            built,
            "SELECT run_id, table_name, rule_id, rows_checked, violations, fixed, "
            "quarantined, violation_rate, valid_rate_before, valid_rate_after, "
            "checked_at, latest_heal FROM analytics.data_quality",
        )
    }
    assert len(got) == 5
    # run-1 customers: 3 of 5 rows valid before healing, 4 of 5 clean after; superseded by run-2.
    assert got[("run-1", "customers", "customers.duplicate_key")] == (
        5,
        1,
        0,
        1,
        D("0.2000"),
        D("0.6000"),
        D("0.8000"),
        dt.datetime(2025, 10, 1, 10, 0, tzinfo=UTC),
        False,
    )
    assert got[("run-1", "customers", "customers.email")][:3] == (5, 1, 1)
    # payments: 2 of 14 duplicates (0.142857), 10/14 valid before (0.714286), 12/14 clean after (0.857143).
    assert got[("run-1", "payments", "payments.duplicate_key")][4:7] == (D("0.1429"), D("0.7143"), D("0.8571"))
    assert got[("run-1", "payments", "payments.duplicate_key")][-1] is True
    # run-2 customers: 2/6 before, 3/6 after, the latest heal.
    assert got[("run-2", "customers", "customers.duplicate_key")][4:] == (
        D("0.5000"),
        D("0.3333"),
        D("0.5000"),
        dt.datetime(2025, 10, 2, 9, 0, tzinfo=UTC),
        True,
    )


def test_kpi_reconciliation_sets_reported_beside_computed(built):
    got = {
        r[:2]: r[2:]
        for r in rows(
            built,
            "SELECT snapshot_date::text, kpi, reported, computed, difference, "
            "relative_difference FROM analytics.kpi_reconciliation",
        )
    }
    assert len(got) == 2 * 11
    day = "2025-09-09"
    assert got[(day, "total_customers")] == (D(5), D(4), D(-1), D("-0.2000"))  # 4 customers in clean; -1/5
    assert got[(day, "active_customers")][1:3] == (D(2), D(0))  # CU1, CU2
    assert got[(day, "avg_risk_score")][1:3] == (D("38.725"), D("-1.275"))  # (20+34+67+33.9)/4
    assert got[(day, "total_policies")][1:3] == (D(4), D(0))
    assert got[(day, "active_policies")][1:3] == (D(3), D(1))  # PO1, PO2, PO4
    assert got[(day, "avg_premium")][1:3] == (D("362.5"), D("-37.5"))  # (100+300+1000+50)/4
    assert got[(day, "total_claims")][1:3] == (D(4), D(0))
    assert got[(day, "avg_claim_amount")][1:3] == (D(950), D(-50))  # (500+2000+1000+300)/4
    assert got[(day, "fraud_rate")][1:3] == (D("0.25"), D("0.05"))  # CL2 of 4
    assert got[(day, "total_payments")][1:3] == (D(13), D(1))
    assert got[(day, "success_rate")][1:3] == (D("0.846154"), D("-0.053846"))  # 11 of 13
    assert got[("2025-09-10", "avg_risk_score")] == (None, D("38.725"), None, None)  # not reported that day
    assert got[("2025-09-10", "total_customers")][2] == 0


def test_kpis_overview_row(built):
    got = rows(
        built,
        "SELECT customers, policies, active_policies, claims, premium_collected_usd, claims_paid_usd, "
        "loss_ratio, data_quality_score, last_healed_at, latest_run_id FROM analytics.kpis",
    )
    # premium 2565, payouts 2500 -> 0.974659; latest heals: customers run-2 3/6, payments run-1 12/14 -> 15/20.
    assert got == [
        (
            4,
            4,
            3,
            4,
            D("2565"),
            D("2500"),
            D("0.9747"),
            D("0.7500"),
            dt.datetime(2025, 10, 2, 9, 0, tzinfo=UTC),
            "run-3",
        )
    ]


def test_every_materialized_view_has_a_unique_index_to_refresh_concurrently(built):
    materialized = [name for kind, name in analytics.views() if kind.startswith("MATERIALIZED")]
    assert {
        "customer_segments",
        "agent_performance",
        "branch_performance",
        "kpi_reconciliation",
        "kpis",
    } <= set(materialized)
    with psycopg2.connect(built) as conn, conn.cursor() as cur:
        for name in materialized:
            cur.execute(sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.{}").format(sql.Identifier(name)))
    conn.close()
    assert rows(built, "SELECT premium_collected_usd FROM analytics.kpis") == [(D("2565"),)]


def test_rebuild_replaces_views_that_changed_kind_or_were_removed(built):
    with psycopg2.connect(built) as conn, conn.cursor() as cur:
        cur.execute(
            "DROP VIEW analytics.data_quality; DROP MATERIALIZED VIEW analytics.kpis;"
            "CREATE MATERIALIZED VIEW analytics.data_quality AS SELECT 1 AS x;"
            "CREATE VIEW analytics.kpis AS SELECT 1 AS x;"
            "CREATE VIEW analytics.retired AS SELECT * FROM analytics.revenue_monthly"
        )
        counts = analytics.build(conn)
    conn.close()
    assert counts["revenue_monthly"] == 7 and counts["kpis"] == 1
    assert "data_quality" not in counts  # a plain view: counting it would read it
    assert rows(
        built,
        "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'analytics'::regnamespace "
        "AND relname IN ('data_quality', 'kpis', 'retired') ORDER BY 1",
    ) == [("data_quality", "v"), ("kpis", "m")]


def test_a_refresh_with_nothing_new_keeps_the_keyed_tables_and_a_second_build_in_one_transaction_works(built):
    before = rows(built, "SELECT * FROM analytics.policy_financials ORDER BY policy_id")
    with psycopg2.connect(built) as conn:
        refreshed = analytics.refresh(conn, "run-x")  # no heal since the build: the keyed tables are kept
        again = analytics.build(conn)  # and a full build in the same transaction
    conn.close()
    assert refreshed.full is None and refreshed.keys == {"policies": 0, "customers": 0, "months": 0}
    assert refreshed.counts == again and again["policy_financials"] == len(before) > 0
    assert rows(built, "SELECT * FROM analytics.policy_financials ORDER BY policy_id") == before


def test_a_refresh_reads_the_keys_the_heals_recorded_and_builds_whole_from_rows_recorded_without_them(built):
    policy = rows(built, "SELECT policy_id FROM clean.policies ORDER BY policy_id LIMIT 1")[0][0]
    before = rows(built, "SELECT * FROM analytics.customer_values ORDER BY customer_id")
    with psycopg2.connect(built) as conn, conn.cursor() as cur:
        # A payment an incremental heal added (its policy and month), and one it held (no keys).
        cur.execute(
            "INSERT INTO ops.analytics_pending (table_name, source_row, run_id, keys_recorded, policy_id, month) "
            "VALUES ('payments', 1, 'run-a', true, %s, '2025-01-01'), ('payments', 2, 'run-a', true, NULL, NULL)",
            (policy,),
        )
        refreshed = analytics.refresh(conn, "run-b")
        # What a version that recorded no keys left behind: Transform cannot know the keys, so it builds whole.
        cur.execute(
            "INSERT INTO ops.analytics_pending (table_name, source_row, run_id) VALUES ('payments', 3, 'run-c')"
        )
        whole = analytics.refresh(conn, "run-d")
    conn.close()
    assert refreshed.full is None and refreshed.keys == {"policies": 1, "customers": 1, "months": 1}
    assert whole.full == "the changes of payments were recorded without their keys"
    assert rows(built, "SELECT * FROM analytics.customer_values ORDER BY customer_id") == before
    assert rows(built, "SELECT count(*) FROM ops.analytics_pending") == [(0,)]


@pytest.mark.parametrize("changed", ["analytics.py", "analytics_changes.py", "08_loss_ratio.sql"])
def test_a_change_to_the_code_or_sql_that_builds_the_analytics_builds_them_whole(built, monkeypatch, changed):
    with psycopg2.connect(built) as conn:
        analytics.build(conn)
        unchanged = analytics.refresh(conn, "run-before")
    read = analytics._read
    monkeypatch.setattr(
        analytics, "_read", lambda path: read(path) + (b"\n-- changed" if path.name == changed else b"")
    )
    with conn:
        upgraded = analytics.refresh(conn, "run-after-an-upgrade")
    conn.close()
    assert unchanged.full is None
    assert upgraded.full == "the analytics SQL or the code that builds it changed"


KEYED_TABLES = (
    "policy_summary",
    "claims_trends",
    "policy_financials",
    "revenue_monthly",
    "loss_ratio",
    "customer_values",
)


# What the month key of a new row of each table is (analytics_changes.KEYS_OF), and the columns a copy changes.
_DATED = {"payments": "transaction_date", "claims": "claim_date"}


def _heal_adds(cur, table: str, like: str, row_id: str, amount: float, keys: bool = True, month: bool = True) -> None:
    """What an incremental heal does for a new payment or claim: the row in clean (a copy of `like` under a new id,
    amount and row number) and in ops.analytics_pending with its keys and primary key (`keys` False: as a version
    that recorded no primary keys did; `month` False: its month left out of the keys)."""
    key, money = ("payment_id", "amount") if table == "payments" else ("claim_id", "claim_amount")
    cur.execute(
        f"INSERT INTO clean.{table} SELECT (jsonb_populate_record(NULL::clean.{table}, to_jsonb(p) || "
        f"jsonb_build_object('{key}', %s, '{money}', %s, '_source_row', (SELECT max(_source_row) + 1 FROM "
        f"clean.{table})) || CASE WHEN %s = 'payments' THEN jsonb_build_object('transaction_id', 'T' || %s) "
        f"ELSE '{{}}' END)).* FROM clean.{table} p WHERE {key} = %s",
        (row_id, amount, table, row_id, like),
    )
    cur.execute(
        "INSERT INTO ops.analytics_pending (table_name, source_row, run_id, keys_recorded, policy_id, month, "
        f"row_keys_recorded, row_key) SELECT %s, _source_row, 'run-a', true, policy_id, "
        f"CASE WHEN %s THEN date_trunc('month', {_DATED[table]})::date END, %s, %s FROM clean.{table} "
        f"WHERE {key} = %s",
        (table, month, keys, row_id if keys else None, row_id),
    )


def _keyed(url: str) -> dict[str, list]:
    return {t: sorted(rows(url, f"SELECT * FROM analytics.{t}"), key=repr) for t in KEYED_TABLES}


def _refreshed_beside_a_full_build(url: str, arrive) -> tuple[analytics.Built, dict[str, list], dict[str, list]]:
    """The rows `arrive(cur)` adds as heals do, taken in by a refresh; the keyed tables then, and after a full build."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        arrive(cur)
        refreshed = analytics.refresh(conn, "run-b")
    conn.close()
    got = _keyed(url)
    with psycopg2.connect(url) as conn:
        analytics.build(conn)
    conn.close()
    return refreshed, got, _keyed(url)


@pytest.mark.parametrize(
    ("premium", "payout", "keys", "not_additive"),
    [
        (25.5, 40.1, True, None),
        (25.505, 40.1, True, "payments PA000000101 has an amount in fractions of a cent"),
        (25.5, 40.1, False, "the new rows of payments were recorded without their primary keys"),
    ],
)
def test_new_payments_and_claims_are_added_to_the_tables_of_sums_as_a_full_build_would_count_them(
    built, premium, payout, keys, not_additive
):
    """A premium of PO1, a payout of its claim CL1 and another claim of PO1 arrive: the tables of sums add them to
    the stored sums of their customer, policy and month, or (an amount in fractions of a cent, no primary keys
    recorded) read those keys' rows again; either way each keyed table holds what a full build gives."""
    before = _keyed(built)

    def arrive(cur):
        _heal_adds(cur, "payments", "PA000000001", "PA000000101", premium, keys)
        _heal_adds(cur, "payments", "PA000000009", "PA000000102", payout, keys)
        _heal_adds(cur, "claims", "CL00000001", "CL00000101", 250.25, keys)

    refreshed, got, full = _refreshed_beside_a_full_build(built, arrive)
    assert got == full
    assert [t for t in KEYED_TABLES if got[t] == before[t]] == []  # each took the new rows in
    assert refreshed.full is None and refreshed.keys == {"policies": 1, "customers": 1, "months": 1}
    assert refreshed.not_additive == not_additive
    added = ["policy_summary", "claims_trends", "policy_financials", "revenue_monthly", "loss_ratio"]
    assert refreshed.added == (added if not_additive is None else [])
    # PO1 (CU1): premium 100 + 80 + 100 + the new one, payouts 400 + the new one, in June 2025 (PA1's and PA9's month).
    assert rows(
        built,
        "SELECT premium_collected_usd, payouts, claims_paid_usd FROM analytics.policy_financials "
        "WHERE policy_id = 'PO00000001'",
    ) == [(D(str(round(280 + premium, 2))), 2, D(str(400 + payout)))]


def test_a_sum_whose_key_was_not_recorded_as_changed_is_still_merged_with_its_stored_row(built):
    """The month-grouped tables take the new rows' sums by group; a payment whose month the heal did not record
    among the changed keys still adds to its month's stored row instead of standing beside it."""
    refreshed, got, full = _refreshed_beside_a_full_build(
        built, lambda cur: _heal_adds(cur, "payments", "PA000000001", "PA000000101", 25.5, month=False)
    )
    assert refreshed.keys["months"] == 0 and "revenue_monthly" in refreshed.added
    assert got == full
