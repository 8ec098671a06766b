-- Per customer: risk band (Low: risk_score < 34, Medium: < 67, High: the rest), policies, premium paid and claims
-- paid (USD, from policy_financials) and lifetime value = premium paid - claims paid. Read through
-- customer_lifetime_value, which adds the tenure as of the day it is read.
-- A table refreshed by customer after an incremental heal (pipeline/analytics.py: the `keys` markers below); the
-- changed customers include those of every changed policy, whose policy_financials rows were refreshed before.
-- keyed: customer_id in customers
CREATE TABLE analytics.customer_values AS
WITH held AS (
    SELECT customer_id,
           count(*)                   AS policies,
           sum(premium_collected_usd) AS premium_paid_usd,
           sum(claims_paid_usd)       AS claims_paid_usd
    FROM analytics.policy_financials
    WHERE true /*keys: customer_id in customers*/
    GROUP BY customer_id
)
SELECT c.customer_id,
       c.segment,
       c.customer_status,
       c.risk_score,
       CASE WHEN c.risk_score < 34 THEN 'Low' WHEN c.risk_score < 67 THEN 'Medium' ELSE 'High' END AS risk_band,
       c.created_at,
       coalesce(h.policies, 0)                                                              AS policies,
       coalesce(h.premium_paid_usd, 0)::numeric(16, 2)                                      AS premium_paid_usd,
       coalesce(h.claims_paid_usd, 0)::numeric(16, 2)                                       AS claims_paid_usd,
       (coalesce(h.premium_paid_usd, 0) - coalesce(h.claims_paid_usd, 0))::numeric(16, 2)  AS lifetime_value_usd
FROM clean.customers c
LEFT JOIN held h USING (customer_id)
WHERE true /*keys: c.customer_id in customers*/;

CREATE UNIQUE INDEX ON analytics.customer_values (customer_id);
CREATE INDEX ON analytics.customer_values (segment, risk_band);
CREATE INDEX ON analytics.customer_values (lifetime_value_usd);
