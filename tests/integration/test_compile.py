"""Cerberus is the oracle: compiled SQL checks give the same verdicts and messages on generated records."""

from __future__ import annotations

import datetime as dt
import logging
import re

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg2 import sql
from psycopg2.extras import execute_values

from pipeline.quality import contract
from pipeline.quality.compile import cerberus_errors, compile_column, compile_schema, regex_to_sql
from pipeline.tables import TABLES

from tests.support import new_database

# Text as PostgreSQL can hold it (no NUL: ingest escapes it), with the characters regexes trip on.
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
TRICKY = st.sampled_from(["", " ", "\n", "a\n", "٣", "Ⅻ", "é", "A", "z", "@", ".", "-", "1e5", "NaN"])


@pytest.fixture(scope="module")
def conn(pg_admin_url):
    with new_database(pg_admin_url, prefix="compile") as url:
        connection = psycopg2.connect(url)
        connection.autocommit = True
        yield connection
        connection.close()


def _value(column) -> st.SearchStrategy:
    rules = column.rules
    if column.kind == "text":
        options = [TEXT, TRICKY]
        if "allowed" in rules:
            options.append(st.sampled_from(list(rules["allowed"])))
        if "regex" in rules:
            options.append(st.from_regex(rules["regex"], fullmatch=True).filter(lambda s: "\x00" not in s))
        base = st.one_of(*options)
    elif column.kind == "float":
        edges = [rules.get("min", 0.0), rules.get("max", 100.0)]
        base = st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from(edges),
            st.floats(min_value=-1.0, max_value=101.0),
        )
    elif column.kind == "int":
        base = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-3, 120))
    elif column.kind == "date":
        base = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
    elif column.kind == "timestamp":
        base = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31))
    else:
        base = st.booleans()
    return st.one_of(st.none(), base)


def _records(spec) -> st.SearchStrategy:
    return st.lists(st.fixed_dictionaries({c.name: _value(c) for c in spec.columns}), min_size=1, max_size=25)


def _sql_verdicts(conn, spec, records: list[dict]) -> list[dict]:
    """The compiled checks' errors per record, in Cerberus's shape: {field: [messages]}."""
    checks = [c for c in compile_schema(spec) if c.compiled]
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in spec.columns
    )
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS oracle")
        cur.execute(sql.SQL("CREATE TEMP TABLE oracle (_i int, {})").format(columns))
        execute_values(
            cur,
            sql.SQL("INSERT INTO oracle VALUES %s").as_string(cur),
            [(i, *[r[c.name] for c in spec.columns]) for i, r in enumerate(records)],
        )
        values = sql.SQL(", ").join(
            sql.SQL("(CASE WHEN {} THEN {} END, {})").format(c.predicate, sql.Literal(c.column), c.message)
            for c in checks
        )
        cur.execute(
            sql.SQL(
                "SELECT h._i, x.f, x.m FROM oracle h CROSS JOIN LATERAL (VALUES {}) AS x(f, m) WHERE x.f IS NOT NULL"
            ).format(values)
        )
        found: list[dict] = [{} for _ in records]
        for i, field, message in cur.fetchall():
            found[i].setdefault(field, []).append(message)
    return found


def _normalised(errors: list[dict]) -> list[dict]:
    return [{f: sorted(m) for f, m in e.items()} for e in errors]


@pytest.mark.parametrize("table", ["customers", "policies", "claims", "payments", "snapshots"])
def test_compiled_checks_agree_with_cerberus(conn, table):
    spec = contract.apply(TABLES[table], contract.load(table))  # the facts and the shipped contract's conventions
    oracle = {
        name: {k: v for k, v in rules.items() if k != "check_with"}  # e-mails: test_emails.py
        for name, rules in spec.cerberus_schema().items()
    }

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records=_records(spec))
    def check(records):
        assert _normalised(_sql_verdicts(conn, spec, records)) == _normalised(cerberus_errors(oracle, records))

    check()


PATTERNS = [r"CU[0-9]{7}", r"[A-Z]{3}", r"a|b", r"(ab)+c?", r"x\.y", r"[a-c-]+", r"[0-9]{2,4}$", r"é+"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_regex_translation_matches_python(conn, pattern):
    translated = regex_to_sql(pattern)
    assert translated is not None

    @settings(max_examples=80, deadline=None)
    @given(values=st.lists(st.one_of(TEXT, TRICKY, st.from_regex(pattern)), min_size=1, max_size=30))
    def check(values):
        values = [v for v in values if "\x00" not in v]
        with conn.cursor() as cur:
            cur.execute("SELECT v ~ %s FROM unnest(%s::text[]) AS v", (translated, values))
            got = [r[0] for r in cur.fetchall()]
        assert got == [bool(re.match(pattern if pattern.endswith("$") else pattern + "$", v)) for v in values]

    check()


@pytest.mark.parametrize("pattern", [r"\d+", r"\w+@x", r"[^a]b", r"a.c", r"(?i)abc", r"\s"])
def test_untranslatable_regex_falls_back_to_cerberus_with_a_warning(pattern, caplog):
    with caplog.at_level(logging.WARNING):
        checks = compile_column("t", "c", "text", {"type": "string", "nullable": True, "regex": pattern})
    (check,) = [c for c in checks if c.rule == "regex"]
    assert check.predicate is None
    assert "not compiled" in caplog.text and "t.c" in caplog.text


def test_every_rule_of_the_specs_compiles(caplog):
    """The shipped schemas run fully vectorised: no table falls back to row-by-row Cerberus (e-mail addresses
    go to email-validator, each distinct value that SQL cannot clear)."""
    with caplog.at_level(logging.WARNING):
        checks = [c for spec in TABLES.values() for c in compile_schema(spec)]
    assert all(c.compiled for c in checks if c.rule != "email")
    assert [c.rule_id for c in checks if not c.compiled] == ["customers.email.email"]
    assert "not compiled" not in caplog.text
