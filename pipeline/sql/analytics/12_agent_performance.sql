-- Per agent: policies sold (assigned to the agent), premium written (annualised, USD), premium collected and claims
-- paid on those policies (USD), claims ratio = claims paid / premium collected, and premium_rank: dense rank over
-- all agents by premium written, 1 the highest. Agents without policies are listed with zeros.
CREATE MATERIALIZED VIEW analytics.agent_performance AS
WITH sold AS (
    SELECT agent_id,
           count(*)                                  AS policies_sold,
           count(*) FILTER (WHERE status = 'Active') AS active_policies,
           sum(written_usd)                          AS premium_written_usd,
           sum(premium_collected_usd)                AS premium_collected_usd,
           sum(claims_paid_usd)                      AS claims_paid_usd
    FROM analytics.policy_financials
    GROUP BY agent_id
)
SELECT a.agent_id,
       a.name                                                            AS agent_name,
       a.branch_id,
       a.role,
       coalesce(s.policies_sold, 0)                                      AS policies_sold,
       coalesce(s.active_policies, 0)                                    AS active_policies,
       coalesce(s.premium_written_usd, 0)::numeric(16, 2)                AS premium_written_usd,
       coalesce(s.premium_collected_usd, 0)::numeric(16, 2)              AS premium_collected_usd,
       coalesce(s.claims_paid_usd, 0)::numeric(16, 2)                    AS claims_paid_usd,
       (s.claims_paid_usd / nullif(s.premium_collected_usd, 0))::numeric(16, 4) AS claims_ratio,
       dense_rank() OVER (ORDER BY coalesce(s.premium_written_usd, 0) DESC) AS premium_rank
FROM clean.agents a
LEFT JOIN sold s USING (agent_id);

CREATE UNIQUE INDEX ON analytics.agent_performance (agent_id);
CREATE INDEX ON analytics.agent_performance (premium_rank);
CREATE INDEX ON analytics.agent_performance (branch_id);
