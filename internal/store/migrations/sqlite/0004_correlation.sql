-- AIR schema, version 4 (SQLite): correlation state and derived incident fields.
ALTER TABLE alerts ADD COLUMN detector TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN techniques TEXT NOT NULL DEFAULT '[]'; -- JSON array
ALTER TABLE alerts ADD COLUMN routine BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX alerts_incident_activity ON alerts (incident_id, activity_time);
-- The composite index serves every lookup by incident; one index less to
-- maintain per inserted alert.
DROP INDEX alerts_incident;

ALTER TABLE incident_entities ADD COLUMN last_notable TIMESTAMP;

-- What AIR derives from an incident's alerts, kept beside the incident row
-- and updated with each batch (never recomputed from every alert on the hot
-- path), plus the flood counters that keep the workflow quiet.
CREATE TABLE incident_summary (
    incident_id       BIGINT PRIMARY KEY REFERENCES incidents (id),
    routine_key       TEXT NOT NULL DEFAULT '',   -- the entity key of a recurring-noise incident
    categories        TEXT NOT NULL DEFAULT '[]', -- JSON arrays from here on
    techniques        TEXT NOT NULL DEFAULT '[]',
    service_sources   TEXT NOT NULL DEFAULT '[]',
    detection_sources TEXT NOT NULL DEFAULT '[]',
    devices           TEXT NOT NULL DEFAULT '[]', -- impacted assets: display names, first 50
    users             TEXT NOT NULL DEFAULT '[]',
    mailboxes         TEXT NOT NULL DEFAULT '[]',
    apps              TEXT NOT NULL DEFAULT '[]',
    device_count      INTEGER NOT NULL DEFAULT 0,
    user_count        INTEGER NOT NULL DEFAULT 0,
    mailbox_count     INTEGER NOT NULL DEFAULT 0,
    app_count         INTEGER NOT NULL DEFAULT 0,
    malicious_count   INTEGER NOT NULL DEFAULT 0,
    active_alerts     INTEGER NOT NULL DEFAULT 0,
    max_tactic        INTEGER NOT NULL DEFAULT 0,
    priority_score    INTEGER NOT NULL DEFAULT 0,
    priority_factors  TEXT NOT NULL DEFAULT '[]',
    system_tags       TEXT NOT NULL DEFAULT '[]',
    severity_manual   BOOLEAN NOT NULL DEFAULT 0, -- set by hand: ingest keeps it
    name_manual       BOOLEAN NOT NULL DEFAULT 0, -- renamed by hand: ingest keeps it
    last_notable      TIMESTAMP,
    quiet_alerts      BIGINT NOT NULL DEFAULT 0,      -- alerts that joined without a material change
    material_seq      BIGINT NOT NULL DEFAULT 0,      -- bumped by every material change
    notified_seq      BIGINT NOT NULL DEFAULT 0       -- the last material change the workflow heard of
);
CREATE INDEX incident_summary_routine ON incident_summary (routine_key) WHERE routine_key <> '';

-- Distinct time buckets in which a detector fired on an entity: routine
-- noise is a detector that keeps firing in many of them.
CREATE TABLE detector_buckets (
    entity_key TEXT NOT NULL,
    detector   TEXT NOT NULL,
    bucket     BIGINT NOT NULL,
    PRIMARY KEY (entity_key, detector, bucket)
);

-- The last notable alert of each detector on each entity, for campaigns
-- (one detector on many entities at once).
CREATE TABLE detector_recent (
    detector    TEXT NOT NULL,
    entity_key  TEXT NOT NULL,
    incident_id BIGINT NOT NULL,
    last_seen   TIMESTAMP NOT NULL,
    PRIMARY KEY (detector, entity_key)
);
CREATE INDEX detector_recent_seen ON detector_recent (detector, last_seen);

-- Notable alerts per incident per routine bucket: an attack under way is an
-- incident with many of them close to an alert's time.
CREATE TABLE incident_activity (
    incident_id BIGINT NOT NULL,
    bucket      BIGINT NOT NULL,
    notable     INTEGER NOT NULL,
    PRIMARY KEY (incident_id, bucket)
);
CREATE INDEX incident_activity_bucket ON incident_activity (bucket);
