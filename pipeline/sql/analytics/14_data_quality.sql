-- Per heal run, table and rule: rows checked, violations, fixed, quarantined and flagged (quality.rule_results),
-- beside the table's figures for that run (quality.table_results): valid_rate_before = rows that broke no rule /
-- raw rows, valid_rate_after = rows that ended in clean (as they were, fixed or flagged) / raw rows. checked_at is
-- when the rule ran. latest_heal marks the rows of each table's most recent heal. A plain view: the tables are small.
CREATE VIEW analytics.data_quality AS
SELECT t.run_id,
       t.table_name,
       r.rule_id,
       r.description,
       r.severity,
       r.action,
       r.rows_checked,
       r.violations,
       r.fixed,
       r.quarantined,
       r.flagged,
       (r.violations::numeric / nullif(r.rows_checked, 0))::numeric(8, 4)  AS violation_rate,
       t.raw_rows,
       t.valid_before,
       t.fixed_rows,
       t.clean_rows,
       t.quarantined                                                       AS table_quarantined,
       (t.valid_before::numeric / nullif(t.raw_rows, 0))::numeric(8, 4)    AS valid_rate_before,
       (t.clean_rows::numeric / nullif(t.raw_rows - t.replaced, 0))::numeric(8, 4) AS valid_rate_after,
       coalesce(r.checked_at, t.checked_at)                                AS checked_at,
       t.checked_at = max(t.checked_at) OVER (PARTITION BY t.table_name)   AS latest_heal
FROM quality.table_results t
LEFT JOIN quality.rule_results r ON r.run_id = t.run_id AND r.table_name = t.table_name;
