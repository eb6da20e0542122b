-- Version 6: the entities an incident's investigation has taken into its
-- scope. Alerts that join later bring entities outside it; a large
-- expansion waits for approval before the investigation looks at them.
CREATE TABLE investigation_scope (
    incident_id BIGINT NOT NULL,
    entity_key  TEXT NOT NULL,
    PRIMARY KEY (incident_id, entity_key)
);
