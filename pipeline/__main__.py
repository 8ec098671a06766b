"""The command line: python -m pipeline generate | run | status | score | rules | backup | bundle | ..."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import luigi
import psycopg2

from . import config, console, errors, history, markers, ops_cli, report, warehouse, writelock
from .tables import TABLES


def cmd_generate(argv: list[str]) -> int:
    from . import generate
    return generate.main(argv) or 0


def cmd_run(args) -> int:
    if args.data_dir:
        os.environ["PIPELINE_DATA_DIR"] = args.data_dir
    if args.progress is not None:
        os.environ["PIPELINE_PROGRESS"] = "1" if args.progress else "0"
    from .quality import contract
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


def _build(args) -> int:
    from .tasks import main_task

    run_id = markers.run_id()
    log_file = console.setup(run_id, debug=args.debug)
    print(f"warehouse: {warehouse.describe()}; sources: {config.data_dir()}; run {run_id}", flush=True)
    result = luigi.build([main_task()], workers=args.workers, local_scheduler=not args.scheduler,
                         detailed_summary=True)
    state = history.finish_run(run_id)  # closes the run if it stopped early (and writes its report)
    code = errors.run_exit_code(result.worker)
    where = [f"report: {report.report_path(run_id)}"] if report.report_path(run_id).exists() else []
    if code and log_file.exists():
        where.append(f"full log: {log_file}")
    if state is None:
        state = "failed" if code else "had nothing to do: the warehouse is up to date"
    if code or not history.progress_enabled():  # with progress lines, the last one said it already
        print(f"run {run_id} {state}" + "".join(f"; {w}" for w in where), flush=True)
    return code


def cmd_score(args) -> int:
    from .quality import score
    with warehouse.transaction() as conn:
        scores = score.score(conn, Path(args.truth))
    print(score.format_scores(scores))
    worst = min(min(s.recall, s.precision) for s in scores)
    print(f"lowest recall or precision: {worst:.3f}")
    return 0


def cmd_rules(args) -> int:
    from .quality import contract
    from .quality.compile import compile_schema
    from .quality.find import RuleOutcome
    from .quality.heal import thresholds
    from .quality.rules import CATALOG, CONVENTION_POLICIES, ROWS_HELD_WARN_IF, field_policy, synonym_rules
    overrides = config.rule_thresholds()
    print(f"{'rule':<44}{'kind':<12}{'action':<12}{'warn_if':<9}{'error_if':<10}description")
    for name, spec in TABLES.items():
        if args.table and name != args.table:
            continue
        rows: list[tuple[str, str, str, float | None, float | None, str]]
        rows = [(f"{name}.{c.name}.type", "fact", "quarantine", None, None, f"{c.name} must be of {c.kind} type")
                for c in spec.columns]
        rows += [(f"{name}.{c.name}.finite", "fact", "quarantine", None, None, f"{c.name} must be a finite number")
                 for c in spec.columns if c.kind == "float"]
        rows += [(c.rule_id, "convention" if c.rule in CONVENTION_POLICIES else "fact", field_policy(c.rule_id).action,
                  field_policy(c.rule_id).warn_if, field_policy(c.rule_id).error_if,
                  f"{c.rule} {c.constraint!r}" + ("" if c.compiled else " (email-validator)"))
                 for c in compile_schema(spec)]
        rows += [(r.id, "convention", r.action, None, None, r.description) for r in synonym_rules(spec)]
        rows += [(r.id, "fact", r.action, r.warn_if, r.error_if, r.description) for r in CATALOG[name]]
        rows.append((f"{name}.rows_held", "fact", "quarantine", ROWS_HELD_WARN_IF, None, "rows held back by any rule"))
        table_contract = contract.load(name)
        for rule_id, kind, action, warn_if, error_if, description in rows:
            warn_if, error_if = thresholds(RuleOutcome(rule_id, description, "", action, warn_if=warn_if,
                                                       error_if=error_if), table_contract, overrides)
            shares = [("-" if v is None else f"{v:.0%}") for v in (warn_if, error_if)]
            print(f"{rule_id:<44}{kind:<12}{action:<12}{shares[0]:<9}{shares[1]:<10}{description[:60]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="tracebacks and Luigi's log on the terminal too")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write synthetic source Parquet files (see generate --help)", add_help=False)
    run = sub.add_parser("run", help="run the whole job (Transform and everything it needs)")
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--scheduler", action="store_true", help="use the central luigid instead of a local one")
    run.add_argument("--data-dir", help="source folder (default: luigi.cfg [sources] data_dir)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="a line per finished task (default: when the output is a terminal)")
    run.set_defaults(func=cmd_run)
    ops_cli.add_cli(sub)  # runs, status, scheduler, report
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:  # the generator parses its own options
        return cmd_generate(argv[1:])
    scoring = sub.add_parser("score", help="recall and precision of healing against a ground-truth file")
    scoring.add_argument("--truth", required=True, help="the generator's ground truth (e.g. data-truth.parquet)")
    scoring.set_defaults(func=cmd_score)
    listing = sub.add_parser("rules", help="the data-quality rule catalog: id, action, severity, threshold")
    listing.add_argument("--table", choices=list(TABLES))
    listing.set_defaults(func=cmd_rules)
    from . import backup
    backup.add_cli(sub)
    from .quality import profile_cli
    profile_cli.add_cli(sub)  # profile: propose the contracts' conventions from the source files
    debug = console.debug_requested(argv)
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    try:
        code = args.func(args)
    except Exception as exc:  # noqa: BLE001 - one line, and the documented exit code; --debug adds the traceback
        return errors.command_failed(exc, debug)
    # A command's own "failed" (1) is the documented task_failed code; 0, 130 (Ctrl-C) and luigi's codes pass.
    return errors.codes().task_failed if code == 1 else code or 0


if __name__ == "__main__":
    sys.exit(main())
