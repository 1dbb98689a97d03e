-- Research jobs (backtests and sweeps) submitted through the gateway: the job's state lives here, so neither
-- the gateway nor the research actor holds it, and a restarted research actor picks unfinished jobs up again.
CREATE TABLE research_jobs (
    job_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('backtest', 'sweep')),
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    request     JSONB NOT NULL,
    result      JSONB NULL,
    error       TEXT NULL,
    key_id      TEXT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at  TIMESTAMPTZ NULL,
    finished_at TIMESTAMPTZ NULL
);
CREATE INDEX research_jobs_unfinished ON research_jobs (created_at) WHERE state IN ('queued', 'running');
