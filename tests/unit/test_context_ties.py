"""An incremental heal compares the clean rows that tie with new ones by their values where the tie can never be
null (then equality is what the survivor rules' GROUP BY means), and as text otherwise (null alike to null)."""

from __future__ import annotations

import pytest

from pipeline.quality.catalog import CATALOG
from pipeline.quality.delta_heal import _never_null
from pipeline.tables import TABLES


def test_every_survivor_tie_of_the_catalog_is_compared_by_value():
    ties = [(t, r.context) for t, rules in CATALOG.items() for r in rules if r.phase == "survivors" and r.context]
    assert ("customers", next(c for t, c in ties if t == "customers" and "lower" in c)) in ties
    assert [(t, c) for t, c in ties if not _never_null(TABLES[t], c)] == []


@pytest.mark.parametrize(
    "tie",
    [
        "h.claim_id",  # a nullable column
        "h.payment_id, h.claim_id",
        "nullif(h.payment_id, 'x')",  # a function that can give null
        "CASE WHEN h.payment_id = 'a' THEN NULL END",
        "h.payment_id || h.policy_id",  # an operator: not looked into
        "coalesce(h.claim_id, h.payment_id)",
    ],
)
def test_a_tie_that_may_be_null_is_compared_as_text(tie):
    assert not _never_null(TABLES["payments"], tie)


@pytest.mark.parametrize(
    "tie", ['h."payment_id"', "lower(btrim(h.payment_id)), h.policy_id", "translate(h.method, 'ς', 'σ')"]
)
def test_not_null_columns_as_they_are_or_through_value_for_value_functions_are_never_null(tie):
    assert _never_null(TABLES["payments"], tie)
