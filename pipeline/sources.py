"""A table's source: the file data/<table>.parquet or the folder data/<table>/ of Parquet part files (any depth, Hive
partitions as columns, found with pyarrow.dataset), its part files and the digest that says when it changed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from .arrow_values import SourceError


@dataclass(frozen=True)
class Part:
    """One Parquet file of a source: where it is, its name in lineage (relative to the data folder), and the
    values of its Hive partition keys (date=2025-09-01 -> {"date": "2025-09-01"}), as text."""

    path: Path
    name: str
    partition: dict[str, str]


def source_path(data_dir: Path, table: str) -> Path:
    """Where a table's source is: the folder data/<table>/ when it exists, else the file data/<table>.parquet."""
    folder = data_dir / table
    return folder if folder.is_dir() else data_dir / f"{table}.parquet"


def is_folder_source(path: Path) -> bool:
    """A folder of part files (data/<table>/), as opposed to one file (a folder named *.parquet is not one)."""
    return path.suffix != ".parquet" and path.is_dir()


def part_files(folder: Path) -> list[Path]:
    """The folder's Parquet files at any depth, in path order; hidden ones (.name, _name: writers' scratch, Spark's
    _SUCCESS and _metadata) are left out, as pyarrow.dataset leaves them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [Path(root) / f for f in files if f.endswith(".parquet") and not f.startswith((".", "_"))]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def parts(folder: Path, data_dir: Path) -> list[Part]:
    """The part files of a folder source with their Hive partition values; a folder without one is a SourceError."""
    files = part_files(folder)
    if not files:
        raise SourceError(f"{folder}: folder holds no Parquet files (*.parquet)")
    keys = _hive_keys(folder, files)
    # Partition values read as text; a schema given, pyarrow.dataset opens no file here (a damaged part fails later,
    # alone, in the load).
    schema = pa.schema([(k, pa.string()) for k in keys])
    dataset = ds.dataset(
        [str(f) for f in files],
        schema=schema,
        format="parquet",
        partitioning=ds.HivePartitioning(schema) if keys else None,
        partition_base_dir=str(folder),
    )
    hive = bool(keys)
    found = []
    for fragment in dataset.get_fragments():
        keys = ds.get_partition_keys(fragment.partition_expression) if hive else {}
        path = Path(fragment.path)
        found.append(Part(path, str(path.relative_to(data_dir)), {k: str(v) for k, v in keys.items()}))
    return sorted(found, key=lambda p: Path(p.name).parts)


def _hive_keys(folder: Path, files: list[Path]) -> list[str]:
    """The Hive partition keys, in order of depth, when every directory is named key=value; none otherwise (plain
    folders are read as they are, their names only in lineage)."""
    levels = [f.relative_to(folder).parts[:-1] for f in files]
    if not any(levels) or not all("=" in d and not d.startswith("=") for level in levels for d in level):
        return []
    keys: list[str] = []
    for level in levels:
        for d in level:
            if (key := d.split("=", 1)[0]) not in keys:
                keys.append(key)
    return keys


def listing(path: Path) -> tuple:
    """(name, size, mtime) of every part file of a folder source, for the cheap test of whether anything changed."""
    if not is_folder_source(path):
        return ()
    out = []
    for file in part_files(path):
        stat = file.stat()
        out.append((str(file.relative_to(path)), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def folder_digest(folder: Path, file_digest) -> str:
    """Digest of a folder source: every part file's relative path and content digest (file_digest, cached per path,
    size and mtime), so that a part added, removed, renamed or changed changes it."""
    digest = hashlib.sha256()
    for file in part_files(folder):
        digest.update(f"{file.relative_to(folder)}\x1f{file_digest(file)}\x1e".encode())
    return "parts:" + digest.hexdigest()[:32]
