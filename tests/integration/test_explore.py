"""The explorer's paging and export on a real run's warehouse: keyset pages, filters as parameters, hostile names."""

from __future__ import annotations

import csv
import subprocess
import sys

import psycopg2
import pyarrow.parquet as pq
import pytest

from pipeline import explore

from tests.support import ROOT, query, scalar


def pages(url: str, selection: explore.Selection, rows: int) -> list[tuple]:
    """Every row of the selection, a page at a time."""
    found, after, offset = [], None, 0
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        while True:
            page = explore.page(cur, selection, after, rows, offset)
            found += page.rows
            if len(page.rows) < rows:
                break
            after, offset = page.after, page.offset
    conn.close()
    return found


@pytest.mark.parametrize("sort", [None, "amount", "-amount", "transaction_date", "-refunded_amount"])
def test_pages_cover_every_selected_row_once_in_order(healed_url, sort):
    selection = explore.Selection.parse("raw.payments", ["currency=EUR"], sort)
    rows = pages(healed_url, selection, rows=97)
    expected = scalar(healed_url, "SELECT count(*) FROM raw.payments WHERE currency = 'EUR'")
    names = [
        c
        for (c,) in query(
            healed_url,
            """SELECT attname FROM pg_attribute WHERE attrelid = 'raw.payments'::regclass
                                               AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        )
    ]
    source_row = names.index("_source_row")
    assert len(rows) == expected and len({r[source_row] for r in rows}) == expected  # each row once
    if sort:
        values = [r[names.index(sort.lstrip("-"))] for r in rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=sort.startswith("-"))
        assert all(v is None for v in values[len(present) :])  # nulls last


def test_a_materialized_view_pages_by_its_unique_index(healed_url):
    selection = explore.Selection.parse("analytics.claims_trends", [], "-claims")
    rows = pages(healed_url, selection, rows=13)
    assert len(rows) == scalar(healed_url, "SELECT count(*) FROM analytics.claims_trends")
    assert len(set(rows)) == len(rows)


def test_a_plain_view_without_a_key_pages_by_offset(healed_url):
    selection = explore.Selection.parse("analytics.payments_usd", ["amount>=100"])
    rows = pages(healed_url, selection, rows=500)
    assert len(rows) == scalar(healed_url, "SELECT count(*) FROM analytics.payments_usd WHERE amount >= 100")


@pytest.mark.parametrize(
    "text, message",
    [
        ("nosuch.table", "schema 'nosuch'"),
        ("clean.no_table", "table clean.no_table does not exist"),
    ],
)
def test_unknown_tables_are_one_line_errors(healed_url, text, message):
    with psycopg2.connect(healed_url) as conn, conn.cursor() as cur, pytest.raises(explore.ExploreError, match=message):
        explore.page(cur, explore.Selection.parse(text))
    conn.close()


def test_hostile_names_and_values_are_identifiers_and_parameters_never_sql(healed_url):
    with psycopg2.connect(healed_url) as conn, conn.cursor() as cur:
        with pytest.raises(explore.ExploreError, match="column 'customer_id; DROP TABLE clean.customers"):
            explore.page(cur, explore.Selection.parse("clean.customers", ["customer_id; DROP TABLE clean.customers=1"]))
        hostile = "x'; DROP TABLE clean.customers; --"
        assert explore.page(cur, explore.Selection.parse("clean.customers", [f"first_name={hostile}"])).rows == []
        assert explore.page(cur, explore.Selection.parse("clean.customers", [f"email~{hostile}%_"])).rows == []
        with pytest.raises(explore.ExploreError, match="does not fit its column"):
            explore.page(cur, explore.Selection.parse("clean.customers", ["risk_score>=lots"]))
        cur.execute("SELECT count(*) FROM clean.customers")
        assert cur.fetchone()[0] > 0
    conn.close()


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_command_line_exports_what_the_filter_selects(healed_url, tmp_path, suffix):
    out = tmp_path / f"eur.{suffix}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "export",
            "clean.payments",
            "--where",
            "currency=EUR",
            "--where",
            "amount>=50",
            "--sort=-amount",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env={**__import__("os").environ, "PIPELINE_DATABASE_URL": healed_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    expected = scalar(healed_url, "SELECT count(*) FROM clean.payments WHERE currency = 'EUR' AND amount >= 50")
    assert f"{expected:,} rows of clean.payments" in done.stdout
    if suffix == "csv":
        with open(out, newline="") as file:
            rows = list(csv.DictReader(file))
        amounts = [float(r["amount"]) for r in rows]
    else:
        table = pq.read_table(out)
        rows = table.to_pylist()
        amounts = table["amount"].to_pylist()
        assert str(table.schema.field("transaction_date").type).startswith(("timestamp", "date"))
    assert len(rows) == expected and {r["currency"] for r in rows} == {"EUR"}
    assert amounts == sorted(amounts, reverse=True)


def test_a_bad_filter_is_one_line_and_no_file(healed_url, tmp_path):
    out = tmp_path / "x.csv"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "export", "clean.payments", "--where", "nosuch=1", "--out", str(out)],
        cwd=ROOT,
        env={**__import__("os").environ, "PIPELINE_DATABASE_URL": healed_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "column 'nosuch' is not in clean.payments" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
