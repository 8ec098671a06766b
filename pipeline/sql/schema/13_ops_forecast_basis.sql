-- What analytics.claims_forecast was made from: a digest of the whole months it learnt from and of the code that made
-- it, and the latest claim date then. Transform makes the forecast again only when the digest changes (a day's
-- claims in a month not yet whole change nothing it learns from), and imports statsmodels beforehand only when the
-- new claims' months say it will (pipeline/forecast.py: refit_likely).
CREATE TABLE IF NOT EXISTS ops.forecast_basis (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    inputs       text NOT NULL,
    latest_claim date
);
