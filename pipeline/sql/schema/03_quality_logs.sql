-- quarantine and heal_log hold each table's latest heal in a partition of its own, which a heal empties with
-- TRUNCATE (no dead rows; with wal_level = minimal its inserts skip the WAL). Warehouses made before the
-- partitions lose these two derived tables here, and their heals run again.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('quality.quarantine') AND relkind = 'r') THEN
        DROP TABLE quality.quarantine, quality.heal_log;
        UPDATE ops.markers SET fingerprint = 'invalidated' WHERE task_family IN ('HealTable', 'Transform', 'Backup');
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS quality.quarantine (
    table_name   text NOT NULL,
    source_row   bigint NOT NULL,
    record_key   text,
    rule_ids     text[] NOT NULL,
    messages     jsonb NOT NULL,
    original     json NOT NULL,
    survivor_key text,
    run_id       text NOT NULL,
    PRIMARY KEY (table_name, source_row)
) PARTITION BY LIST (table_name);
CREATE TABLE IF NOT EXISTS quality.heal_log (
    table_name  text NOT NULL,
    source_row  bigint NOT NULL,
    record_key  text,
    column_name text NOT NULL,
    rule_id     text NOT NULL,
    before      text,
    after       text,
    run_id      text NOT NULL
) PARTITION BY LIST (table_name);
-- One partition of quarantine and heal_log per source table: quality.add_partitions(ARRAY[...table names]), called
-- by warehouse.bootstrap with the names in tables.py. Checked first: creating a partition or an index locks the
-- parent, which a running heal is writing to.
CREATE OR REPLACE FUNCTION quality.add_partitions(tables text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text;
    part text;
BEGIN
    IF to_regclass('quality.heal_log_table') IS NULL THEN
        CREATE INDEX heal_log_table ON quality.heal_log (table_name, rule_id);
    END IF;
    FOREACH name IN ARRAY tables LOOP
        FOREACH part IN ARRAY ARRAY['quarantine', 'heal_log'] LOOP
            IF to_regclass(format('quality.%I', part || '_' || name)) IS NULL THEN
                EXECUTE format('CREATE TABLE quality.%I PARTITION OF quality.%I FOR VALUES IN (%L)',
                               part || '_' || name, part, name);
            END IF;
        END LOOP;
    END LOOP;
END $$;
