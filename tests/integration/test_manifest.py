"""Manifests and bundles are untrusted input: a crafted one is refused in one line naming the file and the field,
before anything is touched, and no value of theirs ever reaches SQL as SQL text."""

from __future__ import annotations

import copy
import json
import re
import zipfile
from pathlib import Path

import psycopg2
import pytest

from pipeline import backup
from pipeline.backup import bundle as backup_bundle
from pipeline.backup.manifest import FORMAT, MANIFEST, BackupError, table_checksums
from pipeline.backup.schema import read_manifest

from .test_backup import _verify, change_everything, cli, contents
from tests.support import execute

# Closes the VALUES list that the restore's check used to paste the manifest into, commits the restore's
# transaction halfway (its schemas already dropped and reloaded), and leaves valid SQL behind it.
COMMIT_MIDWAY = "true, false); COMMIT; SELECT (1"


def test_a_crafted_manifest_runs_no_sql_and_leaves_the_warehouse_as_it_was(built, backups_dir, tmp_path, capsys):
    made = backup.create()
    bundle = backup_bundle.export(out=tmp_path / "bundle.zip", name=made.name)
    manifest = json.loads((made.folder / MANIFEST).read_text())
    manifest["tables"][0]["populated"] = COMMIT_MIDWAY
    (made.folder / MANIFEST).write_text(json.dumps(manifest))
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            data = json.dumps(manifest).encode() if item.filename == f"backup/{MANIFEST}" else source.read(item)
            target.writestr(item, data)
    change_everything(built)
    changed = contents(built)
    capsys.readouterr()

    assert cli("backup", "restore", made.name, "--yes") == 1
    err = capsys.readouterr().err
    assert contents(built) == changed
    assert err == (
        f"error: {made.folder / MANIFEST}: tables[0].populated must be true or false, not {COMMIT_MIDWAY!r}\n"
    )

    assert cli("bundle", "import", str(crafted), "--yes") == 1
    err = capsys.readouterr().err
    assert contents(built) == changed
    assert err == (
        f"error: {crafted}: backup/{MANIFEST}: tables[0].populated must be true or false, not {COMMIT_MIDWAY!r}\n"
    )


VALID = {
    "format": FORMAT,
    "database": "warehouse",
    "source": "warehouse on localhost:5432",
    "created_at": "2024-05-01T10:00:00.000000Z",
    "server_version": "15.20",
    "pg_dump_version": "15.20",
    "pipeline_version": "0.1.0",
    "latest_run": "20240501T095900Z-abcdef",
    "archive": {
        "file": "archive.dump",
        "format": "custom",
        "options": ["--format=custom"],
        "sha256": "0" * 64,
        "size": 1234,
    },
    "total_rows": 7,
    "tables": [
        {"schema": "clean", "table": "customers", "kind": "table", "rows": 7, "checksum": "-123", "method": "columns"},
        {"schema": "analytics", "table": "kpis", "kind": "materialized view", "populated": False},
        {"schema": "ops", "table": "old", "kind": "table", "rows": 0, "checksum": "0"},
    ],  # older: no method
}
MALFORMED = [  # (where in the manifest, the value put there, the field the message names)
    (("tables", 0, "populated"), COMMIT_MIDWAY, "tables[0].populated"),
    (("tables", 1, "populated"), "false", "tables[1].populated"),
    (("tables", 0, "rows"), "7); COMMIT; --", "tables[0].rows"),
    (("tables", 0, "rows"), True, "tables[0].rows"),
    (("tables", 0, "rows"), -1, "tables[0].rows"),
    (("tables", 0, "checksum"), "1'); COMMIT; --", "tables[0].checksum"),
    (("tables", 0, "checksum"), 123, "tables[0].checksum"),
    (("tables", 0, "method"), "columns'; COMMIT; --", "tables[0].method"),
    (("tables", 0, "schema"), 5, "tables[0].schema"),
    (("tables", 0, "table"), "", "tables[0].table"),
    (("tables", 0, "table"), "a\x00b", "tables[0].table"),
    (("tables", 0, "kind"), "view", "tables[0].kind"),
    (("tables", 2), "clean.claims", "tables[2]"),
    (("tables",), {"clean.customers": 7}, "tables"),
    (("archive", "file"), "../../../etc/passwd", "archive.file"),
    (("archive", "sha256"), "abc", "archive.sha256"),
    (("archive", "size"), "1234", "archive.size"),
    (("archive",), None, "archive"),
    (("total_rows",), "many", "total_rows"),
    (("pg_dump_version",), 15, "pg_dump_version"),
    (("database",), ["warehouse"], "database"),
    (("latest_run",), 42, "latest_run"),
    (("created_at",), None, "created_at"),
]


def _write(folder: Path, manifest: dict) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_valid_manifest_is_read_as_it_is(tmp_path):
    assert read_manifest(_write(tmp_path / "b", VALID)) == VALID


@pytest.mark.parametrize("where, value, field", MALFORMED, ids=[m[2] + "=" + repr(m[1])[:20] for m in MALFORMED])
def test_every_malformed_manifest_field_is_refused_in_one_line_naming_file_and_field(tmp_path, where, value, field):
    manifest = copy.deepcopy(VALID)
    holder = manifest
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = value
    folder = _write(tmp_path / "b", manifest)
    with pytest.raises(BackupError) as refused:
        read_manifest(folder)
    message = str(refused.value)
    assert message.startswith(f"{folder / MANIFEST}: {field} ") and "\n" not in message


@pytest.mark.parametrize(
    "field",
    [
        "database",
        "created_at",
        "pg_dump_version",
        "archive",
        "total_rows",
        "tables",
        "tables[0].schema",
        "tables[0].table",
        "tables[0].kind",
        "tables[0].rows",
        "tables[0].checksum",
        "archive.sha256",
    ],
)
def test_a_manifest_without_a_required_field_is_refused_naming_it(tmp_path, field):
    manifest = copy.deepcopy(VALID)
    holder, key = (
        (manifest["tables"][0], field.split(".")[1])
        if field.startswith("tables[0].")
        else (manifest["archive"], "sha256")
        if field == "archive.sha256"
        else (manifest, field)
    )
    del holder[key]
    folder = _write(tmp_path / "b", manifest)
    with pytest.raises(BackupError, match=f"^{re.escape(str(folder / MANIFEST))}: {re.escape(field)} is missing$"):
        read_manifest(folder)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"customers.parquet": "0" * 64}, "data['customers.parquet']"),
        ({"customers.parquet": {"sha256": 5, "size": 1}}, "data['customers.parquet'].sha256"),
        ({"../customers.parquet": {"sha256": "0" * 64, "size": 1}}, "data['../customers.parquet']"),
        (["customers.parquet"], "data"),
    ],
)
def test_a_malformed_bundle_description_is_refused_naming_the_field(tmp_path, backups_dir, data, field):
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr(
            "bundle.json",
            json.dumps(
                {
                    "format": backup_bundle.BUNDLE_FORMAT,
                    "backup": "warehouse-1",
                    "created_at": "2024-05-01T10:00:00Z",
                    "data": data,
                }
            ),
        )
    with pytest.raises(BackupError) as refused:
        backup_bundle.import_(bundle, target_db="never_made")
    assert str(refused.value).startswith(f"{bundle}: bundle.json: {field} ")


def test_table_names_with_quotes_dollars_and_backslashes_are_checked_as_data(database_url):
    odd = 'it\'s $x$ a \\ "name"; COMMIT; --é'
    execute(
        database_url,
        f'CREATE TABLE public."{odd.replace(chr(34), chr(34) * 2)}" (id int, note text)',
        f"INSERT INTO public.\"{odd.replace(chr(34), chr(34) * 2)}\" VALUES (1, 'a'), (2, NULL)",
    )
    with psycopg2.connect(database_url) as conn:
        tables = table_checksums(conn)
    conn.close()
    assert [t["table"] for t in tables] == [odd]
    assert _verify(database_url, tables) is None
    assert "checksum differs" in _verify(database_url, [{**tables[0], "checksum": "1"}])
