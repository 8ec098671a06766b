"""Portable bundles: one zip with a backup, its manifest and the source Parquet files, to restore elsewhere."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from .. import config
from ..orchestration import writelock
from . import archive, restoring
from .manifest import ARCHIVE, MANIFEST, BackupError, file_sha256
from .schema import check_bundle, read_manifest

BUNDLE_FORMAT = "insurance-pipeline-bundle/1"
BUNDLE_JSON = "bundle.json"


def export(
    out: Path | None = None, name: str | None = None, data_dir: Path | None = None, folder: Path | None = None
) -> Path:
    """Zip a backup (a new one unless `name` is given) with the source Parquet files; the zip's path."""
    chosen = archive.find(name, folder) if name else archive.create(folder=folder)
    archive.check(chosen)
    data_dir = Path(data_dir or config.data_dir())
    sources = sorted(data_dir.glob("*.parquet"))
    if not sources:
        raise BackupError(f"no Parquet files in {data_dir}: a bundle carries the source sample")
    out = Path(out or Path(folder or config.backup_dir()) / f"{chosen.name}.zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    description = {
        "format": BUNDLE_FORMAT,
        "backup": chosen.name,
        "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {p.name: {"sha256": file_sha256(p), "size": p.stat().st_size} for p in sources},
    }
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        # Stored, not deflated: the archive and the Parquet files are compressed already.
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            z.writestr(BUNDLE_JSON, json.dumps(description, indent=2) + "\n")
            z.write(chosen.folder / MANIFEST, f"backup/{MANIFEST}")
            z.write(chosen.archive, f"backup/{ARCHIVE}")
            for path in sources:
                z.write(path, f"data/{path.name}")
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _extract(z: zipfile.ZipFile, member: str, target: Path) -> None:
    with z.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def import_(
    file: Path, target_db: str | None = None, data_dir: Path | None = None, folder: Path | None = None
) -> restoring.Restored:
    """Restore a bundle: its backup joins the backups folder, the warehouse (or a new database) gets its data, and
    (for the warehouse, or with data_dir) the Parquet files go to the source folder: the next run finds all done."""
    file = Path(file)
    try:
        z = zipfile.ZipFile(file)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"{file}: not a readable bundle ({exc})") from None
    folder = Path(folder or config.backup_dir())
    folder.mkdir(parents=True, exist_ok=True)
    with z, tempfile.TemporaryDirectory(prefix=".bundle-", dir=folder) as tmp:
        try:
            description = json.loads(z.read(BUNDLE_JSON))
        except (KeyError, ValueError):
            raise BackupError(f"{file}: no valid {BUNDLE_JSON}: not a bundle") from None
        if not isinstance(description, dict) or description.get("format") != BUNDLE_FORMAT:
            found = description.get("format") if isinstance(description, dict) else None
            raise BackupError(f"{file}: unknown bundle format {found!r}")
        check_bundle(description, file, BUNDLE_JSON)
        with writelock.replacing("bundle import") if not target_db else contextlib.nullcontext():
            return _import(z, file, description, Path(tmp), folder, target_db, data_dir)


def _import(
    z: zipfile.ZipFile,
    file: Path,
    description: dict,
    tmp: Path,
    folder: Path,
    target_db: str | None,
    data_dir: Path | None,
) -> restoring.Restored:
    """Stage the bundle's files in tmp, check them, restore, then install the sources and keep the backup."""
    staged = tmp / description["backup"]
    staged.mkdir()
    (staged / "data").mkdir()
    try:
        for member in (MANIFEST, ARCHIVE):
            _extract(z, f"backup/{member}", staged / member)
        for name, expected in description["data"].items():
            _extract(z, f"data/{name}", staged / "data" / name)
            if file_sha256(staged / "data" / name) != expected["sha256"]:
                raise BackupError(f"{file}: data/{name} differs from the bundle's sha256 (altered): refused")
    except KeyError as exc:
        raise BackupError(f"{file}: incomplete bundle ({exc.args[0]})") from None
    read_manifest(staged, shown=f"{file}: backup/{MANIFEST}")
    restored = restoring.restore(str(staged), target_db=target_db, portable=True)  # checks the archive first
    if data_dir or not target_db:  # a new database leaves the warehouse, and so its sources, as they were
        _install_data(staged / "data", Path(data_dir or config.data_dir()))
    shutil.rmtree(staged / "data")
    _keep_backup(staged, folder)
    return restored


def _install_data(source: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        partial = data_dir / f".{path.name}.partial-{os.getpid()}"
        shutil.copyfile(path, partial)
        os.replace(partial, data_dir / path.name)


def _keep_backup(staged: Path, folder: Path) -> None:
    """The bundle's backup joins the backups folder (unless the same backup is there already)."""
    folder.mkdir(parents=True, exist_ok=True)
    same = folder / staged.name
    if (same / MANIFEST).is_file() and (same / MANIFEST).read_bytes() == (staged / MANIFEST).read_bytes():
        return
    partial = folder / f".{staged.name}.partial-{os.getpid()}-import"
    shutil.move(str(staged), partial)
    archive.rename_free(partial, folder, staged.name)
