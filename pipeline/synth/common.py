"""Shared helpers for the synthetic tables: dates, random picks, column frames and Arrow conversion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
# These are the reference tables' keys (as the original export wrote them); the big tables' keys are conventions.
REFERENCE_IDS = {
    "agent_id": ("AG", 3),
    "assigned_agent_id": ("AG", 3),
    "manager_id": ("AG", 3),
    "branch_id": ("BR", 3),
    "branch_code": ("BR", 3),
    "zip": ("", 5),
}

# A frame is a dict of equally long columns: numpy arrays (numbers, dates, category codes) or Arrow
# string arrays. Columns whose name starts with "_" are bookkeeping and never written.
Frame = dict


def take(frame: Frame, idx: np.ndarray) -> Frame:
    return {k: v.take(pa.array(idx)) if isinstance(v, pa.Array) else v[idx] for k, v in frame.items()}


def concat(a: Frame, b: Frame) -> Frame:
    return {
        k: pa.concat_arrays([v, b[k]]) if isinstance(v, pa.Array) else np.concatenate([v, b[k]]) for k, v in a.items()
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
    """prefix + decimal number zero-padded to `width` digits (negative numbers become null).

    Built as one byte buffer; a number wider than `width` keeps all its digits, like printf's %0*d.
    """
    nums = np.asarray(nums, np.int64)
    valid = nums >= 0
    top = int(nums.max(initial=0))
    if top >= 10**width:
        text = pc.utf8_lpad(pa.array(nums, mask=~valid).cast(pa.string()), width, "0")
        return pc.binary_join_element_wise(prefix, text, "")
    n, head = len(nums), len(prefix.encode())
    buf = np.empty((n, head + width), np.uint8)
    buf[:, :head] = np.frombuffer(prefix.encode(), np.uint8)
    buf[:, head:] = np.abs(nums)[:, None] // 10 ** np.arange(width - 1, -1, -1, dtype=np.int64) % 10 + 48
    offsets = np.arange(n + 1, dtype=np.int32) * (head + width)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf), bitmap)


def row_hash(keys: np.ndarray, salt: int) -> np.ndarray:
    """A well-mixed non-negative int64 per key (splitmix64): the same key and salt, the same value."""
    x = np.asarray(keys).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return ((x ^ (x >> np.uint64(31))) >> np.uint64(1)).astype(np.int64)


def labels(vocab, codes: np.ndarray) -> pa.Array:
    """Category codes to strings (negative codes become null)."""
    codes = np.asarray(codes)
    return pa.array(list(vocab), pa.string()).take(pa.array(codes, pa.int32(), mask=codes < 0))


def to_arrow(
    frame: Frame,
    schema: pa.Schema,
    vocab: Mapping[str, Sequence[str]],
    ids: dict[str, tuple[str, int]] = REFERENCE_IDS,
    int_flags: bool = False,
) -> pa.Table:
    """Build the Arrow table: categories via vocab, key columns via ids, nulls as NaN/NaT/-1.

    With int_flags, boolean columns are written as 0/1 integers.
    """
    arrays, fields = [], []
    for field in schema:
        v = frame[field.name]
        if isinstance(v, pa.Array):
            arr = v
        elif field.name in vocab:
            arr = labels(vocab[field.name], v)
        elif field.name in ids:
            prefix, width = ids[field.name]
            arr = format_ids(prefix, v, width)
        elif pa.types.is_boolean(field.type) and int_flags:
            field = field.with_type(pa.int64())
            arr = pa.array(v.astype(np.int64), mask=v < 0)
        elif pa.types.is_boolean(field.type):
            arr = pa.array(v == 1, mask=v < 0)
        elif pa.types.is_timestamp(field.type):
            arr = pa.array(v.astype(f"datetime64[{field.type.unit}]"), field.type)
        elif pa.types.is_date(field.type):
            arr = pa.array(v.astype("datetime64[D]"), field.type)
        else:
            arr = pa.array(v, from_pandas=True).cast(field.type)
        arrays.append(arr)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, schema.metadata))


def relaxed(schema: pa.Schema) -> pa.Schema:
    """The schema with every field nullable: source files carry the defects (null flags) that healing removes."""
    return pa.schema([f.with_nullable(True) for f in schema])


def shuffled(rng: np.random.Generator, frame: Frame, *extras: Frame) -> Frame:
    """The originals and the extra rows in a random order, so that no kind of row sits in a block."""
    out = frame
    for extra in extras:
        out = concat(out, extra)
    return take(out, rng.permutation(rows(out)))


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


def numbered(rng: np.random.Generator, frame: Frame, id_column: str) -> Frame:
    """The frame with ids 1..n in random order: neither an id's size nor a row's place tells its kind or age."""
    return {**frame, id_column: rng.permutation(rows(frame)) + 1}


def missing_ids(rng: np.random.Generator, existing: np.ndarray, n: int) -> np.ndarray:
    """n distinct ids above every existing one (for orphans: distinct, so two orphans never pair up)."""
    top = int(existing.max())
    return top + 1 + rng.choice(top + 1000, n, replace=False)
