"""Claims forecast per claim type: six months of counts and amounts with an interval, backtested against seasonal naive."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import importlib.metadata
import threading
import warnings

import numpy as np
import pandas as pd
from psycopg2 import sql
from psycopg2.extras import execute_values

HORIZON = 6  # months forecast
BACKTEST = 12  # months held out to measure the error
SEASON = 12
MIN_MONTHS = 2 * SEASON  # a seasonal model needs two whole years to fit
WINDOW = 4 * SEASON  # months the model learns from: a growing book's early years distort the season's shape
SEVERITY_MONTHS = 2 * SEASON  # months the average claim amount (severity) is taken from
INTERVAL = 0.8  # the central share of outcomes the interval holds
SIMULATIONS = 1000
METRICS = {"claims": "claims", "amount": "total_amount"}  # forecast column -> claims_trends column


@dataclasses.dataclass(frozen=True)
class Backtest:
    """Mean absolute percentage error over the held-out months, of the model and of seasonal naive."""

    model_mape: float | None
    naive_mape: float | None


def monthly(trends: pd.DataFrame, last_day: pd.Timestamp | None) -> dict[str, pd.DataFrame]:
    """Whole months per claim type (months without claims as 0), from analytics.claims_trends rows.

    The month of the last claim is dropped unless it ends on its last day: a partial month reads as a collapse.
    """
    if trends.empty:
        return {}
    frame = trends.assign(month=pd.to_datetime(trends["month"]))
    end = frame["month"].max()
    if last_day is not None and pd.Timestamp(last_day) < end + pd.offsets.MonthEnd(0):
        end -= pd.offsets.MonthBegin(1)
    months = pd.date_range(frame["month"].min(), end, freq="MS")
    out = {}
    for claim_type, rows in frame.groupby("claim_type", sort=True):
        series = rows.set_index("month")[list(METRICS.values())].astype(float)
        out[str(claim_type)] = series.reindex(months, fill_value=0.0).rename(columns={v: k for k, v in METRICS.items()})
    return out


def refit_likely(cur, claim_months: tuple[dt.date | None, dt.date | None]) -> bool:
    """Whether the forecast is likely to be made again, so that statsmodels is worth importing beforehand;
    `claim_months`: the first and last month of the new claims (analytics_changes.new_months). Likely when there is no
    forecast yet, or a new claim falls in another month than the latest claim of the last forecast (a whole month
    changed, or the latest month became whole). A month made whole by a claim on its last day is not foreseen: store()
    imports statsmodels then, after the refresh (slower, the same forecast)."""
    cur.execute("SELECT date_trunc('month', latest_claim)::date FROM ops.forecast_basis")
    row = cur.fetchone()
    first, last = claim_months
    return row is None or row[0] is None or (first is not None and (first != row[0] or last != row[0]))


def preload() -> threading.Thread:
    """Import statsmodels (most of a second) in a thread, while the caller waits on the database for the analytics
    build; join it before store()."""
    thread = threading.Thread(target=importlib.import_module, args=("statsmodels.tsa.holtwinters",), daemon=True)
    thread.start()
    return thread


def _fit(y: pd.Series, damped: bool | None = None):
    """Holt-Winters (statsmodels): additive trend, yearly season; the trend damped or not, whichever has the lower
    AICc (or as `damped` says). The season is multiplicative where every month is above zero (counts swing in
    proportion to their level), else additive. Heuristic start values and no brute-force search keep a
    fit to a few milliseconds; the backtest says how good the choice is."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    season = "mul" if (y > 0).all() else "add"
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        for candidate in (False, True) if damped is None else (damped,):
            model = ExponentialSmoothing(
                y,
                trend="add",
                damped_trend=candidate,
                seasonal=season,
                seasonal_periods=SEASON,
                initialization_method="heuristic",
            )
            fits.append(model.fit(use_brute=False))
    return min(fits, key=lambda fit: fit.aicc if np.isfinite(fit.aicc) else np.inf)


def predict(
    y: pd.Series, steps: int, damped: bool | None = None, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Mean and interval (simulated from the fit's residuals) for the `steps` months after the last WINDOW months
    of y, never below zero; the simulated paths (steps x SIMULATIONS); and whether the chosen trend is damped (the
    backtest refits that form, not all of them)."""
    fit = _fit(y.iloc[-WINDOW:], damped)
    paths = np.asarray(
        fit.simulate(
            steps, repetitions=SIMULATIONS, error="add", random_errors="bootstrap", rng=np.random.default_rng(seed)
        )
    ).reshape(steps, -1)
    months = pd.date_range(y.index[-1] + pd.offsets.MonthBegin(1), periods=steps, freq="MS")
    return _summary(np.asarray(fit.forecast(steps)), paths, months), paths, bool(fit.model.damped_trend)


def _summary(mean: np.ndarray, paths: np.ndarray, months: pd.Index) -> pd.DataFrame:
    tail = (1 - INTERVAL) / 2
    frame = pd.DataFrame(
        {"mean": mean, "low": np.quantile(paths, tail, axis=1), "high": np.quantile(paths, 1 - tail, axis=1)},
        index=months,
    )
    return frame.clip(lower=0.0)


def predict_amount(history: pd.DataFrame, counts: pd.DataFrame, count_paths: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Amounts as forecast counts x severity (frequency-severity, as actuaries split it): a month's total is made
    by a few large claims, so it is forecast through the claim count, which is regular, and the average amount per
    claim over the last SEVERITY_MONTHS. The interval draws each simulated month's severity from those months'."""
    recent = history.iloc[-SEVERITY_MONTHS:]
    severity = recent["amount"].sum() / max(recent["claims"].sum(), 1.0)
    monthly_severity = (recent["amount"] / recent["claims"]).to_numpy()[recent["claims"].to_numpy() > 0]
    if monthly_severity.size == 0:
        monthly_severity = np.array([severity])
    draws = np.random.default_rng(seed).choice(monthly_severity, size=count_paths.shape)
    return _summary(counts["mean"].to_numpy() * severity, np.clip(count_paths, 0, None) * draws, counts.index)


def mape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Mean absolute percentage error over the months with something to compare against (actual > 0)."""
    keep = actual > 0
    if not keep.any():
        return None
    return float(np.mean(np.abs(actual[keep] - forecast[keep]) / actual[keep]))


def backtest(history: pd.DataFrame, damped: bool | None = None) -> dict[str, Backtest]:
    """Per metric: fit on all but the last BACKTEST months (the count's form chosen on the whole history) and
    forecast them the same way as the future; seasonal naive repeats the month a year before."""
    if len(history) < MIN_MONTHS + BACKTEST:
        return {metric: Backtest(None, None) for metric in METRICS}
    train, test = history.iloc[:-BACKTEST], history.iloc[-BACKTEST:]
    naive = history.iloc[-BACKTEST - SEASON : -SEASON]
    counts, paths, _ = predict(train["claims"], BACKTEST, damped)
    model = {"claims": counts["mean"], "amount": predict_amount(train, counts, paths)["mean"]}
    return {
        metric: Backtest(
            mape(test[metric].to_numpy(), model[metric].to_numpy()),
            mape(test[metric].to_numpy(), naive[metric].to_numpy()),
        )
        for metric in METRICS
    }


def forecast(trends: pd.DataFrame, last_day: pd.Timestamp | None) -> pd.DataFrame:
    """The rows of analytics.claims_forecast: per claim type and future month, or one row saying why there is none."""
    return _forecast_months(monthly(trends, last_day))


def _forecast_months(months: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows: list[dict] = []
    for claim_type, series in months.items():
        if len(series) < MIN_MONTHS:
            rows.append(
                {
                    "claim_type": claim_type,
                    "note": f"history too short: {len(series)} whole months, the forecast needs {MIN_MONTHS}",
                }
            )
            continue
        counts, paths, damped = predict(series["claims"], HORIZON)
        predicted = {"claims": counts, "amount": predict_amount(series, counts, paths)}
        tested = backtest(series, damped)
        columns: dict[str, pd.Series] = {}
        for metric in METRICS:
            for part in ("mean", "low", "high"):
                columns[metric if part == "mean" else f"{metric}_{part}"] = predicted[metric][part]
            columns[f"{metric}_mape"] = pd.Series(tested[metric].model_mape, index=counts.index)
            columns[f"{metric}_naive_mape"] = pd.Series(tested[metric].naive_mape, index=counts.index)
        block = pd.DataFrame(columns).rename_axis("month").reset_index()
        block.insert(0, "claim_type", claim_type)
        block["history_months"] = len(series)
        rows += block.to_dict("records")
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = [
    "claim_type",
    "month",
    "claims",
    "claims_low",
    "claims_high",
    "amount",
    "amount_low",
    "amount_high",
    "claims_mape",
    "claims_naive_mape",
    "amount_mape",
    "amount_naive_mape",
    "history_months",
    "note",
]


TABLE_DDL = """
DROP TABLE IF EXISTS analytics.claims_forecast;
CREATE TABLE analytics.claims_forecast (
    claim_type        text NOT NULL,
    month             date,
    claims            float8,
    claims_low        float8,
    claims_high       float8,
    amount            float8,
    amount_low        float8,
    amount_high       float8,
    claims_mape       float8,
    claims_naive_mape float8,
    amount_mape       float8,
    amount_naive_mape float8,
    history_months    integer,
    note              text
);
COMMENT ON TABLE analytics.claims_forecast IS
    'Next months of claims per claim type (counts: Holt-Winters; amounts: counts x recent severity; 80% interval); '
    '*_mape: 12-month backtest error, '
    '*_naive_mape: the same for seasonal naive; note: why a type has no forecast';
"""


def inputs_digest(months: dict[str, pd.DataFrame], code: str) -> str:
    """Digest of what a forecast is made from: the whole months per claim type, the code (`code`) and the versions of
    the libraries that fit and simulate."""
    libraries = ",".join(importlib.metadata.version(name) for name in ("statsmodels", "numpy", "pandas"))
    digest = hashlib.sha256(f"{code};{libraries}".encode())
    for claim_type, series in months.items():
        digest.update(claim_type.encode() + b"\0" + series.to_csv().encode())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Stored:
    """What store() left in analytics.claims_forecast: its rows, and whether it made them (False: kept them)."""

    rows: int
    made: bool


def store(conn, code: str = "") -> Stored:
    """Rebuild analytics.claims_forecast from analytics.claims_trends inside the caller's transaction, unless what it
    learns from (the whole months, and `code`: a digest of the code that forecasts) is what it was made from.
    Without `code`, always rebuilt (the warehouse needs no ops schema then)."""
    with conn.cursor() as cur:
        cur.execute("SELECT month, claim_type, claims, total_amount FROM analytics.claims_trends")
        trends = pd.DataFrame(cur.fetchall(), columns=["month", "claim_type", "claims", "total_amount"])
        cur.execute("SELECT max(claim_date) FROM clean.claims")
        last_day = cur.fetchone()[0]
        last = pd.Timestamp(last_day) if last_day else None
        months = monthly(trends, last)
        inputs = inputs_digest(months, code) if code else None
        if inputs is not None:
            cur.execute(
                "SELECT to_regclass('analytics.claims_forecast') IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM ops.forecast_basis WHERE inputs = %s)",
                (inputs,),
            )
            if cur.fetchone()[0]:
                cur.execute("SELECT count(*) FROM analytics.claims_forecast")
                return Stored(cur.fetchone()[0], made=False)
        rows = _forecast_months(months)
        cur.execute(TABLE_DDL)
        values = [
            tuple(None if pd.isna(v) else v.date() if isinstance(v, pd.Timestamp) else v for v in row)
            for row in rows[COLUMNS].astype(object).itertuples(index=False)
        ]
        insert = sql.SQL("INSERT INTO analytics.claims_forecast ({}) VALUES %s").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        )
        execute_values(cur, insert.as_string(cur), values)
        if inputs is not None:
            cur.execute(
                "INSERT INTO ops.forecast_basis (inputs, latest_claim) VALUES (%s, %s) ON CONFLICT (only_row) "
                "DO UPDATE SET inputs = excluded.inputs, latest_claim = excluded.latest_claim",
                (inputs, last_day),
            )
        else:  # made without knowing the code (a warehouse without ops.* too): the next Transform makes it again
            cur.execute("SELECT to_regclass('ops.forecast_basis') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("DELETE FROM ops.forecast_basis")
    return Stored(len(values), made=True)
