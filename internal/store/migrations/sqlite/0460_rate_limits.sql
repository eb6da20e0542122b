-- Version 460: rate-limit counts shared by every process on the database
-- (internal/auth Limiter, docs/security.md "Rate limits across processes").
--
-- One row per key (a token's requests, an address's failed sign-ins, ...):
-- a token bucket kept as its theoretical arrival time (GCRA). tat is, in
-- nanoseconds since the Unix epoch, when the bucket is full again; the
-- bucket holds (now + burst*interval - max(tat, now)) / interval requests.
-- A row whose tat has passed is a full bucket, the same as no row: the
-- limiter deletes such rows now and then (rate_limits_tat). granted is what
-- the last take handed out, for RETURNING to read.
CREATE TABLE rate_limits (
    key     TEXT PRIMARY KEY,
    tat     BIGINT NOT NULL,
    granted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
