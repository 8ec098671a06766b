-- The warehouse's schemas (see README: raw, incoming, clean, quality, analytics, ops).
CREATE SCHEMA IF NOT EXISTS raw;
-- A loaded delivery waits in incoming.<table> until its heal publishes it (see warehouse.STAGE).
CREATE SCHEMA IF NOT EXISTS incoming;
CREATE SCHEMA IF NOT EXISTS clean;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS history;  -- older versions that corrections replaced (quality/corrections.py)
