"""Folder sources for tests: a table's file split into Hive part files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def split_into_parts(data_dir: Path, table: str, key: str = "day", parts: int = 3) -> list[Path]:
    """Replace data/<table>.parquet by data/<table>/<key>=<i>/part-0.parquet: consecutive slices of its rows, in
    their order (the folder read in path order gives the same rows in the same order)."""
    source = data_dir / f"{table}.parquet"
    rows = pq.read_table(source)
    source.unlink()
    size = -(-rows.num_rows // parts)
    made = []
    for i in range(parts):
        path = data_dir / table / f"{key}={i}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(rows.slice(i * size, size), path)
        made.append(path)
    return made
