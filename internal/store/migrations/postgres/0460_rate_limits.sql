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
--
-- UNLOGGED: a take then commits without waiting for the WAL to reach the
-- disk (measured here: 0.2 ms an upsert instead of 2.8 ms). The price is
-- that PostgreSQL empties the table after a crash and standbys do not
-- have it, so a crash or a failover refills every bucket: acceptable for
-- counts that refill within seconds or minutes.
CREATE UNLOGGED TABLE rate_limits (
    key     TEXT PRIMARY KEY,
    tat     BIGINT NOT NULL,
    granted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
