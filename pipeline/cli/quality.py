"""`python -m pipeline score | rules`: healing against a ground truth, and the data-quality rule catalog."""

from __future__ import annotations

from pathlib import Path

from .. import config, warehouse
from ..tables import TABLES


def cmd_score(args) -> int:
    from ..quality import score

    with warehouse.transaction() as conn:
        scores = score.score(conn, Path(args.truth))
    print(score.format_scores(scores))
    worst = min(min(s.recall, s.precision) for s in scores)
    print(f"lowest recall or precision: {worst:.3f}")
    return 0


def cmd_rules(args) -> int:
    from ..quality import contract
    from ..quality.catalog import CATALOG
    from ..quality.compile import compile_schema
    from ..quality.heal import thresholds
    from ..quality.rules import CONVENTION_POLICIES, ROWS_HELD_WARN_IF, field_policy, synonym_rules
    from ..quality.work import RuleOutcome

    overrides = config.rule_thresholds()
    print(f"{'rule':<44}{'kind':<12}{'action':<12}{'warn_if':<9}{'error_if':<10}description")
    for name, spec in TABLES.items():
        if args.table and name != args.table:
            continue
        rows: list[tuple[str, str, str, float | None, float | None, str]] = [
            (f"{name}.{c.name}.type", "fact", "quarantine", None, None, f"{c.name} must be of {c.kind} type")
            for c in spec.columns
        ]
        rows += [
            (f"{name}.{c.name}.finite", "fact", "quarantine", None, None, f"{c.name} must be a finite number")
            for c in spec.columns
            if c.kind == "float"
        ]
        rows += [
            (
                c.rule_id,
                "convention" if c.rule in CONVENTION_POLICIES else "fact",
                field_policy(c.rule_id).action,
                field_policy(c.rule_id).warn_if,
                field_policy(c.rule_id).error_if,
                f"{c.rule} {c.constraint!r}" + ("" if c.compiled else " (email-validator)"),
            )
            for c in compile_schema(spec)
        ]
        rows += [(r.id, "convention", r.action, None, None, r.description) for r in synonym_rules(spec)]
        rows += [(r.id, "fact", r.action, r.warn_if, r.error_if, r.description) for r in CATALOG[name]]
        rows.append((f"{name}.rows_held", "fact", "quarantine", ROWS_HELD_WARN_IF, None, "rows held back by any rule"))
        table_contract = contract.load(name)
        for rule_id, kind, action, warn_if, error_if, description in rows:
            warn_if, error_if = thresholds(
                RuleOutcome(rule_id, description, "", action, warn_if=warn_if, error_if=error_if),
                table_contract,
                overrides,
            )
            shares = [("-" if v is None else f"{v:.0%}") for v in (warn_if, error_if)]
            print(f"{rule_id:<44}{kind:<12}{action:<12}{shares[0]:<9}{shares[1]:<10}{description[:60]}")
    return 0


def add_cli(sub) -> None:
    scoring = sub.add_parser("score", help="recall and precision of healing against a ground-truth file")
    scoring.add_argument("--truth", required=True, help="the generator's ground truth (e.g. data-truth.parquet)")
    scoring.set_defaults(func=cmd_score)
    listing = sub.add_parser("rules", help="the data-quality rule catalog: id, action, severity, threshold")
    listing.add_argument("--table", choices=list(TABLES))
    listing.set_defaults(func=cmd_rules)
