-- Premium collected per month (of the payment), policy type, branch and currency (of the payment): successful
-- premium payments, gross, refunded and net in the payment's currency, and net in USD at the rate in force on each
-- payment's date (see currency_rate_periods). collected_usd is NULL for a currency that has no rate at all.
-- A table refreshed by month after an incremental heal, by adding the new payments' sums (pipeline/analytics.py: the
-- `keys` and `new` markers below).
-- keyed: month in months
-- adds: payments, gross_amount, refunded_amount, collected_amount, collected_usd
CREATE TABLE analytics.revenue_monthly AS
SELECT pay.month,
       pol.policy_type,
       pol.branch_code,
       pay.currency,
       count(*)                                 AS payments,
       sum(pay.amount)::numeric(16, 2)          AS gross_amount,
       sum(pay.refunded_amount)::numeric(16, 2) AS refunded_amount,
       sum(pay.net_amount)::numeric(16, 2)      AS collected_amount,
       sum(pay.net_amount_usd)::numeric(16, 2)  AS collected_usd
FROM analytics.payments_usd pay
JOIN clean.policies pol USING (policy_id)
WHERE pay.claim_id IS NULL  -- kind = 'premium', said so that the planner can count the rows
  AND true /*keys: pay.month in months, new: pay.payment_id in payments*/
GROUP BY 1, 2, 3, 4;

CREATE UNIQUE INDEX ON analytics.revenue_monthly (month, policy_type, branch_code, currency);
CREATE INDEX ON analytics.revenue_monthly (policy_type, month);
CREATE INDEX ON analytics.revenue_monthly (branch_code, month);
