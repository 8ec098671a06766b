-- Completion markers: a task is complete when its marker holds the fingerprint of its current inputs.
CREATE TABLE IF NOT EXISTS ops.markers (
    task_id      text PRIMARY KEY,
    task_family  text NOT NULL,
    fingerprint  text NOT NULL,
    run_id       text NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now()
);
