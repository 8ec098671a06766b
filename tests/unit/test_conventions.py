"""Tests of the generator's conventions: today's and a foreign system's shapes, spread defects, e-mail, YAML, seeds."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import tables
from pipeline.synth.common import format_ids
from pipeline.synth.conventions import Category, Conventions, IdFormat
from pipeline.synth.defects import DEFECTS, EXTRA_KINDS
from pipeline.synth.generate import default_truth_path, generate, main

from tests.unit.test_generate import BIG, SEED_SAMPLE, Sample, _rule_violations, read_all, valid_email

KEY = {"customers": "customer_id", "policies": "policy_id", "claims": "claim_id", "payments": "payment_id"}
# Today's conventions, written out here so that a change to conventions.py cannot pass unnoticed.
TODAY_IDS = {
    "customer_id": r"CU\d{7}",
    "policy_id": r"PO\d{8}",
    "claim_id": r"CL\d{8}",
    "payment_id": r"PA\d{9}",
    "transaction_id": r"TX\d{12}",
    "approved_by": r"ADJ\d{3}",
}
TODAY_LABELS = {
    ("customers", "gender"): {"M", "F", "X"},
    ("customers", "customer_status"): {"Active", "Inactive", "Suspended"},
    ("customers", "segment"): {"Retail", "Premium", "Corporate", "SME"},
    ("customers", "referral_source"): {"Online", "Agent", "Referral", "Partner", "Walk-in"},
    ("customers", "preferred_contact"): {"Email", "Phone", "SMS", "Mail"},
    ("policies", "status"): {"Active", "Expired", "Cancelled", "Pending", "Lapsed"},
    ("policies", "payment_frequency"): {"Monthly", "Quarterly", "Semi-Annual", "Annual"},
    ("claims", "claim_type"): {"Accident", "Medical", "Death", "Disability", "Property", "Theft", "Liability"},
    ("claims", "status"): {"Submitted", "Under Review", "Approved", "Rejected", "Paid"},
    ("claims", "region"): {"Northeast", "Midwest", "South", "West"},
    ("payments", "payment_gateway"): {"Stripe", "PayPal", "Adyen", "Braintree", "Internal"},
}


def _sample(tmp_path_factory, conventions, scale=0.02, seed=3) -> Sample:
    folder = tmp_path_factory.mktemp(f"conv-{conventions}") / "data"
    counts = generate(folder, scale=scale, seed=seed, conventions=conventions)
    return Sample(folder, default_truth_path(folder), counts)


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> Sample:
    return _sample(tmp_path_factory, "default")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Sample:
    return _sample(tmp_path_factory, "foreign")


@pytest.fixture(scope="module", params=["default", "foreign"])
def either(request, today, foreign) -> Sample:
    return {"default": today, "foreign": foreign}[request.param]


def values(sample: Sample, table: str, column: str) -> set:
    return set(sample.arrow[table][column].drop_null().to_pylist())


def folded(labels) -> set[str]:
    return {s.strip().casefold() for s in labels}


def longest_run(mask: np.ndarray) -> int:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max(initial=0))


# --- today's conventions ---------------------------------------------------------------------------------


def test_default_conventions_keep_todays_shapes_and_labels(today):
    assert Conventions.default() == Conventions()
    ids = {
        "customers": ["customer_id"],
        "policies": ["policy_id", "customer_id"],
        "claims": ["claim_id", "policy_id", "approved_by"],
        "payments": ["payment_id", "policy_id", "claim_id", "transaction_id"],
    }
    for table, columns in ids.items():
        for column in columns:
            written = today.arrow[table][column].drop_null()
            assert pc.all(pc.match_substring_regex(written, f"^{TODAY_IDS[column]}$")).as_py(), (table, column)
    for (table, column), labels in TODAY_LABELS.items():
        assert values(today, table, column) == labels, (table, column)  # every label, no variant
    assert values(today, "customers", "state") == set(Conventions.default().states)
    assert len(Conventions.default().states) == 50
    assert today.arrow["payments"].schema.field("success_flag").type == pa.bool_()
    assert today.arrow["claims"].schema.field("fraud_flag").type == pa.bool_()
    assert all(e.isascii() for e in values(today, "customers", "email"))
    for table in BIG:
        assert today.arrow[table].schema == pa.schema(
            [f.with_nullable(True) for f in tables.spec(table).arrow_schema()]
        ), table


# --- a foreign system's conventions ------------------------------------------------------------------------


def test_foreign_ids_have_the_foreign_shapes_and_so_do_the_truth_keys(foreign):
    shapes = {
        "customer_id": r"HC\d{6}",
        "policy_id": r"POL-\d{7}",
        "claim_id": r"CLM\d{9}",
        "payment_id": r"PAY-\d{10}",
        "transaction_id": r"T\d{14}",
        "approved_by": r"U\d{5}",
    }
    for table in BIG:
        for column in tables.spec(table).column_names:
            if column in shapes:
                written = foreign.arrow[table][column].drop_null()
                assert pc.all(pc.match_substring_regex(written, f"^{shapes[column]}$")).as_py(), (table, column)
        keys = foreign.truth.loc[foreign.truth["table"] == table, "key"]
        assert len(keys) > 0 and keys.str.fullmatch(shapes[KEY[table]]).all(), table
    assert values(foreign, "customers", "customer_id") >= {"HC000123"}
    assert values(foreign, "policies", "policy_id") >= {"POL-0000123"}


def test_foreign_categories_have_the_foreign_labels_case_and_variants(foreign):
    status = foreign.arrow["claims"]["status"].to_pylist()
    assert folded(status) == {"approved", "pending", "rejected"}
    assert 0.01 < np.mean([s not in ("Approved", "Pending", "Rejected") for s in status]) < 0.06  # a few %
    assert {" Approved", "APPROVED", "approved"} & set(status)
    assert folded(values(foreign, "claims", "region")) == {"north", "south", "east", "west"}
    assert "Web" in values(foreign, "customers", "referral_source")
    assert values(foreign, "customers", "gender") == {"Male", "Female", "Unknown"}
    assert {"RETAIL", "PRIVATE", "BUSINESS", "SMALL BUSINESS"} <= values(foreign, "customers", "segment")
    assert values(foreign, "policies", "payment_frequency") == {"monthly", "quarterly", "half-yearly", "yearly"}
    # The labels that domain rules read keep their meaning, and what comes from the reference tables stays theirs.
    assert {"Active", "Cancelled"} <= values(foreign, "policies", "status")
    assert values(foreign, "policies", "status") == {"Active", "Matured", "Cancelled", "Pending", "Lapsed"}
    assert set(foreign.clean("payments")["method"]) <= values(foreign, "payment_methods", "method_name")
    assert values(foreign, "policies", "policy_type") == values(foreign, "policy_types", "type_name")
    assert set(foreign.clean("policies")["currency"]) == {"USD", "EUR", "GBP"}


def test_foreign_flags_are_0_1_integers_null_where_the_defect_is(foreign):
    for table, column, kind in (
        ("payments", "success_flag", "null_success_flag"),
        ("claims", "fraud_flag", "null_fraud_flag"),
    ):
        t = foreign.arrow[table]
        assert t.schema.field(column).type == pa.int64()
        assert set(t[column].drop_null().to_pylist()) == {0, 1}
        nulls = set(pc.filter(t[KEY[table]], pc.is_null(t[column])).to_pylist())
        assert nulls == foreign.keys(table, kind)


def test_foreign_emails_use_non_ascii_names_and_domains(foreign):
    clean = foreign.clean("customers")
    non_ascii = clean["email"].map(lambda e: not e.isascii())
    assert non_ascii.mean() > 0.2
    assert clean["email"].str.contains("@bücher|@例え", regex=True).any()  # IDN domains
    people = clean[non_ascii]
    names = (people["first_name"] + "." + people["last_name"]).str.lower()
    assert (people["email"].str.replace(r"\d+@.*$", "", regex=True) == names).all()  # José -> josé.


def test_foreign_data_keeps_the_exported_reference_tables_and_passes_its_own_rules(foreign):
    for name in ("coverage_levels", "currency_rates", "policy_types", "payment_methods"):
        assert foreign.arrow[name].equals(pq.read_table(SEED_SAMPLE / f"{name}.parquet")), name
    assert values(foreign, "agents", "agent_id") == {f"AG{i:03d}" for i in range(1, 501)}
    conventions = Conventions.foreign()
    for name in BIG:
        assert _rule_violations(foreign.clean(name), name, conventions) == {}, name
    copies = foreign.df["claims"][foreign.df["claims"]["claim_id"].isin(foreign.keys("claims", "duplicate_key"))]
    assert len(copies) == 2 * len(foreign.keys("claims", "duplicate_key"))
    assert len(copies.drop_duplicates()) == len(copies) // 2  # exact copies, variants included


# --- defects at random rows ----------------------------------------------------------------------------------


def test_defect_rows_are_spread_over_the_file_and_over_the_ids(either):
    for table in BIG:
        ids = either.arrow[table][KEY[table]].to_numpy(zero_copy_only=False)
        number = np.array([int(re.sub(r"\D", "", k)) for k in ids])
        by_id = np.unique(number, return_index=True)[1]  # each key once, in the order of its number
        for kind in DEFECTS[table]:
            spoiled = np.isin(ids, list(either.keys(table, kind)))
            if not spoiled.any():
                continue
            where = f"{table}.{kind}"
            assert longest_run(spoiled) <= 8, f"{where}: a block of defect rows in the file"
            assert longest_run(spoiled[by_id]) <= 8, f"{where}: a block of defect rows in id order"
            if spoiled.sum() >= 40:
                assert 0.3 < np.flatnonzero(spoiled).mean() / len(ids) < 0.7, f"{where}: not spread over the file"
                rank = np.flatnonzero(spoiled[by_id]).mean() / len(by_id)
                assert 0.3 < rank < 0.7, f"{where}: not spread over the ids"
    assert EXTRA_KINDS <= {k for kinds in DEFECTS.values() for k in kinds}


# --- e-mail validity ------------------------------------------------------------------------------------------


def test_malformed_emails_are_invalid_and_golden_ones_valid(either):
    malformed = either.spoiled("customers", "malformed_email")["email"]
    assert len(malformed) > 0 and not malformed.map(valid_email).any()
    golden = either.clean("customers")["email"]
    assert golden.map(valid_email).all()


# --- YAML, validation, determinism, command line ---------------------------------------------------------


def test_yaml_round_trip(tmp_path):
    for i, conventions in enumerate(
        [
            Conventions.default(),
            Conventions.foreign(),
            *(Conventions.random(np.random.default_rng(s)) for s in range(8)),
        ]
    ):
        path = tmp_path / f"c{i}.yaml"
        conventions.to_yaml(path)
        assert Conventions.from_yaml(path) == conventions, i
    text = (tmp_path / "c1.yaml").read_text(encoding="utf-8")
    assert "claims.status:" in text and "bücher.example.de" in text and "prefix: POL-" in text

    partial = tmp_path / "partial.yaml"
    partial.write_text(
        "ids:\n  customer_id: {prefix: K, width: 5}\ncategories:\n  claims.region:\n"
        "    labels: [N, N, S, W]\n    case: lower\nflags_as_int: true\n",
        encoding="utf-8",
    )
    loaded = Conventions.from_yaml(partial)
    assert loaded.ids["customer_id"] == IdFormat("K", 5) and loaded.flags_as_int
    assert loaded.categories["claims.region"] == Category(("N", "N", "S", "W"), case="lower")
    assert loaded.regions == ("N", "N", "S", "W")
    assert loaded.categories["claims.status"] == Conventions.default().categories["claims.status"]


def test_conventions_refuse_what_they_cannot_mean(tmp_path):
    with pytest.raises(ValueError, match="claims.status: 5 labels are needed"):
        Conventions.from_dict({"categories": {"claims.status": {"labels": ["Open", "Closed"]}}})
    with pytest.raises(ValueError, match="'Cancelled'.*domain rules"):
        Conventions.from_dict({"categories": {"policies.status": {"labels": ["Active", "B", "Void", "D", "E"]}}})
    with pytest.raises(ValueError, match="policies.status.*no case style"):
        Conventions.from_dict({"categories": {"policies.status": {"case": "upper"}}})
    with pytest.raises(ValueError, match="unknown column 'claims.colour'"):
        Conventions.from_dict({"categories": {"claims.colour": {"labels": ["Red"]}}})
    with pytest.raises(ValueError, match="case must be one of"):
        Category(("A",), case="shout")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ids:\n  claim_id: {prefix: C, digits: 7}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.yaml: ids\.claim_id: .*digits"):
        Conventions.from_yaml(bad)


def test_same_seed_same_data_with_foreign_conventions(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, 9), (b, 9), (c, 10)):
        generate(folder, scale=0.005, seed=seed, conventions=Conventions.foreign())
    ta, tb, tc = read_all(a), read_all(b), read_all(c)
    assert all(ta[n].equals(tb[n]) for n in tables.TABLES)
    assert pq.read_table(default_truth_path(a)).equals(pq.read_table(default_truth_path(b)))
    assert not any(ta[n].equals(tc[n]) for n in BIG)


def test_ids_wider_than_their_format_keep_every_digit():
    assert format_ids("HC", np.array([5, 123456, 1234567, -1]), 6).to_pylist() == [
        "HC000005",
        "HC123456",
        "HC1234567",
        None,
    ]
    assert re.fullmatch(IdFormat("HC", 6).pattern, "HC1234567")
    assert re.fullmatch(IdFormat("POL-", 7).pattern, "POL-0000123")
    assert not re.fullmatch(IdFormat("POL-", 7).pattern, "POLX0000123")


def test_command_line_takes_conventions_by_name_or_file(tmp_path, capsys):
    assert main(["--scale", "0.002", "--seed", "5", "--out", str(tmp_path / "f"), "--conventions", "foreign"]) == 0
    assert pq.read_table(tmp_path / "f" / "customers.parquet")["customer_id"][0].as_py().startswith("HC")
    path = tmp_path / "mine.yaml"
    Conventions.from_dict({"ids": {"customer_id": {"prefix": "ZZ-", "width": 4}}}).to_yaml(path)
    assert main(["--scale", "0.002", "--out", str(tmp_path / "y"), "--conventions", str(path)]) == 0
    assert re.fullmatch(r"ZZ-\d{4}", pq.read_table(tmp_path / "y" / "customers.parquet")["customer_id"][0].as_py())
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "z"), "--conventions", str(tmp_path / "missing.yaml")])
    assert "missing.yaml" in capsys.readouterr().err


# --- random conventions ----------------------------------------------------------------------------------------


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_conventions_make_consistent_data(seed):
    conventions = Conventions.random(np.random.default_rng(seed))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        generate(folder, scale=0.004, seed=seed % 1000, conventions=conventions)
        sample = Sample(folder, default_truth_path(folder), {})
        kinds = {(t, k) for t in BIG for k in DEFECTS[t]}
        assert kinds <= set(zip(sample.truth["table"], sample.truth["defect"], strict=True))
        for table in BIG:
            keys = sample.truth.loc[sample.truth["table"] == table, "key"]
            assert keys.str.fullmatch(conventions.ids[KEY[table]].pattern).all(), table
            assert _rule_violations(sample.clean(table), table, conventions) == {}, table
        assert not sample.spoiled("customers", "malformed_email")["email"].map(valid_email).any()
        flag = pa.int64() if conventions.flags_as_int else pa.bool_()
        assert sample.arrow["payments"].schema.field("success_flag").type == flag
