"""Shared helpers of the benchmarks: a scratch database, timing child processes, medians, tables."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import warehouse  # noqa: E402


def scratch_database(name: str) -> str:
    """A fresh database on the warehouse's server (embedded or configured); its URL."""
    url = make_url(warehouse.url())
    admin = psycopg2.connect(url.set(database="postgres").render_as_string(hide_password=False))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


def ensure_data(scale: float, seed: int = 42, daily: int = 0) -> Path:
    """Generated source files at a scale, made once and reused (in /tmp); with `daily`, as a history and that many
    daily part files (generate --daily)."""
    folder = Path(f"/tmp/insurance-bench/scale-{scale}" + (f"-seed-{seed}" if seed != 42 else ""))
    if daily:
        folder = Path(f"/tmp/insurance-bench/daily-{scale}-{daily}")
    if not (folder / "payments.parquet").exists() and not (folder / "payments").is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "generate",
                "--scale",
                str(scale),
                "--seed",
                str(seed),
                "--out",
                str(folder),
                *(["--daily", str(daily)] if daily else []),
            ],
            check=True,
            cwd=ROOT,
        )
    return folder


def measure(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Seconds and peak MiB of one command, measured in a fresh parent so peaks do not leak between runs."""
    probe = (
        "import resource,subprocess,sys,time,json;t=time.perf_counter();"
        "subprocess.run(sys.argv[1:],check=True);"
        "print(json.dumps([time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    seconds, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, peak


def median_of(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def print_table(headers: list[str], rows: list[list]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(
            "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )


def measure_output(args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """As measure(), and also what the command printed on stdout (before the measurement's own last line)."""
    probe = (
        "import resource,subprocess,sys,time,json;t=time.perf_counter();"
        "subprocess.run(sys.argv[1:],check=True);"
        "print(json.dumps([time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    lines = out.stdout.strip().splitlines()
    seconds, peak = json.loads(lines[-1])
    return seconds, peak, "\n".join(lines[:-1])
