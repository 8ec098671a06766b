"""analytics.claims_forecast as a real run builds it: six months per claim type after the last whole month."""

from __future__ import annotations

import datetime as dt

import psycopg2

from pipeline import analytics_changes, forecast

from tests.support import query, scalar


def test_a_run_forecasts_each_claim_type_after_the_last_whole_month(healed_url):
    types = {t for (t,) in query(healed_url, "SELECT DISTINCT claim_type FROM clean.claims")}
    last_day = scalar(healed_url, "SELECT max(claim_date) FROM clean.claims")
    rows = query(
        healed_url,
        """SELECT claim_type, month, claims_low, claims, claims_high, amount, claims_mape,
                                       claims_naive_mape, amount_mape, history_months, note
                                FROM analytics.claims_forecast ORDER BY claim_type, month""",
    )
    assert {r[0] for r in rows} == types and len(rows) == forecast.HORIZON * len(types)
    whole = last_day.replace(day=1) if last_day.month == (last_day + dt.timedelta(days=1)).month else None
    first = whole or (last_day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    for claim_type in types:
        months = [r[1] for r in rows if r[0] == claim_type]
        assert months[0] == first  # a partial last month is forecast, not learnt from
        assert len(set(months)) == forecast.HORIZON
    for _, _, low, mid, high, amount, mape, naive, amount_mape, history, note in rows:
        assert 0 <= low <= mid <= high and amount >= 0
        assert mape is not None and naive is not None and amount_mape is not None  # the backtest ran
        assert history >= forecast.MIN_MONTHS + forecast.BACKTEST and note is None


def test_a_short_history_is_stored_as_a_note_not_a_line(healed_url):
    """The same warehouse with only the last 18 months of claims kept: every type says why it has no forecast."""
    with psycopg2.connect(healed_url) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE analytics.claims_trends RENAME TO claims_trends_all")
        cur.execute("""CREATE TABLE analytics.claims_trends AS SELECT * FROM analytics.claims_trends_all
                       WHERE month >= (SELECT date_trunc('month', max(claim_date)) - interval '17 months'
                                       FROM clean.claims)""")
        stored = forecast.store(conn)
        cur.execute("SELECT count(*), count(month), min(note) FROM analytics.claims_forecast")
        total, with_month, note = cur.fetchone()
        conn.rollback()  # the shared warehouse stays as the run left it
    conn.close()
    assert stored.rows == total and stored.made and with_month == 0
    assert note.startswith("history too short: 18 whole months") or note.startswith("history too short: 17 whole")


def test_the_forecast_is_made_again_only_when_what_it_learns_from_changes(healed_url):
    """The same whole months and code: the stored forecast is kept (not even rewritten); a changed whole month, or
    other code, makes it again."""
    with psycopg2.connect(healed_url) as conn, conn.cursor() as cur:

        def made_by(code: str) -> int:
            stored = forecast.store(conn, code)
            cur.execute("SELECT 'analytics.claims_forecast'::regclass::oid, count(*) FROM analytics.claims_forecast")
            table, rows = cur.fetchone()
            assert stored.rows == rows
            return table

        first = made_by("version 1")
        assert made_by("version 1") == first
        assert not forecast.store(conn, "version 1").made
        cur.execute(
            "UPDATE analytics.claims_trends SET claims = claims + 5 WHERE month = "
            "(SELECT min(month) FROM analytics.claims_trends)"
        )
        second = made_by("version 1")
        assert second != first
        assert made_by("version 2") != second
        conn.rollback()  # the shared warehouse stays as the run left it
    conn.close()


def test_statsmodels_is_imported_beforehand_only_when_new_claims_leave_the_latest_month(healed_url):
    """Transform's guess, from the months of the claims it takes in: claims of the latest month alone (the daily
    case) need no refit; a claim in an earlier month, or in a later one, does."""
    with psycopg2.connect(healed_url) as conn, conn.cursor() as cur:
        forecast.store(conn, "version 1")
        cur.execute("SELECT date_trunc('month', max(claim_date))::date FROM clean.claims")
        (latest,) = cur.fetchone()
        cur.execute("CREATE TEMPORARY TABLE analytics_taken (table_name text, month date) ON COMMIT DROP")

        def likely(*months: dt.date) -> bool:
            cur.execute("TRUNCATE analytics_taken")
            cur.execute("INSERT INTO analytics_taken VALUES ('payments', %s)", ((latest - dt.timedelta(days=40)),))
            for month in months:
                cur.execute("INSERT INTO analytics_taken VALUES ('claims', %s)", (month,))
            return forecast.refit_likely(cur, analytics_changes.new_months(cur, "claims"))

        assert not likely()  # no new claims: a payment of an earlier month changes nothing the forecast learns from
        assert not likely(latest, latest)
        assert likely(latest, (latest - dt.timedelta(days=1)).replace(day=1))
        assert likely((latest + dt.timedelta(days=32)).replace(day=1))
        cur.execute("DELETE FROM ops.forecast_basis")
        assert likely(latest)  # no forecast made yet
        conn.rollback()
    conn.close()
