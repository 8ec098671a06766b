"""The command line: python -m pipeline generate | run | status | score | rules | backup | bundle | export | parts | ...

The one entry point: each subcommand is registered by its module (run, ops, scheduler, quality, backup,
quality.profile_cli), and every failure ends in errors.command_failed."""

from __future__ import annotations

import argparse
import sys

from .. import errors
from ..orchestration import console
from . import backup as backup_cli
from . import explore as explore_cli
from . import ops as ops_cli
from . import parts as parts_cli
from . import quality as quality_cli
from . import quarantine as quarantine_cli
from . import run as run_cli
from . import scheduler as scheduler_cli


def cmd_generate(argv: list[str]) -> int:
    from ..synth import generate

    return generate.main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="tracebacks and Luigi's log on the terminal too")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write synthetic source Parquet files (see generate --help)", add_help=False)
    run_cli.add_cli(sub)  # run
    ops_cli.add_cli(sub)  # runs, status, report
    scheduler_cli.add_cli(sub)  # scheduler
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:  # the generator parses its own options
        return cmd_generate(argv[1:])
    quality_cli.add_cli(sub)  # score, rules
    backup_cli.add_cli(sub)  # backup, bundle
    quarantine_cli.add_cli(sub)  # quarantine list, release, correct, resolutions, revoke
    parts_cli.add_cli(sub)  # parts list, forget: part files gone from a folder source
    explore_cli.add_cli(sub)  # export
    from ..quality import profile_cli

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
