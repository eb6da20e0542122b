-- Version 7: the incident queue and incident management (docs/incidents.md).
-- Fields an analyst sets, and the first human touch, containment and
-- resolution times that post-incident review measures.
ALTER TABLE incidents ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN resolving_comment TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN last_modified_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN acknowledged_at TIMESTAMP;
ALTER TABLE incidents ADD COLUMN contained_at TIMESTAMP;
ALTER TABLE incidents ADD COLUMN resolved_at TIMESTAMP;
-- The priority score, kept on the incident too (writeIncidents) so that
-- the queue sorts by it from an index.
ALTER TABLE incidents ADD COLUMN priority_score INTEGER NOT NULL DEFAULT 0;
UPDATE incidents SET priority_score = COALESCE((SELECT s.priority_score FROM incident_summary s WHERE s.incident_id = incidents.id), 0);

-- Assigning an incident assigns its alerts; AIR's assignment is kept here so
-- that a provider's later update of the alert does not undo it.
ALTER TABLE alerts ADD COLUMN assigned_to TEXT NOT NULL DEFAULT '';

CREATE INDEX incidents_updated ON incidents (updated_at, id);
CREATE INDEX incidents_priority ON incidents (priority_score, id);
CREATE INDEX incidents_severity_rank ON incidents ((CASE severity WHEN 'high' THEN 4 WHEN 'medium' THEN 3 WHEN 'low' THEN 2 WHEN 'informational' THEN 1 ELSE 0 END), id);
CREATE INDEX incidents_assigned ON incidents (assigned_to, updated_at);
CREATE INDEX entities_name_lower ON entities (lower(name));
