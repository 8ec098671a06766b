-- Per month and policy type: premium written (annualised premium of the policies starting that month, USD at the
-- rate in force on each start date; see policy_financials) beside premium collected that month (revenue_monthly).
-- A month with collections but no new policies has written 0 and collected_to_written NULL.
CREATE MATERIALIZED VIEW analytics.premium_written_vs_collected AS
WITH written AS (
    SELECT start_month AS month, policy_type, count(*) AS policies_written, sum(written_usd) AS written_usd
    FROM analytics.policy_financials
    GROUP BY 1, 2
), collected AS (
    SELECT month, policy_type, sum(collected_usd) AS collected_usd
    FROM analytics.revenue_monthly
    GROUP BY 1, 2
)
SELECT month,
       policy_type,
       coalesce(w.policies_written, 0)                            AS policies_written,
       coalesce(w.written_usd, 0)::numeric(16, 2)                 AS written_usd,
       coalesce(c.collected_usd, 0)::numeric(16, 2)               AS collected_usd,
       (c.collected_usd / nullif(w.written_usd, 0))::numeric(16, 4) AS collected_to_written
FROM written w
FULL JOIN collected c USING (month, policy_type);

CREATE UNIQUE INDEX ON analytics.premium_written_vs_collected (month, policy_type);
CREATE INDEX ON analytics.premium_written_vs_collected (policy_type, month);
