"""What the quarantine browser reads and does, Qt-free: held rows by table, rule and text, survivors, resolutions."""

from __future__ import annotations

import contextlib

from . import queries

PAGE = 100


def load_page(table: str | None, rule: str | None, offset: int, search: str | None = None) -> dict:
    """One page of held rows (search: text in the key or any value, matched on the server, passed as a parameter)."""
    if "quality.quarantine" not in queries.existing("quality.quarantine"):
        return {"total": 0, "rows": [], "offset": 0}
    from pipeline.quality import resolutions

    with contextlib.closing(queries.connect()) as conn:
        total, rows = resolutions.held_rows(table, search, rule, PAGE, offset, conn=conn)
    return {"total": total, "rows": rows, "offset": offset}


def load_survivor(table: str, key: str) -> dict:
    """The row a merged duplicate points to: in clean (its values), or itself held (then found by its key)."""
    from psycopg2 import sql

    from pipeline.quality.work import key_expr
    from pipeline.tables import spec

    found = spec(table)
    with contextlib.closing(queries.connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality.quarantine WHERE table_name = %s AND record_key = %s", (table, key))
        if cur.fetchone()[0]:
            return {"where": "quarantine", "key": key, "values": {}}
        cur.execute(
            sql.SQL("SELECT to_jsonb(c) FROM {} c WHERE {} = %s").format(
                sql.Identifier("clean", table), key_expr(found, "c")
            ),
            (key,),
        )
        row = cur.fetchone()
    if row is None:
        return {"where": None, "key": key, "values": {}}
    return {"where": "clean", "key": key, "values": {c: row[0].get(c) for c in found.column_names}}


def load_resolutions(table: str | None = None) -> list[dict]:
    if "quality.resolutions" not in queries.existing("quality.resolutions"):
        return []
    from pipeline.quality import resolutions

    with contextlib.closing(queries.connect()) as conn:
        return resolutions.resolutions(table, conn=conn)


def columns(table: str) -> list[str]:
    from pipeline.tables import spec

    return spec(table).column_names


def resolve(table: str, key: str, source_row: int, why: str, corrections: dict | None = None) -> int:
    """Release (or correct and release) a held row, as `python -m pipeline quarantine release|correct` does."""
    from pipeline.quality import resolutions

    return resolutions.resolve(table, key, why, corrections or None, source_row=source_row)


def revoke(resolution_id: int) -> dict:
    from pipeline.quality import resolutions

    return resolutions.revoke(resolution_id)
