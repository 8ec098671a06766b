"""Kill-point sweep (issue #19): kill -9 the run, its postmaster, a backup or a restore at chosen moments; after each
kill, before any rerun, check the row accounting at rest; then rerun and compare with an uninterrupted run.

    .venv/bin/python bench/killsweep.py [--scale 0.05 | --data FOLDER] [--only SUBSTRING] [--keep]

Everything runs on the pipeline's own embedded warehouse (database "warehouse") in a scratch folder, so the
postmaster can be killed too and every command finds it dead and starts it again, as a user's would.

At rest, after each kill (a "violation" is any of these):
- raw = clean + quarantine for every table that has been healed (has a clean table; a first run killed between a
  load and its heal leaves raw with no clean yet: not a violation, that heal has not happened);
- no clean table holds fewer rows (clean + quarantine) than before the kill unless its heal marker changed (a heal
  committed), no raw table fewer unless its load marker changed; the shortfall is "rows lost";
- every relation of analytics that existed before still exists, and every one reads (SELECT count(*)).
Then the command is run again to the end (the run, the backup, the restore) and the warehouse's checksums (tests/
test_faults.checksums: every row of raw, clean, analytics, quarantine and heal_log) must equal the reference run's.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from pipeline import embedded  # noqa: E402
from pipeline.tables import TABLES  # noqa: E402

from tests.integration.test_faults import IN_TASK, checksums  # noqa: E402

DATABASE = "warehouse"
ATTEMPTS = 3  # tries of a point whose moment the watcher missed
REFERENCE = "killsweep_reference"  # template: a warehouse after one uninterrupted run
HEAL_CHAIN = ("customers", "policies", "claims", "payments")


@dataclasses.dataclass(frozen=True)
class Point:
    """A kill point. state: 'empty' or 'reference' (optionally with markers invalidated); command: run, backup,
    restore; trigger: ('lock', marker_id, statement_like) | ('statement', application_name, like) |
    ('marker', marker_id: the moment its marker changes, i.e. its task committed) |
    ('delay', share of the reference run's duration, or seconds for backup/restore); target: 'group' or
    'postmaster'."""

    name: str
    stage: str
    state: str
    trigger: tuple
    command: str = "run"
    target: str = "group"
    invalidate: tuple = ()
    delivery: str = ""  # "": the reference's source files; else the table of a new delivery (NEW_DELIVERY)


def kill_points() -> list[Point]:
    points = []
    for t in HEAL_CHAIN:  # load: a first load, and a reload over a warehouse that holds a good run
        points.append(
            Point(f"load:{t} COPY (first load)", "load", "empty", ("lock", f"load:{t}", f'COPY "incoming"."{t}"%'))
        )
    for t in HEAL_CHAIN:  # (Luigi looks below a complete task for nothing: its heal and transform are due too)
        points.append(
            Point(
                f"load:{t} COPY (reload)",
                "load",
                "reference",
                ("lock", f"load:{t}", f'COPY "incoming"."{t}"%'),
                invalidate=(f"load:{t}", f"heal:{t}", "transform"),
            )
        )
    for t in HEAL_CHAIN:  # heal due again (as after a change of its rules) over the previous heal
        for label, trigger in (
            ("rules (work tables)", ("query", f'%"heal_{t}_%')),
            ("INSERT clean", ("lock", f"heal:{t}", '%INSERT INTO "clean".%')),
            ("INSERT quarantine", ("lock", f"heal:{t}", "%INSERT INTO%quarantine%")),
        ):
            points.append(
                Point(f"heal:{t} {label}", "heal", "reference", trigger, invalidate=(f"heal:{t}", "transform"))
            )
    points.append(Point("heal:payments any (first heal)", "heal", "empty", ("lock", "heal:payments", "%")))
    points.append(
        Point(
            "heal:claims INSERT clean (all heals due)",
            "heal",
            "reference",
            ("lock", "heal:claims", '%INSERT INTO "clean".%'),
            invalidate=tuple(f"heal:{t}" for t in TABLES) + ("transform",),
        )
    )
    for label, like in (
        ("CREATE MATERIALIZED VIEW", "%CREATE MATERIALIZED VIEW%"),
        ("CREATE VIEW", "%CREATE VIEW%"),
        ("count of a view", "SELECT count(*) FROM analytics.%"),
        ("any", "%"),
    ):
        points.append(
            Point(
                f"transform {label}", "transform", "reference", ("lock", "transform", like), invalidate=("transform",)
            )
        )
    points.append(Point("transform any (first run)", "transform", "empty", ("lock", "transform", "%")))
    for share in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85):
        points.append(Point(f"random {share:.0%} of a run", "random", "empty", ("delay", share)))
    # the embedded postmaster killed mid-run
    points.append(
        Point(
            "postmaster during load:payments COPY",
            "postmaster",
            "empty",
            ("lock", "load:payments", 'COPY "incoming"."payments"%'),
            target="postmaster",
        )
    )
    points.append(
        Point(
            "postmaster during heal:customers rules",
            "postmaster",
            "reference",
            ("query", '%"heal_customers_%'),
            target="postmaster",
            invalidate=("heal:customers", "transform"),
        )
    )
    points.append(
        Point(
            "postmaster during heal:payments INSERT clean",
            "postmaster",
            "reference",
            ("lock", "heal:payments", '%INSERT INTO "clean".%'),
            target="postmaster",
            invalidate=("heal:payments", "transform"),
        )
    )
    points.append(
        Point(
            "postmaster during transform",
            "postmaster",
            "reference",
            ("lock", "transform", "%CREATE MATERIALIZED VIEW%"),
            target="postmaster",
            invalidate=("transform",),
        )
    )
    for share in (0.3, 0.6):
        points.append(
            Point(f"postmaster at {share:.0%} of a run", "postmaster", "empty", ("delay", share), target="postmaster")
        )
    # python -m pipeline backup
    points.append(
        Point(
            "backup: pg_dump COPY",
            "backup",
            "reference",
            ("statement", "insurance-pipeline-backup", "COPY %"),
            command="backup",
        )
    )
    points.append(
        Point(
            "backup: checksums beside pg_dump",
            "backup",
            "reference",
            ("statement", "insurance-pipeline-backup", "%sum(pg_catalog.hash%"),
            command="backup",
        )
    )
    for seconds in (0.3, 0.8, 1.5):
        points.append(Point(f"backup at {seconds}s", "backup", "reference", ("delay", seconds), command="backup"))
    # python -m pipeline backup restore --yes: over the same state, and into an empty warehouse
    for state in ("reference", "empty"):
        points.append(
            Point(
                f"restore COPY (over {state})",
                "restore",
                state,
                ("statement", "insurance-pipeline-restore", "COPY %"),
                command="restore",
            )
        )
        points.append(
            Point(
                f"restore CREATE INDEX (over {state})",
                "restore",
                state,
                ("statement", "insurance-pipeline-restore", "%CREATE INDEX%"),
                command="restore",
            )
        )
        points.append(Point(f"restore at 1.0s (over {state})", "restore", state, ("delay", 1.0), command="restore"))
    points.append(
        Point(
            "restore: checks before COMMIT (over reference)",
            "restore",
            "reference",
            ("statement", "insurance-pipeline-restore", "%sum(pg_catalog.hash%"),
            command="restore",
        )
    )
    points.append(Point("restore at 2.0s (over reference)", "restore", "reference", ("delay", 2.0), command="restore"))
    # A new delivery over a warehouse that holds a good run: the table's file holds its first 90% of rows, so a
    # load that commits before its heal changes raw's counts (with the same files, a reload changes nothing).
    for t, (label, trigger) in (
        ("payments", ("load:payments COPY", ("lock", "load:payments", 'COPY "incoming"."payments"%'))),
        ("payments", ("heal:payments rules", ("query", '%"heal_payments_%'))),
        ("payments", ("heal:payments INSERT clean", ("lock", "heal:payments", '%INSERT INTO "clean".%'))),
        ("payments", ("transform", ("lock", "transform", "%CREATE MATERIALIZED VIEW%"))),
        # the load committed, its heal not: raw, clean and quarantine still the previous run's
        ("payments", ("between load and heal", ("marker", "load:payments"))),
        # inside the heal's last transaction, which publishes raw with clean and quarantine
        (
            "payments",
            ("heal:payments INSERT quarantine (publishing)", ("lock", "heal:payments", "%INSERT INTO%quarantine%")),
        ),
        ("policies", ("heal:claims INSERT clean", ("lock", "heal:claims", '%INSERT INTO "clean".%'))),
    ):
        points.append(Point(f"new {t} delivery: {label}", "new data", "reference", trigger, delivery=t))
    return points


NEW_DELIVERY = 0.9  # share of a table's rows in a new delivery
# ---------------------------------------------------------------- the warehouse


class Sweep:
    def __init__(self, folder: Path, data: Path):
        self.folder, self.data = folder, data
        self.pgdata = folder / "embedded" / "pgdata"
        self.reference_sums: dict = {}
        self.run_seconds = 0.0
        self.restore_backup: Path | None = None
        self.new_sums: dict[str, dict] = {}  # delivery table -> checksums after an uninterrupted run of it

    def data_for(self, delivery: str) -> Path:
        if not delivery:
            return self.data
        folder = self.folder / f"new-{delivery}"
        if not folder.exists():
            import pyarrow.parquet as pq

            shutil.copytree(self.data, folder)
            table = pq.read_table(self.data / f"{delivery}.parquet")
            pq.write_table(table.slice(0, int(table.num_rows * NEW_DELIVERY)), folder / f"{delivery}.parquet")
        return folder

    def reference_of(self, point: Point) -> dict:
        """What an uninterrupted run leaves: the reference, or for a new delivery, the reference then that run."""
        if not point.delivery:
            return self.reference_sums
        if point.delivery not in self.new_sums:
            self.reset("reference")
            code, err = self.complete("run", f"reference-new-{point.delivery}", delivery=point.delivery)
            if code != 0:
                raise SystemExit(f"the run of the new {point.delivery} failed ({code}): {err[-3000:]}")
            self.new_sums[point.delivery] = checksums(self.url())
        return self.new_sums[point.delivery]

    def admin_url(self) -> str:
        return embedded.url(self.pgdata, "postgres")

    def url(self) -> str:
        return embedded.url(self.pgdata, DATABASE)

    def env(self, delivery: str = "", **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "PIPELINE_DATABASE_URL"}
        return {
            **env,
            "PIPELINE_EMBEDDED_DIR": str(self.pgdata.parent),
            "PIPELINE_DATA_DIR": str(self.data_for(delivery)),
            "PIPELINE_REPORT_DIR": str(self.folder / "reports"),
            "PIPELINE_PROGRESS": "0",
            "PIPELINE_BACKUP_DIR": str(self.folder / "backups"),
            **extra,
        }

    def admin(self, *statements) -> None:
        with contextlib.closing(psycopg2.connect(self.admin_url())) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)

    def reset(self, state: str, invalidate: tuple = ()) -> None:
        """The warehouse database as `state`: empty, or a copy of the reference run (markers invalidated)."""
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        if state == "empty":
            self.admin(drop, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        else:
            self.admin(
                drop,
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(DATABASE), sql.Identifier(REFERENCE)),
            )
        if invalidate:
            with contextlib.closing(psycopg2.connect(self.url())) as conn, conn, conn.cursor() as cur:
                cur.execute(
                    "UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_id = ANY(%s)", (list(invalidate),)
                )

    def command(self, command: str, name: str, delivery: str = "") -> subprocess.Popen:
        args = {
            "run": ["run", "--workers", "2"],
            "backup": ["backup"],
            "restore": ["backup", "restore", str(self.restore_backup), "--yes"],
        }[command]
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
            child = subprocess.Popen(
                [sys.executable, "-m", "pipeline", *args],
                cwd=ROOT,
                env=self.env(delivery),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        child.err_path = logs / f"{name}.err"
        return child

    def complete(self, command: str, name: str, timeout: float = 600, delivery: str = "") -> tuple[int, str]:
        child = self.command(command, name, delivery)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            code = child.wait()
        return code, child.err_path.read_text(errors="replace")

    def prepare(self) -> None:
        self.admin_url()  # starts the server
        self.reset("empty")
        started = time.monotonic()
        code, err = self.complete("run", "reference")
        if code != 0:
            raise SystemExit(f"the reference run failed ({code}): {err[-3000:]}")
        self.run_seconds = time.monotonic() - started
        self.reference_sums = checksums(self.url())
        self.admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(REFERENCE)),
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(REFERENCE), sql.Identifier(DATABASE)),
        )
        code, err = self.complete("backup", "reference-backup")
        if code != 0:
            raise SystemExit(f"the reference backup failed ({code}): {err[-3000:]}")
        made = next(p for p in (self.folder / "backups").iterdir() if p.is_dir() and not p.name.startswith("."))
        self.restore_backup = self.folder / "restore-source" / made.name
        self.restore_backup.parent.mkdir(exist_ok=True)
        shutil.move(str(made), self.restore_backup)  # out of reach of the retention of the backups killed later

    def stop(self) -> None:
        from pgserver._commands import pg_ctl
        from pgserver.postgres_server import PostgresServer

        server = PostgresServer._instances.get(self.pgdata.resolve())
        if server is not None and embedded.running(self.pgdata.resolve()):
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.pgdata, user=server.system_user)

    # ---------------------------------------------------------------- at rest

    def snapshot(self) -> dict:
        with contextlib.closing(psycopg2.connect(self.url())) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                found = {"counts": {}, "markers": {}, "views": set(), "unreadable": []}
                for t in TABLES:
                    row = []
                    for rel in (f'raw."{t}"', f'clean."{t}"'):
                        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (rel,))
                        if cur.fetchone()[0]:
                            cur.execute(f"SELECT count(*) FROM {rel}")
                            row.append(cur.fetchone()[0])
                        else:
                            row.append(None)  # not made yet: never loaded, or never healed
                    cur.execute("SELECT to_regclass('quality.quarantine') IS NOT NULL")
                    if cur.fetchone()[0]:
                        cur.execute("SELECT count(*) FROM quality.quarantine WHERE table_name = %s", (t,))
                        row.append(cur.fetchone()[0])
                    else:
                        row.append(0)
                    found["counts"][t] = tuple(row)
                cur.execute("SELECT to_regclass('ops.markers') IS NOT NULL")
                if cur.fetchone()[0]:
                    cur.execute("SELECT task_id, fingerprint FROM ops.markers")
                    found["markers"] = dict(cur.fetchall())
                cur.execute("""SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = 'analytics' AND c.relkind IN ('r', 'v', 'm')""")
                found["views"] = {name for (name,) in cur.fetchall()}
                for name in sorted(found["views"]):
                    try:
                        cur.execute(sql.SQL("SELECT count(*) FROM analytics.{}").format(sql.Identifier(name)))
                    except psycopg2.Error as exc:
                        found["unreadable"].append(f"analytics.{name}: {str(exc).splitlines()[0]}")
        return found

    @staticmethod
    def at_rest(before: dict, now: dict) -> tuple[list[str], int]:
        """Violations and rows lost, comparing the state at rest after a kill with the one before it."""
        problems, lost = [], 0
        for t in TABLES:
            raw, clean, held = now["counts"][t]
            braw, bclean, bheld = before["counts"][t]
            if bclean is not None and clean is None:
                problems.append(f"clean.{t} is gone")
            raw, clean, braw, bclean = raw or 0, clean or 0, braw or 0, bclean or 0
            # A table never healed (no clean table: a first run killed between its load and its heal) has no
            # accounting yet; once healed, raw = clean + quarantine.
            if now["counts"][t][1] is not None and raw != clean + held:
                problems.append(f"{t}: raw {raw} != clean {clean} + quarantine {held}")
            healed = now["markers"].get(f"heal:{t}") != before["markers"].get(f"heal:{t}")
            if not healed and clean + held < bclean + bheld:
                problems.append(f"{t}: clean+quarantine {bclean}+{bheld} -> {clean}+{held} with no heal committed")
                lost += bclean + bheld - clean - held
            if not healed and bclean and not clean:
                problems.append(f"clean.{t} emptied")
            loaded = now["markers"].get(f"load:{t}") != before["markers"].get(f"load:{t}")
            if not loaded and raw < braw:
                problems.append(f"raw.{t}: {braw} -> {raw} with no load committed")
                lost += braw - raw
        gone = before["views"] - now["views"]
        if gone:
            problems.append(f"analytics lost {sorted(gone)}")
        problems += now["unreadable"]
        return problems, lost

    def half_backups(self) -> list[str]:
        """A killed backup leaves no folder that looks like a backup without being whole (its .partial-* folder,
        hidden, goes with the next backup's retention)."""
        problems = []
        for folder in sorted((self.folder / "backups").glob("[!.]*")):
            manifest = folder / "manifest.json"
            if not manifest.exists():
                problems.append(f"backup {folder.name} has no manifest")
                continue
            size = json.loads(manifest.read_text())["archive"]["size"]
            if not (folder / "archive.dump").exists() or (folder / "archive.dump").stat().st_size != size:
                problems.append(f"backup {folder.name}: archive is not whole")
        return problems

    # ---------------------------------------------------------------- one kill point

    def _trigger(self, point: Point, child: subprocess.Popen) -> str:
        """Wait for the point's moment; '' when it came, else why not."""
        kind = point.trigger[0]
        if kind == "delay":
            wait = point.trigger[1] * self.run_seconds if point.command == "run" else point.trigger[1]
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if child.poll() is not None:
                    return f"ended ({child.returncode}) before {wait:.1f}s"
                time.sleep(0.01)
            return ""
        with contextlib.closing(psycopg2.connect(self.url())) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                deadline = time.monotonic() + 300
                first = None
                if kind == "marker":
                    cur.execute(
                        "SELECT fingerprint, completed_at FROM ops.markers WHERE task_id = %s", point.trigger[1:]
                    )
                    first = cur.fetchone()
                while time.monotonic() < deadline:
                    if kind == "marker":
                        cur.execute(
                            "SELECT fingerprint, completed_at FROM ops.markers WHERE task_id = %s "
                            "AND (fingerprint, completed_at) IS DISTINCT FROM (%s, %s)",
                            (point.trigger[1], *(first or (None, None))),
                        )
                    elif kind == "lock":
                        cur.execute(IN_TASK, (DATABASE, point.trigger[1], point.trigger[2]))
                    elif kind == "query":  # any session of the warehouse running it (a heal's rules)
                        cur.execute(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE %s",
                            point.trigger[1:],
                        )
                    else:
                        cur.execute(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = %s AND query LIKE %s",
                            point.trigger[1:],
                        )
                    if cur.fetchone():
                        return ""
                    if child.poll() is not None:
                        return f"ended ({child.returncode}) before the moment"
                    time.sleep(0.003)
        return "the moment never came"

    def _kill(self, point: Point, child: subprocess.Popen) -> None:
        if point.target == "postmaster":
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, signal.SIGKILL)
            try:  # the run finds the server dead: it fails or retries through a restart
                child.wait(300)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def _wait_alone(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.closing(psycopg2.connect(self.url())) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                if not cur.fetchone()[0]:
                    return
            time.sleep(0.05)

    def sweep_one(self, index: int, point: Point) -> dict:
        expected = self.reference_of(point)
        # A statement of the sample's size may start and end between two looks of the watcher (a few ms): the point
        # is then tried again from the same state, up to ATTEMPTS times, and reported missed only if every try was.
        for attempt in range(1, ATTEMPTS + 1):
            self.reset(point.state, point.invalidate)
            before = self.snapshot()
            child = self.command(point.command, f"{index:02d}-killed-{attempt}", point.delivery)
            missed = self._trigger(point, child)
            if not missed:
                self._kill(point, child)
                break
            child.wait()
            if point.trigger[0] == "delay":
                break
        self._wait_alone()  # for a postmaster kill, this connect starts the server again
        now = self.snapshot()
        problems, lost = self.at_rest(before, now)
        if point.command == "backup":
            problems += self.half_backups()
        # Run again to the end: the killed command, then (for a backup) the run, which must have nothing left to do.
        code, err = self.complete(point.command, f"{index:02d}-rerun", delivery=point.delivery)
        if code == 0 and point.command == "backup":
            code, err = self.complete("run", f"{index:02d}-rerun-run")
        equal = code == 0 and checksums(self.url()) == expected
        return {
            "point": point,
            "killed": not missed,
            "missed": missed,
            "attempts": attempt,
            "problems": problems,
            "lost": lost,
            "rerun_code": code,
            "equal": equal,
            "rerun_err": err if code else "",
        }


def report(rows: list[dict]) -> str:
    width = max(len(r["point"].name) for r in rows)
    print(f"{'#':>2}  {'kill point':<{width}}  {'stage':<10}  {'at rest':<28}  {'lost':>4}  rerun = reference")
    for i, r in enumerate(rows, 1):
        rest = "OK" if not r["problems"] else f"{len(r['problems'])} violation(s)"
        if not r["killed"]:
            rest += " (not killed)"
        rerun = "yes" if r["equal"] else f"NO (exit {r['rerun_code']})"
        print(f"{i:>2}  {r['point'].name:<{width}}  {r['point'].stage:<10}  {rest:<28}  {r['lost']:>4}  {rerun}")
        for problem in r["problems"]:
            print(f"      - {problem}")
        if not r["killed"]:
            print(f"      - not killed: {r['missed']}")
        if r["rerun_err"]:
            print("      - rerun: " + " | ".join(r["rerun_err"].strip().splitlines()[-2:]))
    killed = [r for r in rows if r["killed"]]
    summary = (
        f"{len(killed)} kill points, {sum(len(r['problems']) for r in rows)} violations, "
        f"{sum(r['lost'] for r in rows)} rows lost, {sum(r['equal'] for r in rows)} reruns equal"
        + (f" ({len(rows) - len(killed)} points not reached)" if len(killed) < len(rows) else "")
    )
    print(summary)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=0.05,
        help="generated source files at this scale (default 0.05: each stage lasts long enough to be "
        "killed in its middle); 0.01 = the committed data/",
    )
    parser.add_argument("--data", type=Path, help="source files to use instead")
    parser.add_argument("--only", help="run the kill points whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, server)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="killsweep-"))
    if args.data:
        data = args.data
    elif args.scale == 0.01:
        data = ROOT / "data"
    else:
        from bench.common import ensure_data

        data = ensure_data(args.scale)
    sweep = Sweep(folder, data.resolve())
    started = time.monotonic()
    try:
        sweep.prepare()
        print(f"reference run: {sweep.run_seconds:.1f}s; scratch folder {folder}", flush=True)
        rows = []
        for i, point in enumerate(kill_points(), 1):
            if args.only and args.only not in point.name:
                continue
            rows.append(sweep.sweep_one(i, point))
            r = rows[-1]
            print(
                f"  [{i}] {point.name}: {'killed' if r['killed'] else r['missed']} (try {r['attempts']}), "
                f"{len(r['problems'])} violations, {r['lost']} lost, rerun equal {r['equal']}",
                flush=True,
            )
        print(f"\n{time.monotonic() - started:.0f}s")
        report(rows)
        return 0 if all(not r["problems"] and r["equal"] and r["killed"] for r in rows) else 1
    finally:
        with contextlib.suppress(Exception):
            sweep.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
