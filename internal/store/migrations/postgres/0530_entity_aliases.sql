-- Version 530: one identity per device and per user.
--
-- A row for each pair of identifiers that one evidence item named together
-- (a Defender device id and an FQDN, a UPN and a SID, a device and its
-- private IP), stored in both directions so that a key finds its aliases
-- with one index lookup: the alert that first named them together and the
-- activity times of the first and last such alert (an IP stands for the
-- device only around them). Correlation (internal/correlate/aliases.go)
-- decides what links; the entity page lists them.
CREATE TABLE entity_aliases (
    entity_key TEXT NOT NULL,
    alias_key  TEXT NOT NULL,
    alert_id   TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (entity_key, alias_key)
);
