"""Scores healing against the generator's ground truth: recall and precision per table and defect kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from psycopg2 import sql

from ..tables import TABLES
from .catalog import CATALOG
from .rules import DETECTS, FIELD_POLICIES


@dataclass
class Score:
    table: str
    defect: str
    injected: int
    found: int
    true_positives: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.injected if self.injected else 1.0

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else (1.0 if not self.injected else 0.0)


def rules_by_defect() -> dict[tuple[str, str], list[str]]:
    """(table, defect kind) -> the ids of the rules that detect it."""
    found: dict[tuple[str, str], list[str]] = {}
    for table, rules in CATALOG.items():
        for rule in rules:
            if rule.detects:
                found.setdefault((table, rule.detects), []).append(rule.id)
    for rule_id, policy in FIELD_POLICIES.items():
        if policy.detects:
            found.setdefault((rule_id.split(".")[0], policy.detects), []).append(rule_id)
    for rule_id, defect in DETECTS.items():
        found.setdefault((rule_id.split(".")[0], defect), []).append(rule_id)
    return found


def detected_keys(conn, table: str, rule_ids: list[str]) -> set[str]:
    """Keys of the rows those rules quarantined, fixed or flagged in the warehouse's current state."""
    spec = TABLES[table]
    key = sql.SQL(" || '|' || ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in spec.primary_key)
    with conn.cursor() as cur:
        cur.execute(
            """SELECT record_key FROM quality.quarantine WHERE table_name = %s AND rule_ids && %s
                       UNION SELECT record_key FROM quality.heal_log WHERE table_name = %s AND rule_id = ANY(%s)""",
            (table, rule_ids, table, rule_ids),
        )
        keys = {r[0] for r in cur.fetchall()}
        cur.execute(
            sql.SQL("SELECT {} FROM clean.{} WHERE _flags && %s").format(key, sql.Identifier(table)), (rule_ids,)
        )
        keys |= {r[0] for r in cur.fetchall()}
    return keys


def score(conn, truth_path: Path) -> list[Score]:
    truth = pq.read_table(truth_path, columns=["defect", "table", "key"]).to_pylist()
    injected: dict[tuple[str, str], set[str]] = {}
    for row in truth:
        injected.setdefault((row["table"], row["defect"]), set()).add(row["key"])
    detectors = rules_by_defect()
    scores = []
    for table, defect in sorted(set(injected) | set(detectors)):
        truth_keys = injected.get((table, defect), set())
        found = (
            detected_keys(conn, table, detectors.get((table, defect), [])) if (table, defect) in detectors else set()
        )
        scores.append(Score(table, defect, len(truth_keys), len(found), len(found & truth_keys)))
    return scores


def format_scores(scores: list[Score]) -> str:
    lines = [f"{'table':<16}{'defect':<32}{'injected':>9}{'found':>8}{'recall':>8}{'precision':>10}"]
    for s in scores:
        lines.append(f"{s.table:<16}{s.defect:<32}{s.injected:>9,}{s.found:>8,}{s.recall:>8.3f}{s.precision:>10.3f}")
    return "\n".join(lines)
