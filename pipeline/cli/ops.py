"""Operations on the command line: python -m pipeline runs | status | report (scheduler: cli/scheduler.py).

- runs [RUN_ID]: the last runs (or one run's tasks) from ops.runs and ops.task_runs, as aligned tables.
- status: rows per table, then the state of every task of the graph: done, stale (its input changed since),
  failed, running or never run, with its last run, how it did its work (only new part files, or every row), duration
  and rows.
- report [RUN_ID]: write a run's HTML report (default: the latest run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import sys
from collections.abc import Set
from pathlib import Path

import psycopg2
import psycopg2.extras

from .. import config, errors, gone_parts, part_failures, report, warehouse
from ..orchestration import graph as walk
from ..orchestration import history, lifeline, progress
from ..quality import trend
from ..tables import TABLES

# ---------------------------------------------------------------- aligned tables


def format_table(headers: list[str], rows: list[list], right: Set[int] = frozenset()) -> str:
    """Columns as wide as their widest cell; the columns in `right` (numbers) aligned right."""
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def _count(n) -> str | None:
    return None if n is None else f"{n:,}"


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _took(seconds) -> str | None:
    if seconds is None:
        return None
    seconds = float(seconds)
    return f"{seconds:.1f} s" if seconds < 60 else progress.clock(seconds)


def _connect():
    return warehouse.connect("cli", ops=True, timeout=10)


# ---------------------------------------------------------------- runs

RUNS_SQL = """SELECT * FROM ops.run_summary ORDER BY started_at DESC, run_id DESC LIMIT %s"""


def recent_runs(conn, limit: int = 20) -> list[dict]:
    """The last runs, newest first, with what they did; a run whose process is gone shows as interrupted."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(RUNS_SQL, (limit,))
        runs = cur.fetchall()
    here = socket.gethostname()
    for run in runs:
        if run["status"] == "running" and run["host"] == here and run["pid"] and not lifeline.pid_alive(run["pid"]):
            run["status"] = "interrupted"
    return runs


def print_runs(runs: list[dict]) -> None:
    rows = [
        [
            r["run_id"],
            _when(r["started_at"]),
            _took(r["seconds"]),
            f"{r['done']}/{r['tasks_planned']}" if r["status"] == "running" and r["tasks_planned"] else r["done"],
            r["failed"],
            _count(r["loaded"]),
            _count(r["clean"]),
            _count(r["quarantined"]),
            r["status"],
        ]
        for r in runs
    ]
    print(
        format_table(
            [
                "run",
                "started",
                "duration",
                "tasks done",
                "failed",
                "rows loaded",
                "clean rows",
                "quarantined",
                "status",
            ],
            rows,
            right={2, 3, 4, 5, 6, 7},
        )
    )


def run_tasks(conn, run_id: str) -> list[dict]:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(
            """SELECT task_family, params, reason, status, started_at, rows_in, rows_out, rows_quarantined,
                              error, details, extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) AS seconds
                       FROM ops.task_runs WHERE run_id = %s ORDER BY started_at, id""",
            (run_id,),
        )
        return cur.fetchall()


@errors.command()
def cmd_runs(args) -> int:
    with contextlib.closing(_connect()) as conn:
        if args.run_id:
            tasks = run_tasks(conn, args.run_id)
            if not tasks:
                print(
                    f"error: no task ran in run {args.run_id} (python -m pipeline runs lists the runs)", file=sys.stderr
                )
                return 1
            rows = [
                [
                    report.task_label(t),
                    t["reason"],
                    t["status"],
                    report.task_how(t["details"]),
                    _when(t["started_at"]),
                    _took(t["seconds"]),
                    _count(t["rows_in"]),
                    _count(t["rows_out"]),
                    _count(t["rows_quarantined"]),
                    t["error"],
                ]
                for t in tasks
            ]
            print(
                format_table(
                    [
                        "task",
                        "why it ran",
                        "status",
                        "how",
                        "started",
                        "duration",
                        "rows in",
                        "rows out",
                        "quarantined",
                        "error",
                    ],
                    rows,
                    right={5, 6, 7, 8},
                )
            )
            return 0
        runs = recent_runs(conn, args.limit)
    if not runs:
        print("no runs yet: python -m pipeline run")
        return 0
    print(f"warehouse: {warehouse.describe()}")
    print_runs(runs)
    return 0


# ---------------------------------------------------------------- status


def graph() -> list:
    """Every task of a run (tasks.main_task and all it requires): loads, heals, Transform, Backup."""
    order = {family: i for i, family in enumerate(report.FAMILY_COLOURS)}
    tables = list(TABLES)
    return sorted(
        walk.tasks(),
        key=lambda t: (order.get(t.task_family, len(order)), tables.index(t.table) if hasattr(t, "table") else 0),
    )


def task_states(conn) -> list[dict]:
    """Each task's state now: done, stale (input changed since it ran), failed, running or never run."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT task_id, fingerprint FROM ops.markers")
        stored = {r["task_id"]: r["fingerprint"] for r in cur.fetchall()}
        # The last run of each task by family and parameters: its id changes with its inputs' version.
        cur.execute("""SELECT DISTINCT ON (t.task_family, t.params - 'version') t.task_family,
                              t.params - 'version' AS identity, t.run_id, t.status, t.finished_at, t.rows_in,
                              t.rows_out, t.rows_quarantined, t.details, r.host, r.pid,
                              extract(epoch FROM t.finished_at - t.started_at) AS seconds
                       FROM ops.task_runs t LEFT JOIN ops.runs r USING (run_id)
                       ORDER BY t.task_family, t.params - 'version', t.id DESC""")
        last = {(r["task_family"], tuple(sorted(r["identity"].items()))): r for r in cur.fetchall()}
    here = socket.gethostname()
    states = []
    for task in graph():
        marker = stored.get(task.marker_id())
        run = last.get((task.task_family, tuple(sorted(history.identity(task).items())))) or {}
        alive = run.get("host") != here or (run.get("pid") and lifeline.pid_alive(run["pid"]))
        if run.get("status") == "running" and alive:
            state = "running"
        elif marker is not None and marker == task.fingerprint():
            state = "done"
        elif run.get("status") in ("failed", "interrupted"):
            state = "failed"
        elif marker is not None:
            state = "stale"
        else:
            state = "never run"
        states.append({"task": task, "state": state, **run})
    return states


def table_counts(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, count(*) FROM quality.quarantine GROUP BY 1")
        held = dict(cur.fetchall())
        cur.execute("SELECT task_id, run_id FROM ops.markers WHERE task_id LIKE 'heal:%'")
        healed = {task_id.split(":", 1)[1]: run for task_id, run in cur.fetchall()}
    rows = []
    for name in TABLES:
        raw, clean, staged = (
            warehouse.row_count(conn, schema, name) if warehouse.table_exists(conn, schema, name) else None
            for schema in ("raw", "clean", warehouse.STAGE)
        )
        rows.append((name, raw, clean, held.get(name, 0), healed.get(name, ""), staged))
    return rows


@errors.command()
def cmd_status(args) -> int:
    with contextlib.closing(_connect()) as conn:
        counts = table_counts(conn)
        states = task_states(conn)
        drops = trend.clean_share_drops(conn)
        replaced = {
            n: warehouse.row_count(conn, "history", n) for n in TABLES if warehouse.table_exists(conn, "history", n)
        }
        with conn.cursor() as cur:
            cur.execute("SELECT completed_at, run_id FROM ops.markers WHERE task_id = 'transform'")
            transform = cur.fetchone()
            unreadable = part_failures.current(cur)
            gone = gone_parts.current(cur)
            cur.execute(
                "SELECT outcome, count(*) FROM quality.resolutions WHERE revoked_at IS NULL "
                "AND outcome IN ('source changed', 'held') GROUP BY 1 ORDER BY 1"
            )
            unapplied = cur.fetchall()
    print(f"warehouse: {warehouse.describe()}")
    print(f"sources: {config.data_dir()}")
    print()
    print(
        format_table(
            ["table", "raw", "clean", "quarantined", "healed in run"],
            [[n, _count(r), _count(c), _count(h), run] for n, r, c, h, run, _ in counts],
            right={1, 2, 3},
        )
    )
    for name, *_, staged in counts:
        if staged is not None:  # loaded, its heal not committed: users still read the previous delivery
            print(
                f"{name}: a new delivery of {staged:,} rows is loaded ({warehouse.STAGE}.{name}) but not yet "
                "published; raw, clean and the quarantine still hold the previous one until its heal commits "
                "(run again)"
            )
    for name, older in replaced.items():
        print(
            f"{name}: {older:,} older versions replaced by corrections (history.{name}; raw = clean + quarantined + these)"
        )
    for table, part, reason in unreadable:
        print(part_failures.note(table, part, reason))
    for table, part, kept, _ in gone:
        print(gone_parts.note(table, part, kept))
    print()
    print(f"analytics built: {_when(transform[0])} (run {transform[1]})" if transform else "analytics not built yet")
    for drop in drops:
        print(f"warning: {drop.message}")
    for outcome, n in unapplied:  # a release the last heal could not apply: the row is held again
        print(
            f"warning: {n} resolution(s) no longer apply ({outcome}); python -m pipeline quarantine resolutions "
            "says which and why"
        )
    print()
    rows = [
        [
            report.task_label({"task_family": s["task"].task_family, "params": s["task"].to_str_params()}),
            s["state"],
            s.get("run_id"),
            report.task_how(s.get("details"), why=False),
            _when(s.get("finished_at")),
            _took(s.get("seconds")),
            _count(s.get("rows_in")),
            _count(s.get("rows_out")),
            _count(s.get("rows_quarantined")),
        ]
        for s in states
    ]
    print(
        format_table(
            ["task", "state", "last run", "how", "finished", "duration", "rows in", "rows out", "quarantined"],
            rows,
            right={5, 6, 7, 8},
        )
    )
    summary: dict[str, int] = {}
    for s in states:
        summary[s["state"]] = summary.get(s["state"], 0) + 1
    print()
    print(
        ", ".join(f"{n} {state}" for state, n in summary.items())
        + ("" if summary.get("done") == len(states) else "; python -m pipeline run brings everything up to date")
    )
    return 0


# ---------------------------------------------------------------- report


@errors.command()
def cmd_report(args) -> int:
    path = report.write_report(args.run_id, folder=Path(args.folder) if args.folder else None)
    print(f"report: {path}")
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


# ---------------------------------------------------------------- wiring


def add_cli(subparsers) -> None:
    """Register runs, status and report on the `python -m pipeline` parser."""
    runs = subparsers.add_parser("runs", help="the last runs, or the tasks of one run")
    runs.add_argument("run_id", nargs="?", help="show this run's tasks")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    runs.set_defaults(func=cmd_runs)

    status = subparsers.add_parser("status", help="rows per table, and the state of every task")
    status.set_defaults(func=cmd_status)

    made = subparsers.add_parser("report", help="write a run's HTML report (default: the latest run)")
    made.add_argument("run_id", nargs="?", help="the run (python -m pipeline runs lists them)")
    made.add_argument("--folder", help="default: luigi.cfg [reports] folder (reports/)")
    made.add_argument("--open", action="store_true", help="open it in the web browser")
    made.set_defaults(func=cmd_report)
