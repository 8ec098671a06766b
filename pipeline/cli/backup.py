"""The command line of backups: python -m pipeline backup [list|verify|restore] and bundle export|import."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import config, errors, warehouse
from ..backup.archive import backups, create, find
from ..backup.bundle import export, import_
from ..backup.manifest import BackupError
from ..backup.restoring import restore, verify


def confirm(args, what: str) -> None:
    if args.yes or getattr(args, "target_db", None):
        return
    if sys.stdin.isatty() and input(f"{what} Type yes to go on: ").strip().lower() in ("y", "yes"):
        return
    raise BackupError(f"{what} Add --yes to confirm (or use --target-db NEW for a new database)")


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_create(args) -> int:
    made = create()
    views = sum(t["kind"] != "table" for t in made.manifest["tables"])
    print(
        f"backup {made.name}: {_human(made.size)}, {len(made.manifest['tables']) - views} tables and {views} "
        f"materialized views, {made.total_rows:,} rows, run {made.manifest['latest_run'] or '-'} -> {made.folder}"
    )
    return 0


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_list(args) -> int:
    found = backups()
    if not found:
        print(f"no backups in {config.backup_dir()}")
        return 0
    print(f"{'name':<36}{'when (UTC)':<22}{'size':>10}{'rows':>13}  run")
    for b in found:
        print(
            f"{b.name:<36}{b.manifest['created_at'].replace('T', ' ')[:19]:<22}{_human(b.size):>10}"
            f"{b.total_rows:>13,}  {b.manifest['latest_run'] or '-'}"
        )
    return 0


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_verify(args) -> int:
    print(verify(args.name, deep=args.deep))
    return 0


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_restore(args) -> int:
    backup = find(args.name)
    confirm(args, f"This replaces everything in the warehouse ({warehouse.describe()}) with {backup.name}.")
    print(restore(str(backup.folder), target_db=args.target_db))
    return 0


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_export(args) -> int:
    out = export(out=args.out, name=args.backup)
    print(f"bundle {out} ({_human(out.stat().st_size)}): backup, manifest and source Parquet files")
    return 0


@errors.command(interrupted="interrupted; an unfinished restore changes nothing")
def cmd_import(args) -> int:
    confirm(
        args,
        f"This replaces everything in the warehouse ({warehouse.describe()}) and the source files "
        f"in {args.data_dir or config.data_dir()} with the bundle's.",
    )
    print(import_(Path(args.file), target_db=args.target_db, data_dir=args.data_dir))
    return 0


def add_cli(subparsers) -> None:
    """Add `backup [create|list|verify|restore]` and `bundle export|import` to the command line's subparsers."""
    parser = subparsers.add_parser(
        "backup",
        help="back the warehouse up (default), or list, verify, restore",
        description="Back the warehouse up into backups/ (pg_dump archive + manifest).",
    )
    parser.set_defaults(func=cmd_create)
    actions = parser.add_subparsers(dest="backup_action", metavar="ACTION")
    actions.add_parser("create", help="make a backup now (the default)").set_defaults(func=cmd_create)
    actions.add_parser("list", help="backups, newest first").set_defaults(func=cmd_list)
    check_parser = actions.add_parser("verify", help="check a backup's archive (--deep: restore it aside)")
    check_parser.add_argument("name", help="backup name (see list), a backup folder, or latest")
    check_parser.add_argument(
        "--deep", action="store_true", help="restore into a scratch database and compare every table with the manifest"
    )
    check_parser.set_defaults(func=cmd_verify)
    restore_parser = actions.add_parser("restore", help="restore a backup into the warehouse or a new database")
    restore_parser.add_argument("name", help="backup name (see list), a backup folder, or latest")
    restore_parser.add_argument("--target-db", help="restore into this new database instead of the warehouse")
    restore_parser.add_argument("--yes", action="store_true", help="replace the warehouse without asking")
    restore_parser.set_defaults(func=cmd_restore)

    parser = subparsers.add_parser("bundle", help="export or import a portable bundle (backup + source files)")
    actions = parser.add_subparsers(dest="bundle_action", metavar="ACTION", required=True)
    out = actions.add_parser("export", help="write one zip: a new backup (or --backup NAME) and the source files")
    out.add_argument("--out", type=Path, help="zip to write (default: backups/<backup name>.zip)")
    out.add_argument("--backup", help="bundle this existing backup instead of making a new one")
    out.set_defaults(func=cmd_export)
    into = actions.add_parser("import", help="restore a bundle into the warehouse (or --target-db NEW)")
    into.add_argument("file", help="the bundle's zip")
    into.add_argument("--target-db", help="restore into this new database instead of the warehouse")
    into.add_argument(
        "--data-dir", type=Path, help="where the source files go (default: [sources] data_dir; none with --target-db)"
    )
    into.add_argument("--yes", action="store_true", help="replace the warehouse and the source files without asking")
    into.set_defaults(func=cmd_import)
