"""Shared helpers for the synthetic tables: dates, random picks, column frames and Arrow conversion."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The export date of the source system: every generated date lies before it, and ages count to it.
AS_OF = np.datetime64("2025-10-09", "D")
AS_OF_TS = AS_OF.astype("datetime64[s]")
FIRST_DAY = np.datetime64("2015-01-01", "D")
DAY = np.timedelta64(1, "D")
SECONDS_PER_DAY = 86_400

# Key-like columns are kept as integers while generating and formatted on the way out: prefix, digits.
ID_FORMATS = {
    "customer_id": ("CU", 7),
    "policy_id": ("PO", 8),
    "claim_id": ("CL", 8),
    "payment_id": ("PA", 9),
    "transaction_id": ("TX", 12),
    "agent_id": ("AG", 3),
    "assigned_agent_id": ("AG", 3),
    "manager_id": ("AG", 3),
    "branch_id": ("BR", 3),
    "branch_code": ("BR", 3),
    "approved_by": ("ADJ", 3),
    "zip": ("", 5),
}

# A frame is a dict of equally long columns: numpy arrays (numbers, dates, category codes) or Arrow
# string arrays. Columns whose name starts with "_" are bookkeeping and never written.
Frame = dict


def take(frame: Frame, idx: np.ndarray) -> Frame:
    return {k: v.take(pa.array(idx)) if isinstance(v, pa.Array) else v[idx] for k, v in frame.items()}


def concat(a: Frame, b: Frame) -> Frame:
    return {
        k: pa.concat_arrays([v, b[k]]) if isinstance(v, pa.Array) else np.concatenate([v, b[k]])
        for k, v in a.items()
    }


def put(frame: Frame, column: str, idx: np.ndarray, values) -> None:
    """Set frame[column][idx] = values, for numpy and Arrow columns alike."""
    col = frame[column]
    if not isinstance(col, pa.Array):
        col[idx] = values
        return
    order = np.argsort(idx)
    mask = np.zeros(len(col), bool)
    mask[idx] = True
    values = values if isinstance(values, pa.Array) else pa.array(values, col.type)
    frame[column] = pc.replace_with_mask(col, pa.array(mask), values.take(pa.array(order)))


def rows(frame: Frame) -> int:
    return len(next(iter(frame.values())))


def choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """Category codes 0..len(weights)-1 drawn with the given relative weights."""
    p = np.asarray(weights, float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def days_between(rng: np.random.Generator, lo, hi, size: int | None = None) -> np.ndarray:
    """A uniform day in [lo, hi] (both inclusive, datetime64[D], element-wise)."""
    lo = np.asarray(lo, "datetime64[D]")
    span = (np.asarray(hi, "datetime64[D]") - lo).astype(np.int64) + 1
    return lo + (rng.random(size or np.broadcast(lo, span).shape) * span).astype(np.int64)


def seconds_between(rng: np.random.Generator, lo, hi, size: int | None = None) -> np.ndarray:
    """A uniform instant in [lo, hi) at whole seconds (datetime64[s], element-wise)."""
    lo = np.asarray(lo, "datetime64[s]")
    span = (np.asarray(hi, "datetime64[s]") - lo).astype(np.int64)
    return lo + (rng.random(size or np.broadcast(lo, span).shape) * span).astype(np.int64)


def during(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """A random second of each given day."""
    return days.astype("datetime64[s]") + rng.integers(0, SECONDS_PER_DAY, len(days))


def before(rng: np.random.Generator, ts: np.ndarray, max_days: float = 400.0) -> np.ndarray:
    """An instant between one hour and max_days before each ts (for updated_at < created_at and the like)."""
    return ts - (3600 + rng.random(len(ts)) * max_days * SECONDS_PER_DAY).astype(np.int64)


def money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def years_between(born: np.ndarray, on: np.datetime64) -> np.ndarray:
    """Whole years from each birth date to `on` (a person's age on that day)."""
    def ymd(d):
        d = np.asarray(d, "datetime64[D]")
        y = d.astype("datetime64[Y]")
        m = d.astype("datetime64[M]")
        return y.astype(np.int64) + 1970, (m - y).astype(np.int64), (d - m).astype(np.int64)

    by, bm, bd = ymd(born)
    oy, om, od = ymd(on)
    return oy - by - ((bm > om) | ((bm == om) & (bd > od)))


def format_ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal number, built as one byte buffer (negative numbers become null)."""
    nums = np.asarray(nums, np.int64)
    n, head = len(nums), len(prefix)
    buf = np.empty((n, head + width), np.uint8)
    buf[:, :head] = np.frombuffer(prefix.encode(), np.uint8)
    buf[:, head:] = np.abs(nums)[:, None] // 10 ** np.arange(width - 1, -1, -1, dtype=np.int64) % 10 + 48
    offsets = np.arange(n + 1, dtype=np.int32) * (head + width)
    valid = nums >= 0
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf), bitmap)


def labels(vocab, codes: np.ndarray) -> pa.Array:
    """Category codes to strings (negative codes become null)."""
    codes = np.asarray(codes)
    return pa.array(list(vocab), pa.string()).take(pa.array(codes, pa.int32(), mask=codes < 0))


def to_arrow(frame: Frame, schema: pa.Schema, vocab: dict[str, list[str]]) -> pa.Table:
    """Build the Arrow table: categories via vocab, key columns via ID_FORMATS, nulls as NaN/NaT/-1."""
    arrays = []
    for field in schema:
        v = frame[field.name]
        if isinstance(v, pa.Array):
            arr = v
        elif field.name in vocab:
            arr = labels(vocab[field.name], v)
        elif field.name in ID_FORMATS:
            prefix, width = ID_FORMATS[field.name]
            arr = format_ids(prefix, v, width)
        elif pa.types.is_boolean(field.type):
            arr = pa.array(v == 1, mask=v < 0)
        elif pa.types.is_timestamp(field.type):
            arr = pa.array(v.astype(f"datetime64[{field.type.unit}]"), field.type)
        elif pa.types.is_date(field.type):
            arr = pa.array(v.astype("datetime64[D]"), field.type)
        else:
            arr = pa.array(v, from_pandas=True).cast(field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def relaxed(schema: pa.Schema) -> pa.Schema:
    """The schema with every field nullable: source files carry the defects (null flags) that healing removes."""
    return pa.schema([f.with_nullable(True) for f in schema])


def with_extra_rows(rng: np.random.Generator, frame: Frame, *extras: Frame) -> Frame:
    """The originals in order with the extra rows scattered among them (deterministically)."""
    out, n = frame, rows(frame)
    for extra in extras:
        out = concat(out, extra)
    keys = np.concatenate([np.arange(n, dtype=float), rng.uniform(0, n, rows(out) - n)])
    return take(out, np.argsort(keys, kind="stable"))


def duplicated(*columns: np.ndarray) -> np.ndarray:
    """True for every row whose values in all the given columns equal an earlier row's (in sorted order)."""
    order = np.lexsort(columns[::-1])
    same = np.ones(max(len(order) - 1, 0), bool)
    for c in columns:
        s = c[order]
        same &= s[1:] == s[:-1]
    out = np.zeros(len(order), bool)
    out[order[1:][same]] = True
    return out


def number_rows(frame: Frame, by: str, id_column: str) -> tuple[Frame, np.ndarray]:
    """Sort by `by` and number the rows 1..n in that order (ids grow with time, as in the source system).

    Also returns where each row went, to find rows chosen before the sort.
    """
    order = np.argsort(frame[by], kind="stable")
    out = take(frame, order)
    out[id_column] = np.arange(1, len(order) + 1)
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    return out, position


def missing_ids(rng: np.random.Generator, existing: np.ndarray, n: int) -> np.ndarray:
    """n distinct ids above every existing one (for orphans: distinct, so two orphans never pair up)."""
    top = int(existing.max())
    return top + 1 + rng.choice(top + 1000, n, replace=False)
