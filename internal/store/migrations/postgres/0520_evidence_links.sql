-- Version 520: the investigation graph.
--
-- An edge for each entity an investigation found from another of its
-- entities (a hunt step: the malicious file seen on a second device): which
-- entity, from which, by which playbook step, why, and the incident merged
-- into this one when another open incident held it. One per incident,
-- entity and origin.
CREATE TABLE evidence_links (
    incident_id     BIGINT NOT NULL,
    entity_key      TEXT NOT NULL,
    from_key        TEXT NOT NULL,
    step            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    merged_incident BIGINT,
    found_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, entity_key, from_key)
);
