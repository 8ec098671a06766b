"""Backups of the warehouse: pg_dump archives with manifests (archive), restores (restoring), what a manifest
holds and how it is checked (manifest, schema), and bundles that carry a backup and its sources to another
machine (bundle).

The command line of backups is pipeline.cli.backup; this package knows nothing of it."""

from .archive import DUMP_OPTIONS, Backup, backups, check, create, find, prune
from .manifest import BackupError
from .restoring import Restored, restore, verify

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
