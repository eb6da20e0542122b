-- Version 480: AIR's own verdicts on an incident's entities.
--
-- The provider's verdict stays where ingest keeps it (incident_entities);
-- a verdict decided in AIR — by an analyst, or later by a playbook rule —
-- lives beside it with who decided it, why and when, and wins over the
-- provider's when the incident is read. One per entity and incident.
CREATE TABLE entity_verdicts (
    incident_id BIGINT NOT NULL,
    entity_key  TEXT NOT NULL,
    verdict     TEXT NOT NULL,               -- malicious, suspicious, noThreatsFound
    source      TEXT NOT NULL,               -- analyst (rule: a playbook rule, to come)
    decided_by  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    decided_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, entity_key)
);
