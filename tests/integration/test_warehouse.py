"""The warehouse itself: the embedded server's settings, and warehouses made by older versions brought up to date."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from pipeline import embedded, warehouse

from tests.support import execute, query, scalar


def test_embedded_server_runs_with_the_bulk_settings(tmp_path):
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="stop")
    try:
        warehouse.tune_embedded(server)
        warehouse.tune_embedded(server)  # already in effect: nothing to do, no second restart
        with psycopg2.connect(server.get_uri("postgres")) as conn, conn.cursor() as cur:
            for name, value in warehouse.EMBEDDED_SETTINGS.items():
                cur.execute("SELECT current_setting(%s)", (name,))
                assert cur.fetchone()[0] == value, name
        conn.close()
    finally:
        server.cleanup()


def test_panels_asking_for_a_new_embedded_warehouse_at_once_all_get_it(tmp_path):
    # the app's first start: every panel's thread asks at the same instant; CREATE DATABASE raced and one of them
    # showed "duplicate key value violates unique constraint pg_database_datname_index" (CI, stop 23)
    folder = tmp_path / "wh"
    try:
        with ThreadPoolExecutor(6) as pool:
            urls = list(pool.map(lambda _: embedded.url(folder, "warehouse"), range(6)))
        assert len(set(urls)) == 1
        assert scalar(urls[0], "SELECT current_database()") == "warehouse"
    finally:
        from pgserver import pg_ctl

        server = embedded.start(folder)
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder.resolve(), user=server.system_user)


def test_an_unpartitioned_quarantine_is_replaced_and_its_heals_run_again(database_url):
    execute(
        database_url,
        "CREATE SCHEMA ops",
        "CREATE SCHEMA quality",
        "CREATE TABLE ops.markers (task_id text PRIMARY KEY, task_family text NOT NULL, fingerprint text NOT NULL,"
        " run_id text NOT NULL, completed_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO ops.markers VALUES ('heal:claims', 'HealTable', 'f1', 'r'), ('load:claims', 'LoadTable', "
        "'f2', 'r')",
        "CREATE TABLE quality.quarantine (table_name text, source_row bigint, original jsonb)",
        "CREATE TABLE quality.heal_log (table_name text, source_row bigint)",
    )
    with psycopg2.connect(database_url) as conn:
        warehouse.bootstrap(conn)
    conn.close()
    assert scalar(database_url, "SELECT relkind FROM pg_class WHERE oid = 'quality.quarantine'::regclass") == "p"
    assert scalar(database_url, "SELECT relkind FROM pg_class WHERE oid = 'quality.heal_log'::regclass") == "p"
    assert dict(query(database_url, "SELECT task_id, fingerprint FROM ops.markers")) == {
        "heal:claims": "invalidated",
        "load:claims": "f2",
    }
    assert (
        scalar(database_url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'quality.quarantine'::regclass") == 11
    )


def test_an_older_warehouse_gets_the_analytics_key_columns_its_pending_rows_marked_keyless(database_url):
    # a warehouse of the version before the heals recorded keys, with a change it recorded still pending
    warehouse.connect("test", address=database_url, ops=True).close()
    execute(
        database_url,
        "ALTER TABLE ops.analytics_pending DROP COLUMN keys_recorded, DROP COLUMN policy_id, "
        "DROP COLUMN customer_id, DROP COLUMN month, DROP COLUMN row_keys_recorded, DROP COLUMN row_key",
        "INSERT INTO ops.analytics_pending (table_name, source_row, run_id) VALUES ('payments', 7, 'r-old')",
    )
    warehouse.connect("test", address=database_url, ops=True).close()  # the next session brings it up to date
    assert query(
        database_url,
        "SELECT keys_recorded, policy_id, customer_id, month, row_keys_recorded, row_key FROM ops.analytics_pending "
        "WHERE run_id = 'r-old'",
    ) == [(False, None, None, None, False, None)]


def test_rows_appended_after_the_row_number_index_are_summarized_by_summarize_appended(database_url):
    """The BRIN index on _source_row reads only a table's tail; pages appended after it was built are summarized by
    summarize_appended, or every look-up reads them all (brin_summarize_new_values: the ranges it had to summarize)."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for table in ("left_alone", "summarized"):
            cur.execute(f"CREATE TABLE raw.{table} AS SELECT n AS _source_row FROM generate_series(1, 30000) n")
            cur.execute(warehouse.row_number_index("raw", table))
            cur.execute(f"INSERT INTO raw.{table} SELECT n FROM generate_series(30001, 100000) n")
        warehouse.summarize_appended(cur, "raw", "summarized")
        unsummarized = {}
        for table in ("left_alone", "summarized"):
            cur.execute("SELECT brin_summarize_new_values(%s::regclass)", (f"raw.{table}__source_row",))
            unsummarized[table] = cur.fetchone()[0]
    conn.close()
    assert unsummarized["left_alone"] > 0 and unsummarized["summarized"] == 0, unsummarized
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        warehouse.summarize_appended(cur, "raw", "no_such_table")  # a table without the index: nothing, no error
    conn.close()
