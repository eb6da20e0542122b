-- Version 560 drops alert_entities' foreign keys on PostgreSQL (see its
-- file there). SQLite keeps them: dropping one means rebuilding the table,
-- and its single writer is not the throughput path. The version is recorded
-- here too, so both databases list the same versions.
SELECT 1;
