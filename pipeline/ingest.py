"""Parquet -> incoming.<table>: record batches streamed as binary COPY, with lineage, staged beside the published
raw.<table> until the table's heal publishes raw, clean and the quarantine together (quality/heal.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from threading import Event, Thread

import numpy as np
import psycopg2
import psycopg2.errors
import pyarrow as pa
import pyarrow.parquet as pq
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg2 import sql

from . import delta_load, gone_parts, part_failures, warehouse
from .arrow_values import SourceError, as_copy_ready
from .escaping import ESCAPED_NOTE, NUL, escape_nul, unescape  # noqa: F401 - ingest.unescape for callers
from .load_plan import LoadPlan, ReadablePart, plan_load
from .tables import TableSpec
from .warehouse import STAGE, qualified

log = logging.getLogger(__name__)

INGEST_VERSION = "2"  # bump when the raw layout changes, so every table reloads
BATCH_ROWS = 64_000
# _source_row numbers the rows of the whole table (the heal's row id); _part_row is the row within _source_file.
LINEAGE = ("_source_file", "_source_row", "_part_row", "_batch_id", "_escaped")
SYSTEM_COLUMNS = {"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"}
MAX_NAME_BYTES = 63
MAX_COLUMNS = 1600


def staged(cur, table: str) -> bool:
    """Whether a delivery of the table is loaded and not yet published (incoming.<table> exists)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'{STAGE}."{table}"',))
    return cur.fetchone()[0]


@dataclass
class LoadResult:
    table: str
    rows: int
    extra_columns: list[str] = field(default_factory=list)
    escaped_values: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # part files not loaded: (name, one-line reason)
    partial: list[str] = field(default_factory=list)  # ... of which some rows were sent before the damage showed
    part_rows: dict[str, int] = field(default_factory=dict)  # rows loaded per part file
    kept_rows: int = 0  # rows of the failed parts kept from raw.<table> (the warehouse keeps what it had)
    gone: dict[str, int] = field(default_factory=dict)  # part files gone from the folder: rows kept from raw
    mode: str = "full"  # or "delta": only the new part files were staged (delta_load)
    mode_reason: str = ""


def open_source(path: Path, spec: TableSpec, provided: set[str] = frozenset(), allow_empty: bool = False):  # type: ignore[assignment]
    """Open and check a source file, or raise SourceError saying what is wrong with it. `provided`: columns a part
    file may lack (its Hive partition gives them); `allow_empty`: a part file of a folder may have no rows."""
    if not path.exists():
        raise SourceError(f"{path}: file is missing (expected the {spec.name} table)")
    if path.is_dir():
        raise SourceError(
            f"{path}: is a folder, not a Parquet file", f"put the {spec.name} table in one Parquet file of that name"
        )
    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"{path}: not a readable Parquet file ({reason})") from None
    names = source.schema_arrow.names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SourceError(f"{path}: column {duplicated[0]!r} appears more than once")
    missing = [c for c in spec.column_names if c not in names and c not in provided]
    if missing:
        raise SourceError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} required by table {spec.name}"
        )
    if source.metadata.num_rows == 0 and not allow_empty:
        raise SourceError(f"{path}: file has no rows")
    _check_names(path, names)
    for column in source.schema_arrow:
        if pa.types.is_nested(column.type):
            raise SourceError(
                f"{path}: column {column.name!r} has nested type {column.type}, which a table cell "
                "cannot hold as it arrived"
            )
    return source


def _check_names(path: Path, names: list[str]) -> None:
    """Column names PostgreSQL would refuse, truncate into one another, or confuse with its own."""
    if "" in names:
        raise SourceError(f"{path}: a column has an empty name")
    if any(NUL in n for n in names):
        raise SourceError(
            f"{path}: column {next(n for n in names if NUL in n)!r} has a NUL character in its name, "
            "which PostgreSQL names cannot hold"
        )
    reserved = [n for n in names if n in LINEAGE or n in SYSTEM_COLUMNS]
    if reserved:
        raise SourceError(f"{path}: column {reserved[0]!r} clashes with a name the warehouse uses itself")
    cut = [n.encode()[:MAX_NAME_BYTES] for n in names]
    clash = next((n for n, c in zip(names, cut, strict=True) if cut.count(c) > 1), None)
    if clash is not None:
        raise SourceError(
            f"{path}: columns {clash[:20]!r}... are alike in their first {MAX_NAME_BYTES} bytes, "
            "where PostgreSQL cuts names"
        )
    if len(names) + len(LINEAGE) > MAX_COLUMNS:
        raise SourceError(
            f"{path}: {len(names)} columns, more than a PostgreSQL table holds "
            f"({MAX_COLUMNS - len(LINEAGE)} with lineage)"
        )


class _ChunkReader(io.RawIOBase):
    """A read()-able file over an iterator of byte chunks, as psycopg2's copy_expert wants."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = memoryview(b"")
        self.error: BaseException | None = None  # what stopped the chunks, for a message better than psycopg2's

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except BaseException as exc:
                self.error = exc
                raise
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _row_numbers(first: int, count: int) -> pa.Array:
    # From a buffer, not pa.array(): that would import pandas (a fifth of a second) to look for a Series.
    numbers = np.arange(first, first + count, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(numbers)])


def _binary_chunks(plan: LoadPlan, result: LoadResult, parts: list[ReadablePart], after: int = 0) -> Iterator[bytes]:
    """The parts as one stream of PostgreSQL binary COPY data: no text to parse on the server (about 2.5x less of its
    time); rows numbered from after + 1. A part of a folder whose data turns out damaged is set aside
    (result.failed), the stream goes on."""
    encoder = None
    offset = after
    for readable in parts:
        sent = 0
        try:
            for out in _part_batches(plan, readable, offset, result):
                if encoder is None:
                    encoder = ArrowToPostgresBinaryEncoder(out.schema)
                    yield bytes(encoder.write_header())
                yield bytes(encoder.write_batch(out))
                offset += out.num_rows
                sent += out.num_rows
        except SourceError as exc:
            if not plan.folder:
                raise
            result.failed.append((readable.part.name, str(exc.args[0]).splitlines()[0]))
            if sent:
                result.partial.append(readable.part.name)
            continue
        result.part_rows[readable.part.name] = sent
    if encoder is not None:
        yield bytes(encoder.finish())
    result.rows = offset - after


def _part_batches(plan: LoadPlan, readable: ReadablePart, offset: int, result: LoadResult) -> Iterator[pa.RecordBatch]:
    """One part's rows as copy-ready record batches: the plan's columns (a column the part lacks as nulls, a Hive
    partition key as its value), then _source_file (folders only), _source_row, _part_row and _escaped."""
    path, part = readable.part.path, readable.part
    present = [n for n in plan.names if n in readable.file.schema_arrow.names]
    row = 0
    for batch in _batches(readable.file, present, path):
        n = batch.num_rows
        arrays = []
        for name in plan.names:
            if name in present:
                array = as_copy_ready(batch.column(present.index(name)), name, path, row + 1)
            elif name in part.partition:
                array = pa.repeat(pa.scalar(part.partition[name]), n)
            else:
                array = pa.nulls(n, plan.arrow_types[name])
            if array.type != plan.arrow_types[name]:
                try:
                    array = array.cast(plan.arrow_types[name])
                except pa.ArrowException:
                    raise SourceError(
                        f"{path}: column {name!r} of type {array.type} cannot be read as "
                        f"{plan.arrow_types[name]} like the other part files'"
                    ) from None
            arrays.append(array)
        batch = pa.RecordBatch.from_arrays(arrays, names=plan.names)
        columns, escaped, count = escape_nul(batch, plan.names)
        result.escaped_values += count
        lineage = [pa.repeat(pa.scalar(part.name), n)] if plan.folder else []
        lineage += [_row_numbers(offset + row + 1, n), _row_numbers(row + 1, n), escaped]
        row += n
        yield pa.RecordBatch.from_arrays(
            [*columns, *lineage], names=[f"c{i}" for i in range(len(columns) + len(lineage))]
        )


def _batches(source: pq.ParquetFile, names: list[str], path: Path) -> Iterator[pa.RecordBatch]:
    """The file's record batches; damaged data (a flipped byte, a cut file) is a SourceError naming the file."""
    batches = source.iter_batches(batch_size=BATCH_ROWS, columns=names, use_threads=True)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceError(
                f"{path}: the Parquet data is damaged ({reason})",
                "the file is corrupt or cut short: copy or export it again",
            ) from None
        yield batch


def _prefetched(chunks: Iterator[bytes], depth: int = 3) -> Iterator[bytes]:
    """Make the next chunks in a thread while the server stores the current one."""
    queue: Queue = Queue(maxsize=depth)
    stop = Event()
    done = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False  # the consumer gave up (the COPY failed): stop making chunks

    def produce():
        try:
            for chunk in chunks:
                if not hand_over(chunk):
                    return
            hand_over(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            hand_over(exc)

    Thread(target=produce, daemon=True, name="copy-chunks").start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def load_table(
    conn,
    spec: TableSpec,
    path: Path,
    batch_id: str,
    data_dir: Path | None = None,
    digest: Callable[[Path], str] | None = None,
    inputs: str = "",
) -> LoadResult:
    """Stage the source's rows as incoming.<table> (replacing a delivery staged before and never published), inside
    the caller's transaction (nothing commits here). raw.<table> is left as it is: the heal publishes the delivery.

    `path` is a Parquet file, or a folder of part files (lineage names them relative to `data_dir`, by default the
    folder's parent). A part of a folder that cannot be read is set aside with its one-line reason (result.failed),
    the other parts load, and the rows raw.<table> holds from that part are kept (part_failures.keep_rows); so are
    the rows of a part file gone from the folder, until it is forgotten (gone_parts)."""
    plan = plan_load(path, data_dir or path.parent, spec, open_source)
    _check_names(path, plan.names)
    result = LoadResult(spec.name, 0, plan.extras)
    result.failed = [(part.name, reason) for part, reason in plan.failed]
    staging = qualified(STAGE, spec.name)
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(plan.pg_types[n])) for n in plan.names]
    lineage = [
        sql.SQL("_source_file text NOT NULL DEFAULT {}").format(sql.Literal(path.name)),
        sql.SQL("_source_row bigint NOT NULL"),
        sql.SQL("_part_row bigint NOT NULL"),
        sql.SQL("_batch_id text NOT NULL DEFAULT {}").format(sql.Literal(batch_id)),
        sql.SQL("_escaped text[]"),
    ]
    sent = [*plan.names, "_source_file", "_source_row", "_part_row", "_escaped"]
    if not plan.folder:
        sent.remove("_source_file")
    copy_columns = sql.SQL(", ").join(map(sql.Identifier, sent))
    with conn.cursor() as cur:
        if digest is not None:
            chosen, known = delta_load.choose(cur, spec.name, plan, inputs, digest)
        else:
            chosen, known = delta_load.Staging(delta_load.FULL, "loaded alone"), {}
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(staging, sql.SQL(", ").join(columns + lineage)))
        if chosen.mode == delta_load.DELTA and not delta_load.same_columns(cur, spec.name):
            delta_load.full(chosen, "the new part files bring other columns or types")
        parts = plan.parts
        if chosen.mode == delta_load.DELTA:
            parts = [r for r in plan.parts if r.part.name not in known]
        result.mode, result.mode_reason = chosen.mode, chosen.reason
        copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary, FREEZE true)").format(staging, copy_columns)
        reader = _ChunkReader(_prefetched(_binary_chunks(plan, result, parts, chosen.after)))
        try:
            cur.copy_expert(copy.as_string(conn), reader, size=1 << 20)
        except psycopg2.Error as exc:
            if reader.error is not None:  # psycopg2's error only says that reading failed: give the reason
                raise reader.error from None
            if isinstance(exc, psycopg2.DataError | psycopg2.errors.ProgramLimitExceeded):
                first = str(exc).strip().splitlines()[0]
                raise SourceError(f"{path}: PostgreSQL cannot store a value of this file ({first})") from None
            raise
        if result.failed:
            if len(result.failed) == len(plan.parts) + len(plan.failed):
                raise SourceError(f"{path}: none of its part files can be loaded (first: {result.failed[0][1]})")
            result.kept_rows = part_failures.keep_rows(cur, spec.name, result)
            for _, reason in result.failed:  # the run's Transform fails on them, in one line (part_failures)
                log.info("part file not loaded: %s", reason)
        if chosen.mode == delta_load.DELTA:  # every part raw holds is still there: nothing gone, nothing to keep
            gone_parts.unforget(cur, spec.name, {r.part.name for r in parts})
        elif plan.folder:
            present = {r.part.name for r in plan.parts} | {part.name for part, _ in plan.failed}
            folder = str(path.relative_to(data_dir or path.parent))
            result.gone = gone_parts.keep(cur, spec.name, folder, present, batch_id)
        else:
            gone_parts.clear(cur, spec.name)
        cur.execute(warehouse.row_number_index(STAGE, spec.name))  # raw's once the heal publishes it
        cur.execute(
            sql.SQL("ALTER TABLE {} ALTER _source_file DROP DEFAULT, ALTER _batch_id DROP DEFAULT").format(staging)
        )
        cur.execute(
            sql.SQL("COMMENT ON COLUMN {}._escaped IS {}").format(
                staging, sql.Literal(f"{ESCAPED_NOTE}{result.escaped_values}")
            )
        )
        part_failures.record(cur, spec.name, result.failed, batch_id)
        delta_load.describe(cur, spec.name, chosen, result.part_rows, known, inputs)
    if plan.extras:
        log.warning("%s: kept extra column(s) not in the %s spec: %s", path, spec.name, ", ".join(plan.extras))
    return result
