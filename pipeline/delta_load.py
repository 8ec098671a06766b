"""Which part files of a folder source a load stages: only the new ones (a delta appended to raw.<table> by the
heal) when raw holds every other part as it is now, else all of them, in the order they first arrived."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg2 import sql

from . import config
from .load_plan import LoadPlan
from .warehouse import STAGE, qualified

DELTA = "delta"
FULL = "full"
WIDENED = "widened"  # a delta that its heal made the whole table (delta_heal.widen): its parts are still new


@dataclass(frozen=True)
class Known:
    """A part file whose rows raw.<table> holds (ops.source_parts)."""

    digest: str
    rows: int
    arrived: int
    inputs: str


@dataclass
class Staging:
    """What a load stages: every part (FULL) or the new ones after raw's last row (DELTA), and why."""

    mode: str
    reason: str
    after: int = 0  # the rows of a delta are numbered from after + 1
    digests: dict[str, str] = field(default_factory=dict)  # of every readable part file of the folder


def known_parts(cur, table: str) -> dict[str, Known]:
    cur.execute("SELECT part, digest, rows, arrived, inputs FROM ops.source_parts WHERE table_name = %s", (table,))
    return {part: Known(*rest) for part, *rest in cur.fetchall()}


def in_arrival_order(plan: LoadPlan, known: dict[str, Known]) -> None:
    """The parts raw holds first, in the order they arrived, then the new ones in name order: a full reload numbers
    the rows as the loads before it did, so duplicates keep the version that came first."""
    position = {name: k.arrived for name, k in known.items()}
    new = len(position) + 1
    plan.parts.sort(key=lambda r: (position.get(r.part.name, new), 0))


def choose(cur, table: str, plan: LoadPlan, inputs: str, digest: Callable) -> tuple[Staging, dict[str, Known]]:
    """FULL or DELTA for this load, with the parts raw holds (plan.parts in arrival order)."""
    known = known_parts(cur, table) if plan.folder else {}
    digests = {r.part.name: digest(r.part.path) for r in plan.parts} if plan.folder else {}
    staging = _decide(cur, table, plan, inputs, digests, known)
    staging.digests = digests
    in_arrival_order(plan, known)
    return staging, known


def full(staging: Staging, reason: str) -> None:
    """A delta that cannot be one after all: the load stages every part."""
    staging.mode, staging.reason, staging.after = FULL, reason, 0


def _decide(cur, table: str, plan: LoadPlan, inputs: str, digests: dict[str, str], known: dict[str, Known]) -> Staging:
    if not plan.folder:
        return Staging(FULL, "one source file")
    if not config.incremental():
        return Staging(FULL, "incremental loads are off ([sources] incremental)")
    if not known:
        return Staging(FULL, "first load of the folder")
    if plan.failed:
        return Staging(FULL, "a part file cannot be read")
    if any(k.inputs != inputs for k in known.values()):
        return Staging(FULL, "loaded before with another spec or loading code")
    changed = [name for name, k in known.items() if digests.get(name) != k.digest]
    if changed:
        return Staging(FULL, f"part file {changed[0]} changed or is gone")
    if len(digests) == len(known):
        return Staging(FULL, "no new part file")
    cur.execute("SELECT raw_rows FROM ops.incremental_basis WHERE table_name = %s", (table,))
    basis = cur.fetchone()
    held = sum(k.rows for k in known.values())
    if basis is None or basis[0] != held:
        return Staging(FULL, "raw holds other rows than its part files")
    # Off the heals' path (loads run beside them): raw's rows numbered 1 to `held`, so new ones follow them.
    cur.execute(sql.SQL("SELECT count(*), coalesce(max(_source_row), 0) FROM {}").format(qualified("raw", table)))
    if cur.fetchone() != (held, held):
        return Staging(FULL, "raw holds other rows than its part files")
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'{STAGE}."{table}"',))
    if cur.fetchone()[0]:
        return Staging(FULL, "a delivery is staged and not yet published")
    return Staging(DELTA, f"{len(digests) - len(known)} new part file(s)", after=held)


def same_columns(cur, table: str) -> bool:
    """Whether the staged delta's columns and types are raw.<table>'s (else the load stages everything)."""
    query = (
        "SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
    )
    cur.execute(query, (f'{STAGE}."{table}"',))
    staged = cur.fetchone()[0]
    cur.execute(query, (f'raw."{table}"',))
    return staged == cur.fetchone()[0]


def describe(
    cur, table: str, staging: Staging, part_rows: dict[str, int], known: dict[str, Known], inputs: str
) -> None:
    """The staged delivery's comment: its mode and parts (name, digest, rows, arrival), which its heal records in
    ops.source_parts when it publishes them."""
    first = max((k.arrived for k in known.values()), default=0) + 1 if staging.mode == DELTA else 1
    named = [(name, rows) for name, rows in part_rows.items() if name in staging.digests]  # a folder's parts
    parts = [[name, staging.digests[name], rows, first + i] for i, (name, rows) in enumerate(named)]
    note = {"mode": staging.mode, "reason": staging.reason, "after": staging.after, "inputs": inputs, "parts": parts}
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(qualified(STAGE, table), sql.Literal(json.dumps(note))))


def staged_note(cur, table: str, schema: str = STAGE) -> dict | None:
    """The comment describe() wrote on a staged delivery (None: a table loaded before it, or not a folder)."""
    cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (f'{schema}."{table}"',))
    row = cur.fetchone()
    if not row or not row[0] or not row[0].startswith("{"):
        return None
    return json.loads(row[0])


def record(cur, table: str, note: dict | None, run_id: str) -> None:
    """In the heal that publishes a delivery: the parts raw.<table> now holds (all of them after a full load)."""
    if note is None or note["mode"] == FULL:  # a widened delta keeps the parts raw held
        cur.execute("DELETE FROM ops.source_parts WHERE table_name = %s", (table,))
    if note is None:
        return
    cur.executemany(
        "INSERT INTO ops.source_parts (table_name, part, digest, rows, arrived, inputs, loaded_run) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (table_name, part) DO UPDATE SET digest = excluded.digest, "
        "rows = excluded.rows, arrived = excluded.arrived, inputs = excluded.inputs, loaded_run = excluded.loaded_run",
        [(table, name, d, rows, arrived, note["inputs"], run_id) for name, d, rows, arrived in note["parts"]],
    )
