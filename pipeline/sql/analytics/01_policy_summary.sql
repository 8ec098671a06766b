-- Per customer: policies held, active policies, premium, claims filed and claim payouts received.
-- A table refreshed by customer after an incremental heal, by adding the new rows' sums (pipeline/analytics.py: the
-- `keys` and `new` markers below).
-- keyed: customer_id in customers
-- adds: policies, active_policies, total_premium, claims, claimed_amount, paid_out
CREATE TABLE analytics.policy_summary AS
WITH pol AS (
    SELECT customer_id,
           count(*)                                   AS policies,
           count(*) FILTER (WHERE status = 'Active')  AS active_policies,
           sum(premium_amount)                        AS total_premium
    FROM clean.policies
    WHERE true /*keys: customer_id in customers, new: policy_id in policies*/
    GROUP BY customer_id
), clm AS (
    SELECT p.customer_id, count(*) AS claims, sum(c.claim_amount) AS claimed_amount
    FROM clean.claims c JOIN clean.policies p USING (policy_id)
    WHERE true /*keys: p.customer_id in customers, new: c.claim_id in claims*/
    GROUP BY p.customer_id
), paid AS (
    SELECT p.customer_id, sum(pay.amount) AS paid_out
    FROM clean.payments pay JOIN clean.policies p USING (policy_id)
    WHERE pay.claim_id IS NOT NULL AND pay.success_flag
      AND true /*keys: p.customer_id in customers, new: pay.payment_id in payments*/
    GROUP BY p.customer_id
)
SELECT c.customer_id,
       c.first_name || ' ' || c.last_name           AS customer_name,
       c.segment,
       c.state,
       coalesce(pol.policies, 0)                    AS policies,
       coalesce(pol.active_policies, 0)             AS active_policies,
       coalesce(pol.total_premium, 0)::numeric(16, 2) AS total_premium,
       coalesce(clm.claims, 0)                      AS claims,
       coalesce(clm.claimed_amount, 0)::numeric(16, 2) AS claimed_amount,
       coalesce(paid.paid_out, 0)::numeric(16, 2)   AS paid_out
FROM clean.customers c
LEFT JOIN pol USING (customer_id)
LEFT JOIN clm USING (customer_id)
LEFT JOIN paid USING (customer_id)
WHERE true /*keys: c.customer_id in customers*/;

CREATE UNIQUE INDEX ON analytics.policy_summary (customer_id);
