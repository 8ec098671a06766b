"""Any warehouse table a page at a time, filtered and sorted, and a filtered selection exported to CSV or Parquet.

Table and column names are checked against the catalog and passed as identifiers; values are always parameters.
Pages are keyset queries (WHERE (sort, key) > (last row's) ORDER BY sort, key LIMIT n) on a unique key, so the
millionth page costs what the first does; exports stream through COPY, never through Python rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from .errors import PipelineError, first_line

SCHEMAS = ("raw", "incoming", "clean", "analytics", "quality", "ops")
OPERATORS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "ILIKE"}
FILTER = re.compile(r"^\s*(?P<column>[^=!<>~]+?)\s*(?P<op>>=|<=|!=|=|<|>|~)\s*(?P<value>.*)$", re.DOTALL)
NULL_FILTER = re.compile(r"^\s*(?P<column>\S+)\s+is\s+(?P<not>not\s+)?null\s*$", re.IGNORECASE)
PAGE_ROWS = 200


class ExploreError(PipelineError):
    """A table, column or filter the warehouse does not have; the message names it."""


@dataclasses.dataclass(frozen=True)
class Filter:
    column: str
    op: str  # a key of OPERATORS, or "null" / "not null"
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Filter:
        """'column=value', 'column>=value', 'column~part of a value', 'column is null', 'column is not null'."""
        found = NULL_FILTER.match(text)
        if found:
            return cls(found["column"], "not null" if found["not"] else "null")
        found = FILTER.match(text)
        if not found:
            raise ExploreError(
                f"filter {text!r}: expected COLUMN OP VALUE with OP one of {' '.join(OPERATORS)}, "
                "or COLUMN is [not] null"
            )
        return cls(found["column"], found["op"], found["value"])

    def condition(self, cast: str) -> tuple[sql.Composable, list[Any]]:
        column = sql.Identifier(self.column)
        if self.op in ("null", "not null"):
            return sql.SQL("{} IS {}").format(column, sql.SQL(self.op.upper())), []
        if self.op == "~":  # contains, whatever the case, on the text form
            pattern = "%" + (self.value or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            return sql.SQL("{}::text ILIKE %s").format(column), [pattern]
        return sql.SQL("{} {} %s::{}").format(column, sql.SQL(OPERATORS[self.op]), sql.SQL(cast)), [self.value]


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which rows of which table, in which order."""

    schema: str
    table: str
    filters: tuple[Filter, ...] = ()
    sort: str | None = None
    descending: bool = False

    @classmethod
    def parse(cls, name: str, filters: tuple[str, ...] | list[str] = (), sort: str | None = None) -> Selection:
        schema, _, table = name.rpartition(".")
        descending = bool(sort and sort.startswith("-"))
        return cls(
            schema or "clean",
            table,
            tuple(Filter.parse(f) for f in filters),
            sort.lstrip("-") if sort else None,
            descending,
        )

    @property
    def relation(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.table)


@dataclasses.dataclass(frozen=True)
class Table:
    """A table's columns (name -> SQL type) and the unique key its pages are ordered by (empty: none)."""

    columns: dict[str, str]
    key: tuple[str, ...]


def describe(cur, selection: Selection) -> Table:
    """The table's columns and unique key, from the catalog; an unknown schema, table or column is an ExploreError."""
    if selection.schema not in SCHEMAS:
        raise ExploreError(f"schema {selection.schema!r}: the explorer reads {', '.join(SCHEMAS)}")
    cur.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                   WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        (sql.Identifier(selection.schema, selection.table).as_string(cur),),
    )
    columns = dict(cur.fetchall())
    if not columns:
        raise ExploreError(f"table {selection.schema}.{selection.table} does not exist in the warehouse")
    for column in [f.column for f in selection.filters] + ([selection.sort] if selection.sort else []):
        if column not in columns:
            raise ExploreError(
                f"column {column!r} is not in {selection.schema}.{selection.table} "
                f"(it has {', '.join(list(columns)[:12])}{', ...' if len(columns) > 12 else ''})"
            )
    # The smallest unique index without nullable columns: tables their key; materialized views one each, on group
    # keys (PostgreSQL does not mark a materialized view's columns NOT NULL, so those are taken as they are).
    cur.execute(
        """SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i
                   CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indpred IS NULL
                   GROUP BY i.indexrelid
                   HAVING bool_and(a.attnotnull)
                       OR (SELECT relkind = 'm' FROM pg_class WHERE oid = i.indrelid)
                   ORDER BY count(*) LIMIT 1""",
        (sql.Identifier(selection.schema, selection.table).as_string(cur),),
    )
    row = cur.fetchone()
    if row:
        return Table(columns, tuple(row[0]))
    # A table without a unique key (raw.*, the quarantine) is paged by its rows' physical position: a TID range
    # scan reads just the page asked for, with no index and no sort (the order is the table's own, stable until
    # a run replaces it, which the app hears of).
    cur.execute(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
        (sql.Identifier(selection.schema, selection.table).as_string(cur),),
    )
    key = ("ctid",) if cur.fetchone()[0] in ("r", "p", "m") else ()
    return Table(columns, key)


def _where(selection: Selection, table: Table) -> tuple[sql.Composable, list[Any]]:
    parts, params = [], []
    for f in selection.filters:
        condition, values = f.condition(table.columns[f.column])
        parts.append(condition)
        params += values
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")), params


@dataclasses.dataclass(frozen=True)
class Page:
    """One page: the column names, its rows, and where the next page starts (`after` for a keyset, else offset)."""

    columns: list[str]
    rows: list[tuple]
    after: tuple | None
    offset: int


def page(
    cur,
    selection: Selection,
    after: tuple | None = None,
    rows: int = PAGE_ROWS,
    offset: int = 0,
    table: Table | None = None,
) -> Page:
    """Up to `rows` rows after the page that ended at `after` (its Page.after; None: the first page).

    Ordered by the sort column (nulls last) then the unique key, so that a page starts exactly where the one
    before ended. A table with no unique key (a plain view) is paged by OFFSET instead (Page.offset).
    """
    table = describe(cur, selection)
    if table.key == ("ctid",) and not selection.sort and not selection.descending:
        return _physical_page(cur, selection, table, after, rows)
    where, params = _where(selection, table)
    key = [k for k in table.key if k != selection.sort]
    direction = sql.SQL("DESC" if selection.descending else "ASC")
    order = [sql.SQL("{} {} NULLS LAST").format(sql.Identifier(selection.sort), direction)] if selection.sort else []
    order += [sql.SQL("{} {}").format(sql.Identifier(k), direction) for k in key]
    if not table.key:  # OFFSET paging: every column in the order, so that ties never swap between pages
        order += [
            sql.SQL("{} {} NULLS LAST").format(sql.Identifier(c), direction)
            for c in table.columns
            if c != selection.sort and table.columns[c] not in ("json", "xml", "point")
        ]
    if after is not None and table.key:
        condition, values = _after(selection, key, after)
        where, params = sql.SQL("{} AND {}").format(where, condition), params + values
        offset = 0
    names = list(table.columns)
    tail = ([selection.sort] if selection.sort else []) + key  # the order values, for the next page's start
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %s OFFSET %s").format(
        sql.SQL(", ").join(map(sql.Identifier, names + tail)),
        selection.relation,
        where,
        sql.SQL(", ").join(order) if order else sql.SQL("1"),
    )
    _execute(cur, selection, query, [*params, rows, 0 if table.key else offset])
    found = cur.fetchall()
    width = len(names)
    return Page(
        names,
        [r[:width] for r in found],
        tuple(found[-1][width:]) if found and table.key else None,
        offset + len(found),
    )


def _physical_page(cur, selection: Selection, table: Table, after: tuple | None, rows: int) -> Page:
    """A page in the table's physical order, read by TID range scans over growing runs of blocks.

    ORDER BY ctid over the whole rest of the table would read and sort it all for every page (0.4 s on a million
    rows); a bounded TID range reads only the blocks asked for, and a sparse filter just asks for more of them.
    """
    where, params = _where(selection, table)
    cur.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
        (selection.relation.as_string(cur),),
    )
    blocks = cur.fetchone()[0]
    start = after[0] if after else "(0,0)"
    block = int(start.strip("()").split(",")[0])
    names = list(table.columns)
    query = sql.SQL(
        "SELECT {}, ctid FROM {} WHERE {} AND ctid > %s::tid AND ctid < %s::tid ORDER BY ctid LIMIT %s"
    ).format(sql.SQL(", ").join(map(sql.Identifier, names)), selection.relation, where)
    found: list[tuple] = []
    step = 32
    while len(found) < rows and block <= blocks:
        block += step
        _execute(cur, selection, query, [*params, start, f"({block},0)", rows - len(found)])
        more = cur.fetchall()
        found += more
        start = more[-1][-1] if more else f"({block},0)"
        step = min(step * 2, 1 << 14)
    if not found:
        return Page(names, [], None, 0)
    return Page(names, [r[:-1] for r in found], (found[-1][-1],), 0)


def _after(selection: Selection, key: list[str], after: tuple) -> tuple[sql.Composable, list[Any]]:
    """Rows after `after` in the page order: (sort nulls last, key...), ascending or descending."""
    compare = sql.SQL("<" if selection.descending else ">")
    keys = sql.SQL(", ").join(map(sql.Identifier, key))
    marks = sql.SQL(", ").join(sql.SQL("%s::tid") if k == "ctid" else sql.Placeholder() for k in key)
    if not selection.sort:
        return sql.SQL("({}) {} ({})").format(keys, compare, marks), list(after)
    column, last, last_key = sql.Identifier(selection.sort), after[0], list(after[1:])
    if last is None:  # within the nulls, which come last
        return sql.SQL("{} IS NULL AND ({}) {} ({})").format(column, keys, compare, marks), last_key
    return (
        sql.SQL("({c} IS NOT NULL AND ({c}, {k}) {op} (%s, {m})) OR {c} IS NULL").format(
            c=column, k=keys, op=compare, m=marks
        ),
        [last, *last_key],
    )


def count(cur, selection: Selection, table: Table | None = None) -> int:
    table = table or describe(cur, selection)
    where, params = _where(selection, table)
    _execute(cur, selection, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(selection.relation, where), params)
    return cur.fetchone()[0]


def _execute(cur, selection: Selection, query: sql.Composable, params: list[Any]) -> None:
    """Run a query of the selection; a filter value the column's type cannot take is an ExploreError."""
    try:
        cur.execute(query, params)
    except (psycopg2.errors.DataError, psycopg2.errors.InvalidTextRepresentation) as exc:
        cur.connection.rollback()
        raise ExploreError(
            f"{selection.schema}.{selection.table}: a filter value does not fit its column ({first_line(exc)})"
        ) from None


class _Counting:
    """A binary file that counts the lines written through it (COPY writes whole rows), for a progress bar."""

    def __init__(self, file: IO[bytes], progress: Callable[[int], None] | None):
        self.file, self.progress, self.lines = file, progress, 0

    def write(self, data: bytes) -> int:
        self.lines += data.count(b"\n")
        if self.progress:
            self.progress(self.lines)
        return self.file.write(data)


def export(
    cur,
    selection: Selection,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    table: Table | None = None,
) -> int:
    """Write the selected rows to out (.csv, or .parquet with the columns' types); rows written.

    CSV comes straight from COPY; Parquet is read from the same CSV stream by Arrow in batches with the
    catalog's types, so a million rows never become Python objects. The file appears whole or not at all.
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ExploreError(f"{out}: the export writes .csv or .parquet files")
    table = table or describe(cur, selection)
    total = count(cur, selection, table)
    where, params = _where(selection, table)
    direction = sql.SQL("DESC" if selection.descending else "ASC")
    order = ([selection.sort] if selection.sort else []) + [k for k in table.key if k != selection.sort]
    query = sql.SQL("SELECT * FROM {} WHERE {}{}").format(
        selection.relation,
        where,
        sql.SQL(" ORDER BY ")
        + sql.SQL(", ").join(sql.SQL("{} {} NULLS LAST").format(sql.Identifier(c), direction) for c in order)
        if order
        else sql.SQL(""),
    )
    copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        sql.SQL(cur.mogrify(query, params).decode())
    )
    tick = (lambda lines: progress(max(lines - 1, 0), total)) if progress else None
    tmp = out.with_name(f".{out.name}.part")
    try:
        if out.suffix.lower() == ".csv":
            with open(tmp, "wb") as file:
                cur.copy_expert(copy, _Counting(file, tick))
        else:
            _parquet(cur, copy, table, tmp, tick)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    if progress:
        progress(total, total)
    return total


def _parquet(cur, copy: sql.Composable, table: Table, path: Path, tick) -> None:
    import os
    import threading

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    arrow = {
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "smallint": pa.int16(),
        "double precision": pa.float64(),
        "real": pa.float32(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "text": pa.string(),
        "timestamp without time zone": pa.timestamp("us"),
        "timestamp with time zone": pa.timestamp("us", "UTC"),
    }
    types = {
        c: arrow.get(t, pa.float64() if t.startswith("numeric") else pa.string()) for c, t in table.columns.items()
    }
    read, write = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        with open(write, "wb") as sink:
            try:
                cur.copy_expert(copy, _Counting(sink, tick))
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which raises it
                failure.append(exc)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    with open(read, "rb") as source:
        reader = pacsv.open_csv(
            source,
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=False, true_values=["t"], false_values=["f"]
            ),
            read_options=pacsv.ReadOptions(block_size=8 << 20),
        )
        with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
    producer.join()
    if failure:
        raise failure[0]
