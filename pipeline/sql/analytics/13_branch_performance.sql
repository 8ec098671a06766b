-- Per branch: its agents, policies sold (policies.branch_code), premium written (annualised, USD), premium
-- collected and claims paid on those policies (USD), claims ratio = claims paid / premium collected, and
-- premium_rank: dense rank over all branches by premium written, 1 the highest. Branches without policies are
-- listed with zeros.
CREATE MATERIALIZED VIEW analytics.branch_performance AS
WITH sold AS (
    SELECT branch_code                               AS branch_id,
           count(*)                                  AS policies_sold,
           count(*) FILTER (WHERE status = 'Active') AS active_policies,
           sum(written_usd)                          AS premium_written_usd,
           sum(premium_collected_usd)                AS premium_collected_usd,
           sum(claims_paid_usd)                      AS claims_paid_usd
    FROM analytics.policy_financials
    GROUP BY branch_code
), staff AS (
    SELECT branch_id, count(*) AS agents FROM clean.agents GROUP BY branch_id
)
SELECT b.branch_id,
       b.city,
       b.state,
       b.manager_id,
       coalesce(st.agents, 0)                                            AS agents,
       coalesce(s.policies_sold, 0)                                      AS policies_sold,
       coalesce(s.active_policies, 0)                                    AS active_policies,
       coalesce(s.premium_written_usd, 0)::numeric(16, 2)                AS premium_written_usd,
       coalesce(s.premium_collected_usd, 0)::numeric(16, 2)              AS premium_collected_usd,
       coalesce(s.claims_paid_usd, 0)::numeric(16, 2)                    AS claims_paid_usd,
       (s.claims_paid_usd / nullif(s.premium_collected_usd, 0))::numeric(16, 4) AS claims_ratio,
       dense_rank() OVER (ORDER BY coalesce(s.premium_written_usd, 0) DESC) AS premium_rank
FROM clean.branches b
LEFT JOIN sold s USING (branch_id)
LEFT JOIN staff st USING (branch_id);

CREATE UNIQUE INDEX ON analytics.branch_performance (branch_id);
CREATE INDEX ON analytics.branch_performance (premium_rank);
