"""The resolutions a heal applies: matched to source rows by key and digest, corrections overlaid, releases let go."""

from __future__ import annotations

from psycopg2 import sql

from ..tables import TableSpec
from .work import Work, key_expr, original_row

# Casts into the type a raw column has, giving NULL where the corrected text does not fit (checked before use).
RAW_TRY_CAST = {
    "bigint": "ops.try_bigint",
    "double precision": "ops.try_float8",
    "date": "ops.try_date",
    "timestamp": "ops.try_timestamp",
    "boolean": "ops.try_boolean",
}


def hard_rules(spec: TableSpec) -> list[str]:
    """Rules no release overrides: clean could not hold the row (types, NOT NULL, keys, enforced foreign keys)."""
    ids = [f"{spec.name}.{c.name}.type" for c in spec.columns]
    ids += [f"{spec.name}.{c.name}.finite" for c in spec.columns if c.kind == "float"]
    ids += [f"{spec.name}.{c.name}.nullable" for c in spec.columns if not c.nullable]
    ids += [f"{spec.name}.duplicate_key"] + [f"{spec.name}.duplicate_" + "_".join(k) for k in spec.unique]
    for fk in spec.foreign_keys:
        if not fk.soft:
            cols = "_".join(fk.columns)
            ids += [f"{spec.name}.orphan_{cols}", f"{spec.name}.parent_held_{cols}"]
    return ids


def match(cur, spec: TableSpec, work: Work, raw_types: dict[str, str], file_columns: list[str]) -> None:
    """The table's active resolutions and the source rows they apply to (same key, same original values), in
    work.resolved; a correction that does not fit its raw column is kept with its problem and not applied."""
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM quality.resolutions WHERE table_name = %s AND revoked_at IS NULL)", (spec.name,)
    )
    active = cur.fetchone()[0]
    # The key is compared first (a hash join on the few resolved keys); the row's json only for rows it matched.
    # Rows alike in every value (a row delivered twice) match one resolution together: it applies to one of them,
    # the row it was made on where that is still there, else the last (duplicates keep the first).
    cur.execute(
        sql.SQL("""
        CREATE UNLOGGED TABLE {resolved} WITH (autovacuum_enabled = false) AS
        SELECT DISTINCT ON (res.id) res.id AS resolution_id, r._source_row AS source_row, res.action, res.corrections, res.why,
               res.resolved_by, NULL::text AS problem, NULL::text AS outcome, NULL::text AS detail
        FROM quality.resolutions res JOIN {source} r ON {key} = res.record_key {original}
        WHERE {active} AND res.table_name = {table} AND res.revoked_at IS NULL
          AND md5(row_to_json(o)::text) = res.original_digest
        ORDER BY res.id, r._source_row = res.source_row DESC, r._source_row DESC""").format(
            resolved=work.resolved,
            source=work.source,
            key=key_expr(spec, "r"),
            original=original_row(file_columns),
            active=sql.Literal(active),
            table=sql.Literal(spec.name),
        )
    )
    if not active:
        return
    cur.execute(sql.SQL("SELECT DISTINCT jsonb_object_keys(corrections) FROM {}").format(work.resolved))
    for (column,) in cur.fetchall():
        value = sql.SQL("c.corrections ->> {}").format(sql.Literal(column))
        unfit: sql.Composable
        if column not in raw_types or column not in spec.column_names:
            unfit = sql.SQL("true")
        elif raw_types[column] in RAW_TRY_CAST:
            unfit = sql.SQL("{} IS NOT NULL AND {}({}) IS NULL").format(
                value, sql.SQL(RAW_TRY_CAST[raw_types[column]]), value
            )
        else:
            continue  # text, or a type the file gave that a cast of the value's text reaches
        cur.execute(
            sql.SQL(
                "UPDATE {resolved} c SET problem = {column} || ' = ' || coalesce({value}, 'null') || "
                "' does not fit the source column' WHERE c.problem IS NULL AND c.corrections ? {column} AND {unfit}"
            ).format(resolved=work.resolved, column=sql.Literal(column), value=value, unfit=unfit)
        )


def _corrected(cur, work: Work) -> list[str]:
    cur.execute(
        sql.SQL("SELECT DISTINCT jsonb_object_keys(corrections) FROM {} WHERE problem IS NULL ORDER BY 1").format(
            work.resolved
        )
    )
    return [column for (column,) in cur.fetchall()]


def source(cur, spec: TableSpec, work: Work, raw_types: dict[str, str]) -> sql.Composable:
    """What the scan reads: the source table, or (when resolutions correct values) the source with the corrected
    values in place of the arrived ones, in the source's own types (the scan casts and checks them as any value)."""
    corrected = set(_corrected(cur, work))
    if not corrected:
        return work.source
    columns = []
    for name in (c for c in spec.column_names if c in raw_types):
        column = sql.Identifier(name)
        if name not in corrected:
            columns.append(sql.SQL("s.{}").format(column))
            continue
        value = sql.SQL("(c.corrections ->> {})").format(sql.Literal(name))
        cast = RAW_TRY_CAST.get(raw_types[name])
        typed = (
            sql.SQL("{}({})").format(sql.SQL(cast), value)
            if cast
            else sql.SQL("{}::{}").format(value, sql.SQL(raw_types[name]))
        )
        columns.append(
            sql.SQL("CASE WHEN c.corrections ? {} THEN {} ELSE s.{} END AS {}").format(
                sql.Literal(name), typed, column, column
            )
        )
    return sql.SQL(
        "(SELECT s._source_row, s._escaped, {} FROM {} s LEFT JOIN {} c "
        "ON c.source_row = s._source_row AND c.problem IS NULL)"
    ).format(sql.SQL(", ").join(columns), work.source, work.resolved)


def release(cur, spec: TableSpec, work: Work) -> None:
    """Let go of the held rows that a resolution releases, unless a rule that clean cannot bend holds them too;
    their findings stay, marked released (no longer counted as quarantined)."""
    cur.execute(
        sql.SQL("""
        WITH freed AS (
            DELETE FROM {held} q USING {resolved} c
            WHERE q.source_row = c.source_row AND c.problem IS NULL
              AND NOT EXISTS (SELECT 1 FROM {found} f WHERE f.source_row = c.source_row
                              AND f.action = 'quarantine' AND f.rule_id = ANY({hard}))
            RETURNING q.source_row)
        UPDATE {found} f SET action = 'released' FROM freed
        WHERE f.source_row = freed.source_row AND f.action = 'quarantine'""").format(
            held=work.held, resolved=work.resolved, found=work.found, hard=sql.Literal(hard_rules(spec))
        )
    )


def record(cur, spec: TableSpec, work: Work, run_id: str) -> None:
    """What became of each matched resolution (applied, not needed, held and why), and the heal_log rows of the
    applied ones: `<table>.resolution.release` per released row, `<table>.resolution.correct` per corrected value."""
    cur.execute(
        sql.SQL("""
        UPDATE {resolved} c SET
            outcome = CASE WHEN c.problem IS NOT NULL OR EXISTS (SELECT 1 FROM {held} q WHERE q.source_row = c.source_row)
                           THEN 'held'
                           WHEN c.action = 'correct' OR EXISTS (SELECT 1 FROM {found} f
                                WHERE f.source_row = c.source_row AND f.action = 'released') THEN 'applied'
                           ELSE 'not needed' END,
            detail = coalesce(c.problem, (SELECT 'still held by ' || string_agg(DISTINCT f.rule_id, ', ')
                                          FROM {found} f WHERE f.source_row = c.source_row
                                          AND f.action = 'quarantine'))""").format(
            resolved=work.resolved, held=work.held, found=work.found
        )
    )
    table, run = sql.Literal(spec.name), sql.Literal(run_id)
    cur.execute(
        sql.SQL("""
        INSERT INTO {log} SELECT {table}, c.source_row, {key}, '*', {rule}, 'held by ' || x.rules,
               'released by ' || c.resolved_by || ' (resolution ' || c.resolution_id || '): ' || c.why, {run}
        FROM {resolved} c JOIN {rows} h ON h._source_row = c.source_row
        CROSS JOIN LATERAL (SELECT string_agg(DISTINCT f.rule_id, ', ') AS rules FROM {found} f
                            WHERE f.source_row = c.source_row AND f.action = 'released') x
        WHERE c.outcome = 'applied' AND x.rules IS NOT NULL""").format(
            log=work.log,
            table=table,
            key=key_expr(spec, "h"),
            rule=sql.Literal(f"{spec.name}.resolution.release"),
            run=run,
            resolved=work.resolved,
            rows=work.rows,
            found=work.found,
        )
    )
    cur.execute(
        sql.SQL("""
        INSERT INTO {log} SELECT {table}, c.source_row, {key}, x.key, {rule}, to_jsonb(r) ->> x.key, x.value, {run}
        FROM {resolved} c JOIN {rows} h ON h._source_row = c.source_row
        JOIN {source} r ON r._source_row = c.source_row CROSS JOIN LATERAL jsonb_each_text(c.corrections) x
        WHERE c.outcome = 'applied' AND (to_jsonb(r) ->> x.key) IS DISTINCT FROM x.value""").format(
            log=work.log,
            table=table,
            key=key_expr(spec, "h"),
            rule=sql.Literal(f"{spec.name}.resolution.correct"),
            run=run,
            resolved=work.resolved,
            rows=work.rows,
            source=work.source,
        )
    )


def store_outcomes(cur, spec: TableSpec, work: Work, run_id: str) -> None:
    """In the heal's last transaction: each active resolution's outcome; one that matched no source row says the
    row changed since (its new values are checked as any row's, and it does not inherit the release)."""
    cur.execute(
        sql.SQL("""
        UPDATE quality.resolutions res
        SET outcome = coalesce(o.outcome, 'source changed'),
            outcome_detail = CASE WHEN o.outcome IS NULL
                                  THEN 'no source row has this key with the values it was resolved on'
                                  ELSE o.detail END,
            outcome_run = {run}
        FROM quality.resolutions a LEFT JOIN (SELECT DISTINCT ON (resolution_id) resolution_id, outcome, detail
                                              FROM {resolved} ORDER BY resolution_id, outcome) o
             ON o.resolution_id = a.id
        WHERE res.id = a.id AND a.table_name = {table} AND a.revoked_at IS NULL""").format(
            run=sql.Literal(run_id), resolved=work.resolved, table=sql.Literal(spec.name)
        )
    )
