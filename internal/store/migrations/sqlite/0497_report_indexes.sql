-- Version 497: the reports read incidents by creation time (a month's or
-- a quarter's incidents, detectors, tactics, biggest) and actions by when
-- they started (automation rate) and were decided (approvals and
-- rejections); without these indexes each report scanned every row.
CREATE INDEX incidents_created ON incidents (created_at, id);
CREATE INDEX actions_started ON actions (started_at);
CREATE INDEX actions_decided ON actions (decided_at);
