"""`python -m pipeline profile`: conventions proposed from real Parquet files, never learnt from defects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.cli.main import main
from pipeline.quality import contract
from pipeline.quality.compile import regex_to_sql
from pipeline.quality.profile import edit_distance, profile_table
from pipeline.tables import TABLES

from tests.support import ROOT

SHIPPED = ROOT / "contracts"


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "profile", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.yaml"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "data"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--scale", "0.01", "--seed", "7", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out


def conventions(where: Path) -> dict[tuple[str, str], tuple]:
    found = {}
    for table, spec in TABLES.items():
        c = contract.load(table, where)
        for name in spec.column_names:
            col = c.column(name)
            found[table, name] = (col.pattern, frozenset(col.values), col.synonyms, col.email, col.required)
    return found


def test_profile_of_generated_data_gives_the_shipped_conventions(generated, tmp_path):
    """Learnt from the data alone (no contracts yet), with 4-5% defect rows per kind: the shipped contracts."""
    learnt = tmp_path / "contracts"
    done = cli("--data-dir", str(generated), "--contracts", str(learnt), "--write")
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in learnt.glob("*.yaml")) == sorted(TABLES)
    contract.load_all(learnt)  # every written file loads
    got, shipped = conventions(learnt), conventions(SHIPPED)
    assert {k: v for k, v in got.items() if v != shipped[k]} == {}
    assert got["customers", "customer_id"][0] == "CU[0-9]{7}"
    assert got["policies", "policy_id"][0] == "PO[0-9]{8}"
    assert got["customers", "zip"][0] == "[0-9]{5}"
    assert got["claims", "region"][1] == {"Northeast", "Midwest", "South", "West"}
    assert len(got["branches", "state"][1]) == 50  # 35 seen in branches, the rest from customers.state
    assert got["customers", "email"][3] is True
    # Defects were not learnt: unknown currencies and payment methods are references, checked by their parents.
    assert not got["policies", "currency"][1] and not got["payments", "method"][1]


@pytest.mark.parametrize("source", ["generated", "committed sample"])
def test_the_shipped_contracts_already_say_what_the_data_shows(source, generated):
    """The committed sample shows 49 of the 50 states its contract lists: an unseen value the user listed stays."""
    before = snapshot(SHIPPED)
    done = cli("--data-dir", str(generated if source == "generated" else ROOT / "data"), "--contracts", str(SHIPPED))
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert len(heads) == len(TABLES) + 1
    assert all(line.endswith("no changes to its conventions") for line in heads[:-1]), done.stdout
    assert "nothing written" in heads[-1]
    assert snapshot(SHIPPED) == before  # without --write nothing is written


def write_foreign(folder: Path) -> None:
    """Another insurer's conventions: ids HC000123, regions North/South/East/West with case and space variants
    and a typo in 0.1% of rows, statuses Approved/Pending/Rejected, non-ASCII e-mail, odd Arrow types."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    n_customers, n_claims = 2_000, 5_000
    customer_ids = [f"HC{i:06d}" for i in range(1, n_customers + 1)]
    customer_ids[7] = None  # a fact is broken: the product requires a key; nullability must not loosen
    first = ["José", "Zoë", "Anna", "Li"]
    pq.write_table(
        pa.table(
            {
                "customer_id": customer_ids,
                "first_name": [first[i % 4] for i in range(n_customers)],
                "email": [f"{first[i % 4].lower()}.{i}@exämple.de" for i in range(n_customers)],
                "referral_source": pa.array(rng.choice(["Web", "Agent", "Branch"], n_customers)).dictionary_encode(),
                "risk_score": pa.array([f"{x:.1f}" for x in rng.random(n_customers) * 100]),  # numbers as text
            }
        ),
        folder / "customers.parquet",
    )
    region = rng.choice(["North", "South", "East", "West"], n_claims, p=[0.3, 0.3, 0.2, 0.2]).astype(object)
    region[:40], region[40:65] = "north ", "NORTH"
    region[100:105] = "Nrth"  # 0.1% of rows: a typo of North
    region[200] = "Atlantis"  # one stray value, near nothing
    pq.write_table(
        pa.table(
            {
                "claim_id": [f"CL{i:08d}" for i in range(n_claims)],
                "policy_id": [f"P{i % 900:05d}" for i in range(n_claims)],
                "region": pa.array(region.tolist(), pa.large_string()),
                "status": rng.choice(["Approved", "Pending", "Rejected"], n_claims),
                "fraud_flag": rng.integers(0, 2, n_claims),  # 0/1 integers for a boolean
            }
        ),
        folder / "claims.parquet",
    )


@pytest.fixture
def foreign(tmp_path) -> tuple[Path, Path]:
    data, contracts = tmp_path / "data", tmp_path / "contracts"
    write_foreign(data)
    shutil.copytree(SHIPPED, contracts)
    claims = yaml.safe_load((contracts / "claims.yaml").read_text())  # the user's own settings, to be kept
    claims["rules"] = {"claims.orphan_policy_id": {"action": "quarantine", "warn_if": 0.2, "error_if": 0.6}}
    claims["columns"]["status"]["strict"] = True
    (contracts / "claims.yaml").write_text(contract.dump("claims", claims))
    return data, contracts


def test_foreign_conventions_are_proposed_and_the_written_contracts_load(foreign, capsys):
    data, contracts = foreign
    before = snapshot(contracts)
    assert main(["profile", "--data-dir", str(data), "--contracts", str(contracts)]) == 0
    printed = capsys.readouterr().out
    assert snapshot(contracts) == before
    assert "customer_id        pattern CU[0-9]{7} -> HC[0-9]{6} (100.0% of 1,999 values)" in printed
    assert "values +North (1,550) +East (952) -Northeast -Midwest" in printed
    assert "synonym 'Nrth' -> North (5 rows, 1 edit away: a typo)" in printed
    assert "'north ' -> North (40), 'NORTH' -> North (25)" in printed
    assert "rare, not proposed (will be flagged): 'Atlantis' (1 row)" in printed
    assert "values +Pending" in printed and "-Submitted -Under Review -Paid" in printed

    assert main(["profile", "--data-dir", str(data), "--contracts", str(contracts), "--write"]) == 0
    assert "written: " in capsys.readouterr().out
    loaded = contract.load_all(contracts)
    customers, claims = loaded["customers"], loaded["claims"]
    assert customers.column("customer_id").pattern == "HC[0-9]{6}"
    assert regex_to_sql("HC[0-9]{6}") is not None  # checked in SQL, not row by row
    assert customers.column("email").email
    assert set(customers.column("referral_source").values) == {"Web", "Agent", "Branch"}
    assert set(claims.column("region").values) == {"North", "South", "East", "West"}
    assert claims.column("region").synonyms == (("nrth", "North"),)
    assert set(claims.column("status").values) == {"Approved", "Pending", "Rejected"}
    # The user's strict flag and rules stay; facts are restated, never loosened; absent tables are untouched.
    assert claims.column("status").strict
    assert claims.rules["claims.orphan_policy_id"].error_if == 0.6
    written = yaml.safe_load((contracts / "customers.yaml").read_text())["columns"]
    assert written["customer_id"]["nullable"] is False and written["customer_id"]["type"] == "text"
    assert written["risk_score"]["observed"]["file_type"] == "string"
    assert 0 <= written["risk_score"]["observed"]["min"] < written["risk_score"]["observed"]["max"] <= 100
    assert yaml.safe_load((contracts / "claims.yaml").read_text())["columns"]["fraud_flag"] == {
        "type": "bool",
        "nullable": False,
        "observed": {"null_share": 0.0, "distinct": 2, "file_type": "int64"},
    }
    for table in set(TABLES) - {"customers", "claims"}:
        assert (contracts / f"{table}.yaml").read_bytes() == before[f"{table}.yaml"]


def test_write_without_changes_is_idempotent(foreign):
    data, contracts = foreign
    first = cli("--data-dir", str(data), "--contracts", str(contracts), "--write")
    assert first.returncode == 0, first.stderr
    written = snapshot(contracts)
    again = cli("--data-dir", str(data), "--contracts", str(contracts), "--write")
    assert again.returncode == 0, again.stderr
    assert snapshot(contracts) == written
    assert "written: nothing (the contracts already say this)" in again.stdout
    assert "claims: 5,000 rows in" in again.stdout and "no changes to its conventions" in again.stdout
    assert "pattern" not in again.stdout and "values +" not in again.stdout and "synonym '" not in again.stdout


def test_a_broken_data_file_is_one_line_naming_the_file(foreign):
    data, contracts = foreign
    (data / "claims.parquet").write_bytes(b"PAR1 this is not a parquet file")
    done = cli("--data-dir", str(data), "--contracts", str(contracts), "--write")
    assert done.returncode == 30  # luigi.cfg [retcode] task_failed: bad input
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{data / 'claims.parquet'}: not a readable Parquet file" in done.stderr
    assert (contracts / "claims.yaml").read_text().count("Submitted") == 1  # nothing written


def test_typos_are_near_misses_of_common_words_only(tmp_path):
    """Inactive is no typo of Active, SD none of SC; a rare stray with no near value is left out."""
    status = np.array(
        ["Active"] * 9_000 + ["Inactive"] * 980 + ["Actve"] * 8 + ["Inactive "] * 4 + ["Zzz"] * 8, dtype=object
    )
    states = np.array((["SC"] * 5_000 + ["TX"] * 4_990 + ["SD"] * 10), dtype=object)
    path = tmp_path / "customers.parquet"
    pq.write_table(pa.table({"customer_status": status.tolist(), "state": states.tolist()}), path)
    profile = profile_table(TABLES["customers"], path, contract.TableContract("customers"))
    status_profile, state_profile = profile.columns["customer_status"], profile.columns["state"]
    assert status_profile.counts == {"Active": 9_000, "Inactive": 984}
    assert status_profile.typos == {"Actve": ("Active", 8, 1)}
    assert status_profile.rare == {"Zzz": 8}
    assert state_profile.counts == {"SC": 5_000, "TX": 4_990} and state_profile.rare == {"SD": 10}
    assert edit_distance("Nrth", "North") == 1 and edit_distance("Northeats", "Northeast") == 2
