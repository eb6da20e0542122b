-- Version 201: threat intelligence (internal/intel, docs/intel.md).
--
-- Every import of a feed gets an id; its indicators are written under that
-- id in short batches, and the feed row then points at it in one small
-- transaction. So re-importing a feed replaces it atomically (look-ups see
-- the old indicators or the new, never a mix) without holding the write
-- lock for the whole import, which on SQLite would stall ingest. The
-- replaced import's rows are deleted after the switch.
CREATE TABLE intel_imports (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    feed       TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL
);
CREATE INDEX intel_imports_feed ON intel_imports (feed, id);

-- One row per feed: the live import and what it held.
CREATE TABLE intel_feeds (
    name        TEXT PRIMARY KEY,
    import_id   BIGINT NOT NULL UNIQUE,
    format      TEXT NOT NULL,
    benign      BOOLEAN NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',
    indicators  INTEGER NOT NULL,
    unsupported INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    duplicates  INTEGER NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);

-- Indicators, keyed by (feed import, kind, value): within one feed a value
-- of a kind appears once (the first occurrence wins). kind 'cidr' rows are
-- matched in Go against IPs; kind 'pattern' rows are kept, never matched.
CREATE TABLE intel_indicators (
    import_id   BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    subdomains  BOOLEAN NOT NULL DEFAULT 0,
    score       INTEGER NOT NULL DEFAULT 0,
    family      TEXT NOT NULL DEFAULT '',
    ref         TEXT NOT NULL DEFAULT '',
    valid_from  TIMESTAMP,
    valid_until TIMESTAMP,
    PRIMARY KEY (import_id, kind, value)
);
CREATE INDEX intel_indicators_lookup ON intel_indicators (kind, value);

-- Organisation prevalence (store.Prevalence) asks which alerts carry an
-- entity; alert_entities' key starts with the alert.
CREATE INDEX alert_entities_key ON alert_entities (entity_key, alert_id);

-- Facts that analysis steps learned about an incident's entities, one per
-- (incident, entity, kind, source): analysing again refreshes them.
CREATE TABLE entity_facts (
    incident_id BIGINT NOT NULL,
    entity_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    value       TEXT NOT NULL,
    observed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, entity_key, kind, source)
);
