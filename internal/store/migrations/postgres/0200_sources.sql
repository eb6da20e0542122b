-- Version 200: pull sources. One row per configured source: its state
-- (checkpoint, counts, last error) as JSON, written after every poll. The
-- workflow that polls is the authority on the checkpoint; this row is its
-- projection, for the sources page, /metrics and a restarted workflow.
CREATE TABLE source_state (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Version 200: write-back of AIR's changes to the providers' alerts, one
-- row per attempt's outcome, newest last.
CREATE TABLE writeback_log (
    id         BIGSERIAL PRIMARY KEY,
    alert_id   TEXT NOT NULL,
    source     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX writeback_log_alert ON writeback_log (alert_id);
-- Version 200: which pull source brought an alert, so that changes made in
-- AIR are written back to the provider that sent it.
CREATE TABLE alert_source (
    alert_id TEXT PRIMARY KEY,
    source   TEXT NOT NULL
);
