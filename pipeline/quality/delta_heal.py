"""An incremental heal: only the rows of a delta its load staged, and the rows held for a parent that may have
arrived, are checked, against what clean holds; chosen only where it gives what a full heal of the whole table
would (heal.py heals the whole table otherwise), and checked to: a new row that a survivor rule puts before a row
clean holds sends the table to a full heal."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace

from psycopg2 import sql
from psycopg2.extras import Json

from .. import config, delta_load
from ..tables import TableSpec
from ..warehouse import STAGE, qualified
from .catalog import heal_parents
from .late_parents import may_have_arrived
from .rules import Rule
from .work import SCRATCH, RuleOutcome, Work, analyze_sampled, nested_loops, scalar

INCREMENTAL, FULL = "incremental", "full"


@dataclass
class Basis:
    """What a table's latest heal was made from (ops.incremental_basis), and the whole table's figures it gave."""

    generation: str
    parents: dict[str, str]
    inputs: str
    raw_rows: int
    figures: dict = field(default_factory=dict)
    parent_rows: dict | None = None  # each parent's raw rows when that heal began (parent_marks)


@dataclass
class Totals:
    """The whole table's figures after an incremental heal, as a full heal would give them."""

    raw_rows: int
    quarantined: int
    flawed: int
    fixed_rows: int
    superseded: int
    outcomes: list[RuleOutcome]
    delta_rows: int  # new rows checked
    rechecked: int  # rows held for a parent, checked again


def work_of(spec: TableSpec) -> Work:
    """The scratch tables of an incremental heal, which reads the rows gather() puts together."""
    return replace(Work.of(spec, SCRATCH), source_name=f"heal_{spec.name}_delta")


def scratch_tables(spec: TableSpec) -> list[sql.Composable]:
    """The incremental heal's own scratch tables (beside Work's): its rows, the clean rows compared, new flags."""
    return [work_of(spec).source, again_table(spec), context_table(spec), reflag_table(spec)]


def again_table(spec: TableSpec) -> sql.Composable:
    """The source rows of the quarantined rows checked again (held for a parent that may have arrived)."""
    return qualified(SCRATCH, f"heal_{spec.name}_again")


def context_table(spec: TableSpec) -> sql.Composable:
    return qualified(SCRATCH, f"heal_{spec.name}_context")


def read(cur, table: str) -> Basis | None:
    cur.execute(
        "SELECT generation, parents, inputs, raw_rows, figures, parent_rows FROM ops.incremental_basis "
        "WHERE table_name = %s",
        (table,),
    )
    row = cur.fetchone()
    return Basis(*row) if row else None


def parent_marks(cur, spec: TableSpec) -> dict[str, int]:
    """Each parent's raw rows as its latest heal left them, read when a heal begins: the rows numbered after these
    are the ones the next incremental heal looks at for the parents of its held rows."""
    cur.execute(
        "SELECT table_name, raw_rows FROM ops.incremental_basis WHERE table_name = ANY(%s)", (heal_parents(spec.name),)
    )
    return dict(cur.fetchall())


def generations(cur, tables: list[str]) -> dict[str, str]:
    cur.execute("SELECT table_name, generation FROM ops.incremental_basis WHERE table_name = ANY(%s)", (tables,))
    return dict(cur.fetchall())


def decide(cur, spec: TableSpec, inputs: str, rules: list[Rule], stage: bool) -> tuple[Basis | None, str]:
    """The basis to build on when an incremental heal gives what a full one would; else None, and why not."""
    if not config.incremental():
        return None, "incremental heals are off ([sources] incremental)"
    basis = read(cur, spec.name)
    if basis is None:
        return None, "no earlier heal to build on"
    if basis.inputs != inputs:
        return None, "the rules, contract, thresholds or resolutions changed"
    whole = next((r.id for r in rules if r.phase == "survivors" and r.context is None), None)
    if whole:
        return None, f"rule {whole} compares every row of the table"
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM quality.resolutions WHERE table_name = %s AND revoked_at IS NULL)", (spec.name,)
    )
    if cur.fetchone()[0]:
        return None, "resolutions are checked again against every row"
    parents = generations(cur, heal_parents(spec.name))
    changed = sorted(p for p in set(parents) | set(basis.parents) if parents.get(p) != basis.parents.get(p))
    if changed:
        return None, f"{changed[0]} was healed in full"
    if stage:
        note = delta_load.staged_note(cur, spec.name)
        if note is None or note["mode"] != delta_load.DELTA:
            return None, "the load staged every part file"
        if note["after"] != basis.raw_rows:
            return None, "the staged rows do not follow raw's"
        return basis, f"{len(note['parts'])} new part file(s)"
    return basis, "rows held for a parent checked again"


def gather(cur, spec: TableSpec, work: Work, stage: bool, basis: Basis) -> str | None:
    """The rows to check: the staged delta's, and raw's rows that the quarantine holds for a parent that may have
    arrived (their source rows in again_table); or why a full heal must take them (the record of the rows waiting
    for a parent does not match the quarantine)."""
    again = again_table(spec)
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(scratch_tables(spec))))
    # The parents' rows numbered after their marks through the BRIN index, never a scan: raw has no statistics,
    # and the planner's guess of a third of the table scanned raw.policies and raw.claims whole (22 ms each).
    cur.execute("SET LOCAL enable_seqscan = off")
    cur.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS SELECT DISTINCT source_row FROM ({}) a"
        ).format(again, may_have_arrived(spec, basis.parent_rows))
    )
    cur.execute("SET LOCAL enable_seqscan = on")
    cur.execute(sql.SQL("ANALYZE {}").format(again))
    with nested_loops(cur):
        missing = scalar(
            cur,
            sql.SQL(
                "SELECT count(*) FROM {} a WHERE NOT EXISTS "
                "(SELECT 1 FROM {} q WHERE q.table_name = {} AND q.source_row = a.source_row)"
            ).format(again, qualified("quality", f"quarantine_{spec.name}"), sql.Literal(spec.name)),
        )
    if missing:
        return f"{missing:,} row(s) recorded as waiting for a parent are not in the quarantine"
    held = sql.SQL("SELECT r.* FROM {} r WHERE r._source_row IN (SELECT source_row FROM {})").format(
        qualified("raw", spec.name), again
    )
    rows = sql.SQL("SELECT * FROM {} UNION ALL {}").format(qualified(STAGE, spec.name), held) if stage else held
    cur.execute(sql.SQL("CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS {}").format(work.source, rows))
    # A sample of 3,000 rows, as for the quarantine: the default 30,000 read every row of a 12,000-row delivery of
    # payments for its histograms (63-69 ms against 15-22 ms, measured), on the chain of heals.
    analyze_sampled(cur, 10, work.source)
    return None


# Functions that give a value for any value (never null): a tie made of them over NOT NULL columns is never null.
VALUE_FOR_VALUE = ("lower", "upper", "btrim", "ltrim", "rtrim", "translate", "replace")


def _never_null(spec: TableSpec, context: str) -> bool:
    """Whether a survivor rule's tie (`h.a, lower(h."b")`) is NOT NULL columns of clean, as they are or through
    VALUE_FOR_VALUE functions (with text constants), and nothing else."""
    required = {c.name for c in spec.columns if not c.nullable} | set(spec.primary_key)
    columns = [m.group(2) for m in re.finditer(r'\bh\.("?)(\w+)\1', context)]
    rest = re.sub(r'\bh\.("?)(\w+)\1', "", context)
    rest = re.sub(r"'[^']*'", "", rest)
    rest = re.sub(r"\b(" + "|".join(VALUE_FOR_VALUE) + r")\s*\(", "", rest)
    return bool(columns) and set(columns) <= required and not re.sub(r"[\s,()]", "", rest)


def add_context(cur, spec: TableSpec, work: Work, rules: list[Rule]) -> None:
    """Before the survivor rules: the clean rows they compare the new rows with (same key, same customer and type),
    kept whole in the context table and added to the rows being checked."""
    clean = qualified("clean", spec.name)
    cols = sql.SQL(", ").join(map(sql.Identifier, [*spec.column_names, "_source_row", "_flags"]))
    tests = []
    for context in (r.context for r in rules if r.phase == "survivors" and r.context):
        # Columns never null (a key, a NOT NULL column of clean) are compared as they are, with the key's index;
        # other ties as text, where null is alike to null as in the rules' GROUP BY and PARTITION BY. Formatting
        # every clean row as text cost 3.7 s of an increment at scale 10 (policies by customer and type).
        shown, listed = (f"({context})", context) if _never_null(spec, context) else (f"ROW({context})::text",) * 2
        tests.append(
            sql.SQL("SELECT h.* FROM {} h WHERE {} IN (SELECT {} FROM {} h)").format(
                clean, sql.SQL(shown), sql.SQL(listed), work.rows
            )
        )
    # One select per tie, not one scan testing them all: a key's ties are looked up in its index. The rows whole,
    # not their row numbers: finding them again in clean by row number read the whole table (policies at scale 1.0:
    # 67 ms of an increment's heal, and as much again in settle_context).
    tied = (
        sql.SQL("SELECT DISTINCT ON (_source_row) {} FROM ({}) t").format(cols, sql.SQL(" UNION ALL ").join(tests))
        if tests
        else sql.SQL("SELECT {} FROM {} WHERE false").format(cols, clean)
    )
    with nested_loops(cur):
        cur.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS {}").format(
                context_table(spec), tied
            )
        )
    cur.execute(
        sql.SQL("INSERT INTO {rows} ({cols}) SELECT {cols} FROM {context}").format(
            rows=work.rows, cols=cols, context=context_table(spec)
        )
    )


def reflag_table(spec: TableSpec) -> sql.Composable:
    return qualified(SCRATCH, f"heal_{spec.name}_reflag")


@dataclass
class Settled:
    """What the clean rows compared with the new ones got: flags only (else a full heal decides, `why`)."""

    why: str | None = None
    already: dict[str, int] = field(default_factory=dict)  # flags clean rows had already, found again: per rule
    flawed: int = 0  # clean rows flawed now that were not (a new flag), less the clean rows found again


def settle_context(cur, spec: TableSpec, work: Work) -> Settled:
    """The clean rows compared with the new ones leave the rows being healed. A quarantine or correction found on
    one (a new row comes first) is a full heal's to decide; a flag (an Active policy overlapping one that arrived
    later but starts first) is added to the clean row by append(), as a full heal would have it."""
    context, reflag = context_table(spec), reflag_table(spec)
    cur.execute(
        sql.SQL(
            "SELECT min(rule_id), count(*) FROM {} WHERE source_row IN (SELECT _source_row FROM {}) "
            "AND action <> 'flag'"
        ).format(work.found, context)
    )
    rule, count = cur.fetchone()
    if count:
        return Settled(f"{count:,} row(s) of clean would change ({rule}): new rows come before them")
    cur.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE {reflag} WITH (autovacuum_enabled = false) AS "
            "SELECT f.source_row, f.rule_id, f.rule_id = ANY(coalesce(c._flags, '{{}}')) AS already, "
            "coalesce(cardinality(c._flags), 0) > 0 OR EXISTS (SELECT 1 FROM {log} l WHERE l.source_row = f.source_row "
            "AND l.rule_id <> {arrived}) AS was_flawed "
            "FROM {found} f JOIN {context} c ON c._source_row = f.source_row"
        ).format(
            reflag=reflag,
            log=qualified("quality", f"heal_log_{spec.name}"),
            arrived=sql.Literal(f"{spec.name}.parent_arrived"),
            found=work.found,
            context=context,
        )
    )
    cur.execute(sql.SQL("SELECT rule_id, count(*) FROM {} WHERE already GROUP BY 1").format(reflag))
    already = dict(cur.fetchall())
    cur.execute(
        sql.SQL(
            "SELECT count(DISTINCT source_row) FILTER (WHERE NOT was_flawed) - count(DISTINCT source_row) FROM {}"
        ).format(reflag)
    )
    flawed = cur.fetchone()[0]
    cur.execute(sql.SQL("DELETE FROM {} WHERE already").format(reflag))
    cur.execute(sql.SQL("DELETE FROM {} WHERE _source_row IN (SELECT _source_row FROM {})").format(work.rows, context))
    return Settled(None, already, flawed)


def totals(cur, spec: TableSpec, work: Work, basis: Basis, found, settled: Settled) -> Totals:
    """The whole table's figures: the basis's, less what the rows checked again had, plus what this heal found."""
    quarantine = qualified("quality", f"quarantine_{spec.name}")
    actions = {o.rule_id: o.action for o in found.outcomes}
    fix_ids = [r for r, a in actions.items() if a == "fix"]
    with nested_loops(cur):
        cur.execute(
            sql.SQL(
                "SELECT x.rule_id, count(*) FROM {q} q CROSS JOIN LATERAL unnest(q.rule_ids) AS x(rule_id) "
                "WHERE q.table_name = {table} AND q.source_row IN (SELECT source_row FROM {again}) GROUP BY 1"
            ).format(q=quarantine, again=again_table(spec), table=sql.Literal(spec.name))
        )
        before = dict(cur.fetchall())
        cur.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE rule_ids && {fix}) FROM {q} "
                "WHERE table_name = {table} AND source_row IN (SELECT source_row FROM {again})"
            ).format(q=quarantine, again=again_table(spec), fix=sql.Literal(fix_ids), table=sql.Literal(spec.name))
        )
        rechecked, rechecked_fixed = cur.fetchone()
    figures = basis.figures
    outcomes = []
    for o in found.outcomes:
        n, fixed, quarantined, flagged = figures["rules"].get(o.rule_id, [0, 0, 0, 0])
        gone = before.get(o.rule_id, 0)
        column = {"fix": 1, "quarantine": 2, "flag": 3}.get(o.action)
        counts = [n - gone, fixed, quarantined, flagged]
        if column:
            counts[column] -= gone
        again = settled.already.get(o.rule_id, 0)  # flags clean rows had, found again by comparing with new rows
        counts[0] -= again
        counts[3] -= again
        outcomes.append(
            RuleOutcome(
                o.rule_id,
                o.description,
                o.severity,
                o.action,
                counts[0] + o.violations,
                counts[1] + o.fixed,
                counts[2] + o.quarantined,
                counts[3] + o.flagged,
                o.warn_if,
                o.error_if,
            )
        )
    staged_rows = found.raw_rows - rechecked
    return Totals(
        basis.raw_rows + staged_rows,
        figures["quarantined"] - rechecked + found.quarantined,
        figures["flawed"] - rechecked + found.flawed + settled.flawed,
        figures["fixed_rows"] - rechecked_fixed + found.fixed_rows,
        figures["superseded"] + found.superseded,
        outcomes,
        staged_rows,
        rechecked,
    )


def figures_of(outcomes: list[RuleOutcome], quarantined: int, flawed: int, fixed_rows: int, superseded: int) -> dict:
    return {
        "rules": {o.rule_id: [o.violations, o.fixed, o.quarantined, o.flagged] for o in outcomes},
        "quarantined": quarantined,
        "flawed": flawed,
        "fixed_rows": fixed_rows,
        "superseded": superseded,
    }


def record_basis(
    cur,
    spec: TableSpec,
    run_id: str,
    inputs: str,
    raw_rows: int,
    figures: dict,
    marks: dict[str, int],
    generation: str | None = None,
) -> None:
    """After a heal: what it was made from (`marks`: parent_marks when it began). A full heal (no generation given)
    starts a new generation, so the tables that read its clean rows heal in full too."""
    parents = generations(cur, heal_parents(spec.name))
    cur.execute(
        """INSERT INTO ops.incremental_basis
               (table_name, generation, parents, inputs, raw_rows, figures, run_id, parent_rows)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (table_name) DO UPDATE SET generation = excluded.generation, parents = excluded.parents,
               inputs = excluded.inputs, raw_rows = excluded.raw_rows,
               figures = excluded.figures, run_id = excluded.run_id, parent_rows = excluded.parent_rows""",
        (
            spec.name,
            generation or uuid.uuid4().hex,
            Json(parents),
            inputs,
            raw_rows,
            Json(figures),
            run_id,
            Json(marks),
        ),
    )
