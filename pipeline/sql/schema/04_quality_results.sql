-- Figures per run, table and rule.
CREATE TABLE IF NOT EXISTS quality.rule_results (
    run_id      text NOT NULL,
    table_name  text NOT NULL,
    rule_id     text NOT NULL,
    description text NOT NULL,
    severity    text NOT NULL,
    action      text NOT NULL,
    rows_checked bigint NOT NULL,
    violations  bigint NOT NULL,
    fixed       bigint NOT NULL,
    quarantined bigint NOT NULL,
    flagged     bigint NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, table_name, rule_id)
);
CREATE TABLE IF NOT EXISTS quality.table_results (
    run_id         text NOT NULL,
    table_name     text NOT NULL,
    raw_rows       bigint NOT NULL,
    clean_rows     bigint NOT NULL,
    quarantined    bigint NOT NULL,
    valid_before   bigint NOT NULL,
    fixed_rows     bigint NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, table_name)
);
-- Older versions that corrections replaced (quality/corrections.py): raw = clean + quarantined + replaced.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'quality' AND table_name = 'table_results' AND column_name = 'replaced') THEN
        ALTER TABLE quality.table_results ADD COLUMN replaced bigint NOT NULL DEFAULT 0;
    END IF;
END $$;
