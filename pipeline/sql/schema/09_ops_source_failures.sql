-- Part files of a folder source that the latest load of their table could not read (the other parts loaded).
CREATE TABLE IF NOT EXISTS ops.source_failures (
    table_name  text NOT NULL,
    part        text NOT NULL,
    reason      text NOT NULL,
    run_id      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, part)
);
