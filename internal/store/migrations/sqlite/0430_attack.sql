-- Version 430: MITRE ATT&CK knowledge (internal/intel Knowledge, docs/intel.md).
--
-- A STIX bundle of ATT&CK content imported as a feed keeps its tactics
-- (TA…) and techniques (T…, with their mitigations) here, one JSON document
-- each, under the feed's import: re-importing replaces them with the feed,
-- deleting the feed deletes them, as for indicators.
CREATE TABLE attack_objects (
    import_id BIGINT NOT NULL,
    id        TEXT NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (import_id, id)
);

ALTER TABLE intel_feeds ADD COLUMN techniques INTEGER NOT NULL DEFAULT 0;
