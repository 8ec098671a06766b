"""The user's data contracts: one YAML file per table holding the source system's conventions, validated on load."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .. import config
from ..errors import PipelineError
from ..tables import KINDS, TABLES, Column, TableSpec

ACTIONS = ("quarantine", "flag")
# What a column of a contract may say. `type`, `nullable` and `primary_key` restate the product's facts (a
# contract may make a column required, never optional); `observed` is what the profiler saw, for reading only.
COLUMN_KEYS = {"type", "nullable", "pattern", "values", "synonyms", "strict", "email", "observed"}
TABLE_KEYS = {"table", "primary_key", "columns", "rules", "corrections"}
RULE_KEYS = {"action", "warn_if", "error_if"}


class ContractError(PipelineError):
    """A contract file that cannot be used: the message names the file, table, column and problem."""

    hint = "fix the file, or write a new one with `python -m pipeline profile --write`"


@dataclass(frozen=True)
class ColumnContract:
    """One column's conventions: its id shape, its vocabulary and synonyms, e-mail checking."""

    pattern: str | None = None
    values: tuple[str, ...] = ()
    synonyms: tuple[tuple[str, str], ...] = ()  # (variant folded to lower case and trimmed, value)
    strict: bool = False  # an unknown value quarantines the row instead of flagging it
    email: bool = False
    required: bool = False  # the contract makes a column the product allows to be null required


@dataclass(frozen=True)
class RuleSetting:
    action: str | None = None
    warn_if: float | None = None
    error_if: float | None = None


@dataclass(frozen=True)
class TableContract:
    table: str
    columns: dict[str, ColumnContract] = field(default_factory=dict)
    rules: dict[str, RuleSetting] = field(default_factory=dict)
    digest: str = "none"  # of the file's content: a changed contract heals its table again
    # A timestamp column: a repeated key with a later value there is a correction (the newer version replaces the
    # older in clean, the older goes to history.<table>), not a duplicate. None: a repeated key is a duplicate.
    corrections: str | None = None

    def column(self, name: str) -> ColumnContract:
        return self.columns.get(name, ColumnContract())


def folder() -> Path:
    return config.contracts_dir()


def path_of(table: str, where: Path | None = None) -> Path:
    return (where or folder()) / f"{table}.yaml"


_cache: dict[tuple[str, int, int], TableContract] = {}


def load(table: str, where: Path | None = None) -> TableContract:
    """The contract of one table (no file: no conventions, only the product's facts)."""
    path = path_of(table, where)
    if not path.exists():
        return TableContract(table)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _cache:
        _cache[key] = parse(path.read_text(encoding="utf-8"), table, path)
    return _cache[key]


def load_all(where: Path | None = None) -> dict[str, TableContract]:
    """Every table's contract; the first broken file raises ContractError. Files of unknown tables are refused."""
    where = where or folder()
    if where.exists():
        for path in sorted(where.glob("*.y*ml")):
            if path.stem not in TABLES:
                raise ContractError(f"{path}: no table named {path.stem!r}; the tables are {', '.join(TABLES)}")
            if path.suffix != ".yaml":
                raise ContractError(f"{path}: contract files end in .yaml ({path.stem}.yaml)")
    return {name: load(name, where) for name in TABLES}


def parse(text: str, table: str, path: Path | str = "<contract>") -> TableContract:
    """A contract from its YAML text, checked against the product's table spec."""
    where = f"{path}: {table}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ContractError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return TableContract(table, digest=_digest(text))
    if not isinstance(data, dict):
        raise ContractError(f"{where}: expected a mapping with 'columns' and 'rules', got {type(data).__name__}")
    _unknown(data, TABLE_KEYS, where)
    if data.get("table", table) != table:
        raise ContractError(f"{where}: the file says table {data['table']!r}; a file holds the table it is named after")
    spec = TABLES[table]
    if "primary_key" in data and list(data["primary_key"] or []) != list(spec.primary_key):
        raise ContractError(
            f"{where}: primary_key {data['primary_key']!r} differs from the product's "
            f"{list(spec.primary_key)!r}; keys are facts of the domain"
        )
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise ContractError(f"{where}: 'columns' must map column names to their conventions")
    parsed = {name: _column(spec, name, body, f"{where}.{name}") for name, body in columns.items()}
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise ContractError(f"{where}: 'rules' must map rule ids to {{action, warn_if, error_if}}")
    settings = {rule_id: _rule(table, rule_id, body, f"{path}: rule {rule_id}") for rule_id, body in rules.items()}
    return TableContract(table, parsed, settings, _digest(text), _corrections(spec, data.get("corrections"), where))


def _corrections(spec: TableSpec, column, where: str) -> str | None:
    """The column whose later value makes a repeated key a correction: a timestamp column of the table."""
    if column is None:
        return None
    stamps = [c.name for c in spec.columns if c.kind in ("timestamp", "timestamptz", "date")]
    if column not in stamps:
        allowed = f"one of {', '.join(stamps)}" if stamps else f"none: {spec.name} has no timestamp column"
        raise ContractError(f"{where}: corrections: {column!r} must name a timestamp column ({allowed})")
    return column


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _unknown(body: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise ContractError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _column(spec: TableSpec, name: str, body, where: str) -> ColumnContract:
    if name not in spec.column_names:
        raise ContractError(f"{where}: table {spec.name} has no column {name!r}")
    if body is None:
        return ColumnContract()
    if not isinstance(body, dict):
        raise ContractError(f"{where}: expected a mapping of conventions, got {body!r}")
    _unknown(body, COLUMN_KEYS, where)
    column = spec.column(name)
    if "type" in body and body["type"] != column.kind:
        raise ContractError(
            f"{where}: type {body['type']!r} differs from the product's {column.kind!r} "
            f"(types are facts of the domain; one of {', '.join(KINDS)})"
        )
    nullable = body.get("nullable", column.nullable)
    if not isinstance(nullable, bool):
        raise ContractError(f"{where}: nullable must be true or false, got {nullable!r}")
    if nullable and not column.nullable:
        raise ContractError(
            f"{where}: nullable: true, but the product requires a value here (a contract can "
            "make a column stricter, never looser)"
        )
    pattern = body.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise ContractError(f"{where}: pattern must be a non-empty regular expression, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ContractError(f"{where}: pattern {pattern!r} is not a regular expression ({exc})") from None
    values = body.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ContractError(f"{where}: values must be a list of strings, got {values!r}")
    if len(set(values)) != len(values):
        raise ContractError(f"{where}: values lists {_first_repeat(values)!r} twice")
    synonyms = body.get("synonyms") or {}
    if not isinstance(synonyms, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in synonyms.items()
    ):
        raise ContractError(f"{where}: synonyms must map variants to values (strings), got {synonyms!r}")
    for variant, value in synonyms.items():
        if value not in values:
            raise ContractError(f"{where}: synonym {variant!r} -> {value!r}, which is not one of its values")
    for flag in ("strict", "email"):
        if not isinstance(body.get(flag, False), bool):
            raise ContractError(f"{where}: {flag} must be true or false, got {body[flag]!r}")
    if (values or synonyms or pattern or body.get("email")) and column.kind != "text":
        raise ContractError(
            f"{where}: pattern, values, synonyms and email apply to text columns; {name} is {column.kind}"
        )
    return ColumnContract(
        pattern,
        tuple(values),
        tuple(sorted({fold(k): v for k, v in synonyms.items()}.items())),
        bool(body.get("strict", False)),
        bool(body.get("email", False)),
        column.nullable and not nullable,
    )


def _first_repeat(values: list[str]) -> str:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    raise ValueError("no value repeats")  # never: called only when there is a repeat


def _share(value, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ContractError(f"{where}: {name} must be a share of rows between 0 and 1, got {value!r}")
    return float(value)


def _rule(table: str, rule_id: str, body, where: str) -> RuleSetting:
    if not isinstance(rule_id, str) or not rule_id.startswith(f"{table}."):
        raise ContractError(
            f"{where}: rule ids of this file start with '{table}.' (`python -m pipeline rules` lists them)"
        )
    if not isinstance(body, dict):
        raise ContractError(f"{where}: expected {{action, warn_if, error_if}}, got {body!r}")
    _unknown(body, RULE_KEYS, where)
    action = body.get("action")
    if action is not None and action not in ACTIONS:
        raise ContractError(f"{where}: action must be one of {', '.join(ACTIONS)}, got {action!r}")
    warn_if, error_if = _share(body.get("warn_if"), where, "warn_if"), _share(body.get("error_if"), where, "error_if")
    if warn_if is not None and error_if is not None and warn_if > error_if:
        raise ContractError(f"{where}: warn_if {warn_if} is above error_if {error_if}")
    return RuleSetting(action, warn_if, error_if)


# The surrounding characters a vocabulary value is compared without; the heal's SQL trims the same ones.
SPACES = " \t\n\r\f\v\u00a0"


def fold(value: str) -> str:
    """How a vocabulary value is compared with its synonyms: case and surrounding spaces do not count."""
    return value.strip(SPACES).lower()


def apply(spec: TableSpec, contract: TableContract) -> TableSpec:
    """The spec with the contract's conventions as Cerberus rules (regex, allowed) and its stricter nulls."""
    columns = []
    for column in spec.columns:
        c = contract.column(column.name)
        rules = dict(column.rules)
        if c.pattern:
            rules["regex"] = c.pattern
        if c.values:
            rules["allowed"] = list(c.values)
        if c.email:
            rules["check_with"] = "email"
        columns.append(Column(column.name, column.kind, column.nullable and not c.required, rules))
    return replace(spec, columns=tuple(columns))


def validate_all(where: Path | None = None) -> dict[str, TableContract]:
    """Load every contract at the start of a run (a broken one fails the run in one line before any work)."""
    where = where or folder()
    if not where.is_dir():
        raise ContractError(
            f"{where}: no such folder of data contracts (luigi.cfg [contracts] folder, PIPELINE_CONTRACTS_DIR)",
            "restore it, or write one with `python -m pipeline profile --write`",
        )
    return load_all(where)


def dump(table: str, body: dict) -> str:
    """YAML text of one contract, with a header saying whose it is."""
    header = (
        f"# The data contract of table {table}: the conventions of your source system (id shapes,\n"
        "# vocabularies and their synonyms, e-mail checking) and each rule's action and thresholds.\n"
        "# Proposed by `python -m pipeline profile`; yours to edit. Types, keys and nullability restate\n"
        "# the product's facts of the domain: a contract can make them stricter, never looser.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
