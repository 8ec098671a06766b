"""Part files a load could not read: their rows already in raw.<table> kept in the new delivery, and the failures
recorded in ops.source_failures (what `status` names and what fails the run's Transform until the file is fixed)."""

from __future__ import annotations

from psycopg2 import sql

from .warehouse import STAGE, qualified

HINT = "fix, replace or remove the part file"


def keep_rows(cur, table: str, result) -> int:
    """In the staged delivery, the failed parts' rows as raw.<table> holds them from an earlier load (none when it
    holds none): the rows a damaged part sent before its damage showed go, then the published ones are copied in
    after the delivery's."""
    staging = qualified(STAGE, table)
    names = [name for name, _ in result.failed]
    if result.partial:
        cur.execute(sql.SQL("DELETE FROM {} WHERE _source_file = ANY(%s)").format(staging), (result.partial,))
    kept = copy_forward(cur, table, names)
    if kept is None:  # a column whose old values do not cast: the failure says so, nothing kept
        result.failed = [(n, f"{r} (its earlier rows could not be kept: their types differ)") for n, r in result.failed]
        return 0
    return kept


def copy_forward(cur, table: str, parts: list[str]) -> int | None:
    """The rows raw.<table> holds from these part files, copied into the staged delivery with new _source_row
    numbers after the delivery's; columns the two share, cast to the delivery's types. The rows copied (0 when raw
    does not exist), or None when an old value does not cast to the delivery's type (nothing copied)."""
    staging, raw = qualified(STAGE, table), qualified("raw", table)
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'raw."{table}"',))
    if not parts or not cur.fetchone()[0]:
        return 0
    new, old = _columns(cur, STAGE, table), _columns(cur, "raw", table)
    shared = [c for c in new if c in old and c not in ("_source_row", "_part_row")]
    part_row = sql.Identifier("_part_row" if "_part_row" in old else "_source_row")
    cur.execute(sql.SQL("SELECT coalesce(max(_source_row), 0) FROM {}").format(staging))
    after = cur.fetchone()[0]
    target = sql.SQL(", ").join(map(sql.Identifier, [*shared, "_source_row", "_part_row"]))
    values = sql.SQL(", ").join(
        sql.SQL("r.{}::{}").format(sql.Identifier(c), sql.SQL(new[c])) if new[c] != old[c] else sql.Identifier(c)
        for c in shared
    )
    cur.execute("SAVEPOINT copy_forward")
    try:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT {}, {} + row_number() OVER (ORDER BY r._source_row), r.{} "
                "FROM {} r WHERE r._source_file = ANY(%s)"
            ).format(staging, target, values, sql.Literal(after), part_row, raw),
            (parts,),
        )
    except Exception:  # noqa: BLE001 - the caller says what could not be kept
        cur.execute("ROLLBACK TO SAVEPOINT copy_forward")
        return None
    cur.execute("RELEASE SAVEPOINT copy_forward")
    return cur.rowcount


def _columns(cur, schema: str, table: str) -> dict[str, str]:
    cur.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        (f'{schema}."{table}"',),
    )
    return dict(cur.fetchall())


def record(cur, table: str, failed: list[tuple[str, str]], run_id: str) -> None:
    """The table's failed parts as of this load (the load's transaction: replaced by its next load)."""
    cur.execute("DELETE FROM ops.source_failures WHERE table_name = %s", (table,))
    cur.executemany(
        "INSERT INTO ops.source_failures (table_name, part, reason, run_id) VALUES (%s, %s, %s, %s)",
        [(table, part, reason, run_id) for part, reason in failed],
    )


def note(table: str, part: str, reason: str) -> str:
    """What status and the app say of a part file not loaded."""
    return f"{table}: part file {part} not loaded: {reason}"


def current(cur) -> list[tuple[str, str, str]]:
    """(table, part, reason) of every part file the latest load of its table could not read."""
    cur.execute("SELECT table_name, part, reason FROM ops.source_failures ORDER BY table_name, part")
    return cur.fetchall()


def failure_line(failures: list[tuple[str, str, str]]) -> str:
    """The one line a run ends with while part files are unreadable: the first one's reason, and how many."""
    table, part, reason = failures[0]
    more = f"; {len(failures) - 1} more part file(s) not loaded (python -m pipeline status)" if failures[1:] else ""
    return f"{reason}{more}; the other part files of {table} are loaded"
