"""What a backup manifest and a bundle's description may hold: every field read from one is checked before use
(read_manifest reads and checks a backup's manifest)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .manifest import CHECKSUM_SQL, FORMAT, MANIFEST, BackupError

SHA256 = re.compile(r"[0-9a-f]{64}")
CHECKSUM = re.compile(r"-?[0-9]{1,40}")  # the text of a sum of 64-bit hashes
KINDS = ("table", "materialized view")


class _Refused(Exception):  # noqa: N818 - a control-flow signal inside this module, never shown
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(data: dict, key: str, field: str, fits, problem: str, required: bool = True):
    """data[key] when fits(data[key]); None when it is optional and absent."""
    if key not in data:
        if required:
            raise _Refused(field, "is missing")
        return None
    if not fits(data[key]):
        raise _Refused(field, f"{problem}, not {_shown(data[key])}")
    return data[key]


def _object(value) -> bool:
    return isinstance(value, dict)


def _text(value) -> bool:
    return isinstance(value, str) and "\x00" not in value


def _name(value) -> bool:
    """A PostgreSQL identifier: 1 to 63 bytes, no NUL (it only ever reaches SQL as data)."""
    return _text(value) and 0 < len(value.encode()) <= 63


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _sha256(value) -> bool:
    return isinstance(value, str) and SHA256.fullmatch(value) is not None


def _plain_file(value) -> bool:
    return _text(value) and value == Path(value).name and not value.startswith(".") and "\\" not in value


def _table(entry, field: str) -> None:
    if not _object(entry):
        raise _Refused(field, f"must be an object, not {_shown(entry)}")
    _get(entry, "schema", f"{field}.schema", _name, "must be a schema name")
    _get(entry, "table", f"{field}.table", _name, "must be a table name")
    _get(entry, "kind", f"{field}.kind", lambda v: v in KINDS, f"must be one of {', '.join(KINDS)}")
    populated = _get(
        entry, "populated", f"{field}.populated", lambda v: isinstance(v, bool), "must be true or false", required=False
    )
    if populated is False:
        return
    _get(entry, "rows", f"{field}.rows", _count, "must be a whole number of rows (0 or more)")
    _get(
        entry,
        "checksum",
        f"{field}.checksum",
        lambda v: isinstance(v, str) and CHECKSUM.fullmatch(v) is not None,
        "must be the digits of a checksum",
    )
    _get(
        entry,
        "method",
        f"{field}.method",
        lambda v: v is None or (isinstance(v, str) and v in CHECKSUM_SQL),
        f"must be one of {', '.join(CHECKSUM_SQL)}",
        required=False,
    )


def _manifest(manifest) -> None:
    if not _object(manifest):
        raise _Refused("the manifest", f"must be an object, not {_shown(manifest)}")
    _get(manifest, "database", "database", _name, "must be a database name")
    for key in ("created_at", "pg_dump_version"):
        _get(manifest, key, key, _text, "must be text")
    for key in ("source", "server_version", "pipeline_version"):
        _get(manifest, key, key, _text, "must be text", required=False)
    _get(
        manifest,
        "latest_run",
        "latest_run",
        lambda v: v is None or _text(v),
        "must be a run id or null",
        required=False,
    )
    archive = _get(manifest, "archive", "archive", _object, "must be an object")
    _get(archive, "file", "archive.file", _plain_file, "must be a file name in the backup's folder")
    _get(archive, "sha256", "archive.sha256", _sha256, "must be 64 hexadecimal digits")
    _get(archive, "size", "archive.size", _count, "must be a number of bytes")
    _get(manifest, "total_rows", "total_rows", _count, "must be a whole number of rows (0 or more)")
    tables = _get(manifest, "tables", "tables", lambda v: isinstance(v, list), "must be a list")
    for i, entry in enumerate(tables):
        _table(entry, f"tables[{i}]")


def check_manifest(manifest, shown: str) -> None:
    """Refuse (one line naming the file and the field) a manifest that is not as create() writes them."""
    try:
        _manifest(manifest)
    except _Refused as refused:
        raise BackupError(f"{shown}: {refused}") from None


def _data(data) -> None:
    if not _object(data):
        raise _Refused("data", f"must be an object, not {_shown(data)}")
    for name, expected in data.items():
        field = f"data[{name!r}]"
        if not (_plain_file(name) and name.endswith(".parquet")):
            raise _Refused(field, "is not a plain .parquet file name")
        if not _object(expected):
            raise _Refused(field, f"must be an object, not {_shown(expected)}")
        _get(expected, "sha256", f"{field}.sha256", _sha256, "must be 64 hexadecimal digits")
        _get(expected, "size", f"{field}.size", _count, "must be a number of bytes", required=False)


def check_bundle(description, path: Path, name: str) -> None:
    """Refuse a bundle description (bundle.json) whose backup name or data files are not as export() writes them."""
    try:
        if not _object(description):
            raise _Refused("the description", f"must be an object, not {_shown(description)}")
        _get(description, "backup", "backup", _plain_file, "must be a plain backup name")
        if "data" not in description:
            raise _Refused("data", "is missing")
        _data(description["data"])
    except _Refused as refused:
        raise BackupError(f"{path}: {name}: {refused}") from None


def read_manifest(folder: Path, shown: str | None = None) -> dict:
    """A backup's manifest, checked field by field; `shown` names the file in messages (default: its path)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder.name}: no {MANIFEST} (not a backup, or an unfinished one)") from None
    except ValueError as exc:
        raise BackupError(f"{folder.name}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{folder.name}: unknown manifest format {found!r} (expected {FORMAT})")
    check_manifest(manifest, shown or str(folder / MANIFEST))
    return manifest
