"""Arrow columns as binary COPY takes them: the PostgreSQL type of a Parquet column, its copy-ready Arrow type, and
the values PostgreSQL cannot store, as SourceErrors naming the file, column and row."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .errors import PipelineError

# Dates and times outside these years have no faithful text form between Arrow and PostgreSQL.
FIRST_DAY, LAST_DAY = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31 as days since 1970-01-01


class SourceError(PipelineError):
    """A source file that cannot be loaded; the message is one line naming the file and the problem, the hint
    what to do about it."""

    hint = "fix or replace the file"
    run_again = True


def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL type that holds a Parquet column's values as they arrived."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_uint64(t) or pa.types.is_decimal128(t):
        return "numeric"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    return "text"


def copy_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type _as_copy_ready gives a column of this type (what the COPY encoder's schema holds)."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return copy_type(t.value_type)
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", t.tz)
    if pa.types.is_boolean(t) or pa.types.is_decimal128(t) or pa.types.is_uint64(t):
        return t
    return pa.string()


def _check_values(array: pa.Array, name: str, path: Path, first_row: int = 1) -> None:
    """Values PostgreSQL cannot take as text: invalid UTF-8, dates and times outside the years 1-9999."""
    t = array.type
    if pa.types.is_string(t):
        try:
            array.validate(full=True)
        except pa.ArrowInvalid:
            row = _first_invalid_utf8(array, first_row)
            raise SourceError(
                f"{path}: column {name!r} holds text that is not valid UTF-8{row}",
                "save the file with its text encoded as UTF-8",
            ) from None
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        days = array.cast(pa.date32()) if pa.types.is_timestamp(t) else array
        numbers = days.cast(pa.date32()).view(pa.int32())
        low, high = pc.min_max(numbers).values()
        if low.is_valid and (low.as_py() < FIRST_DAY or high.as_py() > LAST_DAY):
            outside = pc.or_(pc.less(numbers, FIRST_DAY), pc.greater(numbers, LAST_DAY))
            row = pc.index(outside, True).as_py()
            year = round(1970 + numbers[row].as_py() / 365.2425)
            raise SourceError(
                f"{path}: column {name!r} holds a date outside the years 1-9999 (row {first_row + row}: "
                f"about the year {year}), which PostgreSQL cannot store",
                "correct or remove that value",
            )


def _first_invalid_utf8(array: pa.Array, first_row: int = 1) -> str:
    """Where the first value that is not UTF-8 is, for the message: ' (row N: b'...')'."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    offset = 0
    for chunk in chunks:
        for i, value in enumerate(chunk.view(pa.binary()).to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return f" (row {first_row + offset + i}: {value[:40]!r})"
        offset += len(chunk)
    return ""


def as_copy_ready(array: pa.ChunkedArray | pa.Array, name: str, path: Path, first_row: int = 1) -> pa.Array:
    """The column as binary COPY writes it into its _pg_type: 64-bit numbers, microsecond times, text."""
    array = _text_friendly(array, name, path, first_row)
    _check_values(array, name, path, first_row)
    t = array.type
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return array.cast(pa.int64())
    if pa.types.is_float32(t):
        return array.cast(pa.float64())
    if pa.types.is_date64(t):
        return array.cast(pa.date32())
    if pa.types.is_timestamp(t) and t.unit != "us":
        return array.cast(pa.timestamp("us", t.tz), safe=False)  # nanoseconds: PostgreSQL keeps microseconds
    return array


def _text_friendly(array: pa.ChunkedArray | pa.Array, name: str, path: Path, first_row: int = 1) -> pa.Array:
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return array.cast(pa.string())
    if (
        pa.types.is_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_decimal128(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
    ):
        return array
    if pa.types.is_float16(t):
        return array.cast(pa.float32())
    if pa.types.is_null(t):
        return array.cast(pa.string())
    try:
        return array.cast(pa.string())
    except pa.ArrowException:
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            where = _first_invalid_utf8(array.cast(pa.binary()), first_row)
            raise SourceError(
                f"{path}: column {name!r} holds binary values that are not UTF-8 text{where}, which a "
                "table cell cannot hold as text",
                "drop the column or encode it (e.g. as hex)",
            ) from None
        raise SourceError(f"{path}: column {name!r} has type {t}, which cannot be stored as text") from None
