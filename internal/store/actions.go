package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
)

// RateCap is a guardrail: at most Max actions of one type may run without a
// human within any Per-long window, tenant-wide.
type RateCap struct {
	Max int           `json:"max"`
	Per time.Duration `json:"per"`
}

// RecordAction inserts the action unless a row with its id already exists,
// and returns the stored row. Activities retry, and a later run of an
// incident's investigation proposes the same action again under the same
// id: both must find, not duplicate, what was recorded.
//
// An action approved by policy is checked against cap (nil: no cap) in the
// same transaction, serialised per action type across workers: past the
// cap it is recorded pending instead, with the guardrail as its reason.
func (s *Store) RecordAction(ctx context.Context, a *domain.Action, cap *RateCap) (*domain.Action, error) {
	var out domain.Action
	inserted := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out, tx.Rebind(`SELECT * FROM actions WHERE id = ?`), a.ID)
		if err == nil {
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		a = normalised(a)
		if cap != nil && a.Status == domain.ActionApproved && a.DecidedBy == domain.PolicyActor {
			if err := s.lockKeys(ctx, tx, []string{"guardrail:" + a.Type}); err != nil {
				return err
			}
			var n int
			if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM actions
				WHERE type = ? AND decided_by = ? AND created_at > ?`), a.Type, domain.PolicyActor, utc(a.CreatedAt.Add(-cap.Per))); err != nil {
				return fmt.Errorf("count recent %s: %w", a.Type, err)
			}
			if n >= cap.Max {
				a.Status, a.DecidedBy, a.DecidedAt = domain.ActionPending, "", nil
				a.Reason = fmt.Sprintf("guardrail: at most %d %s per %s run without approval, %d already did; was: %s",
					cap.Max, a.Type, cap.Per, n, a.Reason)
			}
		}
		if _, err := sqlx.NamedExecContext(ctx, tx, `INSERT INTO actions (id, incident_id, investigation_id, playbook,
			playbook_version, step, type, target_key, target_name, params, params_hash, source, requested_by,
			status, reason, decided_by, decision_comment, created_at, decided_at, started_at, finished_at,
			result, error, undo_of, idempotency_key, connectors, connector, connector_note)
			VALUES (:id, :incident_id, :investigation_id, :playbook, :playbook_version, :step, :type, :target_key,
			:target_name, :params, :params_hash, :source, :requested_by, :status, :reason, :decided_by,
			:decision_comment, :created_at, :decided_at, :started_at, :finished_at, :result, :error, :undo_of,
			:idempotency_key, :connectors, :connector, :connector_note)`, a); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		out = *a
		inserted = true
		if a.Source == domain.SourceManual && IsHuman(a.RequestedBy) { // a person asked: the incident is acknowledged
			if err := markAcknowledged(ctx, tx, a.IncidentID, a.CreatedAt); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: a.CreatedAt, Actor: ActionActor(a), Verb: "action.created",
			Object: "action:" + a.ID, IncidentID: &a.IncidentID, After: string(a.Status) + ": " + a.Reason})
	})
	if err != nil {
		return nil, fmt.Errorf("record action %s: %w", a.ID, err)
	}
	if inserted {
		s.publish(events.Event{Kind: events.Action, IncidentID: out.IncidentID, ActionID: out.ID, Created: true})
	}
	return &out, nil
}

// ActionActor is who an action's effects are audited as: the person who
// asked for a manual action, else the playbook ("system:playbook:NAME").
func ActionActor(a *domain.Action) string {
	if a.Source == domain.SourceManual && a.RequestedBy != "" {
		return a.RequestedBy
	}
	return "system:playbook:" + a.Playbook
}

func normalised(a *domain.Action) *domain.Action {
	c := *a
	c.CreatedAt = utc(c.CreatedAt)
	for _, t := range []**time.Time{&c.DecidedAt, &c.StartedAt, &c.FinishedAt} {
		if *t != nil {
			u := utc(**t)
			*t = &u
		}
	}
	if c.Params == nil {
		c.Params = []byte("{}")
	}
	return &c
}

// UpdateAction writes the action's lifecycle fields — status, decision,
// timings, result — as the workflow reports them, and audits the change of
// status.
func (s *Store) UpdateAction(ctx context.Context, a *domain.Action) error {
	var err error
	if s.dialect == Postgres {
		err = s.updateActionPostgres(ctx, a)
	} else {
		err = s.inTx(ctx, func(tx *sqlx.Tx) error { return updateAction(ctx, tx, a) })
	}
	if err != nil {
		return fmt.Errorf("update action %s: %w", a.ID, err)
	}
	s.publish(events.Event{Kind: events.Action, IncidentID: a.IncidentID, ActionID: a.ID})
	return nil
}

// updateAction is UpdateAction's work in a transaction, read then write.
func updateAction(ctx context.Context, tx *sqlx.Tx, a *domain.Action) error {
	var cur struct {
		Status     domain.ActionStatus `db:"status"`
		IncidentID int64               `db:"incident_id"`
	}
	if err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT status, incident_id FROM actions WHERE id = ?`), a.ID); err != nil {
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "action %s not found", a.ID)
		}
		return err
	}
	if _, err := sqlx.NamedExecContext(ctx, tx, `UPDATE actions SET status = :status, reason = :reason,
		decided_by = :decided_by, decision_comment = :decision_comment, decided_at = :decided_at,
		started_at = :started_at, finished_at = :finished_at, result = :result, error = :error,
		connector = :connector, connector_note = :connector_note
		WHERE id = :id`, normalised(a)); err != nil {
		return err
	}
	before := cur.Status
	if before == a.Status {
		return nil
	}
	if err := actionTouches(ctx, tx, cur.IncidentID, before, a); err != nil {
		return err
	}
	after := string(a.Status)
	if a.DecisionComment != "" && before == domain.ActionPending {
		after += ": " + a.DecisionComment
	}
	return appendAudit(ctx, tx, records.AuditEntry{Actor: statusActor(a), Verb: "action.status", Object: "action:" + a.ID,
		IncidentID: &a.IncidentID, Before: string(before), After: after + connectorSuffix(a)})
}

// updateActionPostgres is updateAction in one statement, one round trip:
// an investigation updates each of its actions at least twice, and on
// PostgreSQL a round trip costs more than the statement.
// The conditions that need the status before (acknowledgement,
// containment, the audit entry) are the same as updateAction's and
// actionTouches', written in SQL.
func (s *Store) updateActionPostgres(ctx context.Context, a *domain.Action) error {
	n := normalised(a)
	now := utc(time.Now())
	decidedAt, finishedAt := now, now
	if n.DecidedAt != nil {
		decidedAt = *n.DecidedAt
	}
	if n.FinishedAt != nil {
		finishedAt = *n.FinishedAt
	}
	decidedByHuman := (a.Status == domain.ActionApproved || a.Status == domain.ActionRejected) && IsHuman(a.DecidedBy)
	contains := a.Status == domain.ActionSucceeded && actions.IsContainment(a.Type)
	var before domain.ActionStatus
	err := s.db.QueryRowxContext(ctx, `WITH old AS (SELECT id, status, incident_id FROM actions WHERE id = $1 FOR UPDATE),
		up AS (UPDATE actions a SET status = $2, reason = $3, decided_by = $4, decision_comment = $5, decided_at = $6,
			started_at = $7, finished_at = $8, result = $9, error = $10, connector = $11, connector_note = $12
			FROM old WHERE a.id = old.id),
		ack AS (UPDATE incidents SET acknowledged_at = $13 FROM old
			WHERE $14 AND incidents.id = old.incident_id AND old.status = 'pending' AND acknowledged_at IS NULL),
		con AS (UPDATE incidents SET contained_at = $15 FROM old
			WHERE $16 AND incidents.id = old.incident_id AND old.status <> 'succeeded' AND contained_at IS NULL),
		au AS (INSERT INTO audit (at, actor, verb, object, incident_id, before, after)
			SELECT $17, $18, 'action.status', $19, $20, old.status,
				$2 || CASE WHEN $5 <> '' AND old.status = 'pending' THEN ': ' || $5 ELSE '' END || $21
			FROM old WHERE old.status <> $2)
		SELECT status FROM old`,
		n.ID, n.Status, n.Reason, n.DecidedBy, n.DecisionComment, n.DecidedAt,
		n.StartedAt, n.FinishedAt, n.Result, n.Error, n.Connector, n.ConnectorNote,
		decidedAt, decidedByHuman, finishedAt, contains,
		now, statusActor(a), "action:"+a.ID, a.IncidentID, connectorSuffix(a)).Scan(&before)
	if isNoRows(err) {
		return domain.Errorf(domain.KindNotFound, "action %s not found", a.ID)
	}
	return err
}

// statusActor is who an action's change of status is audited as: the
// person or policy that decided it, else the investigation.
func statusActor(a *domain.Action) string {
	if a.DecidedBy != "" && (a.Status == domain.ActionApproved || a.Status == domain.ActionRejected) {
		return a.DecidedBy
	}
	return "system:investigation"
}

// connectorSuffix says in an audit entry which connector carried a
// finished action, and its note.
func connectorSuffix(a *domain.Action) string {
	if a.Connector == "" || !a.Status.Final() {
		return ""
	}
	s := " via " + a.Connector
	if a.ConnectorNote != "" {
		s += " (" + a.ConnectorNote + ")"
	}
	return s
}

// GetAction returns one action, or a not-found error.
func (s *Store) GetAction(ctx context.Context, id string) (*domain.Action, error) {
	var a domain.Action
	err := s.db.GetContext(ctx, &a, s.db.Rebind(`SELECT * FROM actions WHERE id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "action %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get action %s: %w", id, err)
	}
	return &a, nil
}

// ActionFilter selects actions. The zero value lists every action, newest
// first.
type ActionFilter struct {
	Statuses   []domain.ActionStatus
	IncidentID int64
	Limit      int // 0 means 100
}

// ListActions returns the actions matching the filter, newest first.
func (s *Store) ListActions(ctx context.Context, f ActionFilter) ([]domain.Action, error) {
	q := `SELECT * FROM actions WHERE 1 = 1`
	var args []any
	if len(f.Statuses) > 0 {
		q += ` AND status IN (` + placeholders(len(f.Statuses)) + `)`
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.IncidentID != 0 {
		q += ` AND incident_id = ?`
		args = append(args, f.IncidentID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id LIMIT %d`, limit)
	out := []domain.Action{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return out, nil
}

// mergedInto is a common table expression, merged (id): the incidents
// merged into the one its parameter names, directly or through a chain of
// merges.
const mergedInto = `WITH RECURSIVE merged (id) AS (
	SELECT id FROM incidents WHERE redirect_incident_id = ?
	UNION SELECT i.id FROM incidents i JOIN merged m ON i.redirect_incident_id = m.id)`

// MergedActions returns the actions of the incidents merged into this one
// (redirected to it, directly or through a chain of merges), oldest first,
// at most limit of them. The merged incident's investigation proposed
// them; the target's investigation reads them so that it does not
// remediate the same entity a second time.
func (s *Store) MergedActions(ctx context.Context, incidentID int64, limit int) ([]domain.Action, error) {
	out := []domain.Action{}
	q := fmt.Sprintf(mergedInto+`
		SELECT * FROM actions WHERE incident_id IN (SELECT id FROM merged)
		ORDER BY created_at, id LIMIT %d`, limit)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), incidentID); err != nil {
		return nil, fmt.Errorf("read the actions of incidents merged into %d: %w", incidentID, err)
	}
	return out, nil
}
