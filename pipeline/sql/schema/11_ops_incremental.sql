-- Incremental loads and heals (issue 18). ops.source_parts: the part files of a folder source whose rows raw.<table>
-- holds, in the order they arrived (their rows are numbered in that order, a full reload keeps it). ops.incremental_basis:
-- what the table's latest heal was made from, so that the next one may heal only the new rows.
CREATE TABLE IF NOT EXISTS ops.source_parts (
    table_name  text NOT NULL,
    part        text NOT NULL,
    digest      text NOT NULL,
    rows        bigint NOT NULL,
    arrived     integer NOT NULL,  -- the order of arrival; parts of one load in name order
    inputs      text NOT NULL,  -- the spec and loading code it was loaded with: other ones reload the whole table
    loaded_run  text NOT NULL,
    PRIMARY KEY (table_name, part)
);
CREATE TABLE IF NOT EXISTS ops.incremental_basis (
    table_name  text PRIMARY KEY,
    generation  text NOT NULL,  -- new with every full heal; an incremental heal only appends to clean
    parents     jsonb NOT NULL, -- the generation of each table whose clean rows this heal read
    inputs      text NOT NULL,  -- digest of the rules, contract, thresholds and resolutions it applied
    raw_rows    bigint NOT NULL,  -- numbered 1 to raw_rows when its load may be a delta (delta_load checks)
    figures     jsonb NOT NULL,   -- the whole table's counts per rule and in all, as quality.table_results has them
    run_id      text NOT NULL
);
-- The rows of each table's quarantine held for a parent (an orphan, or a parent in quarantine), with the parent's key
-- as the rules read it: an incremental heal checks again only those whose parent may have arrived.
CREATE TABLE IF NOT EXISTS ops.waiting_for_parent (
    table_name   text NOT NULL,
    source_row   bigint NOT NULL,
    rule_id      text NOT NULL,
    parent_table text NOT NULL,
    parent_key   text NOT NULL
);
CREATE INDEX IF NOT EXISTS waiting_for_parent_row ON ops.waiting_for_parent (table_name, source_row);
-- Each parent's raw row count when the table's latest heal began (its rows are numbered 1 to that count): a row
-- held for a parent can only be released by a parent row numbered after it, or by one released since (heal_log).
ALTER TABLE ops.incremental_basis ADD COLUMN IF NOT EXISTS parent_rows jsonb;
