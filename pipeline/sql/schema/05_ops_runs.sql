-- Run history: a row per run and a row per attempt of a task, never deleted.
CREATE TABLE IF NOT EXISTS ops.runs (
    run_id      text PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running',
    command     text,
    host        text,
    pid         integer,
    tasks_planned integer
);
-- Warehouses made before ops.runs had pid and tasks_planned (checked first: no lock when they exist).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'ops' AND table_name = 'runs' AND column_name = 'tasks_planned') THEN
        ALTER TABLE ops.runs ADD COLUMN IF NOT EXISTS pid integer, ADD COLUMN IF NOT EXISTS tasks_planned integer;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS ops.task_runs (
    id          bigserial PRIMARY KEY,
    run_id      text NOT NULL,
    task_id     text NOT NULL,
    task_family text NOT NULL,
    params      jsonb NOT NULL,
    reason      text,
    status      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows_in     bigint,
    rows_out    bigint,
    rows_quarantined bigint,
    details     jsonb,
    error       text
);
CREATE INDEX IF NOT EXISTS task_runs_run ON ops.task_runs (run_id);
