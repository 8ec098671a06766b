-- A person's decision about one quarantined row: release it as it is, or correct values and release it. Every later
-- heal of the table applies the active ones (quality/resolved.py), so a rerun never undoes them. A resolution is
-- bound to the row's business key AND the digest of the values the row arrived with: a changed source row does not
-- inherit it (the heal records outcome 'source changed' and the row is checked like any other).
CREATE TABLE IF NOT EXISTS quality.resolutions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name      text NOT NULL,
    record_key      text NOT NULL,
    source_row      bigint NOT NULL,          -- the raw row it was made on (informational)
    original        json NOT NULL,            -- the row's values as they arrived (as the quarantine held them)
    original_digest text NOT NULL,            -- md5(original::text): what a heal matches source rows on, with the key
    action          text NOT NULL CHECK (action IN ('release', 'correct')),
    corrections     jsonb NOT NULL DEFAULT '{}',  -- column -> new value as text (JSON null: the value is cleared)
    rule_ids        text[] NOT NULL,          -- what the row was held for when it was resolved
    why             text NOT NULL CHECK (btrim(why) <> ''),
    resolved_by     text NOT NULL,
    resolved_at     timestamptz NOT NULL DEFAULT now(),
    revoked_by      text,
    revoked_at      timestamptz,
    outcome         text,                     -- the table's latest heal: applied, not needed, held, source changed
    outcome_detail  text,
    outcome_run     text
);
CREATE INDEX IF NOT EXISTS resolutions_table ON quality.resolutions (table_name, record_key) WHERE revoked_at IS NULL;
