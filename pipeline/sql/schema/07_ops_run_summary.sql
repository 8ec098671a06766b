-- The one definition of a run's figures and status, read by `python -m pipeline runs`, the run report and the app:
-- tasks done, tasks failed (failed or interrupted, and not done later in the run), attempts, rows loaded, clean and
-- quarantined. Made once (a view in use would block a replacement): a new definition needs a DROP VIEW here.
DO $$ BEGIN
    IF to_regclass('ops.run_summary') IS NULL THEN
        CREATE VIEW ops.run_summary AS
        SELECT r.run_id, r.started_at, r.finished_at, r.status, r.command, r.host, r.pid, r.tasks_planned,
               extract(epoch FROM coalesce(r.finished_at, clock_timestamp()) - r.started_at) AS seconds,
               count(t.id) AS attempts,
               count(DISTINCT t.task_id) FILTER (WHERE t.status = 'done') AS done,
               count(DISTINCT t.task_id) FILTER (WHERE t.status IN ('failed', 'interrupted')
                   AND NOT EXISTS (SELECT 1 FROM ops.task_runs d WHERE d.run_id = t.run_id AND d.task_id = t.task_id
                                   AND d.status = 'done')) AS failed,
               sum(t.rows_out) FILTER (WHERE t.task_family = 'LoadTable' AND t.status = 'done') AS loaded,
               sum(t.rows_out) FILTER (WHERE t.task_family = 'HealTable' AND t.status = 'done') AS clean,
               sum(t.rows_quarantined) FILTER (WHERE t.status = 'done') AS quarantined
        FROM ops.runs r LEFT JOIN ops.task_runs t USING (run_id)
        GROUP BY r.run_id;
    END IF;
END $$;
