-- Per month and claim type: claims filed, amounts, approval rate (of decided claims) and fraud rate, with the counts
-- the rates are made of. The average and the rates are computed from the sums as shown (the total in cents).
-- A table refreshed by month after an incremental heal, by adding the new claims' counts and sums
-- (pipeline/analytics.py: the `keys` and `new` markers below).
-- keyed: month in months
-- adds: claims, total_amount, approved_claims, decided_claims, fraud_claims; then avg_amount = (total_amount / claims)::numeric(16, 2); then approval_rate = (approved_claims::numeric / nullif(decided_claims, 0))::numeric(6, 4); then fraud_rate = (fraud_claims::numeric / claims)::numeric(6, 4)
CREATE TABLE analytics.claims_trends AS
WITH sums AS (
    SELECT date_trunc('month', claim_date)::date                                  AS month,
           claim_type,
           count(*)                                                              AS claims,
           sum(claim_amount)::numeric(16, 2)                                     AS total_amount,
           count(*) FILTER (WHERE status IN ('Approved', 'Paid'))                AS approved_claims,
           count(*) FILTER (WHERE status IN ('Approved', 'Paid', 'Rejected'))    AS decided_claims,
           count(*) FILTER (WHERE fraud_flag)                                    AS fraud_claims
    FROM clean.claims
    WHERE true /*keys: date_trunc('month', claim_date)::date in months, new: claim_id in claims*/
    GROUP BY 1, 2
)
SELECT month,
       claim_type,
       claims,
       total_amount,
       (total_amount / claims)::numeric(16, 2)                                AS avg_amount,
       (approved_claims::numeric / nullif(decided_claims, 0))::numeric(6, 4)  AS approval_rate,
       (fraud_claims::numeric / claims)::numeric(6, 4)                        AS fraud_rate,
       approved_claims,
       decided_claims,
       fraud_claims
FROM sums;

CREATE UNIQUE INDEX ON analytics.claims_trends (month, claim_type);
