"""A data set as a history plus N daily increments: payments/ and claims/ as Hive folders (history.parquet and
date=YYYY-MM-DD/part-0.parquet for each of the last N days), customers/ and policies/ as history.parquet plus each
day's changed records (updated_at on that day) as date=YYYY-MM-DD/part-0.parquet."""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATED = {"payments": "transaction_date", "claims": "claim_date"}  # new rows arrive on their day
CHANGED = ("customers", "policies")  # existing rows change: a later version of the record arrives
CHANGED_SHARE = 0.002  # of a table's records changed per day
EPOCH = datetime.date(1970, 1, 1)


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970 of a date or timestamp column (nulls as the smallest int32: never a daily day)."""
    days = column.cast(pa.date32()) if pa.types.is_timestamp(column.type) else column
    return days.cast(pa.int32()).fill_null(np.iinfo(np.int32).min).to_numpy()


def daily_days(tables: dict[str, pa.Table], n: int) -> list[int]:
    """The last n days of the data (days since 1970), ending at the day 99.5% of payments are on or before: the
    few dates past it are the generator's defects (dates in the future), left in the history."""
    days = _days(tables["payments"][DATED["payments"]])
    last = int(np.quantile(days[days > np.iinfo(np.int32).min], 0.995))
    return list(range(last - n + 1, last + 1))


def write_daily(tables: dict[str, pa.Table], out_dir: Path, n: int, seed: int, write: Callable) -> dict[str, int]:
    """Write the four big tables as folders of part files (write(table, path) writes one); rows per table."""
    days = daily_days(tables, n)
    counts = {}
    for name, column in DATED.items():
        rows = tables[name]
        on = _days(rows[column])
        in_history = (on < days[0]) | (on > days[-1])  # later: defective dates in the future
        counts[name] = _history(out_dir / name, write, rows.filter(in_history))
        for day in days:
            part = rows.filter(on == day)
            if part.num_rows:
                write(part, _part_path(out_dir / name, day))
                counts[name] += part.num_rows
    for name in CHANGED:
        rows = tables[name]
        counts[name] = _history(out_dir / name, write, rows)
        rng = np.random.default_rng([seed, zlib.crc32(f"daily|{name}".encode())])
        for day in days:
            changed = _changed(rows, rng, day)
            write(changed, _part_path(out_dir / name, day))
            counts[name] += changed.num_rows
    return counts


def _history(folder: Path, write: Callable, history: pa.Table) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    write(history, folder / "history.parquet")
    return history.num_rows


def _part_path(folder: Path, day: int) -> Path:
    path = folder / f"date={EPOCH + datetime.timedelta(days=day)}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _changed(rows: pa.Table, rng: np.random.Generator, day: int) -> pa.Table:
    """A later version of some records: same key, updated_at during the day, updated_by the daily feed."""
    count = max(1, round(rows.num_rows * CHANGED_SHARE))
    picked = rows.take(pa.array(np.sort(rng.choice(rows.num_rows, size=count, replace=False))))
    micros = (day * 86_400 + rng.integers(0, 86_400, size=count)) * 1_000_000
    stamp = pa.Array.from_buffers(pa.timestamp("us"), count, [None, pa.py_buffer(micros.astype(np.int64))])
    at = picked.schema.get_field_index("updated_at")
    picked = picked.set_column(at, picked.schema.field(at), stamp.cast(picked.schema.field(at).type))
    by = picked.schema.get_field_index("updated_by")
    return picked.set_column(
        by, picked.schema.field(by), pc.cast(pa.repeat(pa.scalar("DAILY_FEED"), count), picked.schema.field(by).type)
    )
