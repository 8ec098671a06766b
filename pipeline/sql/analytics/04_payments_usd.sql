-- Successful payments only, each with its net amount (amount less refunds; a refund is never counted above the
-- amount) in its own currency and in USD at the rate in force on the transaction date (see currency_rate_periods).
-- kind: 'premium' (claim_id is null: the customer paid a premium) or 'payout' (claim_id set: a claim was paid).
-- A plain view that the materialized views read when they are built. Amounts stay double precision, as in
-- clean.payments (numeric arithmetic on every payment triples the build time), but the USD amount is rounded to the
-- cent per payment, so that every view's sums, rounded to cents, agree with each other to the cent.
CREATE VIEW analytics.payments_usd AS
SELECT p.payment_id,
       p.policy_id,
       p.claim_id,
       CASE WHEN p.claim_id IS NULL THEN 'premium' ELSE 'payout' END AS kind,
       p.transaction_date,
       date_trunc('month', p.transaction_date)::date                 AS month,
       p.currency,
       p.amount,
       n.refunded_amount,
       p.amount - n.refunded_amount                                  AS net_amount,
       r.usd_rate,
       round((p.amount - n.refunded_amount) * r.usd_rate * 100) / 100 AS net_amount_usd
FROM clean.payments p
CROSS JOIN LATERAL (SELECT least(p.refunded_amount, p.amount) AS refunded_amount) n
LEFT JOIN analytics.currency_rate_periods r
       ON r.currency = p.currency AND p.transaction_date >= r.valid_from AND p.transaction_date < r.valid_until
WHERE p.success_flag;
