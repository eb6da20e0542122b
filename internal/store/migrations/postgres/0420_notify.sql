-- Version 420: notifications (internal/notify).
--
-- notify_events is a change feed of the incidents that notification rules
-- watch: an incident created, an incident's severity raised. The database
-- writes it, by trigger, in the transaction that made the change — ingest's
-- batch, a merge, an analyst's severity change alike — so that no path can
-- change an incident without its event, and no event exists for a change
-- that rolled back. The notification router reads the events, turns them
-- into deliveries by its rules and deletes them in one transaction.
CREATE TABLE notify_events (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,              -- incident.created, incident.escalated
    incident_id BIGINT NOT NULL,
    severity    TEXT NOT NULL,              -- the severity the change left
    previous    TEXT NOT NULL DEFAULT '',   -- the severity before an escalation
    at          TIMESTAMPTZ NOT NULL
);
CREATE FUNCTION notify_severity_rank(s TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS $$ SELECT CASE s WHEN 'high' THEN 4 WHEN 'medium' THEN 3 WHEN 'low' THEN 2 WHEN 'informational' THEN 1 ELSE 0 END $$;
CREATE FUNCTION notify_incident_created() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO notify_events (kind, incident_id, severity, previous, at) VALUES ('incident.created', NEW.id, NEW.severity, '', NEW.created_at); RETURN NULL; END $$;
CREATE FUNCTION notify_incident_escalated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO notify_events (kind, incident_id, severity, previous, at) VALUES ('incident.escalated', NEW.id, NEW.severity, OLD.severity, NEW.updated_at); RETURN NULL; END $$;
CREATE TRIGGER incidents_notify_created AFTER INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION notify_incident_created();
CREATE TRIGGER incidents_notify_escalated AFTER UPDATE OF severity ON incidents FOR EACH ROW
    WHEN (notify_severity_rank(NEW.severity) > notify_severity_rank(OLD.severity)) EXECUTE FUNCTION notify_incident_escalated();

-- The outbox: one row per message to one channel. A row is written where
-- the event happens (the router, the action-waiting scan, notify.Enqueue)
-- and sent by a dispatcher that claims it: claiming moves next_attempt a
-- lease ahead under a fresh claim token, so a dispatcher that dies
-- mid-send leaves the row due again when the lease runs out (at least
-- once), and only the claim's holder may record the outcome.
-- (event_key, rule, channel) is unique: an event notifies each rule's
-- channel once, however often it is routed.
CREATE TABLE notify_outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_key    TEXT NOT NULL,
    rule         TEXT NOT NULL DEFAULT '',  -- '' for a message enqueued directly
    channel      TEXT NOT NULL,
    incident_id  BIGINT,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    status       TEXT NOT NULL,             -- queued, sent, failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    next_attempt TIMESTAMPTZ NOT NULL,
    claim        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ
);
CREATE UNIQUE INDEX notify_outbox_event ON notify_outbox (event_key, rule, channel);
CREATE INDEX notify_outbox_due ON notify_outbox (status, next_attempt);
CREATE INDEX notify_outbox_channel ON notify_outbox (channel, id);
