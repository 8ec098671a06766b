"""E-mail checking: what the heal's SQL fast path clears, email-validator also accepts; non-ASCII is valid."""

from __future__ import annotations

import psycopg2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.quality import emails

VALID = [
    "john.smith@example.com",
    "josé.garcía@example.com",
    "zoë@bücher.de",
    "李雷@例子.中国",
    "o'brien+tag@mail.example.org",
    "łukasz.żółć@example.pl",
]
INVALID = [
    "a..b@x.com",
    "ab@localhost",
    "a b@x.com",
    "ab@@x.com",
    "abx.com",
    "x@-x.com",
    "x@x.test",
    ".x@example.com",
    "x.@example.com",
    "x@example",
    "x@exa_mple.com",
    "@example.com",
    "x@",
]


def test_non_ascii_addresses_are_valid_and_malformed_ones_are_not():
    assert [a for a in VALID if emails.problem(a)] == []
    assert [a for a in INVALID if not emails.problem(a)] == []


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # a literal % beside psycopg2's parameters


@pytest.fixture
def conn(database_url):
    with psycopg2.connect(database_url) as conn:
        yield conn
    conn.close()


ADDRESS = st.from_regex(r"[A-Za-z0-9._%+\-'é]{0,12}@{1,2}[A-Za-z0-9.\-_]{0,12}(\.[a-z]{1,4})?", fullmatch=True)


def test_the_sql_fast_path_clears_only_addresses_email_validator_accepts(conn):
    @settings(max_examples=150, deadline=None)
    @given(values=st.lists(st.one_of(ADDRESS, st.sampled_from(VALID + INVALID)), min_size=1, max_size=40))
    def check(values):
        with conn.cursor() as cur:
            cur.execute(f"SELECT v, {_escaped(emails.fast_valid_sql('v'))} FROM unnest(%s::text[]) AS v", (values,))
            cleared = [v for v, ok in cur.fetchall() if ok]
        assert [v for v in cleared if emails.problem(v)] == []

    check()


def test_plain_generated_addresses_take_the_fast_path(conn):
    plain = [f"first{i}.last{i}@example.com" for i in range(50)] + ["a_b-c%d+e@mail.example.org"]
    with conn.cursor() as cur:
        cur.execute(f"SELECT bool_and({_escaped(emails.fast_valid_sql('v'))}) FROM unnest(%s::text[]) AS v", (plain,))
        assert cur.fetchone()[0]
