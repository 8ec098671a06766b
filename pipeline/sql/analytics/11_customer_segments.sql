-- Per segment and risk band (Low < 34 <= Medium < 67 <= High, by risk_score): customers, average tenure in years,
-- policies, premium paid, claims paid and lifetime value (premium paid - claims paid), USD, summed from
-- customer_lifetime_value. Rows with risk_band = 'All' are the segment's totals over bands.
CREATE MATERIALIZED VIEW analytics.customer_segments AS
SELECT segment,
       CASE WHEN grouping(risk_band) = 1 THEN 'All' ELSE risk_band END AS risk_band,
       count(*)                                                        AS customers,
       (avg(current_date - created_at::date) / 365.25)::numeric(8, 2)  AS avg_tenure_years,
       sum(policies)                                                   AS policies,
       sum(premium_paid_usd)::numeric(16, 2)                           AS premium_paid_usd,
       sum(claims_paid_usd)::numeric(16, 2)                            AS claims_paid_usd,
       sum(lifetime_value_usd)::numeric(16, 2)                         AS lifetime_value_usd,
       avg(lifetime_value_usd)::numeric(16, 2)                         AS avg_lifetime_value_usd
FROM analytics.customer_lifetime_value
GROUP BY GROUPING SETS ((segment, risk_band), (segment));

CREATE UNIQUE INDEX ON analytics.customer_segments (segment, risk_band);
