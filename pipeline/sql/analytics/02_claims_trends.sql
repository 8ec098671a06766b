-- Per month and claim type: claims filed, amounts, approval rate (of decided claims) and fraud rate.
CREATE MATERIALIZED VIEW analytics.claims_trends AS
SELECT date_trunc('month', claim_date)::date                        AS month,
       claim_type,
       count(*)                                                    AS claims,
       sum(claim_amount)::numeric(16, 2)                           AS total_amount,
       avg(claim_amount)::numeric(16, 2)                           AS avg_amount,
       (count(*) FILTER (WHERE status IN ('Approved', 'Paid'))::numeric
         / nullif(count(*) FILTER (WHERE status IN ('Approved', 'Paid', 'Rejected')), 0))::numeric(6, 4)
                                                                   AS approval_rate,
       avg(fraud_flag::int)::numeric(6, 4)                         AS fraud_rate
FROM clean.claims
GROUP BY 1, 2;

CREATE UNIQUE INDEX ON analytics.claims_trends (month, claim_type);
