-- Version 301: every pass of an investigation reads the actions of the
-- incidents merged into its own (MergedActions, a recursive walk over
-- redirect_incident_id); without an index each step of the walk scanned
-- every incident, which a flood of thousands of incidents turned into most
-- of the worker's database time.
CREATE INDEX incidents_redirect ON incidents (redirect_incident_id);
