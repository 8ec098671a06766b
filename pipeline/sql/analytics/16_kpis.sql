-- One row: the overview figures the app shows as cards. Premium collected and claims paid are successful payments
-- net of refunds in USD (from policy_financials); loss_ratio = claims paid / premium collected.
-- data_quality_score: of the raw rows of each table's latest heal (quality.table_results), the share that ended in
-- clean. latest_run_id: the newest run in ops.runs when the view was built (the run that built it, when built by
-- Transform), else the latest heal's run. built_at is the key (one row; REFRESH ... CONCURRENTLY needs a unique index):
-- the start of the newest run, so that rebuilding the view from the same data (as a restore does) gives the same row.
CREATE MATERIALIZED VIEW analytics.kpis AS
WITH pol AS (
    SELECT count(*)                                  AS policies,
           count(*) FILTER (WHERE status = 'Active') AS active_policies,
           sum(premium_collected_usd)                AS premium_collected_usd,
           sum(claims_paid_usd)                      AS claims_paid_usd
    FROM analytics.policy_financials
), latest_heal AS (
    SELECT DISTINCT ON (table_name) table_name, run_id, raw_rows, clean_rows, checked_at
    FROM quality.table_results
    ORDER BY table_name, checked_at DESC, run_id DESC
)
SELECT coalesce((SELECT max(started_at) FROM ops.runs), now())               AS built_at,
       (SELECT count(*) FROM clean.customers)                                 AS customers,
       pol.policies,
       pol.active_policies,
       (SELECT count(*) FROM clean.claims)                                    AS claims,
       coalesce(pol.premium_collected_usd, 0)::numeric(16, 2)                 AS premium_collected_usd,
       coalesce(pol.claims_paid_usd, 0)::numeric(16, 2)                       AS claims_paid_usd,
       (pol.claims_paid_usd / nullif(pol.premium_collected_usd, 0))::numeric(16, 4) AS loss_ratio,
       (SELECT (sum(clean_rows)::numeric / nullif(sum(raw_rows), 0))::numeric(8, 4) FROM latest_heal)
                                                                              AS data_quality_score,
       (SELECT max(checked_at) FROM latest_heal)                              AS last_healed_at,
       coalesce((SELECT run_id FROM ops.runs ORDER BY started_at DESC, run_id DESC LIMIT 1),
                (SELECT run_id FROM latest_heal ORDER BY checked_at DESC, run_id DESC LIMIT 1)) AS latest_run_id
FROM pol;

CREATE UNIQUE INDEX ON analytics.kpis (built_at);
