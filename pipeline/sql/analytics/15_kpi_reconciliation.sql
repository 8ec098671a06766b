-- Each daily snapshot's KPI figures as the source system reported them, beside the same figures computed from
-- clean.*, one row per (snapshot_date, kpi); difference = computed - reported, relative_difference = difference /
-- reported. clean.* holds the data as exported (no history), so the computed figures are the same on every date.
-- Definitions: active customers have customer_status 'Active', active policies status 'Active'; avg_premium is the
-- mean premium_amount as recorded (per payment period, in the policy's currency, as the source reports it);
-- avg_claim_amount the mean claim_amount; fraud_rate the share of claims with fraud_flag; success_rate the share
-- of payments with success_flag.
CREATE MATERIALIZED VIEW analytics.kpi_reconciliation AS
WITH cu AS (
    SELECT count(*)                                           AS total_customers,
           count(*) FILTER (WHERE customer_status = 'Active') AS active_customers,
           avg(risk_score)                                    AS avg_risk_score
    FROM clean.customers
), po AS (
    SELECT count(*)                                  AS total_policies,
           count(*) FILTER (WHERE status = 'Active') AS active_policies,
           avg(premium_amount)                       AS avg_premium
    FROM clean.policies
), cl AS (
    SELECT count(*) AS total_claims, avg(claim_amount) AS avg_claim_amount, avg(fraud_flag::int) AS fraud_rate
    FROM clean.claims
), pa AS (
    SELECT count(*) AS total_payments, avg(success_flag::int) AS success_rate
    FROM clean.payments
)
SELECT s.snapshot_date,
       k.kpi,
       k.reported::numeric(20, 6)                                         AS reported,
       k.computed::numeric(20, 6)                                         AS computed,
       (k.computed::numeric(20, 6) - k.reported::numeric(20, 6))         AS difference,
       ((k.computed::numeric(20, 6) - k.reported::numeric(20, 6))
         / nullif(k.reported::numeric(20, 6), 0))::numeric(12, 4)         AS relative_difference
FROM clean.snapshots s
CROSS JOIN cu CROSS JOIN po CROSS JOIN cl CROSS JOIN pa
CROSS JOIN LATERAL (VALUES
    ('total_customers',  s.total_customers::numeric,  cu.total_customers::numeric),
    ('active_customers', s.active_customers::numeric, cu.active_customers::numeric),
    ('avg_risk_score',   s.avg_risk_score::numeric,   cu.avg_risk_score::numeric),
    ('total_policies',   s.total_policies::numeric,   po.total_policies::numeric),
    ('active_policies',  s.active_policies::numeric,  po.active_policies::numeric),
    ('avg_premium',      s.avg_premium::numeric,      po.avg_premium::numeric),
    ('total_claims',     s.total_claims::numeric,     cl.total_claims::numeric),
    ('avg_claim_amount', s.avg_claim_amount::numeric, cl.avg_claim_amount::numeric),
    ('fraud_rate',       s.fraud_rate::numeric,       cl.fraud_rate::numeric),
    ('total_payments',   s.total_payments::numeric,   pa.total_payments::numeric),
    ('success_rate',     s.success_rate::numeric,     pa.success_rate::numeric)
) AS k (kpi, reported, computed);

CREATE UNIQUE INDEX ON analytics.kpi_reconciliation (snapshot_date, kpi);
CREATE INDEX ON analytics.kpi_reconciliation (kpi, snapshot_date);
