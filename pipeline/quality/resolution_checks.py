"""What a resolution must satisfy before it is stored: the released row fits clean (types, NOT NULL, keys, parents)."""

from __future__ import annotations

import math
from typing import Any

from psycopg2 import sql

from ..errors import PipelineError
from ..tables import KINDS, TableSpec
from ..tables import spec as table_spec
from ..warehouse import qualified
from .scan import TRY_CAST


class ResolutionError(PipelineError):
    """A release or correction that clean could not hold, or that names no quarantined row."""

    hint = "python -m pipeline quarantine list --table TABLE --search KEY shows the held rows"


def as_text(value: Any) -> str | None:
    """A value of a row's json as the text a cast reads (true/false for booleans, as PostgreSQL writes them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _refuse(table: str, key: str, problem: str, hint: str) -> ResolutionError:
    return ResolutionError(f"{table} {key}: {problem}", hint)


def check_values(cur, spec: TableSpec, key: str, values: dict[str, str | None], source_row: int) -> None:
    """Refuse, in one line naming table, key, column and value, a row that clean could not hold: a value that does
    not cast to its column's type, an empty required value, a key another clean row has, a parent not in clean."""
    casts = [
        sql.SQL("{}({}) IS NULL").format(sql.SQL(TRY_CAST[c.kind]), sql.Literal(values.get(c.name)))
        for c in spec.columns
        if c.kind in TRY_CAST and values.get(c.name) is not None
    ]
    failed = []
    if casts:
        cur.execute(sql.SQL("SELECT ARRAY[{}]").format(sql.SQL(", ").join(casts)))
        failed = cur.fetchone()[0]
    typed = iter(failed)
    for c in spec.columns:
        value = values.get(c.name)
        if value is None:
            if not c.nullable:
                raise _refuse(spec.name, key, f"{c.name} is empty and must not be", _correct(spec, key, c.name))
            continue
        bad = c.kind in TRY_CAST and next(typed)
        if not bad and c.kind == "float" and not math.isfinite(float(value)):
            bad = True
        if bad:
            raise _refuse(
                spec.name,
                key,
                f"{c.name} = {value!r} is not a {KINDS[c.kind][2]}",
                "clean cannot hold it: " + _correct(spec, key, c.name),
            )
    for columns in (spec.primary_key, *spec.unique):
        _check_unique(cur, spec, key, columns, values, source_row)
    for fk in spec.foreign_keys:
        if fk.soft or any(values.get(c) is None for c in fk.columns):
            continue
        _check_parent(cur, spec, key, fk, values)


def _correct(spec: TableSpec, key: str, column: str) -> str:
    return f"correct it: python -m pipeline quarantine correct {spec.name} {key} {column}=VALUE --why TEXT"


def _equal(spec: TableSpec, columns: tuple[str, ...], values: dict[str, str | None]) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}::{}").format(sql.Identifier(c), sql.Literal(values[c]), sql.SQL(spec.column(c).pg_type))
        for c in columns
    )


def _check_unique(cur, spec: TableSpec, key: str, columns: tuple[str, ...], values: dict, source_row: int) -> None:
    """A released duplicate is kept as its own row only when its keys are its own: a repeated key is refused."""
    cur.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} AND _source_row <> {})").format(
            qualified("clean", spec.name), _equal(spec, columns, values), sql.Literal(source_row)
        )
    )
    if cur.fetchone()[0]:
        shown = ", ".join(f"{c} = {values[c]!r}" for c in columns)
        raise _refuse(
            spec.name,
            key,
            f"{shown} is already the key of a row in clean.{spec.name} (this row repeats it)",
            "a release would put two rows under one key: " + _correct(spec, key, columns[0]) + " with a new key",
        )


def _check_parent(cur, spec: TableSpec, key: str, fk, values: dict) -> None:
    """The row a foreign key names is in clean, or its own resolution is waiting for the next run."""
    parent = table_spec(fk.ref_table)
    ref = {r: values[c] for c, r in zip(fk.columns, fk.ref_columns, strict=True)}
    pending: sql.Composable = sql.SQL("false")
    if tuple(fk.ref_columns) == parent.primary_key:
        pending = sql.SQL(
            "EXISTS (SELECT 1 FROM quality.resolutions WHERE table_name = {} AND record_key = {} "
            "AND revoked_at IS NULL)"
        ).format(sql.Literal(parent.name), sql.Literal("|".join(str(ref[r]) for r in parent.primary_key)))
    cur.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {}) OR {}").format(
            qualified("clean", parent.name), _equal(parent, tuple(fk.ref_columns), ref), pending
        )
    )
    if not cur.fetchone()[0]:
        shown = ", ".join(f"{c} = {values[c]!r}" for c in fk.columns)
        raise _refuse(
            spec.name,
            key,
            f"{shown} is no row of clean.{parent.name}",
            f"correct it to one that is, or resolve that {parent.name} row first",
        )
