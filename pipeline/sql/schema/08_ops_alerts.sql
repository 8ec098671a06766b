-- Alerts sent at the end of runs ([alerts] in luigi.cfg): each one once, however many times its run is closed.
CREATE TABLE IF NOT EXISTS ops.alerts (
    run_id  text NOT NULL,
    kind    text NOT NULL,
    message text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, message)
);
