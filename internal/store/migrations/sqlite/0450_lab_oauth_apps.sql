-- Version 450: the lab tenant's OAuth apps (internal/labtenant, docs/connectors.md).
--
-- One row per application a user consented to: its service principal is
-- enabled or disabled (app.disable, app.enable), and the permissions
-- granted to it are revoked by app.revoke_consent. grants is a JSON array of
-- {id, type (delegated or application), consentType, principal, scope}: what
-- a seed said was granted, emptied by the revocation.
CREATE TABLE lab_oauth_apps (
    app_id          TEXT PRIMARY KEY, -- lower-case application (client) id, as in the entity key
    name            TEXT NOT NULL DEFAULT '',
    enabled         BOOLEAN NOT NULL DEFAULT 1,
    consent_revoked BOOLEAN NOT NULL DEFAULT 0,
    grants          TEXT NOT NULL DEFAULT '[]',
    updated_at      TIMESTAMP NOT NULL
);
