-- AIR schema, version 1: alerts, entities, incidents, actions, lab tenant, audit.
CREATE TABLE incidents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name         TEXT NOT NULL,
    severity             TEXT NOT NULL,
    status               TEXT NOT NULL,
    classification       TEXT NOT NULL DEFAULT 'unknown',
    determination        TEXT NOT NULL DEFAULT 'unknown',
    assigned_to          TEXT NOT NULL DEFAULT '',
    investigation_state  TEXT NOT NULL DEFAULT 'queued',
    redirect_incident_id BIGINT,
    custom_tags          TEXT NOT NULL DEFAULT '[]', -- JSON array
    alert_count          INTEGER NOT NULL DEFAULT 0,
    first_activity       TIMESTAMP NOT NULL,
    last_activity        TIMESTAMP NOT NULL,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX incidents_status_updated ON incidents (status, updated_at);

CREATE TABLE incident_comments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    comment     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX incident_comments_incident ON incident_comments (incident_id, id);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    incident_id      BIGINT NOT NULL REFERENCES incidents (id),
    status           TEXT NOT NULL,
    severity         TEXT NOT NULL,
    title            TEXT NOT NULL,
    category         TEXT NOT NULL DEFAULT '',
    service_source   TEXT NOT NULL DEFAULT '',
    detection_source TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    last_update      TIMESTAMP NOT NULL,
    activity_time    TIMESTAMP NOT NULL,
    doc              TEXT NOT NULL, -- the alert as AIR decoded it (JSON)
    raw              TEXT NOT NULL  -- the document as the provider sent it
);
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE entities (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    attrs      TEXT NOT NULL DEFAULT '{}',
    first_seen TIMESTAMP NOT NULL,
    last_seen  TIMESTAMP NOT NULL
);

CREATE TABLE alert_entities (
    alert_id   TEXT NOT NULL REFERENCES alerts (id),
    entity_key TEXT NOT NULL REFERENCES entities (key),
    verdict    TEXT NOT NULL,
    PRIMARY KEY (alert_id, entity_key)
);

CREATE TABLE incident_entities (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    entity_key  TEXT NOT NULL REFERENCES entities (key),
    verdict     TEXT NOT NULL,
    last_seen   TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, entity_key)
);
CREATE INDEX incident_entities_key ON incident_entities (entity_key, last_seen);

CREATE TABLE actions (
    id               TEXT PRIMARY KEY,
    incident_id      BIGINT NOT NULL REFERENCES incidents (id),
    investigation_id TEXT NOT NULL,
    playbook         TEXT NOT NULL,
    playbook_version INTEGER NOT NULL,
    step             TEXT NOT NULL,
    type             TEXT NOT NULL,
    target_key       TEXT NOT NULL,
    target_name      TEXT NOT NULL,
    params           TEXT NOT NULL,
    params_hash      TEXT NOT NULL,
    source           TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    decided_by       TEXT NOT NULL DEFAULT '',
    decision_comment TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    decided_at       TIMESTAMP,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    result           TEXT NOT NULL DEFAULT '',
    error            TEXT NOT NULL DEFAULT '',
    undo_of          TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL UNIQUE
);
CREATE INDEX actions_status_created ON actions (status, created_at);
CREATE INDEX actions_incident ON actions (incident_id);

-- The lab tenant: a simulated tenant whose state lives here.
CREATE TABLE lab_devices (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    isolated   BOOLEAN NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL
);
-- Every operation the lab tenant carried out, keyed by the caller's
-- idempotency key: a retried request returns the recorded result.
CREATE TABLE lab_operations (
    idempotency_key TEXT PRIMARY KEY,
    operation       TEXT NOT NULL,
    target          TEXT NOT NULL,
    result          TEXT NOT NULL,
    changed         BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

-- Append-only: who changed what, when, from what to what.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    verb        TEXT NOT NULL,
    object      TEXT NOT NULL,
    incident_id BIGINT,
    before      TEXT NOT NULL DEFAULT '',
    after       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_incident ON audit (incident_id, id);
