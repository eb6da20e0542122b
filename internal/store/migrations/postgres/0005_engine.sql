-- Engine settings and entity tags, version 5.
-- Tenant-wide settings (automation levels, guardrails, four-eyes) as JSON
-- documents by key; every change is audited.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL
);

-- Tags an administrator put on entities (e.g. "critical" on a domain
-- controller); guardrails read them.
CREATE TABLE entity_tags (
    entity_key TEXT NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (entity_key, tag)
);
