"""Corrections: where the contract names a timestamp column (`corrections: updated_at`), a repeated key's latest
version is the one clean keeps; the older versions go to history.<table>, not to the quarantine, and heal_log says
which version replaced each (`<table>.corrected`). Equal timestamps stay duplicates."""

from __future__ import annotations

from psycopg2 import sql

from ..tables import TableSpec
from ..warehouse import qualified
from .rules import Rule, duplicate_rule
from .work import Work, key_expr

ACTION = "supersede"  # a finding that takes a row out of clean without holding it in the quarantine


def corrected_id(spec: TableSpec) -> str:
    return f"{spec.name}.corrected"


def with_corrections(spec: TableSpec, rules: list[Rule], column: str | None) -> list[Rule]:
    """The table's rules, its duplicate-key rule keeping the latest version by `column` when corrections apply."""
    if column is None:
        return rules
    latest = duplicate_rule(
        spec, spec.primary_key, "duplicate_key", "duplicate_key", order=f'h."{column}" DESC NULLS LAST, h._source_row'
    )
    return [latest if r.id == latest.id else r for r in rules]


def split(cur, spec: TableSpec, work: Work, column: str) -> None:
    """After the duplicate-key rule: its findings on a row older than another live version of the same key become
    corrections, held out of clean and of the later rules (settle() takes them out of the quarantine)."""
    same_key = sql.SQL(" AND ").join(sql.SQL("s.{k} = h.{k}").format(k=sql.Identifier(k)) for k in spec.primary_key)
    col = sql.Identifier(column)
    cur.execute(
        sql.SQL("""
        UPDATE {found} f SET rule_id = {rid}, action = {action},
               message = 'replaced by the version of ' || {name} || ' ' || n.newest::text
        FROM {rows} h, LATERAL (SELECT max(s.{col}) AS newest FROM {rows} s WHERE {same_key}
                                AND NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = s._source_row)) n
        WHERE f.rule_id = {dup} AND f.action = 'quarantine' AND h._source_row = f.source_row
          AND n.newest IS NOT NULL AND (h.{col} < n.newest OR h.{col} IS NULL)""").format(
            found=work.found,
            rid=sql.Literal(corrected_id(spec)),
            action=sql.Literal(ACTION),
            name=sql.Literal(column),
            rows=work.rows,
            col=col,
            same_key=same_key,
            held=work.held,
            dup=sql.Literal(f"{spec.name}.duplicate_key"),
        )
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {held} SELECT DISTINCT source_row FROM {found} f WHERE f.action = {action} "
            "AND NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = f.source_row)"
        ).format(held=work.held, found=work.found, action=sql.Literal(ACTION))
    )


def settle(cur, work: Work) -> int:
    """Once every rule has run: the corrected rows leave the held rows (they are not quarantined); how many."""
    cur.execute(
        sql.SQL(
            "DELETE FROM {held} q USING {found} f WHERE f.source_row = q.source_row AND f.action = {action}"
        ).format(held=work.held, found=work.found, action=sql.Literal(ACTION))
    )
    return cur.rowcount


def insert_current(cur, spec: TableSpec, work: Work, superseded: int) -> None:
    """The healed rows that belong in clean.<table>: not held, and not an older version a correction replaced."""
    cols = sql.SQL(", ").join(map(sql.Identifier, [*spec.column_names, "_source_row", "_flags"]))
    cur.execute(
        sql.SQL(
            "INSERT INTO {clean} ({cols}) SELECT {cols} FROM {rows} h "
            "WHERE NOT EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = h._source_row) AND {current}"
        ).format(
            clean=qualified("clean", spec.name),
            cols=cols,
            rows=work.rows,
            held=work.held,
            current=not_superseded(work) if superseded else sql.SQL("true"),
        )
    )


def not_superseded(work: Work) -> sql.Composable:
    """A condition on rows `h`: not an older version that a correction replaced."""
    return sql.SQL("NOT EXISTS (SELECT 1 FROM {found} s WHERE s.source_row = h._source_row AND s.action = {a})").format(
        found=work.found, a=sql.Literal(ACTION)
    )


def publish(
    cur, spec: TableSpec, work: Work, run_id: str, heal_log: sql.Composable, superseded: int, keep: bool = False
) -> None:
    """history.<table>: the older versions (`superseded` of them), as clean would hold them, with the version that
    replaced them and the run; one heal_log row each. Replaced by every full heal of the table (dropped when none);
    an incremental heal adds its own (`keep`)."""
    history = qualified("history", spec.name)
    if not keep:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(history))
    if not superseded:
        return
    columns = sql.SQL(", ").join(sql.SQL("h.{}").format(sql.Identifier(c)) for c in spec.column_names)
    versions = sql.SQL(
        "SELECT {columns}, h._source_row, f.message AS _replaced, {run}::text AS _run_id FROM {rows} h "
        "JOIN {found} f ON f.source_row = h._source_row AND f.action = {a}"
    ).format(columns=columns, run=sql.Literal(run_id), rows=work.rows, found=work.found, a=sql.Literal(ACTION))
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (history.as_string(cur),))
    if cur.fetchone()[0]:
        cur.execute(sql.SQL("INSERT INTO {} {}").format(history, versions))
    else:
        cur.execute(sql.SQL("CREATE TABLE {} AS {}").format(history, versions))
    cur.execute(
        sql.SQL(
            "INSERT INTO {log} SELECT {table}, h._source_row, {key}, '*', {rid}, 'an older version', h._replaced, "
            "{run} FROM {history} h WHERE h._run_id = {run}"
        ).format(
            log=heal_log,
            table=sql.Literal(spec.name),
            key=key_expr(spec, "h"),
            rid=sql.Literal(corrected_id(spec)),
            run=sql.Literal(run_id),
            history=history,
        )
    )
