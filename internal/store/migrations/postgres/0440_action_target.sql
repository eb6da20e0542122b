-- Version 440: the entity page lists the actions that targeted an entity
-- (ActionQuery.TargetKeys), newest first; without an index that read
-- scanned every action.
CREATE INDEX actions_target ON actions (target_key, created_at);
