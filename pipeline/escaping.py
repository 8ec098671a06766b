"""NUL in text, which PostgreSQL text cannot hold: how ingest stores it in raw, and how to read it back."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# A value holding NUL is stored with NUL as \0 and backslash as \\, and its column is named in the row's
# _escaped array, so that unescape() gives back the exact value (healing removes the NULs: rule nul_removed).
NUL = "\x00"
ESCAPED_TYPE = pa.list_(pa.string())


def escape_nul(batch: pa.RecordBatch, names: list[str]) -> tuple[list[pa.Array], pa.Array, int]:
    """Escape NUL in string values; return the columns, the _escaped column names per row, the count."""
    columns, hits = [], {}
    for name in names:
        col = batch.column(name)
        if pa.types.is_string(col.type):
            hit = pc.fill_null(pc.match_substring(col, NUL), False)
            if pc.any(hit).as_py():
                hits[name] = hit
                escaped = pc.replace_substring_regex(pc.replace_substring(col, "\\", "\\\\"), r"\x00", r"\\0")
                col = pc.if_else(hit, escaped, col)
        columns.append(col)
    if not hits:
        return columns, pa.nulls(batch.num_rows, ESCAPED_TYPE), 0
    # NUL is rare: name the escaped columns per row in Python, for this batch only.
    flags = {name: hit.to_pylist() for name, hit in hits.items()}
    names_per_row = [[n for n in hits if flags[n][row]] or None for row in range(batch.num_rows)]
    return columns, pa.array(names_per_row, ESCAPED_TYPE), sum(sum(f) for f in flags.values())


ESCAPED_NOTE = "NUL-escaped values: "  # the comment of raw.<table>._escaped: healing skips its unescape step at 0


def escaped_values(cur, table: str, schema: str = "raw") -> int | None:
    """How many values of <schema>.<table> (raw, or incoming: a delivery not yet published) were stored NUL-escaped
    (None: not known, a table loaded before the count)."""
    cur.execute(
        "SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attname = '_escaped'",
        (f'{schema}."{table}"',),
    )
    row = cur.fetchone()
    note = row[0] if row else None
    if not note or not note.startswith(ESCAPED_NOTE):
        return None
    return int(note[len(ESCAPED_NOTE) :])


def unescape(value: str) -> str:
    """The original value of a NUL-escaped raw value (see _escaped)."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(NUL if value[i + 1] == "0" else value[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)
