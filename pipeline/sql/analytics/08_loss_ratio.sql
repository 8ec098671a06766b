-- Loss ratio = claims paid / premium earned, per month (of the payment), policy type and region. Claims paid:
-- successful claim payouts; premium earned: successful premium payments; both net of refunds, in USD at the rate in
-- force on the payment date (see payments_usd). NULL where no premium was earned.
-- Region: a payout takes its claim's region (claims.region, one of the four US Census regions). Premium has no
-- region of its own, so it takes the Census region of the policyholder's state (customers.state); a state outside
-- the fifty lands in 'Unknown'.
-- Roll-ups are rows of their own: region = 'All' gives the loss ratio by (month, policy type), policy_type = 'All'
-- the loss ratio by (month, region), both 'All' the month's. Sum or filter within one level only.
-- A table refreshed by month after an incremental heal, by adding the new payments' sums (pipeline/analytics.py: the
-- `keys` and `new` marker below).
-- keyed: month in months
-- adds: premium_payments, premium_usd, payouts, claims_paid_usd; then loss_ratio = (claims_paid_usd / nullif(premium_usd, 0))::numeric(16, 4)
CREATE TABLE analytics.loss_ratio AS
WITH state_region (state, region) AS (
    SELECT unnest(string_to_array(states, ' ')), region
    FROM (VALUES ('Northeast', 'CT ME MA NH RI VT NJ NY PA'),
                 ('Midwest', 'IL IN MI OH WI IA KS MN MO NE ND SD'),
                 ('South', 'DE FL GA MD NC SC VA WV AL KY MS TN AR LA OK TX'),
                 ('West', 'AZ CO ID MT NV NM UT WY AK CA HI OR WA')) AS r (region, states)
), flows AS (
    SELECT pay.month,
           pol.policy_type,
           CASE WHEN pay.kind = 'payout' THEN cl.region ELSE coalesce(sr.region, 'Unknown') END AS region,
           pay.kind,
           pay.net_amount_usd
    FROM analytics.payments_usd pay
    JOIN clean.policies pol ON pol.policy_id = pay.policy_id
    JOIN clean.customers cu ON cu.customer_id = pol.customer_id
    LEFT JOIN state_region sr ON sr.state = cu.state
    LEFT JOIN clean.claims cl ON cl.claim_id = pay.claim_id
    WHERE true /*keys: pay.month in months, new: pay.payment_id in payments*/
), sums AS (
    SELECT month,
           CASE WHEN grouping(policy_type) = 1 THEN 'All' ELSE policy_type END              AS policy_type,
           CASE WHEN grouping(region) = 1 THEN 'All' ELSE region END                        AS region,
           count(*) FILTER (WHERE kind = 'premium')                                         AS premium_payments,
           coalesce(sum(net_amount_usd) FILTER (WHERE kind = 'premium'), 0)::numeric(16, 2) AS premium_usd,
           count(*) FILTER (WHERE kind = 'payout')                                          AS payouts,
           coalesce(sum(net_amount_usd) FILTER (WHERE kind = 'payout'), 0)::numeric(16, 2)  AS claims_paid_usd
    FROM flows
    GROUP BY GROUPING SETS ((month, policy_type, region), (month, policy_type), (month, region), (month))
)
-- The ratio of the two sums as shown (in cents): an additive refresh computes it from them as a full build does.
SELECT *, (claims_paid_usd / nullif(premium_usd, 0))::numeric(16, 4) AS loss_ratio
FROM sums;

CREATE UNIQUE INDEX ON analytics.loss_ratio (month, policy_type, region);
CREATE INDEX ON analytics.loss_ratio (policy_type, month);
CREATE INDEX ON analytics.loss_ratio (region, month);
