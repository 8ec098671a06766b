"""`python -m pipeline profile`: the profile of the source files as a diff against the contracts; --write saves it.

The proposal changes conventions only (pattern, values, synonyms, email) and the informational `observed`
figures; types, keys and nullability restate the product's facts or stay as the user made them, and each
file's `rules:` section and `strict` flags are kept as the user wrote them.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .. import config
from ..tables import TABLES, TableSpec
from . import contract
from .contract import ColumnContract, ContractError, TableContract
from .profile import ColumnProfile, TableProfile, profile_table, share_vocabularies

OWNED_VALUES = ("vocabulary",)  # roles whose values and synonyms the profile decides
RULES_COMMENT = "rules: {}  # rule id: {action: quarantine|flag, warn_if: share, error_if: share}\n"


def add_cli(sub) -> None:
    parser = sub.add_parser(
        "profile", help="propose the contracts' conventions from the source files (a diff; --write saves them)"
    )
    parser.add_argument("--data-dir", help="source folder (default: luigi.cfg [sources] data_dir)")
    parser.add_argument("--contracts", help="contracts folder (default: luigi.cfg [contracts] folder)")
    parser.add_argument("--table", choices=list(TABLES), help="profile one table only")
    parser.add_argument("--write", action="store_true", help="save the proposal into the contract files")
    parser.set_defaults(func=main)


def main(args) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else config.data_dir()
    where = Path(args.contracts) if args.contracts else config.contracts_dir()
    if not data_dir.is_dir():
        raise ContractError(f"{data_dir}: no such folder of source files", hint="give --data-dir")
    names = [args.table] if args.table else list(TABLES)
    profiles, lines, written = [], [], []
    for name in names:
        path = data_dir / f"{name}.parquet"
        if not path.exists():
            lines.append(f"{name}: no source file {path} (contract kept as it is)")
            continue
        profiles.append(profile_table(TABLES[name], path, _current(name, where)[0]))
    if not profiles:
        raise ContractError(
            f"{data_dir}: none of the source files ({', '.join(n + '.parquet' for n in names)})", hint="give --data-dir"
        )
    share_vocabularies(profiles)
    for profile in profiles:
        current, raw, problem = _current(profile.table, where)
        text = proposal_text(TABLES[profile.table], profile, raw)
        proposed = contract.parse(text, profile.table, contract.path_of(profile.table, where))
        lines += diff_lines(profile, current, proposed, contract.path_of(profile.table, where), problem)
        if args.write and _write(contract.path_of(profile.table, where), text):
            written.append(str(contract.path_of(profile.table, where)))
    print("\n".join(lines))
    if args.write:
        print(f"written: {', '.join(written)}" if written else "written: nothing (the contracts already say this)")
    else:
        print("nothing written; `python -m pipeline profile --write` saves this proposal")
    return 0


def _current(table: str, where: Path) -> tuple[TableContract, dict, str | None]:
    """The contract as parsed, its raw mapping (to keep rules and strict), and why it could not be read."""
    path = contract.path_of(table, where)
    try:
        parsed = contract.load(table, where)
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
        return parsed, raw if isinstance(raw, dict) else {}, None
    except ContractError as exc:
        return TableContract(table), {}, str(exc).split("; ")[0]


def proposal_text(spec: TableSpec, profile: TableProfile, raw: dict) -> str:
    """The contract file the profile proposes, built on the user's current file."""
    raw_columns = raw.get("columns") or {}
    columns = {}
    for column in spec.columns:
        old = raw_columns.get(column.name) or {}
        cp = profile.columns[column.name]
        body = {"type": column.kind, "nullable": old.get("nullable", column.nullable)}
        pattern = cp.pattern if cp.owns_pattern else old.get("pattern")
        owned = cp.role in OWNED_VALUES or (cp.role in ("text", "id") and column.kind == "text")
        proposed = list(cp.counts)
        values = proposed if owned else old.get("values")
        synonyms = _synonyms(cp, old, proposed) if owned else old.get("synonyms")
        strict = old.get("strict", False if cp.role == "vocabulary" else None)
        email = True if cp.role == "email" else old.get("email")
        observed = cp.observed or old.get("observed")
        for key, value in (
            ("pattern", pattern),
            ("values", values),
            ("synonyms", synonyms),
            ("strict", strict),
            ("email", email),
            ("observed", observed),
        ):
            if value not in (None, [], {}):
                body[key] = value
        columns[column.name] = body
    body = {
        "table": spec.name,
        "primary_key": list(spec.primary_key),
        "columns": columns,
        "rules": raw.get("rules") or {},
    }
    text = contract.dump(spec.name, body)
    return text[: -len("rules: {}\n")] + RULES_COMMENT if text.endswith("\nrules: {}\n") else text


def _synonyms(cp: ColumnProfile, old: dict, values: list[str]) -> dict[str, str]:
    """The user's synonyms whose value is still proposed, then the typos the profile found."""
    kept = {k: v for k, v in (old.get("synonyms") or {}).items() if v in values}
    folded = {contract.fold(k) for k in kept}
    kept.update({k: v for k, (v, _, _) in cp.typos.items() if contract.fold(k) not in folded})
    return kept


def _write(path: Path, text: str) -> bool:
    """Write the file atomically; False when it already holds this text."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return True


def diff_lines(
    profile: TableProfile, current: TableContract, proposed: TableContract, path: Path, problem: str | None
) -> list[str]:
    """What the proposal changes in one contract, column by column, with the counts behind it."""
    head = f"{profile.table}: {profile.rows:,} rows in {profile.path} -> {path}"
    lines = [f"  current contract not readable ({problem}); the proposal replaces it"] if problem else []
    width = max(len(c) for c in profile.columns) + 2
    changes = 0
    for name, cp in profile.columns.items():
        old, new = current.column(name), proposed.column(name)
        found, notes = _column_changes(cp, old, new), _column_notes(cp)
        changes += len(found)
        for i, text in enumerate(found + notes):
            lines.append(f"  {name if i == 0 else '':<{width}}{text}")
    missing = [name for name, cp in profile.columns.items() if cp.role == "missing"]
    if missing:
        lines.append(f"  not in the file (their conventions are kept): {', '.join(missing)}")
    if profile.extra_columns:
        lines.append(f"  (columns not in the table, ignored: {', '.join(profile.extra_columns)})")
    return [head + ("" if changes else ": no changes to its conventions")] + lines


def _column_changes(cp: ColumnProfile, old: ColumnContract, new: ColumnContract) -> list[str]:
    found = []
    if old.pattern != new.pattern:
        why = (
            f"{cp.shape_share:.1%} of {cp.nonnull:,} values"
            if new.pattern
            else f"no dominant shape: {cp.shape} covers {cp.shape_share:.1%}"
            if cp.shape
            else "no values"
        )
        found.append(f"pattern {old.pattern or 'none'} -> {new.pattern or 'none'} ({why})")
    added = [v for v in new.values if v not in old.values]
    removed = [v for v in old.values if v not in new.values]
    if added or removed:
        parts = [f"+{v} ({cp.counts.get(v, 0):,})" for v in added if v not in cp.shared_from]
        parts += [f"-{v}" for v in removed]
        shared = [v for v in added if v in cp.shared_from]
        if shared:
            parts.append(f"+{len(shared)} not seen here but in {cp.shared_from[shared[0]]}: {' '.join(shared)}")
        found.append("values " + " ".join(parts))
    old_syn, new_syn = dict(old.synonyms), dict(new.synonyms)
    for variant, value in new.synonyms:
        if old_syn.get(variant) != value:
            shown = next(((k, n, d) for k, (v, n, d) in cp.typos.items() if contract.fold(k) == variant), None)
            found.append(
                f"synonym {shown[0]!r} -> {value} ({shown[1]:,} rows, {shown[2]} edit"
                f"{'s' if shown[2] > 1 else ''} away: a typo)"
                if shown
                else f"synonym {variant!r} -> {value}"
            )
    found += [
        f"synonym {variant!r} -> {value} dropped (its value is not proposed)"
        for variant, value in old.synonyms
        if variant not in new_syn
    ]
    if old.email != new.email:
        found.append(
            f"email {str(old.email).lower()} -> {str(new.email).lower()} ({cp.email_share:.1%} of values contain '@')"
        )
    return found


def _column_notes(cp: ColumnProfile) -> list[str]:
    notes = []
    folded = [f"{s!r} -> {value} ({n:,})" for value, variants in cp.folded.items() for s, n in variants[:3]]
    if folded:
        notes.append("case/space variants folded (no synonym needed): " + ", ".join(folded))
    if cp.rare:
        shown = ", ".join(f"{v!r} ({n:,} row{'s' if n > 1 else ''})" for v, n in list(cp.rare.items())[:5])
        more = f" and {len(cp.rare) - 5} more" if len(cp.rare) > 5 else ""
        notes.append(f"rare, not proposed (will be flagged): {shown}{more}")
    if cp.nulls_where_required:
        plural = "s" if cp.nulls_where_required > 1 else ""
        notes.append(
            f"{cp.nulls_where_required:,} null{plural} where the product requires a value (kept required: "
            "those rows will be quarantined)"
        )
    if cp.observed.get("file_type"):
        notes.append(f"stored as {cp.observed['file_type']} (the product's type is {cp.kind}; kept)")
    return notes
