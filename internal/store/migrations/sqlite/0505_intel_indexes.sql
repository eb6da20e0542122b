-- Version 505: indexed prevalence look-ups (docs/intel.md).
--
-- Organisation prevalence (store.Prevalence) finds a file by an MD5 or
-- SHA-1 that is not its key in its attributes; without these it read every
-- file entity. (PostgreSQL's 0505 also reshapes intel_indicators for faster
-- imports; SQLite's imports write batch by batch and keep the table.)
CREATE INDEX entities_md5 ON entities (json_extract(attrs, '$.md5'));
CREATE INDEX entities_sha1 ON entities (json_extract(attrs, '$.sha1'));
