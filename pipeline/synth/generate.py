"""Synthetic source data: the eleven Parquet files with injected defects, and their ground truth."""

from __future__ import annotations

import argparse
import os
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import tables
from pipeline.synth import claims, customers, payments, policies, reference
from pipeline.synth.common import REFERENCE_IDS, Frame, format_ids, labels, relaxed, to_arrow
from pipeline.synth.conventions import Conventions
from pipeline.synth.daily import write_daily
from pipeline.synth.defects import DEFECTS, DefectRates, Injector, is_extra

__all__ = ["SIZES", "Conventions", "DefectRates", "default_truth_path", "generate", "main"]

# Rows at scale 1.0. The four big tables scale linearly; the reference tables never scale.
SIZES = {"customers": 50_000, "policies": 350_000, "claims": 500_000, "payments": 1_000_000}
VOCABS = {"customers": customers.VOCAB, "policies": policies.VOCAB, "claims": claims.VOCAB, "payments": payments.VOCAB}
TRUTH_SCHEMA = pa.schema(
    [
        pa.field("defect", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("column", pa.string()),
    ]
)


def default_truth_path(out_dir: Path) -> Path:
    """Beside the output folder, never in it: the pipeline loads everything in its source folder."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}-truth.parquet"


def generate(
    out_dir,
    scale: float = 0.01,
    seed: int = 42,
    truth_path=None,
    rates: DefectRates | None = None,
    conventions: Conventions | str | Path | None = None,
    seasonality: float = 0.0,
    daily: int = 0,
) -> dict[str, int]:
    """Write the eleven source tables to out_dir and the injected defects to truth_path; return rows per table.

    `conventions` (default: our own) says how the source system writes ids, categories, e-mails and flags:
    a Conventions, 'default', 'foreign' or the path of a YAML file. `seasonality` (0 to 1) makes claims follow a
    yearly cycle: 0.5 files half again as many claims in January as on average and half as many in July.
    `daily` > 0 writes the four big tables as a history plus that many daily part files (synth/daily.py).
    """
    out_dir = Path(out_dir)
    truth_path = Path(truth_path) if truth_path is not None else default_truth_path(out_dir)
    if truth_path.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"the truth file {truth_path} must be outside the output folder {out_dir}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rates = rates or DefectRates()
    if not isinstance(conventions, Conventions):
        conventions = Conventions.named(conventions or "default")

    def rng_and_injector(name: str) -> tuple[np.random.Generator, Injector]:
        rng = _rng(seed, name)
        return rng, Injector(name, rng, rates, round(SIZES[name] * scale))

    out = {name: reference.exported(name) for name in reference.EXPORTED}
    out["branches"], out["agents"], agent_branch = reference.branches_and_agents(
        _rng(seed, "branches"), _rng(seed, "agents")
    )
    frames: dict[str, Frame] = {}
    frames["customers"] = customers.customers(*rng_and_injector("customers"), conventions)
    frames["policies"] = policies.policies(*rng_and_injector("policies"), frames["customers"], agent_branch)
    frames["claims"] = claims.claims(*rng_and_injector("claims"), frames["policies"], seasonality)
    frames["payments"] = payments.payments(*rng_and_injector("payments"), frames["policies"], frames["claims"])
    for name, frame in frames.items():
        out[name] = _written(name, frame, conventions, seed)
    out["snapshots"] = reference.snapshots(_rng(seed, "snapshots"), _figures(frames))

    out_dir.mkdir(parents=True, exist_ok=True)
    split = write_daily(out, out_dir, daily, seed, _write) if daily else {}
    for name in tables.TABLES:
        if name in split:
            (out_dir / f"{name}.parquet").unlink(missing_ok=True)  # the folder is the source now
        else:
            _write(out[name], out_dir / f"{name}.parquet")
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    _write(_truth(frames, out, conventions), truth_path)
    return {name: split.get(name, out[name].num_rows) for name in tables.TABLES}


def _rng(seed: int, table: str) -> np.random.Generator:
    """One generator per table, derived from the seed and the table's name."""
    return np.random.default_rng([seed, zlib.crc32(table.encode())])


def _written(name: str, frame: Frame, conventions: Conventions, seed: int) -> pa.Table:
    """The table as the source system writes it: its category labels (and their variants), id formats and flags."""
    frame = dict(frame)
    keys = frame[tables.spec(name).primary_key[0]]
    for column, category in conventions.of_table(name).items():
        frame[column] = category.write(frame[column], keys, zlib.crc32(f"{seed}|{name}.{column}".encode()))
    return to_arrow(
        frame,
        relaxed(tables.spec(name).arrow_schema()),
        VOCABS[name],
        {**REFERENCE_IDS, **conventions.id_formats()},
        conventions.flags_as_int,
    )


def _figures(frames: dict[str, Frame]) -> dict[str, float]:
    """The daily report's figures: counts of the source's own records, averages over its clean rows."""
    own = {name: ~is_extra(name, f["_defect"]) for name, f in frames.items()}
    clean = {name: f["_defect"] == -1 for name, f in frames.items()}
    c, p, cl, pm = (frames[n] for n in ("customers", "policies", "claims", "payments"))
    return {
        **{f"total_{name}": int(mask.sum()) for name, mask in own.items()},
        "active_customers": int((own["customers"] & (c["customer_status"] == 0)).sum()),
        "active_policies": int((own["policies"] & (p["status"] == policies.ACTIVE)).sum()),
        "avg_risk_score": float(c["risk_score"][clean["customers"]].mean()),
        "avg_premium": float(p["premium_amount"][clean["policies"]].mean()),
        "avg_claim_amount": float(cl["claim_amount"][clean["claims"]].mean()),
        "fraud_rate": float((cl["fraud_flag"][clean["claims"]] == 1).mean()),
        "success_rate": float((pm["success_flag"][clean["payments"]] == 1).mean()),
    }


def _truth(frames: dict[str, Frame], out: dict[str, pa.Table], conventions: Conventions) -> pa.Table:
    """One row per injected (defect, table, key), with the column the defect is in where it has one."""

    def part(defect: pa.Array, table: str, key: pa.Array, column: pa.Array) -> pa.Table:
        return pa.Table.from_arrays(
            [defect, pa.array([table] * len(key), pa.string()), key, column], schema=TRUTH_SCHEMA
        )

    parts = []
    for name, f in frames.items():
        spoiled = f["_defect"] >= 0
        kinds = list(DEFECTS[name])
        key = tables.spec(name).primary_key[0]
        prefix, width = conventions.id_formats()[key]
        parts.append(
            part(
                labels(kinds, f["_defect"][spoiled]),
                name,
                format_ids(prefix, f[key][spoiled], width),
                labels([DEFECTS[name][k] for k in kinds], f["_defect"][spoiled]),
            )
        )
    # The reference tables carry the export's updated_at-before-created_at quirk; it is found where it occurs.
    for name in ("agents", "branches", "currency_rates", "policy_types", "payment_methods"):
        t = out[name]
        ns = pa.timestamp("ns")
        spoiled = pc.less(t["updated_at"].cast(ns), t["created_at"].cast(ns))
        if name == "currency_rates":
            key = pc.binary_join_element_wise(t["currency"], t["date"].cast(pa.string()), "|")
        else:
            key = t[tables.spec(name).primary_key[0]]
        key = pc.filter(key, spoiled).combine_chunks()
        n = len(key)
        parts.append(
            part(
                pa.array(["updated_before_created"] * n, pa.string()),
                name,
                key,
                pa.array(["updated_at"] * n, pa.string()),
            )
        )
    return pa.concat_tables(parts).combine_chunks()


def _write(table: pa.Table, path: Path) -> None:
    """Write beside the target and rename over it, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.generate", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.01, help="1.0 makes about 1.9 million rows (default 0.01)")
    parser.add_argument("--seed", type=int, default=42, help="the same seed makes the same data (default 42)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the eleven Parquet files")
    parser.add_argument("--truth", type=Path, help="ground-truth file (default: <out>-truth.parquet beside <out>)")
    parser.add_argument(
        "--conventions",
        default="default",
        metavar="default|foreign|PATH.yaml",
        help="how the source system writes ids, categories, e-mails and flags (default: default)",
    )
    parser.add_argument(
        "--seasonality",
        type=float,
        default=0.0,
        metavar="0..1",
        help="claims follow a yearly cycle of this amplitude (default 0: none)",
    )
    parser.add_argument(
        "--daily",
        type=int,
        default=0,
        metavar="N",
        help="payments, claims, customers and policies as folders: a history and N daily part files "
        "(new payments and claims, changed customers and policies); default 0: one file per table",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.seasonality <= 1:
        parser.error(f"--seasonality must be between 0 and 1, got {args.seasonality}")
    try:
        conventions = Conventions.named(args.conventions)
    except (OSError, ValueError) as e:
        parser.error(f"--conventions: {e}")
    counts = generate(
        args.out,
        scale=args.scale,
        seed=args.seed,
        truth_path=args.truth,
        conventions=conventions,
        seasonality=args.seasonality,
        daily=args.daily,
    )
    for name, n in counts.items():
        print(f"{name:<16}{n:>12,}")
    print(f"{'total':<16}{sum(counts.values()):>12,}")
    print(f"truth: {args.truth or default_truth_path(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
