"""Benchmark: the whole job, Parquet to analytics, against a baseline written the usual way; and its growth with scale.

This project: `python -m pipeline run --workers 2` on a scratch database (data generation excluded), timed from the
outside with peak RSS (the largest process of the run: the PostgreSQL server is not counted, for either side).
Stages are wall-clock segments of that one run, from Luigi's own "running"/"done" log lines (given timestamps):
until the last load is done, then until the last heal is done, then until the end of the process (the transform,
and exit); they add up to the total. Loads and heals of different tables overlap (two workers).

Baseline, the way such pipelines are usually written (each stage a process of its own, run in sequence):
  load       pandas.read_parquet + DataFrame.to_sql per file, straight into clean.*
  validate   Cerberus validating each record against the same schemas; run on a sample of --sample records
             spread over the tables, and extrapolated to every record (stated in the table)
  heal       SQL UPDATEs (the same fixes) and DELETEs (each field rule, duplicate keys, orphans), table by table
  transform  the same analytics SQL (pipeline/sql/analytics) over what is left

Medians of --repeat runs of this project (the machine is shared and noisy), each followed by the floor (bench/floor.py:
read + \\copy + one INSERT ... SELECT pass) and their ratio; the baseline runs --baseline-repeat times (slow; 0 skips
it). Then this project again at --big-scale: how time and peak memory grew.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ensure_data, measure, measure_output, print_table, scratch_database
from floor import floor_once, print_floor, rows_in

from pipeline.tables import TABLES  # the eleven tables, parents before children

GOALS = {"total_s": 30.0, "speedup": 30.0, "growth": 3.3, "peak_mib": 1.5 * 1024, "floor_ratio": 2.5}


# ---------------------------------------------------------------- this project

# `python -m pipeline run --workers 2`, with Luigi's log lines on stdout and stamped with the time.
RUN = (
    "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(created).3f %(message)s');"
    "from pipeline.__main__ import main; sys.exit(main(['run', '--workers', '2']))"
)
DONE = re.compile(r"^(\d+\.\d+) .*Worker\(.*\) done +(LoadTable|HealTable|Transform)\(")


def ours_once(data: Path, name: str) -> dict:
    """One end-to-end run on a fresh database: seconds, peak MiB and the stage segments."""
    import psycopg2

    url = scratch_database(name)
    with tempfile.TemporaryDirectory() as folder:
        settings = Path(folder) / "luigi.cfg"
        settings.write_text("[core]\nno_configure_logging = true\n")  # keep the stamped format above
        env = {
            "PIPELINE_DATABASE_URL": url,
            "PIPELINE_DATA_DIR": str(data),
            "PIPELINE_REPORT_DIR": folder,
            "PIPELINE_PROGRESS": "0",
            "LUIGI_CONFIG_PATH": str(settings),
        }
        started = time.time()
        seconds, peak, out = measure_output([sys.executable, "-c", RUN], env=env)
    done: dict[str, list[float]] = {}
    for line in out.splitlines():
        if found := DONE.match(line):
            done.setdefault(found.group(2), []).append(float(found.group(1)))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.markers")
        markers = cur.fetchone()[0]
    conn.close()
    if markers != 2 * len(TABLES) + 1 or [len(done.get(f, [])) for f in ("LoadTable", "HealTable", "Transform")] != [
        len(TABLES),
        len(TABLES),
        1,
    ]:
        raise SystemExit(f"the run did not finish: {markers} markers, tasks done {done}")
    load = max(done["LoadTable"]) - started
    heal = max(done["HealTable"]) - max(done["LoadTable"])
    transform = seconds - load - heal  # to the end of the process, exit included
    return {"total": seconds, "peak": peak, "load": load, "heal": heal, "transform": transform}


def ours(data: Path, repeat: int, name: str) -> dict:
    """Medians of `repeat` runs, each followed by the floor measured the same way (so both see the same machine)."""
    runs = []
    for _ in range(repeat):
        runs.append(ours_once(data, name))
        runs[-1]["floor"] = floor_once(data)
        runs[-1]["ratio"] = runs[-1]["total"] / runs[-1]["floor"]
    median = {k: statistics.median(r[k] for r in runs) for k in ("total", "load", "heal", "transform", "floor")}
    median["peak"] = max(r["peak"] for r in runs)
    for key, out, digits in (("total", "runs", 1), ("floor", "floors", 1), ("ratio", "ratios", 2)):
        median[out] = [round(r[key], digits) for r in runs]
    median["ratio"] = statistics.median(r["ratio"] for r in runs)
    return median


# ---------------------------------------------------------------- the baseline, one stage per process


def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))


def baseline_load(data: str, url: str) -> None:
    import pandas as pd

    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS clean CASCADE; CREATE SCHEMA clean")
    for name in TABLES:
        pd.read_parquet(Path(data) / f"{name}.parquet").to_sql(
            name, engine, schema="clean", if_exists="replace", index=False
        )
    engine.dispose()


def baseline_validate(data: str, sample: str) -> None:
    """Cerberus on every record of a sample (spread over the tables in proportion, at least 100 of each); prints
    the extrapolated seconds for every record and the records checked."""
    import pyarrow.parquet as pq

    from pipeline.quality.contract import apply, load
    from pipeline.quality.emails import EmailValidator
    from pipeline.tables import spec

    def schema_with_contract(name: str) -> dict:
        return apply(spec(name), load(name)).cerberus_schema()

    sizes = {n: pq.ParquetFile(Path(data) / f"{n}.parquet").metadata.num_rows for n in TABLES}
    total, budget = sum(sizes.values()), int(sample)
    extrapolated, checked, failed = 0.0, 0, 0
    for name in TABLES:
        take = min(sizes[name], max(100, budget * sizes[name] // total))
        records = pq.read_table(Path(data) / f"{name}.parquet").slice(0, take).to_pylist()
        validator = EmailValidator(schema_with_contract(name))
        start = time.perf_counter()
        failed += sum(not validator.validate(record) for record in records)
        took = time.perf_counter() - start
        extrapolated += took * sizes[name] / take
        checked += take
    print(json.dumps({"extrapolated": extrapolated, "checked": checked, "failed": failed}))


def _heal_statements(name: str) -> list[str]:
    """What a hand-written healing script does to one table: fixes as UPDATEs, then a DELETE per broken rule,
    duplicate keys and orphans."""
    from pipeline.quality.rules import FIELD_POLICIES
    from pipeline.tables import spec

    table = spec(name)
    t = f'clean."{name}"'
    out = []
    for rule_id, policy in FIELD_POLICIES.items():
        if rule_id.startswith(f"{name}.") and policy.action == "fix":
            column, expr = policy.fixes[0]
            rule = rule_id.rsplit(".", 1)[1]
            condition = (
                f'"{column}" IS NULL'
                if rule == "nullable"
                else f'"{column}" {"<" if rule == "min" else ">"} {table.column(column).rules[rule]}'
            )
            out.append(f'UPDATE {t} SET "{column}" = {expr.replace("h.", "")} WHERE {condition}')
    if name == "customers":
        out.append(f"UPDATE {t} SET email = lower(btrim(email)) WHERE email <> lower(btrim(email))")
    if name == "policies":
        out.append(f"UPDATE {t} SET currency = upper(btrim(currency)) WHERE currency <> upper(btrim(currency))")
    fixed = {r.rsplit(".", 1)[0] for r, p in FIELD_POLICIES.items() if p.action != "quarantine"}
    for c in table.columns:
        col = f'"{c.name}"'
        if not c.nullable and f"{name}.{c.name}" not in fixed:
            out.append(f"DELETE FROM {t} WHERE {col} IS NULL")
        for rule, value in c.rules.items():
            if f"{name}.{c.name}" in fixed:
                continue
            if rule == "min":
                out.append(f"DELETE FROM {t} WHERE {col} < {value}")
            elif rule == "max":
                out.append(f"DELETE FROM {t} WHERE {col} > {value}")
            elif rule == "allowed":
                listed = ", ".join("'" + v.replace("'", "''") + "'" for v in value)
                out.append(f"DELETE FROM {t} WHERE {col} NOT IN ({listed})")
            elif rule == "regex":
                out.append(f"DELETE FROM {t} WHERE {col} !~ '^(?:{value})$'")
            elif rule == "minlength":
                out.append(f"DELETE FROM {t} WHERE length({col}) < {value}")
    key = ", ".join(f'"{k}"' for k in table.primary_key)
    out.append(
        f"DELETE FROM {t} a USING (SELECT ctid, row_number() OVER (PARTITION BY {key} ORDER BY ctid) AS n "
        f"FROM {t}) d WHERE a.ctid = d.ctid AND d.n > 1"
    )
    for fk in table.foreign_keys:
        if fk.soft:
            continue
        pairs = " AND ".join(f'p."{r}" = c."{c}"' for c, r in zip(fk.columns, fk.ref_columns, strict=True))
        present = " AND ".join(f'c."{c}" IS NOT NULL' for c in fk.columns)
        out.append(
            f'DELETE FROM {t} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM clean."{fk.ref_table}" p WHERE {pairs})'
        )
    if name == "claims":  # a claim outside its policy's period
        out.append(
            f"DELETE FROM {t} c USING clean.policies p WHERE p.policy_id = c.policy_id "
            "AND (c.claim_date < p.start_date OR c.claim_date > p.end_date)"
        )
    return out


def baseline_heal(url: str) -> None:
    import psycopg2

    from pipeline.quality.catalog import heal_parents

    order: list[str] = []
    while len(order) < len(TABLES):  # parents first, so that orphans are found against healed parents
        order += [t for t in TABLES if t not in order and set(heal_parents(t)) <= set(order)]
    conn = psycopg2.connect(url)
    conn.autocommit = True  # statement by statement, as such scripts run
    with conn.cursor() as cur:
        for name in order:
            for statement in _heal_statements(name):
                cur.execute(statement)
    conn.close()


def baseline_transform(url: str) -> None:
    import psycopg2

    from pipeline import analytics, warehouse

    with psycopg2.connect(url) as conn:
        warehouse.bootstrap(conn)  # quality.* and ops.* that the overview view reads
        analytics.build(conn)
    conn.close()


def baseline(data: Path, sample: int) -> dict:
    url = scratch_database("bench_pipeline_baseline")
    me = [sys.executable, str(Path(__file__).resolve())]
    found = {}
    found["load"] = measure(me + ["_load", str(data), url])
    _, peak, out = measure_output(me + ["_validate", str(data), str(sample)])
    figures = json.loads(out.strip().splitlines()[-1])
    found["validate"] = (figures["extrapolated"], peak)
    found["validate_note"] = figures
    found["heal"] = measure(me + ["_heal", url])
    found["transform"] = measure(me + ["_transform", url])
    return found


# ---------------------------------------------------------------- the report


def fmt_s(s: float) -> str:  # noqa: D103
    return f"{s:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--big-scale", type=float, default=3.0, help="second scale for growth (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of this project, median reported")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="runs of the baseline (slow; 0: skip it)")
    parser.add_argument("--data", type=Path, help="source folder to use instead of generating --scale")
    parser.add_argument("--sample", type=int, default=20_000, help="records the baseline's Cerberus step checks")
    args = parser.parse_args()

    data = args.data or ensure_data(args.scale)
    rows = rows_in(data)
    print(
        f"scale {args.scale}: {rows:,} records in 11 files ({data}); this project x{args.repeat}, "
        f"baseline x{args.baseline_repeat}",
        flush=True,
    )
    me = ours(data, args.repeat, "bench_pipeline")
    print_floor(me, args.scale, GOALS["floor_ratio"])
    if not args.baseline_repeat:
        if args.big_scale:
            grown = ours(ensure_data(args.big_scale), args.repeat, "bench_pipeline")
            print_floor(grown, args.big_scale, GOALS["floor_ratio"])
            print_growth(me, grown, args.scale, args.big_scale)
        return
    base_runs = [baseline(data, args.sample) for _ in range(args.baseline_repeat)]
    base = {
        stage: (statistics.median(b[stage][0] for b in base_runs), max(b[stage][1] for b in base_runs))
        for stage in ("load", "validate", "heal", "transform")
    }
    base_total = sum(s for s, _ in base.values())
    base_peak = max(p for _, p in base.values())
    note = base_runs[0]["validate_note"]

    def row(label, seconds, peak, ratio=""):
        return [label, fmt_s(seconds), f"{rows / seconds:,.0f}", f"{peak:,.0f}" if peak else "-", ratio]

    table = [
        row("this project: load (Parquet -> raw)", me["load"], None),
        row("this project: heal (raw -> clean, quality)", me["heal"], None),
        row("this project: transform (analytics)", me["transform"], None),
        row("this project: end to end", me["total"], me["peak"], "1.0x"),
        row(
            "baseline: load (DataFrame.to_sql)",
            base["load"][0],
            base["load"][1],
            f"{base['load'][0] / me['load']:.1f}x",
        ),
        row(
            f"baseline: validate (Cerberus, {note['checked']:,} checked, extrapolated)",
            base["validate"][0],
            base["validate"][1],
        ),
        row("baseline: heal (SQL UPDATE/DELETE)", base["heal"][0], base["heal"][1]),
        row(
            "baseline: validate + heal",
            base["validate"][0] + base["heal"][0],
            None,
            f"{(base['validate'][0] + base['heal'][0]) / me['heal']:.1f}x",
        ),
        row(
            "baseline: transform (same analytics SQL)",
            base["transform"][0],
            base["transform"][1],
            f"{base['transform'][0] / me['transform']:.1f}x",
        ),
        row("baseline: end to end", base_total, base_peak, f"{base_total / me['total']:.1f}x"),
    ]
    print()
    print_table(["stage", "seconds", "rows/s", "peak MiB", "baseline / this project"], table)
    speedup = base_total / me["total"]
    print()
    print(
        f"goal: scale {args.scale} end to end in at most {GOALS['total_s']:.0f} s: {fmt_s(me['total'])} s "
        f"({'met' if me['total'] <= GOALS['total_s'] else 'NOT met'})"
    )
    print(
        f"goal: at least {GOALS['speedup']:.0f}x the baseline: {speedup:.1f}x "
        f"({'met' if speedup >= GOALS['speedup'] else 'NOT met'})"
    )
    peak_line = f"goal: peak memory under {GOALS['peak_mib']:,.0f} MiB: {me['peak']:,.0f} MiB at scale {args.scale}"

    if args.big_scale:
        print_growth(me, ours(ensure_data(args.big_scale), args.repeat, "bench_pipeline"), args.scale, args.big_scale)
    else:
        print(f"{peak_line} ({'met' if me['peak'] < GOALS['peak_mib'] else 'NOT met'})")


def print_growth(me: dict, grown: dict, scale: float, big_scale: float) -> None:
    """The job at the second scale against the first: time and peak memory, and the goals on them."""
    rows, big_rows = rows_in(ensure_data(scale)), rows_in(ensure_data(big_scale))
    growth = grown["total"] / me["total"]
    print(
        f"\nscale {big_scale}: {big_rows:,} records ({big_rows / rows:.2f}x), end to end {fmt_s(grown['total'])} s "
        f"(runs {grown['runs']}) = {growth:.2f}x the time at scale {scale}; peak {grown['peak']:,.0f} MiB "
        f"= {grown['peak'] / me['peak']:.2f}x"
    )
    print(
        f"   stages: load {fmt_s(grown['load'])} s, heal {fmt_s(grown['heal'])} s, "
        f"transform {fmt_s(grown['transform'])} s"
    )
    print(
        f"goal: time at scale {big_scale} at most {GOALS['growth']}x scale {scale}: {growth:.2f}x "
        f"({'met' if growth <= GOALS['growth'] else 'NOT met'})"
    )
    peak = max(me["peak"], grown["peak"])
    print(
        f"goal: peak memory under {GOALS['peak_mib']:,.0f} MiB: {me['peak']:,.0f} MiB at scale {scale}, "
        f"{grown['peak']:,.0f} MiB at scale {big_scale} ({'met' if peak < GOALS['peak_mib'] else 'NOT met'})"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        stage = {
            "_load": baseline_load,
            "_validate": baseline_validate,
            "_heal": baseline_heal,
            "_transform": baseline_transform,
        }[sys.argv[1]]
        stage(*sys.argv[2:])
    else:
        main()
