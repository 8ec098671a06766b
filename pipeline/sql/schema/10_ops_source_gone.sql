-- Part files gone from a folder source: every load keeps their rows (raw, then clean and the quarantine) until
-- `python -m pipeline parts forget` records them here in ops.forgotten_parts and the next load drops them.
CREATE TABLE IF NOT EXISTS ops.source_gone (
    table_name  text NOT NULL,
    part        text NOT NULL,
    rows        bigint NOT NULL,
    since_run   text NOT NULL,
    PRIMARY KEY (table_name, part)
);
CREATE TABLE IF NOT EXISTS ops.forgotten_parts (
    table_name   text NOT NULL,
    part         text NOT NULL,
    forgotten_by text NOT NULL,
    forgotten_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, part)
);
