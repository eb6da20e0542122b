-- Version 400: the questions playbooks' ask steps put to people. The
-- incident workflow owns each question's lifecycle (its answer Update is
-- what counts); this table is the projection its activities write, so the
-- API, the pages and the command line list open questions without asking
-- every workflow.
CREATE TABLE questions (
    id               TEXT PRIMARY KEY,
    incident_id      BIGINT NOT NULL REFERENCES incidents (id),
    investigation_id TEXT NOT NULL,
    playbook         TEXT NOT NULL,
    playbook_version INTEGER NOT NULL,
    step             TEXT NOT NULL,
    audience         TEXT NOT NULL,
    recipient        TEXT NOT NULL DEFAULT '',
    recipient_name   TEXT NOT NULL DEFAULT '',
    text             TEXT NOT NULL,
    choices          TEXT NOT NULL,
    multiple         BOOLEAN NOT NULL DEFAULT 0,
    default_answer   TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL,
    answer           TEXT NOT NULL DEFAULT '[]',
    answered_by      TEXT NOT NULL DEFAULT '',
    note             TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    deadline         TIMESTAMP NOT NULL,
    closed_at        TIMESTAMP,
    reminders        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX questions_status ON questions (status, created_at);
CREATE INDEX questions_incident ON questions (incident_id);
