"""What the Explorer panel asks of the warehouse (Qt-free, run in worker threads): tables, pages, counts, exports."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg2

from pipeline import explore

from . import queries

SCHEMAS = ("raw", "clean", "analytics", "quality")
# The column a date range filters, in order of preference; else a table's first date or timestamp column.
DATE_COLUMNS = ("claim_date", "transaction_date", "start_date", "month", "snapshot_date", "checked_at", "created_at")
DATE_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")
DateRange = tuple[datetime.date | None, datetime.date | None]  # inclusive; None: open on that side

TABLES_SQL = """
    SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'm', 'v') AND NOT c.relispartition
      AND NOT (n.nspname = 'quality' AND c.relname NOT IN ('quarantine', 'heal_log', 'rule_results', 'table_results'))
    ORDER BY array_position(%s, n.nspname::text), c.relname"""

_local = threading.local()
_described: dict[tuple[str, explore.Selection], explore.Table] = {}
_described_lock = threading.Lock()


class Cancelled(Exception):  # noqa: N818 - the user's choice, not an error
    """The user cancelled the export."""


def _session():
    """This thread's autocommit, read-only session (opened again when the warehouse changed or dropped it)."""
    target = queries.url()
    conn = getattr(_local, "conn", None)
    if conn is not None and (conn.closed or _local.url != target):
        conn.close()
        conn = None
    if conn is None:
        conn = queries.connect()
        _local.conn, _local.url = conn, target
    return conn


def _with_cursor(work: Callable):
    for attempt in (1, 2):
        conn = _session()
        try:
            with conn.cursor() as cur:
                return work(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def first_value(statement: str, params: tuple = ()):
    """The first column of the first row of a statement, on this thread's session."""

    def work(cur):
        cur.execute(statement, params)
        return cur.fetchone()[0]

    return _with_cursor(work)


def forget() -> None:
    """The warehouse changed (a run replaced tables, another warehouse was chosen): describe every table again."""
    with _described_lock:
        _described.clear()


def describe(cur, selection: explore.Selection) -> explore.Table:
    """explore.describe, kept per warehouse and selection: paging needs it once, not twice a page."""
    key = (queries.url(), selection)
    with _described_lock:
        found = _described.get(key)
    if found is None:
        found = explore.describe(cur, selection)
        with _described_lock:
            _described[key] = found
    return found


def tables() -> list[str]:
    """schema.table of everything the explorer offers, raw first."""
    names = list(SCHEMAS)

    def work(cur):
        cur.execute(TABLES_SQL, (names, names))
        return [r[0] for r in cur.fetchall()]

    return _with_cursor(work)


def date_column(table: explore.Table) -> str | None:
    dated = [c for c, kind in table.columns.items() if kind in DATE_TYPES]
    preferred = [c for c in DATE_COLUMNS if c in dated]
    return (preferred or dated or [None])[0]


def effective(cur, selection: explore.Selection, dates: DateRange | None) -> tuple[explore.Selection, str | None]:
    """The selection with the date range as filters on the table's date column (if it has one), and that column."""
    base = explore.Selection(selection.schema, selection.table)
    column = date_column(describe(cur, base))
    if column is None or dates is None or dates == (None, None):
        return selection, column
    start, end = dates
    added = []
    if start is not None:
        added.append(explore.Filter(column, ">=", start.isoformat()))
    if end is not None:  # the whole last day, for timestamps too
        added.append(explore.Filter(column, "<", (end + datetime.timedelta(days=1)).isoformat()))
    return explore.Selection(
        selection.schema, selection.table, selection.filters + tuple(added), selection.sort, selection.descending
    ), column


def load_page(selection: explore.Selection, dates: DateRange | None, after: tuple | None, offset: int) -> dict:
    """One page of the selection (in the date range), its columns' types, and where the next page starts."""

    def work(cur):
        chosen, column = effective(cur, selection, dates)
        table = describe(cur, chosen)
        found = explore.page(cur, chosen, after, explore.PAGE_ROWS, offset, table=table)
        return {"page": found, "types": table.columns, "date_column": column, "selection": chosen}

    return _with_cursor(work)


def load_count(selection: explore.Selection, dates: DateRange | None) -> int:
    def work(cur):
        chosen, _ = effective(cur, selection, dates)
        return explore.count(cur, chosen, describe(cur, chosen))

    return _with_cursor(work)


def export(
    selection: explore.Selection,
    dates: DateRange | None,
    path: str,
    progress: Callable[[int, int], None],
    cancelled: threading.Event,
) -> int:
    """Write what the selection picks to path (.csv or .parquet) on a session of its own; rows written.

    progress(rows, total) is called at most every 1% (COPY hands over one row at a time); a set `cancelled` ends
    the export at its next row with Cancelled, and no file is left behind."""
    shown = [-1]

    def tick(done: int, total: int) -> None:
        if cancelled.is_set():
            raise Cancelled("export cancelled")
        step = max(total // 100, 1)
        if done // step != shown[0] or done == total:
            shown[0] = done // step
            progress(done, total)

    conn = queries.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            chosen, _ = effective(cur, selection, dates)
            return explore.export(cur, chosen, Path(path), tick, table=describe(cur, chosen))
    finally:
        conn.close()
