-- Version 410: case actions and per-step connectors.
--
-- An action records the connectors its playbook step asked for (a JSON
-- array, in order of preference), the connector that carried it out, and
-- why the ones before it were passed over.
ALTER TABLE actions ADD COLUMN connectors TEXT NOT NULL DEFAULT '[]';
ALTER TABLE actions ADD COLUMN connector TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN connector_note TEXT NOT NULL DEFAULT '';

-- A case action (a playbook setting the severity, classifying, assigning or
-- resolving its incident) is applied exactly once per idempotency key: a
-- retried attempt finds its row and changes nothing, even when an analyst
-- changed the incident back meanwhile (reopened it, say).
CREATE TABLE incident_operations (
    idempotency_key TEXT PRIMARY KEY,
    incident_id     BIGINT NOT NULL REFERENCES incidents (id),
    operation       TEXT NOT NULL,
    result          TEXT NOT NULL,
    changed         BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX incident_operations_incident ON incident_operations (incident_id);
