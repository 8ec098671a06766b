"""The gates of a heal: each rule's warn and error shares of the rows, and all held rows together; a rule above its
error share fails the heal before anything users read is written."""

from __future__ import annotations

import logging
from collections.abc import Callable

from psycopg2 import sql

from .. import config
from ..errors import PipelineError
from ..tables import TableSpec
from .contract import TableContract
from .rules import DEFAULT_ERROR_IF, DEFAULT_WARN_IF, ROWS_HELD_WARN_IF
from .work import RuleOutcome, Work

log = logging.getLogger(__name__)


class HealError(PipelineError):
    """Healing cannot finish: rows that would be lost, or a rule above its error threshold."""

    hint = "this is a bug in healing: report it with the run id (python -m pipeline runs shows it)"


class ThresholdError(HealError):
    """A rule breaks on more rows than its error threshold allows: the data or the contract needs a look."""

    hint = (
        "look at the source file; if the data follows other conventions, run `python -m pipeline profile` "
        "and confirm its proposal (--write), or raise the rule's threshold in contracts/<table>.yaml or "
        "luigi.cfg [quality_thresholds]"
    )


def thresholds(outcome: RuleOutcome, contract: TableContract, overrides: dict) -> tuple[float | None, float | None]:
    """A rule's warn and error shares: luigi.cfg, else the contract, else the rule's own, else the default for a
    rule that quarantines (no quarantining rule is without them)."""
    if outcome.rule_id in overrides:
        return overrides[outcome.rule_id]
    setting = contract.rules.get(outcome.rule_id)
    warn_if = setting.warn_if if setting and setting.warn_if is not None else outcome.warn_if
    error_if = setting.error_if if setting and setting.error_if is not None else outcome.error_if
    if outcome.action == "quarantine":
        warn_if = DEFAULT_WARN_IF if warn_if is None else warn_if
        error_if = DEFAULT_ERROR_IF if error_if is None else error_if
    return warn_if, error_if


def check_thresholds(
    outcomes: list[RuleOutcome],
    rows: int,
    contract: TableContract | None = None,
    examples: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """Warn above a rule's warn_if share of rows (the warnings, in words); fail the heal above its error_if share."""
    overrides = config.rule_thresholds()
    contract = contract or TableContract("")
    warnings = []
    for o in outcomes:
        o.warn_if, o.error_if = thresholds(o, contract, overrides)
        share = o.violations / rows if rows else 0.0
        if o.error_if is not None and share > o.error_if:
            shown = ", ".join(repr(e) for e in (examples(o.rule_id) if examples else []))
            raise ThresholdError(
                f"rule {o.rule_id}: {o.violations:,} of {rows:,} rows ({share:.1%}) break it, above its error "
                f"threshold of {o.error_if:.1%}" + (f" (e.g. {shown})" if shown else "") + "; clean was left as it was"
            )
        if o.warn_if is not None and share > o.warn_if:
            warnings.append(
                f"rule {o.rule_id}: {o.violations:,} of {rows:,} rows ({share:.1%}) break it, above its "
                f"warning threshold of {o.warn_if:.1%}"
            )
            log.warning("%s", warnings[-1])
    return warnings


def _examples(conn, spec: TableSpec, work: Work, rule_id: str) -> list[str]:
    """Three values that broke a rule, as the file had them (or the rule's message where no column is its own)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT coalesce(to_jsonb(r) ->> p.column_name, p.message) FROM (SELECT * FROM {found} WHERE "
                "rule_id = {rid} OR {rid} = {held} ORDER BY source_row LIMIT 3) p "
                "JOIN {raw} r ON r._source_row = p.source_row ORDER BY p.source_row"
            ).format(
                found=work.found, rid=sql.Literal(rule_id), held=sql.Literal(f"{spec.name}.rows_held"), raw=work.source
            )
        )
        return [v if v is None or len(v) <= 40 else v[:37] + "..." for (v,) in cur.fetchall()]


def gates(side, spec: TableSpec, work: Work, contract, outcomes: list[RuleOutcome], quarantined: int, rows: int):
    """The rules' thresholds, and all held rows together checked like a rule (not stored as one: no rule of its
    own; a real delivery holds many rows back, so it warns from 30%); the warnings."""
    held = RuleOutcome(
        f"{spec.name}.rows_held",
        "rows held back by any rule",
        "error",
        "quarantine",
        quarantined,
        quarantined=quarantined,
        warn_if=ROWS_HELD_WARN_IF,
    )
    try:
        return check_thresholds([*outcomes, held], rows, contract, lambda rule: _examples(side, spec, work, rule))
    except HealError:
        with side, side.cursor() as cur:
            work.drop(cur)
            if work.source_name:  # an incremental heal's rows
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(work.source))
        raise
