"""Benchmark: the claims forecast's 12-month backtest error per claim type, beside seasonal naive's, on seasonal data."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
from common import ROOT, print_table, scratch_database


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--seasonality", type=float, default=0.4, help="the generator's yearly cycle (0 to 1)")
    args = parser.parse_args()
    data = Path(f"/tmp/insurance-bench/seasonal-{args.scale}-{args.seasonality}")
    if not (data / "claims.parquet").exists():
        subprocess.run(
            [sys.executable, "-m", "pipeline", "generate", "--scale", str(args.scale), "--seasonality",
             str(args.seasonality), "--out", str(data)],
            check=True, cwd=ROOT,
        )  # fmt: skip
    url = scratch_database("bench_forecast")
    env = {**os.environ, "PIPELINE_DATABASE_URL": url, "PIPELINE_PROGRESS": "0"}
    subprocess.run([sys.executable, "-m", "pipeline", "run", "--data-dir", str(data)], check=True, cwd=ROOT, env=env)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""SELECT claim_type, min(history_months), min(claims_mape), min(claims_naive_mape),
                              min(amount_mape), min(amount_naive_mape), min(note)
                       FROM analytics.claims_forecast GROUP BY claim_type ORDER BY claim_type""")
        found = cur.fetchall()
    conn.close()

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = [[t, months, pct(cm), pct(cn), pct(am), pct(an), note or ""] for t, months, cm, cn, am, an, note in found]
    print(f"scale {args.scale}, seasonality {args.seasonality}: 12-month backtest, mean absolute percentage error")
    print_table(
        ["claim type", "months", "claims: model", "seasonal naive", "amount: model", "seasonal naive", "note"], rows
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
