-- AIR schema, version 2: the lab tenant grows from devices to users,
-- mailboxes, messages and the artifacts remediations act on (quarantined
-- files, killed processes, removed persistence, blocked indicators).
ALTER TABLE lab_devices ADD COLUMN isolation_type TEXT NOT NULL DEFAULT '';
ALTER TABLE lab_devices ADD COLUMN app_restricted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE lab_devices ADD COLUMN last_scan TEXT NOT NULL DEFAULT '';
ALTER TABLE lab_devices ADD COLUMN scans INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lab_devices ADD COLUMN packages INTEGER NOT NULL DEFAULT 0;

CREATE TABLE lab_users (
    id                   TEXT PRIMARY KEY, -- lower-case UPN or SID, as in the entity key
    name                 TEXT NOT NULL,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    sessions_revoked     INTEGER NOT NULL DEFAULT 0, -- how many times sessions were revoked
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    risk                 TEXT NOT NULL DEFAULT 'none', -- none, confirmedCompromised, dismissed
    updated_at           TIMESTAMPTZ NOT NULL
);

CREATE TABLE lab_mailboxes (
    address             TEXT PRIMARY KEY, -- lower case
    name                TEXT NOT NULL,
    external_forwarding TEXT NOT NULL DEFAULT '', -- the outside address mail is forwarded to, if any
    inbox_rules         TEXT NOT NULL DEFAULT '[]', -- JSON array of {id, name, forwardTo}
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE lab_messages (
    id         TEXT PRIMARY KEY, -- networkMessageId
    mailbox    TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    sender     TEXT NOT NULL DEFAULT '',
    folder     TEXT NOT NULL DEFAULT 'inbox', -- inbox or deleteditems
    updated_at TIMESTAMPTZ NOT NULL
);

-- Things remediations act on that are not devices, users or mailboxes:
-- kind file (quarantine, scope = device id or '' for tenant-wide), process,
-- persistence (id = "<kind>:<name>", scope = device id), and the indicator
-- kinds sender, url, ip and fileHash (scope '').
CREATE TABLE lab_artifacts (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    scope      TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    expires_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, id, scope)
);
