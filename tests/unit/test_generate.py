"""Tests of the synthetic source data: sample, determinism, sizes, ground truth and clean-row consistency."""

from __future__ import annotations

import re
from pathlib import Path

import cerberus
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from email_validator import EmailNotValidError, validate_email

from pipeline import tables
from pipeline.synth.conventions import Conventions
from pipeline.synth.defects import DEFECTS
from pipeline.synth.generate import default_truth_path, generate, main

from tests.support import ROOT as REPO
from tests.support import SEED_SAMPLE

BIG = ("customers", "policies", "claims", "payments")
AS_OF = pd.Timestamp("2025-10-09")
SIZES_AT_0_01 = {
    "customers": 500,
    "policies": 3_500,
    "claims": 5_000,
    "payments": 10_000,
    "agents": 500,
    "branches": 100,
    "coverage_levels": 5,
    "currency_rates": 15,
    "policy_types": 7,
    "payment_methods": 5,
    "snapshots": 30,
}


def read_all(folder: Path) -> dict[str, pa.Table]:
    return {name: pq.read_table(folder / f"{name}.parquet") for name in tables.TABLES}


class Sample:
    """One generated data set as pandas frames, with its ground truth."""

    def __init__(self, folder: Path, truth_path: Path, counts: dict[str, int]):
        self.folder, self.truth_path, self.counts = folder, truth_path, counts
        self.arrow = read_all(folder)
        self.df = {n: t.to_pandas(date_as_object=False) for n, t in self.arrow.items()}
        self.truth = pq.read_table(truth_path).to_pandas()

    def keys(self, table: str, *kinds: str) -> set[str]:
        t = self.truth[self.truth["table"] == table]
        return set(t["key"] if not kinds else t.loc[t["defect"].isin(kinds), "key"])

    def clean(self, table: str) -> pd.DataFrame:
        """Rows with no injected defect (a duplicate_key's original shares its key, so it is left out too)."""
        df = self.df[table]
        return df[~df[tables.spec(table).primary_key[0]].isin(self.keys(table))]

    def spoiled(self, table: str, kind: str) -> pd.DataFrame:
        df = self.df[table]
        return df[df[tables.spec(table).primary_key[0]].isin(self.keys(table, kind))]


@pytest.fixture(scope="module", params=[(0.01, 42), (0.03, 7)], ids=["scale0.01-seed42", "scale0.03-seed7"])
def sample(request, tmp_path_factory) -> Sample:
    scale, seed = request.param
    folder = tmp_path_factory.mktemp(f"gen{seed}") / "data"
    counts = generate(folder, scale=scale, seed=seed)
    return Sample(folder, default_truth_path(folder), counts)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Sample:
    folder = tmp_path_factory.mktemp("small") / "data"
    return Sample(folder, folder.parent / "data-truth.parquet", generate(folder, scale=0.01, seed=42))


# --- the committed sample, determinism, sizes ------------------------------------------------------------


def test_committed_sample_is_what_the_generator_makes(small):
    committed = read_all(REPO / "data")
    assert sorted(p.stem for p in (REPO / "data").glob("*.parquet")) == sorted(tables.TABLES)
    for name, table in small.arrow.items():
        assert committed[name].schema == table.schema, name
        assert committed[name].equals(table), f"data/{name}.parquet differs from generate(scale=0.01, seed=42)"


def test_same_seed_same_data_other_seed_other_data(small, tmp_path):
    again = tmp_path / "again"
    generate(again, scale=0.01, seed=42)
    for name, table in read_all(again).items():
        assert table.equals(small.arrow[name]), name
    assert pq.read_table(default_truth_path(again)).equals(pq.read_table(small.truth_path))

    other = tmp_path / "other"
    generate(other, scale=0.01, seed=43)
    tables_other = read_all(other)
    for name in BIG + ("agents", "branches", "snapshots"):
        assert not tables_other[name].equals(small.arrow[name]), name
    for name in ("coverage_levels", "currency_rates", "policy_types", "payment_methods"):
        assert tables_other[name].equals(small.arrow[name]), name  # exported values, not random


def test_sizes_at_scale_0_01(small):
    assert small.counts == SIZES_AT_0_01
    assert {n: t.num_rows for n, t in small.arrow.items()} == SIZES_AT_0_01
    assert 19_000 <= sum(small.counts.values()) <= 20_000


def test_scale_changes_only_the_big_tables(sample):
    scale = sample.counts["customers"] / 50_000
    assert sample.counts["payments"] == round(1_000_000 * scale)
    assert sample.counts["policies"] == round(350_000 * scale)
    assert {n: sample.counts[n] for n in SIZES_AT_0_01 if n not in BIG} == {
        n: v for n, v in SIZES_AT_0_01.items() if n not in BIG
    }


# --- schemas and exported values ---------------------------------------------------------------------------


def test_big_tables_have_the_spec_columns_and_types(small):
    for name in BIG:
        expected = tables.spec(name).arrow_schema()
        got = small.arrow[name].schema
        assert got.names == expected.names
        assert [f.type for f in got] == [f.type for f in expected], name


def test_reference_tables_match_the_original_export():
    assert SEED_SAMPLE.is_dir(), f"the seed sample is expected at {SEED_SAMPLE}"
    generated = {}
    for name in tables.TABLES:
        if name not in BIG:
            generated[name] = pq.read_table(REPO / "data" / f"{name}.parquet")
            seed = pq.read_table(SEED_SAMPLE / f"{name}.parquet")
            assert generated[name].schema.equals(seed.schema), name
            assert generated[name].num_rows == seed.num_rows, name
    for name in ("coverage_levels", "currency_rates", "policy_types", "payment_methods"):
        assert generated[name].equals(pq.read_table(SEED_SAMPLE / f"{name}.parquet")), name


# --- ground truth ----------------------------------------------------------------------------------------


def test_truth_lies_beside_the_output_folder_not_in_it(small):
    assert small.truth_path.exists()
    assert small.truth_path.parent == small.folder.parent
    assert sorted(p.name for p in small.folder.iterdir()) == sorted(f"{n}.parquet" for n in tables.TABLES)
    with pytest.raises(ValueError, match="outside"):
        generate(small.folder, scale=0.01, truth_path=small.folder / "truth.parquet")


def test_every_defect_kind_is_injected_and_recorded(small):
    expected = {(t, k) for t, kinds in DEFECTS.items() for k in kinds if t != "agents"}
    found = set(zip(small.truth["table"], small.truth["defect"], strict=True))
    assert expected <= found, sorted(expected - found)
    assert found <= {(t, k) for t, kinds in DEFECTS.items() for k in kinds}
    assert list(small.truth.columns) == ["defect", "table", "key", "column"]
    assert not small.truth.duplicated(["defect", "table", "key"]).any()


def test_truth_keys_name_real_rows_and_one_kind_per_row(sample):
    for table, t in sample.truth.groupby("table"):
        df = sample.df[table]
        if table == "currency_rates":
            keys = df["currency"] + "|" + df["date"].dt.strftime("%Y-%m-%d")
        else:
            keys = df[tables.spec(table).primary_key[0]]
        assert set(t["key"]) <= set(keys), table
        assert not t["key"].duplicated().any(), f"{table}: a row with two defect kinds"


def test_defect_share_of_the_big_tables(sample):
    touched = {t: len(sample.keys(t)) / sample.counts[t] for t in BIG}
    overall = sum(len(sample.keys(t)) for t in BIG) / sum(sample.counts[t] for t in BIG)
    assert 0.28 <= overall <= 0.40, touched
    assert len(sample.keys("policies", "duplicate_policy")) == round(0.12 * sample.counts["policies"])
    assert len(sample.spoiled("branches", "updated_before_created")) > 20  # the export's quirk, kept


# --- field rules: clean rows pass the Cerberus schema ------------------------------------------------------


def valid_email(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


def field_rules(table: str, conventions: Conventions) -> dict[str, dict]:
    """The field rules data of these conventions must pass: the domain's ranges (tables.py), the conventions' id
    shapes and labels (with their case and whitespace variants where the conventions write some), valid e-mail."""
    spec = tables.spec(table)
    rules = {c.name: {k: v for k, v in c.rules.items() if k in ("min", "max", "minlength")} for c in spec.columns}
    for column, category in conventions.of_table(table).items():
        written = set(category.written)
        if category.variants:
            written |= {v for s in category.written for v in category.variants_of(s)}
        rules[column]["allowed"] = written
    for column, fmt in conventions.ids.items():
        if column in rules:
            rules[column]["regex"] = fmt.pattern
    if table == "customers":
        rules["zip"]["regex"] = r"[0-9]{5}"
        rules["email"]["email"] = True
    return rules


def _rule_violations(df: pd.DataFrame, table: str, conventions: Conventions | None = None) -> dict[str, int]:
    spec, rules = tables.spec(table), field_rules(table, conventions or Conventions.default())
    bad = {}
    for col in spec.columns:
        s = df[col.name]
        present = s.notna()
        wrong = pd.Series(False, index=df.index) if col.nullable else ~present
        rule = rules[col.name]
        if "allowed" in rule:
            wrong |= present & ~s.isin(rule["allowed"])
        if "regex" in rule:
            wrong |= present & ~s.astype("str").str.fullmatch(rule["regex"])
        if "email" in rule:
            wrong |= present & ~s.astype("str").map(valid_email)
        if "minlength" in rule:
            wrong |= present & (s.astype("str").str.len() < rule["minlength"])
        if "min" in rule:
            wrong |= present & (s < rule["min"])
        if "max" in rule:
            wrong |= present & (s > rule["max"])
        if wrong.any():
            bad[col.name] = int(wrong.sum())
    return bad


def test_clean_rows_pass_every_field_rule(sample):
    for name in BIG:
        assert _rule_violations(sample.clean(name), name) == {}, name
    assert _rule_violations(sample.df["snapshots"], "snapshots") == {}
    assert _rule_violations(sample.df["branches"], "branches") == {}
    assert sample.df["branches"]["state"].isin(Conventions.default().states).all()


def test_field_rule_defects_do_break_the_rules(small):
    for name, kind, column in (
        ("customers", "malformed_email", "email"),
        ("customers", "risk_score_out_of_range", "risk_score"),
        ("policies", "negative_premium", "premium_amount"),
        ("claims", "null_fraud_flag", "fraud_flag"),
        ("payments", "null_success_flag", "success_flag"),
    ):
        rows = small.spoiled(name, kind)
        assert len(rows) > 0
        assert _rule_violations(rows, name).get(column) == len(rows), kind


def test_cerberus_accepts_a_sample_of_clean_rows(small):
    for name in BIG:
        validator = cerberus.Validator(tables.spec(name).cerberus_schema())
        table = pa.Table.from_pandas(small.clean(name), preserve_index=False).cast(small.arrow[name].schema)
        rows = table.take(np.random.default_rng(0).choice(table.num_rows, 150, replace=False)).to_pylist()
        failures = [(r, validator.errors) for r in rows if not validator.validate(r)]
        assert failures == [], (name, failures[:2])


# --- cross-row and cross-table consistency -----------------------------------------------------------------


def test_customers_are_consistent_and_duplicates_are_the_same_people(sample):
    c = sample.df["customers"]
    ok = sample.clean("customers")
    assert (ok["last_login"].isna() | (ok["last_login"] >= ok["created_at"])).all()
    assert (ok["updated_at"] >= ok["created_at"]).all()
    dob = c["dob"]
    age = (
        AS_OF.year
        - dob.dt.year
        - ((dob.dt.month > AS_OF.month) | ((dob.dt.month == AS_OF.month) & (dob.dt.day > AS_OF.day)))
    )
    assert (age == c["age"]).all()
    assert (c["created_at"] < AS_OF).all()

    dup = c["customer_id"].isin(sample.keys("customers", "duplicate_customer"))
    email = c["email"].str.strip().str.lower()
    assert email[~dup].is_unique
    assert not c[~dup].duplicated(["first_name", "last_name", "dob"]).any()
    originals = c[~dup].assign(norm=email[~dup])
    copies = (
        c[dup]
        .assign(norm=email[dup])
        .merge(originals, on=["norm", "first_name", "last_name", "dob"], suffixes=("", "_orig"))
    )
    assert len(copies) == dup.sum()
    assert (copies["email"] != copies["email_orig"]).all()
    assert (copies["created_at"] > copies["created_at_orig"]).all()  # the later sign-up is the copy
    spoiled = sample.spoiled("customers", "login_before_signup")
    assert (spoiled["last_login"] < spoiled["created_at"]).all()


def test_policies_are_consistent(sample):
    p, c = sample.df["policies"], sample.df["customers"]
    ok = sample.clean("policies")
    max_cover = sample.df["policy_types"].set_index("type_name")["max_coverage"]
    assert (ok["end_date"] > ok["start_date"]).all()
    assert (ok["premium_amount"] > 0).all()
    assert (ok["coverage_amount"] <= ok["policy_type"].map(max_cover)).all()
    assert (ok["updated_at"] >= ok["created_at"]).all()
    assert ok["currency"].isin(["USD", "EUR", "GBP"]).all()

    original_customers = set(c["customer_id"]) - sample.keys("customers", "duplicate_customer")
    orphans = p["policy_id"].isin(sample.keys("policies", "orphan_customer"))
    assert p.loc[~orphans, "customer_id"].isin(original_customers).all()
    assert not p.loc[orphans, "customer_id"].isin(c["customer_id"]).any()
    assert p["policy_type"].isin(sample.df["policy_types"]["type_name"]).all()
    agents = sample.df["agents"].set_index("agent_id")["branch_id"]
    assert (p["assigned_agent_id"].map(agents) == p["branch_code"]).all()

    overlapping = p["policy_id"].isin(sample.keys("policies", "overlapping_active_policy"))
    active = p[(p["status"] == "Active") & ~overlapping]
    assert not active.duplicated(["customer_id", "policy_type"]).any()
    pairs = p[overlapping].merge(active, on=["customer_id", "policy_type"], suffixes=("", "_first"))
    assert len(pairs) == overlapping.sum()
    assert (
        (pairs["start_date"] < pairs["end_date_first"])
        & (pairs["start_date_first"] < pairs["end_date"])
        & (pairs["start_date"] > pairs["start_date_first"])
    ).all()  # the later one is the extra

    natural = list(tables.POLICIES.natural_key)
    repeated = p["policy_id"].isin(sample.keys("policies", "duplicate_policy"))
    assert not p[~repeated].duplicated(natural).any()
    copies = p[repeated].merge(p[~repeated], on=natural, suffixes=("", "_orig"))
    assert len(copies) == repeated.sum()
    assert (copies["status_orig"] != "Active").all()


def test_claims_are_consistent(sample):
    cl, p = sample.df["claims"], sample.df["policies"]
    ok = sample.clean("claims").merge(p, on="policy_id", suffixes=("", "_policy"))
    assert len(ok) == len(sample.clean("claims"))
    assert ok["claim_date"].between(ok["start_date"], ok["end_date"]).all()
    assert (ok["claim_date"] < AS_OF).all()
    assert (ok["claim_amount"] <= ok["coverage_amount"]).all()
    assert ok["fraud_flag"].notna().all()
    assert (ok["updated_at"] >= ok["created_at"]).all()
    resolved = ok["resolved_date"].notna()
    assert (resolved == ok["status"].isin(["Approved", "Rejected", "Paid"])).all()
    assert (ok.loc[resolved, "resolved_date"] >= ok.loc[resolved, "claim_date"]).all()
    assert (ok.loc[resolved, "resolved_date"] < AS_OF).all()
    delay = (ok["resolved_date"] - ok["claim_date"]).dt.days
    assert ((delay == ok["delay_days"]) | (delay.isna() & ok["delay_days"].isna())).all()

    # Claims only refer to the clean original policies (never a repeated or overlapping copy).
    orphans = cl["claim_id"].isin(sample.keys("claims", "orphan_policy"))
    assert cl.loc[~orphans, "policy_id"].isin(sample.clean("policies")["policy_id"]).all()
    assert not cl.loc[orphans, "policy_id"].isin(p["policy_id"]).any()
    outside = sample.spoiled("claims", "claim_outside_policy_period").merge(p, on="policy_id")
    assert len(outside) > 0 and (~outside["claim_date"].between(outside["start_date"], outside["end_date"])).all()
    above = sample.spoiled("claims", "claim_above_coverage").merge(p, on="policy_id")
    assert len(above) > 0 and (above["claim_amount"] > above["coverage_amount"]).all()
    early = sample.spoiled("claims", "claim_resolved_before_filed")
    assert len(early) > 0 and (early["resolved_date"] < early["claim_date"]).all()

    copied = sample.keys("claims", "duplicate_key")
    counts = cl["claim_id"].value_counts()
    assert set(counts[counts > 1].index) == copied and (counts[counts > 1] == 2).all()
    assert not cl[cl["claim_id"].isin(copied)].drop_duplicates().duplicated("claim_id").any()  # exact copies
    assert not cl.drop_duplicates().duplicated(list(tables.CLAIMS.natural_key)).any()


def test_payments_are_consistent(sample):
    pm, p, cl = sample.df["payments"], sample.df["policies"], sample.df["claims"]
    ok = sample.clean("payments")
    assert ok["success_flag"].notna().all()
    assert (ok["refunded_amount"] <= ok["amount"]).all()
    assert ok["method"].isin(sample.df["payment_methods"]["method_name"]).all()
    assert (ok["updated_at"] >= ok["created_at"]).all()
    copied = sample.keys("payments", "duplicate_key")
    counts = pm["payment_id"].value_counts()
    assert set(counts[counts > 1].index) == copied
    assert pm.drop_duplicates()["transaction_id"].is_unique

    orphans = pm["payment_id"].isin(sample.keys("payments", "orphan_policy"))
    assert pm.loc[~orphans, "policy_id"].isin(sample.clean("policies")["policy_id"]).all()
    assert not pm.loc[orphans, "policy_id"].isin(p["policy_id"]).any()
    joined = ok.merge(p, on="policy_id", suffixes=("", "_policy"))
    assert len(joined) == len(ok)
    assert (joined["currency"] == joined["currency_policy"]).all()

    premium = joined[joined["claim_id"].isna()]
    assert (premium["transaction_date"] >= premium["start_date"]).all()
    assert (premium["transaction_date"] < premium["end_date"]).all()  # before the end day begins
    payout = joined[joined["claim_id"].notna()].merge(cl.drop_duplicates(), on="claim_id", suffixes=("", "_claim"))
    assert len(payout) == joined["claim_id"].notna().sum() > 0
    assert payout["status_claim"].isin(["Paid", "Approved"]).all()
    assert (payout["policy_id"] == payout["policy_id_claim"]).all()
    assert (payout["transaction_date"] >= payout["resolved_date"]).all()
    # Payouts settle clean claims only (one that was copied under its own key counts: the copy is the defect).
    settleable = set(sample.clean("claims")["claim_id"]) | sample.keys("claims", "duplicate_key")
    assert payout["claim_id"].isin(settleable).all()

    late = sample.spoiled("payments", "payment_for_cancelled_policy").merge(p, on="policy_id")
    assert len(late) > 0 and (late["status"] == "Cancelled").all() and late["claim_id"].isna().all()
    assert (late["transaction_date"] > late["end_date"]).all()
    early = sample.spoiled("payments", "payment_before_claim_resolved").merge(cl.drop_duplicates(), on="claim_id")
    assert len(early) > 0 and (early["transaction_date"] < early["resolved_date"]).all()
    refund = sample.spoiled("payments", "refund_above_amount")
    assert (refund["refunded_amount"] > refund["amount"]).all()
    assert (
        not sample.spoiled("payments", "unknown_payment_method")["method"]
        .isin(sample.df["payment_methods"]["method_name"])
        .any()
    )


def test_branches_agents_and_snapshots(sample):
    b, a, s = sample.df["branches"], sample.df["agents"], sample.df["snapshots"]
    assert list(b["branch_id"]) == [f"BR{i:03d}" for i in range(1, 101)]
    assert list(a["agent_id"]) == [f"AG{i:03d}" for i in range(1, 501)]
    assert a["branch_id"].isin(b["branch_id"]).all() and b["branch_id"].isin(a["branch_id"]).all()
    managers = b.merge(a, left_on="manager_id", right_on="agent_id", suffixes=("", "_agent"))
    assert len(managers) == 100 and (managers["branch_id"] == managers["branch_id_agent"]).all()
    assert set(sample.spoiled("branches", "updated_before_created")["branch_id"]) == set(
        b.loc[b["updated_at"] < b["created_at"], "branch_id"]
    )
    assert (a["updated_at"] >= a["created_at"]).all()

    assert list(s["snapshot_date"]) == list(pd.date_range(AS_OF - pd.Timedelta(days=30), periods=30))
    copies = len(sample.keys("customers", "duplicate_customer"))
    assert (s["total_customers"] == sample.counts["customers"] - copies).all()
    ok = sample.clean("payments")
    assert abs(s["success_rate"].mean() - ok["success_flag"].astype(bool).mean()) < 0.02


def test_command_line_writes_the_files_and_the_truth(tmp_path, capsys):
    assert main(["--scale", "0.002", "--seed", "5", "--out", str(tmp_path / "src")]) == 0
    assert len(list((tmp_path / "src").glob("*.parquet"))) == 11
    truth = pq.read_table(tmp_path / "src-truth.parquet")
    assert truth.num_rows > 0
    out = capsys.readouterr().out
    assert re.search(r"payments\s+2,000", out) and "src-truth.parquet" in out
