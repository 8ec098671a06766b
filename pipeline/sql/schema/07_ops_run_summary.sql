-- The one definition of a run's figures and status, read by `python -m pipeline runs`, the run report and the app:
-- tasks done, tasks failed (failed or interrupted, and not done later in the run), attempts, rows loaded, clean and
-- quarantined. The figures come from a LATERAL subquery, not a GROUP BY over ops.runs' key: a view that leans on a
-- primary key is dumped in two parts, and pg_restore --clean then rewrites it before the schema exists.
-- Made once (a view in use would block a replacement): a new definition needs a DROP VIEW here.
DO $$ BEGIN
    IF to_regclass('ops.run_summary') IS NULL THEN
        CREATE VIEW ops.run_summary AS
        SELECT r.run_id, r.started_at, r.finished_at, r.status, r.command, r.host, r.pid, r.tasks_planned,
               extract(epoch FROM coalesce(r.finished_at, clock_timestamp()) - r.started_at) AS seconds,
               t.attempts, t.done, t.failed, t.loaded, t.clean, t.quarantined
        FROM ops.runs r CROSS JOIN LATERAL (
            SELECT count(*) AS attempts,
                   count(DISTINCT a.task_id) FILTER (WHERE a.status = 'done') AS done,
                   count(DISTINCT a.task_id) FILTER (WHERE a.status IN ('failed', 'interrupted')
                       AND NOT EXISTS (SELECT 1 FROM ops.task_runs d WHERE d.run_id = a.run_id AND d.task_id = a.task_id
                                       AND d.status = 'done')) AS failed,
                   sum(a.rows_out) FILTER (WHERE a.task_family = 'LoadTable' AND a.status = 'done') AS loaded,
                   sum(a.rows_out) FILTER (WHERE a.task_family = 'HealTable' AND a.status = 'done') AS clean,
                   sum(a.rows_quarantined) FILTER (WHERE a.status = 'done') AS quarantined
            FROM ops.task_runs a WHERE a.run_id = r.run_id) t;
    END IF;
END $$;
