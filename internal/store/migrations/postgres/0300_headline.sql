-- Version 300: incidents are named from what happened. The headline is the
-- distinct titles (a JSON array, at most domain.MaxHeadline) of the
-- incident's most severe alerts, headline_rank that severity's rank.
-- Incidents written before keep their name until their next alert.
ALTER TABLE incident_summary ADD COLUMN headline TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incident_summary ADD COLUMN headline_rank INTEGER NOT NULL DEFAULT 0;
