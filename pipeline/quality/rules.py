"""The catalog of row, cross-row and cross-table rules: SQL, each with an id, description, severity and action."""
from __future__ import annotations

from dataclasses import dataclass

from ..tables import TABLES, TableSpec

ACTIONS = ("fix", "quarantine", "flag")


@dataclass(frozen=True)
class Rule:
    """A SQL rule over one table's typed rows.

    `sql` selects the violating rows as (source_row, message, survivor_key) from {rows}, the table's typed
    rows being healed; {held} holds the rows already quarantined (for rules that look at survivors only).
    A fix rule also names `column` and the `fix` expression giving its new value where the rule holds.
    """
    id: str
    table: str
    description: str
    action: str
    sql: str
    severity: str = "error"
    column: str | None = None
    fix: str | None = None
    survivors_only: bool = False
    warn_if: float | None = None   # fraction of rows above which the run warns
    error_if: float | None = None  # fraction of rows above which the run fails

    def __post_init__(self):
        assert self.action in ACTIONS, self.action
        assert (self.action == "fix") == (self.fix is not None and self.column is not None), self.id


def _cols(names) -> str:
    return ", ".join(f'h."{n}"' for n in names)


def _key_text(names) -> str:
    return " || '|' || ".join(f'h."{n}"::text' for n in names)


def duplicate_key_rule(spec: TableSpec, key: tuple[str, ...], kind: str) -> Rule:
    label = ", ".join(key)
    return Rule(
        id=f"{spec.name}.{kind}",
        table=spec.name,
        description=f"another row has the same {label}; the first row in the file is kept",
        action="quarantine",
        survivors_only=True,
        sql=f"""
            SELECT source_row, 'duplicate {label} ' || key_text, key_text FROM (
                SELECT h._source_row AS source_row, {_key_text(key)} AS key_text,
                       row_number() OVER (PARTITION BY {_cols(key)} ORDER BY h._source_row) AS n
                FROM {{rows}} h
                WHERE NOT EXISTS (SELECT 1 FROM {{held}} q WHERE q.source_row = h._source_row)) d
            WHERE n > 1""",
    )


def orphan_rules(spec: TableSpec) -> list[Rule]:
    rules = []
    for fk in spec.foreign_keys:
        if fk.soft:
            continue
        match = " AND ".join(f'p."{r}" = h."{c}"' for c, r in zip(fk.columns, fk.ref_columns))
        present = " AND ".join(f'h."{c}" IS NOT NULL' for c in fk.columns)
        rules.append(Rule(
            id=f"{spec.name}.orphan_{'_'.join(fk.columns)}",
            table=spec.name,
            description=f"{', '.join(fk.columns)} refers to no row of clean.{fk.ref_table}",
            action="quarantine",
            column=fk.columns[0],
            sql=f"""
                SELECT h._source_row, 'no {fk.ref_table} row with {', '.join(fk.ref_columns)} = '
                       || {_key_text(fk.columns)}, NULL
                FROM {{rows}} h
                WHERE {present} AND NOT EXISTS (SELECT 1 FROM clean."{fk.ref_table}" p WHERE {match})""",
        ))
    return rules


def table_rules(spec: TableSpec) -> list[Rule]:
    """Every catalog rule of one table, in the order they run."""
    rules = [duplicate_key_rule(spec, spec.primary_key, "duplicate_key")]
    rules += [duplicate_key_rule(spec, key, "duplicate_" + "_".join(key)) for key in spec.unique]
    rules += orphan_rules(spec)
    return rules


CATALOG: dict[str, list[Rule]] = {name: table_rules(spec) for name, spec in TABLES.items()}
