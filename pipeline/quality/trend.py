"""Clean shares over runs: a table whose share of clean rows fell by more than its warn share since its last heal."""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from ..tables import TABLES
from .contract import load

DEFAULT_DROP_WARN = 0.05  # a fall of 5 points of the clean share (contracts: rule <table>.clean_share warn_if)

# The last two heals of each table, newest first.
LAST_TWO = """
SELECT table_name, run_id, clean_rows::float8 / nullif(raw_rows - replaced, 0) AS share  -- replaced: not lost
FROM (SELECT *, row_number() OVER (PARTITION BY table_name ORDER BY checked_at DESC) AS n
      FROM quality.table_results) t
WHERE n <= 2 ORDER BY table_name, n"""


@dataclass(frozen=True)
class Drop:
    table: str
    before: float
    now: float
    run_id: str
    warn_if: float

    @property
    def message(self) -> str:
        return (
            f"{self.table}: clean share fell from {self.before:.1%} to {self.now:.1%} in run {self.run_id} "
            f"(more than {100 * self.warn_if:.0f} points); python -m pipeline runs {self.run_id} shows the rules"
        )


def warn_share(table: str) -> float:
    rule_id = f"{table}.clean_share"
    override = config.rule_thresholds().get(rule_id, (None, None))[0]
    setting = load(table).rules.get(rule_id)
    contract_warn = setting.warn_if if setting else None
    return next(v for v in (override, contract_warn, DEFAULT_DROP_WARN) if v is not None)


def clean_share_drops(conn) -> list[Drop]:
    """Tables whose latest heal kept a smaller share of rows clean than the one before, beyond the warn share."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('quality.table_results') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute(LAST_TWO)
        rows = cur.fetchall()
    latest: dict[str, tuple[str, float | None]] = {}
    drops = []
    for table, run_id, share in rows:
        if table not in latest:
            latest[table] = (run_id, share)
            continue
        run, now = latest[table]
        if now is None or share is None or table not in TABLES:
            continue
        limit = warn_share(table)
        if share - now > limit:
            drops.append(Drop(table, share, now, run, limit))
    return drops
