-- Version 505: faster intel imports and indexed prevalence look-ups on
-- PostgreSQL (docs/intel.md, Storage).
--
-- An import now COPYs its indicators into an unlogged staging table of its
-- own and, at commit, moves them into intel_indicators in one INSERT …
-- SELECT sorted by (kind, value), so that the index on (kind, value) is
-- filled in its own order rather than at a random page per row. The
-- primary key becomes that index, (kind, value, import_id): it serves
-- look-ups and keeps a value once per import, and the separate look-up
-- index goes. An index on import_id alone serves deleting an import; its
-- keys only grow, which costs little to maintain.
--
-- kind and value compare byte-wise (COLLATE "C"): they are identifiers,
-- not words, and sorting them so is several times cheaper than a
-- language's collation.
ALTER TABLE intel_indicators DROP CONSTRAINT intel_indicators_pkey;
DROP INDEX intel_indicators_lookup;
ALTER TABLE intel_indicators ALTER COLUMN kind TYPE TEXT COLLATE "C", ALTER COLUMN value TYPE TEXT COLLATE "C";
ALTER TABLE intel_indicators ADD PRIMARY KEY (kind, value, import_id);
CREATE INDEX intel_indicators_import ON intel_indicators (import_id);

-- Organisation prevalence (store.Prevalence) finds a file by an MD5 or
-- SHA-1 that is not its key in its attributes; without these it read every
-- file entity. Not partial (kind = 'file'): PostgreSQL keeps statistics
-- only for a whole expression index (see 0007_queue.sql).
CREATE INDEX entities_md5 ON entities ((attrs::jsonb ->> 'md5'));
CREATE INDEX entities_sha1 ON entities ((attrs::jsonb ->> 'sha1'));
