-- The USD rate of each currency and the days it is in force, for converting amounts to USD.
-- The rate in force on a date is the latest rate dated on or before that date; for dates before a currency's
-- first rate, it is that currency's earliest rate (the source holds monthly rates for a few months of 2025 only,
-- while payments span 2015-2025). conversion_rate is USD per unit of the currency (USD is always 1.0), so
-- amount in USD = amount * usd_rate. A currency without any rate has no row here: its amounts convert to NULL.
-- Readers join on: r.currency = x.currency AND x.day >= r.valid_from AND x.day < r.valid_until.
CREATE VIEW analytics.currency_rate_periods AS
SELECT currency,
       CASE WHEN lag(date) OVER w IS NULL THEN '-infinity'::date ELSE date END AS valid_from,
       coalesce(lead(date) OVER w, 'infinity'::date)                          AS valid_until,
       date                                                                   AS rate_date,
       conversion_rate                                                        AS usd_rate
FROM clean.currency_rates
WINDOW w AS (PARTITION BY currency ORDER BY date);
