-- Version 7: the incident queue and incident management (docs/incidents.md).
-- Fields an analyst sets, and the first human touch, containment and
-- resolution times that post-incident review measures.
ALTER TABLE incidents ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN resolving_comment TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN last_modified_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN acknowledged_at TIMESTAMPTZ;
ALTER TABLE incidents ADD COLUMN contained_at TIMESTAMPTZ;
ALTER TABLE incidents ADD COLUMN resolved_at TIMESTAMPTZ;
-- The priority score, kept on the incident too (writeIncidents) so that
-- the queue sorts by it from an index rather than joining every summary.
ALTER TABLE incidents ADD COLUMN priority_score INTEGER NOT NULL DEFAULT 0;
UPDATE incidents SET priority_score = s.priority_score FROM incident_summary s WHERE s.incident_id = incidents.id;

-- Assigning an incident assigns its alerts; AIR's assignment is kept here so
-- that a provider's later update of the alert does not undo it.
ALTER TABLE alerts ADD COLUMN assigned_to TEXT NOT NULL DEFAULT '';

-- The queue's sorts, each with the id as tie-breaker; the default filter
-- (status, last week) uses incidents_status_updated from 0001. See
-- docs/incidents.md for the plans on 100,000 incidents.
CREATE INDEX incidents_updated ON incidents (updated_at DESC, id DESC);
CREATE INDEX incidents_priority ON incidents (priority_score DESC, id DESC);
CREATE INDEX incidents_severity_rank ON incidents ((CASE severity WHEN 'high' THEN 4 WHEN 'medium' THEN 3 WHEN 'low' THEN 2 WHEN 'informational' THEN 1 ELSE 0 END) DESC, id DESC);
CREATE INDEX incidents_assigned ON incidents (assigned_to, updated_at DESC);
-- Search by impacted asset and the entity filter: lower-case name, equal or
-- prefix; the device-group filter and scoping: a device's group.
CREATE INDEX entities_name_lower ON entities (lower(name) text_pattern_ops);
CREATE INDEX entities_device_group ON entities ((lower(attrs::jsonb ->> 'deviceGroup'))); -- not partial: PostgreSQL keeps statistics only for a whole expression index, and the planner needs them
-- Search by name (a substring): a trigram index where pg_trgm can be had
-- (trusted since PostgreSQL 13). Without it the search scans the names,
-- which is correct, only slower.
DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public; EXECUTE 'CREATE INDEX incidents_name_trgm ON incidents USING gin (lower(display_name) public.gin_trgm_ops)'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'no pg_trgm (%): search by incident name scans', SQLERRM; END $$;
-- The tag filter: custom and system tags, as JSON containment.
CREATE INDEX incidents_custom_tags ON incidents USING gin ((custom_tags::jsonb) jsonb_path_ops);
CREATE INDEX incident_summary_system_tags ON incident_summary USING gin ((system_tags::jsonb) jsonb_path_ops);
