-- AIR schema, version 3: API tokens, page sessions, an append-only audit log.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    device_groups TEXT NOT NULL DEFAULT '[]', -- JSON array; empty means every group
    hash          TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the secret; the secret is never stored
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP,
    revoked_by    TEXT NOT NULL DEFAULT ''
);

-- A signed-in page session: the cookie holds a secret, this table its hash.
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES tokens (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_actor ON audit (actor, id);

-- The audit log takes inserts only.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
