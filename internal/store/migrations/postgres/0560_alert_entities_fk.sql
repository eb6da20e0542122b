-- alert_entities links each alert to the entities its evidence names. Only
-- ingest writes it, in the transaction that writes the alert and upserts the
-- entity, and nothing deletes alerts or entities; its two foreign keys
-- checked that again row by row, one lookup per key per row, which cost
-- about as much as the COPY of the links itself (two links per alert: a
-- tenth of batch ingest into PostgreSQL). They go; the test stores check
-- that no link lacks its alert or entity when each test ends
-- (internal/store/storetest). SQLite keeps them: dropping one means
-- rebuilding the table, and its single writer is not the throughput path.
ALTER TABLE alert_entities DROP CONSTRAINT IF EXISTS alert_entities_alert_id_fkey;
ALTER TABLE alert_entities DROP CONSTRAINT IF EXISTS alert_entities_entity_key_fkey;
