-- What the analytics have not seen yet (issue 18). An incremental heal adds the raw rows it checked (source_row: the
-- ones that reached clean are the only clean rows it added); a full heal adds its table with no row (every view is
-- built again). Transform empties it, in its transaction. ops.analytics_basis: the analytics SQL the views were built
-- from, so that a change of it builds them all again.
CREATE TABLE IF NOT EXISTS ops.analytics_pending (
    table_name  text NOT NULL,
    source_row  bigint,  -- NULL: the table was healed in full
    run_id      text NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.analytics_basis (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    fingerprint text NOT NULL,
    run_id      text
);
-- The keys of the rows an incremental heal added to clean (NULL for a row it held), so that Transform reads them
-- here instead of looking for the rows in clean; keys_recorded is false on rows an earlier version recorded.
ALTER TABLE ops.analytics_pending
    ADD COLUMN IF NOT EXISTS keys_recorded boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS policy_id     text,
    ADD COLUMN IF NOT EXISTS customer_id   text,
    ADD COLUMN IF NOT EXISTS month         date;
-- The primary key of each row an incremental heal added to clean (NULL for a row it held), so that an additive
-- refresh reads only those rows; row_keys_recorded is false on rows an earlier version recorded.
ALTER TABLE ops.analytics_pending
    ADD COLUMN IF NOT EXISTS row_keys_recorded boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS row_key           text;
