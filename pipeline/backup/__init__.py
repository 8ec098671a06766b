"""Backups of the warehouse: pg_dump archives with manifests (archive), what a manifest holds and how it is checked
(manifest, schema), and bundles that carry a backup and its sources to another machine (bundle).

The command line of backups is pipeline.cli.backup; this package knows nothing of it."""

from .archive import DUMP_OPTIONS, Backup, Restored, backups, check, create, find, prune, restore, verify
from .manifest import BackupError

__all__ = [
    "DUMP_OPTIONS",
    "Backup",
    "BackupError",
    "Restored",
    "backups",
    "check",
    "create",
    "find",
    "prune",
    "restore",
    "verify",
]
