"""Profile the source files: propose the source system's conventions (id shapes, vocabularies, synonyms, e-mail).

Everything is computed with pyarrow.compute over whole columns; Python loops run over distinct values or
shapes only. Facts of the domain (types, keys, nullability, ranges) are never proposed: only observed.
`profile_cli` turns a profile into a diff against the contracts and, with --write, into contract files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import PipelineError
from ..tables import TABLES, Column, TableSpec
from .contract import ColumnContract, TableContract, fold

# A shape (letters -> A, digits -> 9) becomes a `pattern` when it covers this share of a column's values.
PATTERN_SHARE = 0.9
# A spelling (case and surrounding spaces folded) seen in fewer rows than this share is rare: a stray
# value, left out of the vocabulary (the run flags it), never proposed as a category. (Below 500 rows no
# value is rare: one row of a few hundred is no evidence either way.)
RARE_SHARE = 0.002
# A spelling seen in under 1% of rows, a few edits from a value seen in ten times as many rows, is a typo
# of that value: proposed as its synonym (one edit per four letters of the value, two at most: Nrth ->
# North, Northeats -> Northeast; never Inactive -> Active, never between codes like SC and SD).
TYPO_SHARE, TYPO_EDITS, TYPO_LOOKUP = 0.01, 2, 500  # only the most frequent candidate spellings are looked at
# A vocabulary has at most this many common values, each seen in two rows or more on average, and its
# common values cover this share of the rows; other columns are ids, free text or numbers.
VOCAB_MAX, VOCAB_COVER = 60, 0.9
DISTINCT_CAP = 5_000  # more distinct spellings than this: not a vocabulary (no Python loop over them)
EMAIL_SHARE = 0.5  # most values contain '@': an e-mail column
# Column name words of free text (names, notes, addresses, cities, phones): never vocabularies or ids.
FREE_TEXT = {
    "name",
    "names",
    "note",
    "notes",
    "description",
    "address",
    "city",
    "street",
    "comment",
    "comments",
    "remark",
    "remarks",
    "phone",
}
LETTER_CLASSES = [("[A-Z]", set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), ("[a-z]", set("abcdefghijklmnopqrstuvwxyz"))]
LATIN = "A-Za-zÀ-ÖØ-öø-ÿ"
REGEX_SPECIAL = set(".^$*+?{}[]\\|()")


class ProfileError(PipelineError):
    hint = "replace the file with a readable Parquet export of the table, or point --data-dir elsewhere"


@dataclass
class ColumnProfile:
    name: str
    kind: str  # the product's kind (text, int, ...)
    role: str  # key, id, vocabulary, email, reference, audit, free text, text, empty, other, missing
    nonnull: int = 0
    observed: dict = field(default_factory=dict)
    owns_pattern: bool = False  # the profile decides this column's pattern (None: no dominant shape)
    pattern: str | None = None
    shape: str | None = None
    shape_share: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # proposed value -> rows, variants folded in
    folded: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # value -> its case/space variants
    typos: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # variant -> (value, rows, edits)
    rare: dict[str, int] = field(default_factory=dict)  # rare spellings with no near common value
    shared_from: dict[str, str] = field(default_factory=dict)  # value -> the table.column it was taken from
    email_share: float = 0.0
    nulls_where_required: int = 0


@dataclass
class TableProfile:
    table: str
    path: Path
    rows: int = 0
    columns: dict[str, ColumnProfile] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)


def read_source(path: Path, spec: TableSpec) -> tuple[pa.Table, list[str]]:
    """The file's columns of the spec (read in bulk) and its extra column names; a broken file raises one line."""
    try:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        table = source.read(columns=[c for c in spec.column_names if c in names])
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProfileError(f"{path}: not a readable Parquet file ({reason})") from None
    return table, [n for n in names if n not in spec.column_names]


def reference_columns(spec: TableSpec) -> set[str]:
    """Columns checked against a parent table: foreign keys, and columns named like another table's key."""
    names = {c for fk in spec.foreign_keys for c in fk.columns}
    for other in TABLES.values():
        if other.name != spec.name:
            keys = set(other.primary_key).union(*map(set, other.unique))
            names |= keys & set(spec.column_names)
    return names


def profile_table(spec: TableSpec, path: Path, current: TableContract) -> TableProfile:
    data, extras = read_source(path, spec)
    result = TableProfile(spec.name, path, data.num_rows, extra_columns=extras)
    references = reference_columns(spec)
    keys = set(spec.primary_key).union(*map(set, spec.unique))
    for column in spec.columns:
        if column.name not in data.column_names:
            result.columns[column.name] = ColumnProfile(column.name, column.kind, "missing")
            continue
        try:
            result.columns[column.name] = _profile_column(
                data[column.name],
                column,
                spec,
                data.num_rows,
                column.name in keys,
                column.name in references,
                current.column(column.name),
            )
        except (pa.ArrowException, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProfileError(
                f"{path}: column {column.name} ({data[column.name].type}) cannot be profiled ({reason})"
            ) from None
    return result


def _profile_column(
    values: pa.ChunkedArray,
    column: Column,
    spec: TableSpec,
    rows: int,
    key: bool,
    reference: bool,
    known: ColumnContract,
) -> ColumnProfile:
    if pa.types.is_dictionary(values.type):  # dictionary-encoded: its values, as the run reads them
        values = values.cast(values.type.value_type)
    cp = ColumnProfile(column.name, column.kind, "other", len(values) - values.null_count)
    cp.observed = _observed(values, column.kind, rows)
    if not column.nullable:
        cp.nulls_where_required = values.null_count
    if column.kind == "text":
        text = _as_text(values)
        if text is None:
            cp.observed["file_type"] = str(values.type)  # not text at all (nested, binary): no conventions
        else:
            _profile_text(cp, text, spec, key, reference, known)
    return cp


def _profile_text(
    cp: ColumnProfile, text: pa.ChunkedArray, spec: TableSpec, key: bool, reference: bool, known: ColumnContract
) -> None:
    """A text column's role, in this order, and what the profile proposes for it:
    key (primary or unique): its dominant shape as `pattern`; reference (a foreign key, or named like another
    table's key, e.g. currency): shape observed only, since the parent's key and the foreign-key check judge
    it (a pattern would report each orphan twice); audit (`*_by`): nothing; email: `email: true`; free text
    (names, notes, addresses, cities, phones): nothing; vocabulary: values, synonyms; otherwise, when one
    shape dominates, an id (e.g. zip, transaction_id) with its `pattern`."""
    words = set(cp.name.lower().split("_"))
    fact_regex = "regex" in spec.column(cp.name).rules  # the product already fixes this column's shape
    if cp.nonnull == 0:
        cp.role = "empty"
        return
    if key or reference:
        cp.role = "key" if key else "reference"
        _shape(cp, text, propose=key and not fact_regex)
        return
    if cp.name.endswith("_by"):
        cp.role = "audit"  # who or what wrote the row (created_by, approved_by): names, not a vocabulary
        return
    cp.email_share = pc.sum(pc.cast(pc.match_substring(text, "@"), pa.int64())).as_py() / cp.nonnull
    if cp.email_share >= EMAIL_SHARE:
        cp.role = "email"
        return
    if words & FREE_TEXT:
        cp.role = "free text"
        return
    if _vocabulary(cp, text, known):
        cp.role = "vocabulary"
        return
    cp.role = "text"
    _shape(cp, text, propose=not fact_regex)
    if cp.pattern:
        cp.role = "id"


def _as_text(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A text column as Arrow strings, whatever the file holds (dictionary, large_string, numbers, ...)."""
    try:
        return pc.drop_null(values.cast(pa.string()))
    except (pa.ArrowException, ValueError):
        return None


def _observed(values: pa.ChunkedArray, kind: str, rows: int) -> dict:
    """What the profile saw, for reading only: null share, distinct values, range, the file's type."""
    found: dict = {"null_share": round(values.null_count / rows, 4) if rows else 0.0}
    found["distinct"] = pc.count_distinct(values).as_py()
    stored = values.type
    if _kind(stored) != kind:
        found["file_type"] = str(values.type)
    if kind in ("int", "float", "date", "timestamp") and values.null_count < len(values):
        target = {"int": pa.float64(), "float": pa.float64(), "date": pa.date32(), "timestamp": pa.timestamp("us")}
        try:
            typed = (
                values
                if (pa.types.is_integer(stored) or pa.types.is_floating(stored) or pa.types.is_temporal(stored))
                else values.cast(target[kind])
            )
            span = pc.min_max(typed)
            found["min"], found["max"] = (_plain(span["min"].as_py()), _plain(span["max"].as_py()))
        except (pa.ArrowException, ValueError):
            found["range"] = "not readable as " + kind
    return found


def _kind(arrow_type: pa.DataType) -> str:
    """The product's kind an Arrow type holds as it is (timestamp units and integer widths do not count)."""
    checks = [
        ("bool", pa.types.is_boolean),
        ("int", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("text", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    ]
    return next((kind for kind, check in checks if check(arrow_type)), str(arrow_type))


def _plain(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return value


def shapes_of(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value's shape: letters become A, digits 9, everything else stays (HC000123 -> AA999999)."""
    shapes = pc.replace_substring_regex(text, r"\p{L}", "A")
    for digit in "012345678":  # literal replacements: three times faster than a [0-9] regex
        shapes = pc.replace_substring(shapes, digit, "9")
    return shapes


def _shape(cp: ColumnProfile, text: pa.ChunkedArray, propose: bool) -> None:
    """The dominant shape and its share; a pattern when it dominates, carries a digit and holds no space."""
    distinct = pc.value_counts(text)  # shapes of the distinct values, weighted by their rows
    values, shapes = distinct.field("values"), shapes_of(distinct.field("values"))
    rows = pa.table({"shape": shapes, "rows": distinct.field("counts")}).group_by("shape").aggregate([("rows", "sum")])
    top = pc.index(rows["rows_sum"], pc.max(rows["rows_sum"])).as_py()
    cp.shape = rows["shape"][top].as_py()
    cp.shape_share = rows["rows_sum"][top].as_py() / len(text)
    cp.observed.update(shape=cp.shape, shape_share=round(cp.shape_share, 4))
    cp.owns_pattern = propose
    if propose and cp.shape_share >= PATTERN_SHARE and "9" in cp.shape and not any(ch.isspace() for ch in cp.shape):
        cp.pattern = _regex(cp.shape, pc.filter(values, pc.equal(shapes, cp.shape)))


def _regex(shape: str, values: pa.ChunkedArray) -> str:
    """A regex of one shape: digits as [0-9], letters literal where constant, else their class."""
    tokens = []
    for i, ch in enumerate(shape):
        if ch == "9":
            tokens.append("[0-9]")
        elif ch == "A":
            letters = set(pc.unique(pc.utf8_slice_codeunits(values, i, i + 1)).to_pylist())
            if len(letters) == 1:
                tokens.append(letters.pop())
            else:
                tokens.append(
                    next(
                        (cls for cls, allowed in LETTER_CLASSES if letters <= allowed),
                        f"[{LATIN}]" if all(_latin(c) for c in letters) else r"[^\W\d_]",
                    )
                )
        else:
            tokens.append("\\" + ch if ch in REGEX_SPECIAL else ch)
    out, i = [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j] == tokens[i]:
            j += 1
        run = j - i
        out.append(tokens[i] + (f"{{{run}}}" if run > 1 else "") if len(tokens[i]) > 2 else tokens[i] * run)
        i = j
    return "".join(out)


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha() or "À" <= ch <= "ÿ" and ch not in "×÷"


def _vocabulary(cp: ColumnProfile, text: pa.ChunkedArray, known: ColumnContract) -> bool:
    """Values with counts (variants folded, typos as synonyms, rare strays left out), if it is a vocabulary."""
    if pc.count_distinct(text).as_py() > DISTINCT_CAP:
        return False
    counts = pc.value_counts(text)
    synonym_of = dict(known.synonyms)  # the user's synonyms fold their variants into their values
    groups: dict[str, list[tuple[str, int]]] = {}
    for value, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        target = synonym_of.get(fold(value))
        groups.setdefault(fold(target) if target else fold(value), []).append((value, n))
    total = {f: sum(n for _, n in spellings) for f, spellings in groups.items()}
    order = sorted(total, key=lambda f: (-total[f], f))
    user = {fold(v): v for v in known.values}
    typos: dict[str, tuple[str, int]] = {}
    for f in [f for f in order if f and f not in user and total[f] < TYPO_SHARE * cp.nonnull][:TYPO_LOOKUP]:
        near = _nearest(f, [g for g in order[:VOCAB_MAX] if g and g not in typos and total[g] >= 10 * total[f]])
        if near:
            typos[f] = near
    floor = RARE_SHARE * cp.nonnull
    common = {f for f in order if f and f not in typos and total[f] >= floor}
    if (
        not common
        or len(common) > VOCAB_MAX
        or 2 * len(common) > cp.nonnull
        or sum(total[f] for f in common | set(typos)) < VOCAB_COVER * cp.nonnull
    ):
        return False
    chosen = common | {f for f in total if f in user}  # a rare value the user listed stays
    if user and common <= set(user):
        chosen |= set(user)  # the data shows no other convention: values it did not show stay too

    def spelling(f: str) -> str:
        if f in user:
            return user[f]
        own = sorted((s for s in groups[f] if fold(s[0]) == f), key=lambda s: -s[1])
        return (own or groups[f])[0][0].strip()

    rank = {f: i for i, f in enumerate(user)}  # the user's order first, then new values by rows
    for f in sorted(chosen, key=lambda f: (rank.get(f, len(rank)), -total.get(f, 0), f)):
        value = spelling(f)
        cp.counts[value] = total.get(f, 0)
        variants = [(s, n) for s, n in groups.get(f, []) if s != value and fold(s) == f]
        if variants:
            cp.folded[value] = sorted(variants, key=lambda s: -s[1])
    for f in order:
        if f in typos and typos[f][0] in chosen:
            cp.typos[spelling(f)] = (spelling(typos[f][0]), total[f], typos[f][1])
        elif f not in chosen:
            cp.rare[spelling(f) if f else repr(groups[f][0][0])] = total[f]
    return True


def _nearest(rare: str, values: list[str]) -> tuple[str, int] | None:
    """The one value a few edits from a spelling (one edit per four letters of the value, two at most)."""
    found = [
        (d, v)
        for v in values
        if abs(len(v) - len(rare)) <= TYPO_EDITS and (d := edit_distance(rare, v)) <= min(TYPO_EDITS, len(v) // 4)
    ]
    if not found:
        return None
    best = min(d for d, _ in found)
    nearest = [v for d, v in found if d == best]
    return (nearest[0], best) if len(nearest) == 1 else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), for short vocabulary values."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def share_vocabularies(profiles: list[TableProfile]) -> None:
    """A vocabulary contained in a same-named column's of another table takes its values (branches.state
    seen with 35 states takes the 50 of customers.state): one source system, one list of states."""
    vocabularies = [(p.table, c) for p in profiles for c in p.columns.values() if c.role == "vocabulary"]
    for table, small in vocabularies:
        for other_table, big in vocabularies:
            mine, theirs = {fold(v) for v in small.counts}, {fold(v) for v in big.counts}
            if other_table != table and big.name == small.name and mine < theirs:
                for value in big.counts:
                    if fold(value) not in mine:
                        seen = [v for v in small.rare if fold(v) == fold(value)]
                        small.counts[value] = sum(small.rare.pop(v) for v in seen)
                        small.shared_from[value] = f"{other_table}.{big.name}"
