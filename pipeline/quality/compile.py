"""Cerberus field schemas compiled to set-based SQL checks with Cerberus's verdicts and messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cerberus import errors
from psycopg2 import sql

from ..tables import TableSpec

log = logging.getLogger(__name__)

MESSAGES = errors.BasicErrorHandler.messages
# Cerberus rules whose verdict the cast stage or the ingest already decides for every row.
SETTLED = {"type", "required"}
# Escapes that mean the same literal character in Python's re and PostgreSQL's ARE; any other escape
# (\d, \w, \s, \b, back-references, ...) differs in meaning or is not translated, so it falls back to Cerberus.
LITERAL_ESCAPES = set(".\\-+*?()[]{}|^$/")


@dataclass(frozen=True)
class FieldCheck:
    """One Cerberus rule of one column: its SQL violation predicate (None: checked by Cerberus itself)."""

    rule_id: str
    column: str
    rule: str
    constraint: Any
    predicate: sql.Composable | None
    message: sql.Composable

    @property
    def compiled(self) -> bool:
        return self.predicate is not None


def regex_to_sql(pattern: str) -> str | None:
    """A PostgreSQL ARE equal to Cerberus's re.match(pattern + '$'), or None when not safely translatable."""
    if not pattern.endswith("$"):
        pattern += "$"
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in LITERAL_ESCAPES:
                return None
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "[":
                return None  # [[:alpha:]] is a class in ARE, literal brackets in Python
            if ch == "]":
                in_class = False
        elif ch == "[":
            if pattern[i + 1 : i + 2] in ("^", "]"):
                return None  # [^x] and []x] are read differently by the two engines
            in_class = True
        elif ch == "." or (ch == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] != ":"):
            return None
        elif ch == "{" and pattern[i + 1 : i + 2] == ",":
            return None
        elif ch == "$":
            ch = "\\n?$"  # Python's $ also matches before one final newline; ARE's only at the very end
        out.append(ch)
        i += 1
    return "^(?:" + "".join(out) + ")"


def _literal_message(code: int, constraint: Any) -> sql.Composable:
    return sql.Literal(MESSAGES[code].format(constraint=constraint))


def _not_nan(col: sql.Composable, spec_kind: str) -> sql.Composable:
    # PostgreSQL orders NaN above every number; Python's comparisons with NaN are all False.
    return sql.SQL(" AND {} <> 'NaN'").format(col) if spec_kind == "float" else sql.SQL("")


def compile_column(table: str, name: str, kind: str, schema: dict) -> list[FieldCheck]:
    col = sql.Identifier(name)
    checks = []

    def add(rule, constraint, predicate, message):
        checks.append(FieldCheck(f"{table}.{name}.{rule}", name, rule, constraint, predicate, message))

    if not schema.get("nullable", False):
        add("nullable", False, sql.SQL("{} IS NULL").format(col), _literal_message(errors.NOT_NULLABLE.code, False))
    for rule, constraint in schema.items():
        if rule in SETTLED or rule == "nullable":
            continue
        if rule == "min":
            add(
                rule,
                constraint,
                sql.SQL("{} < {}{}").format(col, sql.Literal(constraint), _not_nan(col, kind)),
                _literal_message(errors.MIN_VALUE.code, constraint),
            )
        elif rule == "max":
            add(
                rule,
                constraint,
                sql.SQL("{} > {}{}").format(col, sql.Literal(constraint), _not_nan(col, kind)),
                _literal_message(errors.MAX_VALUE.code, constraint),
            )
        elif rule == "allowed":
            add(
                rule,
                constraint,
                sql.SQL("{} <> ALL({})").format(col, sql.Literal(list(constraint))),
                sql.SQL("{} || {}::text").format(sql.Literal("unallowed value "), col),
            )
        elif rule in ("minlength", "maxlength"):
            op = "<" if rule == "minlength" else ">"
            code = errors.MIN_LENGTH.code if rule == "minlength" else errors.MAX_LENGTH.code
            add(
                rule,
                constraint,
                sql.SQL("char_length({}) {} {}").format(col, sql.SQL(op), sql.Literal(constraint)),
                _literal_message(code, constraint),
            )
        elif rule == "check_with" and constraint == "email":
            # e-mail-validator decides (checks.emails): a fast SQL pattern clears the plainly valid ones first.
            add("email", constraint, None, sql.Literal(""))
        elif rule == "regex" and regex_to_sql(constraint) is not None:
            add(
                rule,
                constraint,
                sql.SQL("{} !~ {}").format(col, sql.Literal(regex_to_sql(constraint))),
                _literal_message(errors.REGEX_MISMATCH.code, constraint),
            )
        else:
            log.warning("%s.%s: rule %r is not compiled; Cerberus checks each value (slower)", table, name, rule)
            add(rule, constraint, None, sql.Literal(""))
    return checks


def compile_schema(spec: TableSpec) -> list[FieldCheck]:
    """Every field rule of a table's Cerberus schema with its contract's conventions, compiled where possible."""
    from .contract import apply, load

    checks = []
    for column in apply(spec, load(spec.name)).columns:
        checks.extend(compile_column(spec.name, column.name, column.kind, column.cerberus()))
    return checks


def cerberus_errors(schema: dict, records: list[dict]) -> list[dict]:
    """Cerberus's own verdicts: the error dict per record ({} when valid). The oracle and the fallback."""
    from .emails import EmailValidator

    validator = EmailValidator(schema)
    return [{} if validator.validate(r) else validator.errors for r in records]
