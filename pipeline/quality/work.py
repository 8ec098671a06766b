"""The scratch tables of one heal, what each rule found there, and the small SQL helpers over them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg2 import sql

from ..tables import TableSpec
from ..warehouse import qualified

# The work tables of one heal live here, unlogged, until the heal's last transaction drops them; autovacuum
# leaves them alone (it would only compete with the heal for the two cores).
SCRATCH = "ops"


@dataclass
class RuleOutcome:
    """What one rule found in one table, and its thresholds."""

    rule_id: str
    description: str
    severity: str
    action: str
    violations: int = 0
    fixed: int = 0
    quarantined: int = 0
    flagged: int = 0
    warn_if: float | None = None
    error_if: float | None = None


@dataclass(frozen=True)
class Work:
    """The scratch tables of one heal: the rows being healed, what the rules found, the rows held back, and
    the heal_log and quarantine rows staged for the final transaction, the resolutions that apply; and where the heal reads the table's source
    rows: a delivery staged by its load (incoming, published to raw by the heal's last transaction), else raw."""

    rows: sql.Composable
    found: sql.Composable
    held: sql.Composable
    log: sql.Composable
    quarantine: sql.Composable
    resolved: sql.Composable
    waiting: sql.Composable  # the held rows' parent keys, for ops.waiting_for_parent (late_parents)
    source_schema: str = "raw"
    table: str = ""
    source_name: str | None = None  # a table of SCRATCH to read instead (an incremental heal's rows)

    @classmethod
    def of(cls, spec: TableSpec, source_schema: str = "raw") -> Work:
        rows, found, held, log, quarantine, resolved, waiting = (
            qualified(SCRATCH, f"heal_{spec.name}_{part}")
            for part in ("rows", "found", "held", "log", "quarantine", "resolved", "waiting")
        )
        return cls(rows, found, held, log, quarantine, resolved, waiting, source_schema, spec.name)

    @property
    def source(self) -> sql.Composable:
        """The table the heal reads: incoming.<table> (a delivery to publish), raw.<table>, or the rows of an
        incremental heal."""
        if self.source_name:
            return qualified(SCRATCH, self.source_name)
        return qualified(self.source_schema, self.table)

    def drop(self, cur) -> None:
        cur.execute(
            sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.SQL(", ").join(
                    [self.rows, self.found, self.held, self.log, self.quarantine, self.resolved, self.waiting]
                )
            )
        )


def key_expr(spec: TableSpec, alias: str) -> sql.Composable:
    return sql.SQL(" || '|' || ").join(
        sql.SQL("{}.{}::text").format(sql.Identifier(alias), sql.Identifier(k)) for k in spec.primary_key
    )


def original_row(file_columns: list[str]) -> sql.Composable:
    """The raw row r as the file had it, as `o` (lineage left out): row_to_json(o) is its json.

    row_to_json over a lateral subquery, which PostgreSQL flattens into a row of named columns: a third faster
    than json_build_object, which looks up each argument's type on every row, and not limited to 50 columns.
    Plain json, not jsonb: built faster (no conversion of every number to numeric) and it keeps the file's
    column order. Its text is what a resolution's digest is made from (md5), here and in quality.resolutions.
    """
    return sql.SQL("CROSS JOIN LATERAL (SELECT {}) o").format(
        sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in file_columns)
    )


def raw_file(cur, work: Work) -> int:
    """The file number of the table the heal reads: a new one after each load."""
    return scalar(cur, sql.SQL("SELECT pg_relation_filenode({})").format(sql.Literal(work.source.as_string(cur))))


def scalar(cur, query: sql.Composable) -> int:
    """The one value a query returns."""
    cur.execute(query)
    return cur.fetchone()[0]


def analyze_sampled(cur, target: int, *tables: sql.Composable) -> None:
    """ANALYZE from a sample of 300 x `target` rows (default_statistics_target for these tables only)."""
    cur.execute(f"SET LOCAL default_statistics_target = {int(target)}")
    cur.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(tables)))
    cur.execute("RESET default_statistics_target")


@contextmanager
def nested_loops(cur) -> Iterator[None]:
    """For statements that look up a few rows by an index (the quarantine by source row): heals plan with nested
    loops off (heal._tune), which makes such a look-up a scan of the whole table."""
    cur.execute("SET LOCAL enable_nestloop = on")
    yield  # on an error the transaction is rolled back, and the setting with it
    cur.execute("SET LOCAL enable_nestloop = off")
