-- Version 550: stories across hosts (internal/correlate/story.go).
--
-- An incident's sighting of an entity also keeps the roles its alerts gave
-- the entity (a bit set: 1 source, 2 destination or target; 0 unknown) and
-- the device of the last alert that named it, so that a later alert whose
-- source is an earlier incident's destination, on another host, links it
-- (the pivot rule) and join reasons say where the key was seen.
ALTER TABLE incident_entities ADD COLUMN roles INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incident_entities ADD COLUMN host TEXT NOT NULL DEFAULT '';
