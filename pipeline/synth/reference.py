"""The seven small reference tables in the original export's shape: four as exported, three generated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import tables
from pipeline.synth import vocab
from pipeline.synth.common import AS_OF, AS_OF_TS, FIRST_DAY, choice, days_between, seconds_between, to_arrow

N_BRANCHES, N_AGENTS, N_SNAPSHOTS = 100, 500, 30

# Where the original export's Parquet types differ from the spec's, the generated files keep the export's;
# its timestamps are nanoseconds.
EXPORT_TYPES = {("agents", "created_at"): pa.date32(), ("policy_types", "max_coverage"): pa.int32()}


def export_schema(name: str) -> pa.Schema:
    """The spec's columns with the export's Parquet types, all nullable as in the export."""
    out = []
    for f in tables.spec(name).arrow_schema():
        t = EXPORT_TYPES.get((name, f.name), pa.timestamp("ns") if pa.types.is_timestamp(f.type) else f.type)
        out.append(pa.field(f.name, t))
    return pa.schema(out)


def _ts(*values: str) -> np.ndarray:
    return np.array(values, "datetime64[s]")


def _audited(columns: dict, created: np.ndarray, updated: np.ndarray) -> dict:
    by = np.array(["SYSTEM"] * len(created))
    return {**columns, "created_at": created, "updated_at": updated, "created_by": by, "updated_by": by}


# The four tables below are the original export's values, verbatim.
POLICY_TYPE_NAMES = ["Life", "Term", "Health", "Annuity", "Whole Life", "Universal Life", "Disability"]
POLICY_TYPE_MAX = np.array([5_000_000, 5_000_000, 1_000_000, 5_000_000, 5_000_000, 5_000_000, 2_000_000])
PAYMENT_METHOD_NAMES = ["Card", "ACH", "Wire", "UPI", "Cash"]
CURRENCIES = ["USD", "EUR", "GBP"]

EXPORTED = {
    "coverage_levels": {
        "coverage_id": ["CL01", "CL02", "CL03", "CL04", "CL05"],
        "level_name": ["Basic", "Standard", "Premium", "Elite", "Platinum"],
        "min_amount": [10_000, 50_001, 100_001, 500_001, 1_000_001],
        "max_amount": [50_000, 100_000, 500_000, 1_000_000, 5_000_000],
    },
    "currency_rates": _audited(
        {
            "currency": np.repeat(CURRENCIES, 5),
            "conversion_rate": [1.0] * 5
            + [1.1394, 0.525, 0.775, 0.7232, 1.2365]
            + [1.1767, 1.3922, 0.5869, 0.9219, 0.5298],
            "date": np.tile(
                np.array(["2025-10-09", "2025-09-09", "2025-08-10", "2025-07-11", "2025-06-11"], "datetime64[D]"), 3
            ),
        },
        _ts(
            "2021-01-17T06:30:43",
            "2024-06-21T17:07:46",
            "2018-06-02T01:21:51",
            "2021-05-01T22:22:59",
            "2025-10-01T13:41:41",
            "2021-01-18T21:40:26",
            "2019-11-01T10:02:03",
            "2019-12-07T17:18:40",
            "2023-03-02T08:44:11",
            "2023-06-27T17:33:24",
            "2021-01-13T10:31:27",
            "2017-10-21T18:28:45",
            "2018-02-09T04:21:11",
            "2018-07-24T14:20:24",
            "2021-09-02T22:15:47",
        ),
        _ts(
            "2017-02-12T14:23:45",
            "2019-03-26T04:51:10",
            "2024-11-24T14:08:51",
            "2022-06-03T11:57:06",
            "2016-11-24T09:38:36",
            "2023-03-21T00:29:38",
            "2016-10-04T09:24:28",
            "2017-03-29T06:49:49",
            "2017-09-30T07:01:12",
            "2016-09-16T12:18:35",
            "2018-10-06T00:03:45",
            "2015-12-28T06:35:03",
            "2015-12-20T02:34:18",
            "2024-03-21T04:18:32",
            "2024-09-02T10:03:33",
        ),
    ),
    "policy_types": _audited(
        {
            "type_id": [f"PT{i:03d}" for i in range(1, 8)],
            "type_name": POLICY_TYPE_NAMES,
            "description": [f"{n} insurance policy" for n in POLICY_TYPE_NAMES],
            "max_coverage": POLICY_TYPE_MAX,
        },
        _ts(
            "2018-09-18T03:13:24",
            "2023-10-15T08:38:19",
            "2017-01-06T03:10:45",
            "2016-01-22T06:45:02",
            "2025-10-07T07:50:26",
            "2016-12-03T05:02:03",
            "2016-01-04T06:52:18",
        ),
        _ts(
            "2020-03-26T17:44:58",
            "2019-06-12T03:46:00",
            "2016-06-14T01:15:31",
            "2016-10-20T07:36:57",
            "2022-07-18T12:11:03",
            "2024-05-23T13:05:45",
            "2020-08-24T18:00:13",
        ),
    ),
    "payment_methods": _audited(
        {
            "method_id": [f"PM{i:03d}" for i in range(1, 6)],
            "method_name": PAYMENT_METHOD_NAMES,
            "description": [f"Payment via {n}" for n in PAYMENT_METHOD_NAMES],
        },
        _ts(
            "2024-04-18T23:41:03",
            "2022-11-03T23:33:21",
            "2022-12-24T13:57:50",
            "2022-08-14T05:48:12",
            "2017-03-05T18:22:24",
        ),
        _ts(
            "2024-11-25T16:11:32",
            "2024-12-02T10:49:31",
            "2018-05-16T07:12:17",
            "2020-06-29T16:50:08",
            "2017-03-13T00:44:47",
        ),
    ),
}


def exported(name: str) -> pa.Table:
    schema = export_schema(name)
    cols = EXPORTED[name]
    return pa.Table.from_arrays([pa.array(np.asarray(cols[f.name]), f.type) for f in schema], schema=schema)


# Branch states lean towards the populous states, as a national insurer's would.
_BIG_STATES = {
    "CA": 12,
    "TX": 9,
    "FL": 7,
    "NY": 6,
    "PA": 4,
    "IL": 4,
    "OH": 4,
    "GA": 4,
    "NC": 4,
    "MI": 3,
    "NJ": 3,
    "VA": 3,
    "WA": 3,
}
_BY = {"created_by": ["SYSTEM"], "updated_by": ["SYSTEM"]}
ROLES = ["Agent", "Senior Agent", "Manager"]  # by role code, as the export writes them


def _words(rng: np.random.Generator, words: list[str], n: int) -> pa.Array:
    return pa.array(words).take(pa.array(rng.integers(0, len(words), n)))


def branches_and_agents(rng_branches: np.random.Generator, rng_agents: np.random.Generator):
    """100 branches and 500 agents, and each agent's branch number; every branch is managed by one of its agents."""
    rng = rng_agents
    n = N_AGENTS
    branch = rng.permutation(np.concatenate([np.arange(N_BRANCHES), rng.integers(0, N_BRANCHES, n - N_BRANCHES)]))
    role = choice(rng, n, [0.62, 0.29, 0.09])  # Agent, Senior Agent, Manager
    hire = days_between(rng, FIRST_DAY, AS_OF - 20, n)
    agents = {
        "agent_id": np.arange(1, n + 1),
        "name": pc.binary_join_element_wise(
            _words(rng, vocab.MALE_NAMES + vocab.FEMALE_NAMES, n), _words(rng, vocab.LAST_NAMES, n), " "
        ),
        "branch_id": branch + 1,
        "role": role,
        "hire_date": hire,
        "created_at": hire,
        "updated_at": seconds_between(rng, hire.astype("datetime64[s]"), AS_OF_TS),
        "created_by": np.zeros(n, int),
        "updated_by": np.zeros(n, int),
    }

    rng = rng_branches
    n = N_BRANCHES
    stems = list(dict.fromkeys(vocab.LAST_NAMES + vocab.MALE_NAMES + vocab.FEMALE_NAMES))
    parts = (vocab.TOWN_PREFIXES, stems, vocab.TOWN_SUFFIXES)
    picks = np.unravel_index(rng.choice(np.prod([len(p) for p in parts]), n, replace=False), [len(p) for p in parts])
    town = pc.binary_join_element_wise(*(pa.array(p).take(pa.array(i)) for p, i in zip(parts, picks, strict=True)), "")
    # The branch's manager: one of its own agents, a Manager where it has one.
    order = np.lexsort((rng.random(N_AGENTS), -role, branch))
    _, first = np.unique(branch[order], return_index=True)
    lo, hi = np.datetime64("2015-10-01T00:00:00"), np.datetime64("2025-09-15T00:00:00")
    branches = {
        "branch_id": np.arange(1, n + 1),
        "city": town,
        "state": choice(rng, n, [_BIG_STATES.get(s, 1) for s in vocab.US_STATES]),
        "manager_id": order[first] + 1,
        # Independent dates: about half of the branches were updated "before" they were created, as exported.
        "created_at": seconds_between(rng, lo, hi, n),
        "updated_at": seconds_between(rng, lo, hi, n),
        "created_by": np.zeros(n, int),
        "updated_by": np.zeros(n, int),
    }
    return (
        to_arrow(branches, export_schema("branches"), {"state": vocab.US_STATES, **_BY}),
        to_arrow(agents, export_schema("agents"), {"role": ROLES, **_BY}),
        agents["branch_id"],
    )


def snapshots(rng: np.random.Generator, figures: dict[str, float]) -> pa.Table:
    """30 daily KPI rows as the source system reported them: counts as they were, averages a little noisy."""
    n = N_SNAPSHOTS
    day = AS_OF - n + np.arange(n)

    def noisy(name, sd):
        return figures[name] * (1 + rng.normal(0, sd, n))

    cols = {
        "snapshot_date": day,
        "created_at": day,
        "updated_at": day,
        "created_by": np.zeros(n, int),
        "updated_by": np.zeros(n, int),
        **{
            k: np.full(n, figures[k], np.int64)
            for k in (
                "total_customers",
                "active_customers",
                "total_policies",
                "active_policies",
                "total_claims",
                "total_payments",
            )
        },
        "avg_risk_score": noisy("avg_risk_score", 0.02),
        "avg_premium": noisy("avg_premium", 0.03),
        "avg_claim_amount": noisy("avg_claim_amount", 0.03),
        "fraud_rate": np.clip(noisy("fraud_rate", 0.03), 0, 1),
        "success_rate": np.clip(figures["success_rate"] + rng.normal(0, 0.015, n), 0, 1),
    }
    return to_arrow(cols, export_schema("snapshots"), _BY)
