-- Per customer: risk band (Low: risk_score < 34, Medium: < 67, High: the rest), tenure in years (from created_at
-- to the day the view was built), policies, premium paid and claims paid (USD, from policy_financials) and
-- lifetime value = premium paid - claims paid.
CREATE MATERIALIZED VIEW analytics.customer_lifetime_value AS
WITH held AS (
    SELECT customer_id,
           count(*)                   AS policies,
           sum(premium_collected_usd) AS premium_paid_usd,
           sum(claims_paid_usd)       AS claims_paid_usd
    FROM analytics.policy_financials
    GROUP BY customer_id
)
SELECT c.customer_id,
       c.segment,
       c.customer_status,
       c.risk_score,
       CASE WHEN c.risk_score < 34 THEN 'Low' WHEN c.risk_score < 67 THEN 'Medium' ELSE 'High' END AS risk_band,
       c.created_at,
       ((current_date - c.created_at::date) / 365.25)::numeric(8, 2)                        AS tenure_years,
       coalesce(h.policies, 0)                                                              AS policies,
       coalesce(h.premium_paid_usd, 0)::numeric(16, 2)                                      AS premium_paid_usd,
       coalesce(h.claims_paid_usd, 0)::numeric(16, 2)                                       AS claims_paid_usd,
       (coalesce(h.premium_paid_usd, 0) - coalesce(h.claims_paid_usd, 0))::numeric(16, 2)  AS lifetime_value_usd
FROM clean.customers c
LEFT JOIN held h USING (customer_id);

CREATE UNIQUE INDEX ON analytics.customer_lifetime_value (customer_id);
CREATE INDEX ON analytics.customer_lifetime_value (segment, risk_band);
CREATE INDEX ON analytics.customer_lifetime_value (lifetime_value_usd);
