"""What the analytics have not seen (ops.analytics_pending): the rows the heals added, and the policies, customers and
months whose rows in the keyed analytics tables Transform refreshes instead of building every view again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg2 import sql

from .tables import TABLES

# The tables whose new clean rows the keyed tables take in by policy and customer. A new row of any other table (a
# currency rate changes every policy's USD figures) or a full heal of any table builds everything again.
KEYED_SOURCES = ("customers", "policies", "claims", "payments")
# The keys a new clean row of each keyed source changes, as SQL over its healed row h.
KEYS_OF = {
    "customers": {"customer_id": "h.customer_id"},
    "policies": {"policy_id": "h.policy_id", "customer_id": "h.customer_id"},
    "claims": {"policy_id": "h.policy_id", "month": "date_trunc('month', h.claim_date)::date"},
    "payments": {"policy_id": "h.policy_id", "month": "date_trunc('month', h.transaction_date)::date"},
}
# The key columns of ops.analytics_pending, each with what a source without that key records.
KEY_COLUMNS = {"policy_id": "NULL::text", "customer_id": "NULL::text", "month": "NULL::date"}
# The amounts the additive tables sum, per keyed source. In whole cents, the sums of the new rows add exactly to the
# stored sums (rounded to cents); with fractions of a cent, old and new rows summed apart might round otherwise than
# summed together, so the keyed refresh reads the changed keys' rows again instead.
SUMMED = {"policies": ("premium_amount",), "claims": ("claim_amount",), "payments": ("amount", "refunded_amount")}


@dataclass
class Changes:
    """What a Transform is to take in: why it builds everything (`full`), or how many keys of each set it refreshes."""

    full: str | None
    keys: dict[str, int]
    not_additive: str | None = None  # why the additive tables cannot add the new rows (then: keyed refresh)


def record_rows(cur, table: str, work, run_id: str) -> None:
    """An incremental heal: the raw rows it checked, with the keys and the primary key of those it added to clean (it
    changes no other clean row but for flags, which no view reads), read from its healed rows, so that Transform need
    not look for them in clean (a scan of a million payments)."""
    keys = KEYS_OF.get(table, {})
    cur.execute(
        sql.SQL(
            "INSERT INTO ops.analytics_pending (table_name, source_row, run_id, keys_recorded, {columns}, "
            "row_keys_recorded, row_key) "
            "SELECT %s, h._source_row, %s, true, {keys}, true, CASE WHEN q.source_row IS NULL THEN {row_key}::text END "
            "FROM {rows} h LEFT JOIN {held} q ON q.source_row = h._source_row"
        ).format(
            columns=sql.SQL(", ").join(map(sql.Identifier, KEY_COLUMNS)),
            keys=sql.SQL(", ").join(
                sql.SQL("CASE WHEN q.source_row IS NULL THEN {} END").format(sql.SQL(keys.get(c, none)))
                for c, none in KEY_COLUMNS.items()
            ),
            row_key=sql.SQL("h.{}").format(sql.Identifier(TABLES[table].primary_key[0])),
            rows=work.rows,
            held=work.held,
        ),
        (table, run_id),
    )


def record_full(cur, table: str, run_id: str) -> None:
    """A full heal: any clean row of the table may have changed."""
    cur.execute(
        "INSERT INTO ops.analytics_pending (table_name, source_row, run_id) VALUES (%s, NULL, %s)", (table, run_id)
    )


def new_rows(table: str) -> sql.Composed:
    """The table of the primary keys of the rows the heals added to one keyed source's clean table, made by take()
    in the caller's transaction when the additive tables can add them (an unlogged table, as changed())."""
    return sql.SQL("ops.{}").format(sql.Identifier(f"analytics_new_{table}"))


def changed(keys: str) -> sql.Composed:
    """The table of the changed keys of one set (policies, customers, months), made by take() in the caller's
    transaction. Unlogged tables of the scratch schema, not temporary ones: PostgreSQL's parallel workers cannot read
    temporary tables, so a refresh that joined one ran on one core."""
    return sql.SQL("ops.{}").format(sql.Identifier(f"analytics_changed_{keys}"))


KEY_SETS = ("policies", "customers", "months")


def drop_changed(cur) -> None:
    """The changed-key and new-row tables, dropped before the caller's transaction ends (no other session ever sees
    them)."""
    tables = [changed(k) for k in KEY_SETS] + [new_rows(t) for t in KEYED_SOURCES]
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(tables)))


def _make(cur, keys: str, select: str, *tables: sql.Composable) -> None:
    cur.execute(
        sql.SQL("CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS {}").format(
            changed(keys), sql.SQL(select).format(*tables)
        )
    )


def take(cur, fingerprint: str, keyed_tables: list[str], full_because: str | None) -> Changes:
    """Take the pending changes (deleted here, in the caller's transaction: a heal that commits meanwhile waits for
    the next Transform) and decide: everything built again, or the keyed tables refreshed for the changed() keys of
    the policies, customers and months (column key), which the caller drops (drop_changed) before it commits."""
    # Made anew: a second build in the same transaction (a caller's own) finds the first one's still there.
    cur.execute("DROP TABLE IF EXISTS pg_temp.analytics_taken")
    drop_changed(cur)
    cur.execute(
        "CREATE TEMPORARY TABLE analytics_taken ON COMMIT DROP AS SELECT * FROM ops.analytics_pending WITH NO DATA"
    )
    cur.execute(
        "WITH taken AS (DELETE FROM ops.analytics_pending RETURNING *) INSERT INTO analytics_taken SELECT * FROM taken"
    )
    why = full_because or _why_full(cur, fingerprint, keyed_tables)
    if why is not None:
        return Changes(why, {})
    _make(cur, "policies", "SELECT DISTINCT policy_id AS key FROM analytics_taken WHERE policy_id IS NOT NULL")
    cur.execute(sql.SQL("ANALYZE {}").format(changed("policies")))  # read by the next statement
    # A customer's figures change with any of its policies' (claims, payments).
    _make(
        cur,
        "customers",
        "SELECT customer_id AS key FROM analytics_taken WHERE customer_id IS NOT NULL "
        "UNION SELECT customer_id FROM clean.policies WHERE policy_id = ANY(ARRAY(SELECT key FROM {})) "
        "AND customer_id IS NOT NULL",  # by the primary key: a semi-join scanned every policy
        changed("policies"),
    )
    # The month-grouped tables: an incremental heal changes no clean row another row's group is read from (a new
    # row that would is a full heal), so only the months of the new payments and claims change.
    _make(cur, "months", "SELECT DISTINCT month AS key FROM analytics_taken WHERE month IS NOT NULL")
    cur.execute(sql.SQL("ANALYZE {}, {}").format(changed("customers"), changed("months")))
    keys = {}
    for name in KEY_SETS:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(changed(name)))
        keys[name] = cur.fetchone()[0]
    return Changes(None, keys, _why_not_additive(cur))


def new_months(cur, table: str) -> tuple[date | None, date | None]:
    """After take(), in its transaction: the first and last month of the rows of `table` it took (None, None: none)."""
    cur.execute("SELECT min(month), max(month) FROM analytics_taken WHERE table_name = %s", (table,))
    first, last = cur.fetchone()
    return first, last


def _why_not_additive(cur) -> str | None:
    """Make the new-row tables (new_rows()) and say why the additive tables cannot add those rows, if they cannot."""
    cur.execute("SELECT table_name FROM analytics_taken WHERE source_row IS NOT NULL AND NOT row_keys_recorded LIMIT 1")
    row = cur.fetchone()
    if row is not None:  # recorded by a version that kept no primary keys
        return f"the new rows of {row[0]} were recorded without their primary keys"
    for table in KEYED_SOURCES:
        key = TABLES[table].column(TABLES[table].primary_key[0])
        _make_new(cur, table, key.name, key.pg_type)
    for table, columns in SUMMED.items():
        fractions = sql.SQL(" OR ").join(
            sql.SQL("{0}::numeric <> round({0}::numeric, 2)").format(sql.Identifier(c)) for c in columns
        )
        cur.execute(
            sql.SQL(
                "SELECT {key} FROM clean.{table} WHERE {key} = ANY(ARRAY(SELECT key FROM {new})) AND ({fractions}) LIMIT 1"
            ).format(
                key=sql.Identifier(TABLES[table].primary_key[0]),
                table=sql.Identifier(table),
                new=new_rows(table),
                fractions=fractions,
            )
        )
        row = cur.fetchone()
        if row is not None:
            return f"{table} {row[0]} has an amount in fractions of a cent"
    return None


def _make_new(cur, table: str, key: str, pg_type: str) -> None:
    cur.execute(
        sql.SQL(
            "CREATE UNLOGGED TABLE {} WITH (autovacuum_enabled = false) AS SELECT DISTINCT row_key::{} AS key "
            "FROM analytics_taken WHERE table_name = %s AND row_key IS NOT NULL"
        ).format(new_rows(table), sql.SQL(pg_type)),
        (table,),
    )
    cur.execute(sql.SQL("ANALYZE {}").format(new_rows(table)))


def _why_full(cur, fingerprint: str, keyed_tables: list[str]) -> str | None:
    cur.execute("SELECT fingerprint FROM ops.analytics_basis")
    row = cur.fetchone()
    if row is None:
        return "no earlier build to refresh"
    if row[0] != fingerprint:
        return "the analytics SQL or the code that builds it changed"
    for name in keyed_tables:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (f"analytics.{name}",))
        found = cur.fetchone()
        if found is None or found[0] != "r":
            return f"analytics.{name} is missing"
    cur.execute("SELECT table_name FROM analytics_taken WHERE source_row IS NOT NULL AND NOT keys_recorded LIMIT 1")
    row = cur.fetchone()
    if row is not None:  # recorded by a version that kept no keys (an upgrade between a heal and its Transform)
        return f"the changes of {row[0]} were recorded without their keys"
    cur.execute(
        "SELECT table_name, source_row IS NULL FROM analytics_taken WHERE source_row IS NULL OR table_name <> ALL(%s) "
        "ORDER BY 2 DESC, 1 LIMIT 1",
        (list(KEYED_SOURCES),),
    )
    row = cur.fetchone()
    if row is not None:
        return f"{row[0]} was healed in full" if row[1] else f"{row[0]} has new rows"
    return None


def built(cur, fingerprint: str, run_id: str | None) -> None:
    """The views stand for the analytics SQL of `fingerprint`."""
    cur.execute(
        "INSERT INTO ops.analytics_basis (fingerprint, run_id) VALUES (%s, %s) "
        "ON CONFLICT (only_row) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, run_id = EXCLUDED.run_id",
        (fingerprint, run_id),
    )
