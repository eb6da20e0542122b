-- Version 510: report schedules and the reports kept (internal/reportrun).
--
-- A schedule is kept here and, as a Temporal Schedule of the same id, in
-- Temporal: Temporal starts the runs (and catches up runs it missed), AIR's
-- copy is what the API and pages list and what start-up re-creates a
-- Temporal schedule from when Temporal lost it.
CREATE TABLE report_schedules (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,              -- daily, monthly, quarterly
    cron           TEXT NOT NULL,              -- the spec Temporal is given
    calendar       TEXT NOT NULL DEFAULT '',   -- JSON, when the admin gave a calendar instead
    time_zone      TEXT NOT NULL,
    channels       TEXT NOT NULL DEFAULT '[]', -- JSON array of notification channel names
    catchup_secs   BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL
);

-- A kept report: the page as it was made (html) and its figures (data,
-- the API's JSON). run_key makes a retried generation keep one row: the
-- schedule and period for a scheduled run, a random key on demand.
CREATE TABLE report_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    period        TEXT NOT NULL,               -- 2026-12-05, 2026-11, 2026-Q4
    since         TIMESTAMP NOT NULL,
    until         TIMESTAMP NOT NULL,
    schedule_id   TEXT NOT NULL DEFAULT '',    -- '' when kept on demand
    channels      TEXT NOT NULL DEFAULT '[]',  -- JSON array: where it was sent
    generated_at  TIMESTAMP NOT NULL,
    generated_by  TEXT NOT NULL,
    html          TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE UNIQUE INDEX report_runs_key ON report_runs (run_key);
CREATE INDEX report_runs_generated ON report_runs (generated_at, id);
