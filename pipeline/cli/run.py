"""`python -m pipeline run`: the whole job (Transform and everything it needs), one run at a time."""

from __future__ import annotations

import argparse
import sys

import luigi
import psycopg2

from .. import config, errors, report, warehouse
from ..orchestration import console, markers, progress, runs, writelock


def cmd_run(args) -> int:
    # values for this process and its workers; a rebuild loads and heals every table whole
    config.choose(data_dir=args.data_dir, progress=args.progress, incremental=False if args.rebuild else None)
    from ..quality import contract

    try:
        contract.validate_all()
    except contract.ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return errors.codes().task_failed
    markers.new_run_id()  # before the locks: their sessions name the run
    try:
        guard = warehouse.connect()
    except (psycopg2.OperationalError, errors.UserError) as exc:
        # Luigi would fail to check the first task: a scheduling error, as `luigi --module pipeline` says
        text = errors.first_line(exc) if isinstance(exc, errors.UserError) else errors.unreachable(exc)
        print(f"error: {text}", file=sys.stderr)
        return errors.codes().scheduling_error
    try:
        _one_run_at_a_time(guard)
        if args.rebuild:
            _forget_what_was_done(guard)
        with writelock.running():  # shared with other runs; a restore waits for it, or it for a restore
            return _build(args)
    finally:
        guard.close()  # ends the session, and with it the queue lock


def _one_run_at_a_time(conn) -> None:
    """Queue this command behind another `python -m pipeline run` (with a local scheduler both would do every task):
    the second waits for the first, then finds it done. Not the write lock (writelock): runs share that one."""
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(hashtext('pipeline.run.queue'))")
        if not cur.fetchone()[0]:
            print("another run is working on the warehouse; waiting for it to finish", flush=True)
            cur.execute("SELECT pg_advisory_lock(hashtext('pipeline.run.queue'))")


def _forget_what_was_done(conn) -> None:
    """For `run --rebuild`: no load, heal or transform is done any more, so every one runs (raw is reloaded from the
    files, in the order its part files arrived: ops.source_parts is kept)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.markers') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("UPDATE ops.markers SET fingerprint = 'rebuild' WHERE task_family <> 'Backup'")


def _build(args) -> int:
    from ..orchestration.tasks import main_task

    run_id = markers.run_id()
    log_file = console.setup(run_id, debug=args.debug)
    print(f"warehouse: {warehouse.describe()}; sources: {config.data_dir()}; run {run_id}", flush=True)
    result = luigi.build([main_task()], workers=args.workers, local_scheduler=not args.scheduler, detailed_summary=True)
    state = runs.finish_run(run_id)  # closes the run if it stopped early (and writes its report)
    code = errors.run_exit_code(result.worker)
    where = [f"report: {report.report_path(run_id)}"] if report.report_path(run_id).exists() else []
    if code and log_file.exists():
        where.append(f"full log: {log_file}")
    if state is None:
        state = "failed" if code else "had nothing to do: the warehouse is up to date"
    if code or not progress.progress_enabled():  # with progress lines, the last one said it already
        print(f"run {run_id} {state}" + "".join(f"; {w}" for w in where), flush=True)
    return code


def add_cli(sub) -> None:
    run = sub.add_parser("run", help="run the whole job (Transform and everything it needs)")
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--scheduler", action="store_true", help="use the central luigid instead of a local one")
    run.add_argument("--data-dir", help="source folder (default: luigi.cfg [sources] data_dir)")
    run.add_argument(
        "--rebuild", action="store_true", help="load and heal every table whole and build the analytics again"
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a line per finished task (default: when the output is a terminal)",
    )
    run.set_defaults(func=cmd_run)
