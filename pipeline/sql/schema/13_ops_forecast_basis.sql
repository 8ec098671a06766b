-- What analytics.claims_forecast was made from: a digest of the whole months it learnt from and of the code that made
-- it. Transform makes the forecast again only when that changes (a day's claims in a month not yet whole change
-- nothing it learns from).
CREATE TABLE IF NOT EXISTS ops.forecast_basis (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    inputs   text NOT NULL
);
