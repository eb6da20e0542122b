package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// IsHuman reports whether an actor is a person rather than AIR itself
// (policy, playbooks, the investigation: "system:…").
func IsHuman(actor string) bool {
	return actor != "" && !strings.HasPrefix(actor, "system:")
}

// ManageIncident applies a change to one incident as actor, in one
// transaction: every field that changes goes to the incident's activity
// log (verb incident.<field>, before → after); a rename and a severity set
// by hand stay through later ingest; assigning assigns the incident's
// alerts; resolving resolves its active alerts and stamps
// resolvedDateTime, reopening clears it; the first change by a person
// stamps acknowledgedDateTime. A merged-away (redirected) incident cannot
// be managed. It returns the incident before and after.
func (s *Store) ManageIncident(ctx context.Context, id int64, ch records.IncidentChange, actor string) (before, after *domain.Incident, err error) {
	if err := ch.Check(); err != nil {
		return nil, nil, err
	}
	err = s.inIncidentTx(ctx, id, func(tx *sqlx.Tx) error {
		cur, err := s.lockManaged(ctx, tx, id)
		if err != nil {
			return err
		}
		before = cur
		after, err = s.manageTx(ctx, tx, cur, ch, actor)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// lockManaged reads and locks an incident that is to be changed, refusing
// one merged away (redirected).
func (s *Store) lockManaged(ctx context.Context, tx *sqlx.Tx, id int64) (*domain.Incident, error) {
	cur, err := s.getIncidentTx(ctx, tx, id, true)
	if err != nil {
		return nil, err
	}
	if cur.Status == domain.IncidentRedirected {
		to := "another incident"
		if cur.RedirectIncidentID != nil {
			to = fmt.Sprintf("incident %d", *cur.RedirectIncidentID)
		}
		return nil, domain.Errorf(domain.KindConflict, "incident %d was merged into %s (status redirected) and cannot be changed; change %s instead", id, to, to)
	}
	return cur, nil
}

// manageTx applies a checked change to the locked incident cur inside tx
// and returns the incident after it.
func (s *Store) manageTx(ctx context.Context, tx *sqlx.Tx, cur *domain.Incident, ch records.IncidentChange, actor string) (*domain.Incident, error) {
	id := cur.ID
	now := utc(time.Now())
	m := &manage{s: s, ctx: ctx, tx: tx, id: id, actor: actor, now: now}
	if err := m.apply(cur, &ch); err != nil {
		return nil, err
	}
	if !m.changed {
		return cur, nil
	}
	m.set("updated_at", now)
	m.set("last_modified_by", actor)
	q := `UPDATE incidents SET ` + strings.Join(m.sets, ", ")
	if IsHuman(actor) {
		q += `, acknowledged_at = COALESCE(acknowledged_at, ?)`
		m.args = append(m.args, now)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(q+` WHERE id = ?`), append(m.args, id)...); err != nil {
		return nil, fmt.Errorf("update incident %d: %w", id, err)
	}
	if m.recompute {
		// A severity set by hand changes the priority score.
		if _, err := s.rederive(ctx, tx, id, now); err != nil {
			return nil, err
		}
	}
	for _, e := range m.audits {
		if err := appendAudit(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return s.getIncidentTx(ctx, tx, id, false)
}

// rederive recomputes an incident's derived fields (summary, severity,
// priority) from its alerts as they are in tx and writes them; it returns
// the incident's state, nil for an incident that does not exist.
func (s *Store) rederive(ctx context.Context, tx *sqlx.Tx, id int64, now time.Time) (*incState, error) {
	b := newBatch(ctx, s, tx, correlate.Rules{})
	if err := b.loadIncidents([]int64{id}); err != nil {
		return nil, err
	}
	st := b.incs[id]
	if st == nil {
		return nil, nil
	}
	if err := recomputeSummary(ctx, tx, st); err != nil {
		return nil, err
	}
	return st, writeIncident(ctx, tx, st, now)
}

// IncidentOperation is a case action as the store applied it, once per
// idempotency key (ApplyIncidentOperation).
type IncidentOperation struct {
	IdempotencyKey string    `json:"idempotencyKey" db:"idempotency_key"`
	IncidentID     int64     `json:"incidentId" db:"incident_id"`
	Operation      string    `json:"operation" db:"operation"` // the action type
	Result         string    `json:"result" db:"result"`
	Changed        bool      `json:"changed" db:"changed"`
	CreatedAt      time.Time `json:"createdAt" db:"created_at"`
}

// IncidentDecision is what a case action does to the incident as it is
// now: the change to apply (nil changes nothing) and the result to record.
type IncidentDecision struct {
	Change *records.IncidentChange
	Result string
}

// ApplyIncidentOperation applies a case action to an incident exactly once
// per idempotency key, as actor, through the same code as a change by hand
// (ManageIncident: validation, activity log, cascades to alerts). In one
// transaction it locks the incident, returns the recorded operation when
// the key was applied before (Changed as first recorded, before and after
// nil) — so a retried attempt changes nothing even if an analyst changed
// the incident meanwhile — and otherwise asks decide what to do with the
// incident as it is now, applies that, and records it under the key.
func (s *Store) ApplyIncidentOperation(ctx context.Context, id int64, key, operation, actor string,
	decide func(cur *domain.Incident) (IncidentDecision, error)) (op *IncidentOperation, before, after *domain.Incident, err error) {
	if key == "" {
		return nil, nil, nil, domain.Invalid("idempotencyKey", "a case action needs an idempotency key")
	}
	err = s.inIncidentTx(ctx, id, func(tx *sqlx.Tx) error {
		cur, err := s.lockManaged(ctx, tx, id)
		if err != nil {
			return err
		}
		var done IncidentOperation
		err = tx.GetContext(ctx, &done, tx.Rebind(`SELECT * FROM incident_operations WHERE idempotency_key = ?`), key)
		if err == nil {
			op = &done
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		d, err := decide(cur)
		if err != nil {
			return err
		}
		before, after = cur, cur
		if d.Change != nil && !d.Change.Empty() {
			if err := d.Change.Check(); err != nil {
				return err
			}
			if after, err = s.manageTx(ctx, tx, cur, *d.Change, actor); err != nil {
				return err
			}
		}
		op = &IncidentOperation{IdempotencyKey: key, IncidentID: id, Operation: operation, Result: d.Result,
			Changed: after != cur, CreatedAt: utc(time.Now())}
		_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_operations (idempotency_key, incident_id, operation,
			result, changed, created_at) VALUES (?, ?, ?, ?, ?, ?)`), op.IdempotencyKey, op.IncidentID, op.Operation,
			op.Result, op.Changed, op.CreatedAt)
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s on incident %d: %w", operation, id, err)
	}
	return op, before, after, nil
}

// manage gathers one incident's change: the SET clauses, the audit entries
// and the side effects already run in the transaction.
type manage struct {
	s         *Store
	ctx       context.Context
	tx        *sqlx.Tx
	id        int64
	actor     string
	now       time.Time
	sets      []string
	args      []any
	audits    []records.AuditEntry
	changed   bool
	recompute bool
}

func (m *manage) set(col string, v any) {
	m.sets = append(m.sets, col+` = ?`)
	m.args = append(m.args, v)
}

func (m *manage) audit(field, before, after string) {
	m.changed = true
	m.audits = append(m.audits, records.AuditEntry{At: m.now, Actor: m.actor, Verb: "incident." + field,
		Object: fmt.Sprintf("incident:%d", m.id), IncidentID: &m.id, Before: before, After: after})
}

// pin marks a summary flag (name_manual, severity_manual) so that ingest
// keeps the value set by hand.
func (m *manage) pin(flag string) error {
	_, err := m.tx.ExecContext(m.ctx, m.tx.Rebind(`INSERT INTO incident_summary (incident_id, `+flag+`) VALUES (?, TRUE)
		ON CONFLICT (incident_id) DO UPDATE SET `+flag+` = TRUE`), m.id)
	if err != nil {
		return fmt.Errorf("pin %s of incident %d: %w", flag, m.id, err)
	}
	return nil
}

// jsonSet is the SQL that sets top-level string fields of the JSON text
// column doc: pairs of field name and placeholder.
func (m *manage) jsonSet(fields ...string) string {
	if m.s.dialect == Postgres {
		expr := `doc::jsonb`
		for _, f := range fields {
			expr = `jsonb_set(` + expr + `, '{` + f + `}', to_jsonb(?::text))`
		}
		return expr + `::text`
	}
	var parts []string
	for _, f := range fields {
		parts = append(parts, `'$.`+f+`', ?`)
	}
	return `json_set(doc, ` + strings.Join(parts, ", ") + `)`
}

func (m *manage) apply(cur *domain.Incident, ch *records.IncidentChange) error {
	ctx, tx := m.ctx, m.tx
	if ch.DisplayName != nil {
		name := strings.TrimSpace(*ch.DisplayName)
		if err := m.pin("name_manual"); err != nil {
			return err
		}
		if name != cur.DisplayName {
			m.set("display_name", name)
			m.audit("displayName", cur.DisplayName, name)
		}
	}
	if ch.Description != nil && *ch.Description != cur.Description {
		m.set("description", *ch.Description)
		m.audit("description", cur.Description, *ch.Description)
	}
	if ch.AssignedTo != nil {
		who := strings.TrimSpace(*ch.AssignedTo)
		if who != cur.AssignedTo {
			m.set("assigned_to", who)
			m.audit("assignedTo", cur.AssignedTo, who)
			res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE alerts SET assigned_to = ?, doc = `+m.jsonSet("assignedTo")+`
				WHERE incident_id = ?`), who, who, m.id)
			if err != nil {
				return fmt.Errorf("assign alerts of incident %d: %w", m.id, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				m.audit("alerts.assignedTo", "", fmt.Sprintf("%d alerts assigned to %q", n, who))
			}
		}
	}
	if len(ch.AddTags) > 0 || len(ch.RemoveTags) > 0 {
		next := slices.Clone(cur.CustomTags)
		for _, t := range ch.AddTags {
			if t = strings.TrimSpace(t); !slices.Contains(next, t) {
				next = append(next, t)
			}
		}
		next = slices.DeleteFunc(next, func(t string) bool {
			return slices.ContainsFunc(ch.RemoveTags, func(r string) bool { return strings.TrimSpace(r) == t })
		})
		if len(next) > records.MaxTagsPerIncident {
			return domain.Invalid("addTags", "an incident takes at most %d tags; this would make %d", records.MaxTagsPerIncident, len(next))
		}
		if !slices.Equal(next, cur.CustomTags) {
			if next == nil {
				next = domain.StringList{}
			}
			b, _ := cur.CustomTags.Value()
			a, _ := next.Value()
			m.set("custom_tags", next)
			m.audit("tags", b.(string), a.(string))
		}
	}
	if ch.Classification != nil || ch.Determination != nil {
		c, d := cur.Classification, cur.Determination
		if ch.Classification != nil && *ch.Classification != c {
			c, d = *ch.Classification, "" // a new classification needs its own determination
		}
		if ch.Determination != nil {
			d = *ch.Determination
		}
		c, d, err := domain.CheckClassification(c, d)
		if err != nil {
			return err
		}
		if c != cur.Classification {
			m.set("classification", c)
			m.audit("classification", cur.Classification, c)
		}
		if d != cur.Determination {
			m.set("determination", d)
			m.audit("determination", cur.Determination, d)
		}
	}
	if ch.Severity != nil {
		if err := m.pin("severity_manual"); err != nil {
			return err
		}
		if *ch.Severity != cur.Severity {
			m.set("severity", *ch.Severity)
			m.audit("severity", string(cur.Severity), string(*ch.Severity))
			m.recompute = true
		}
	}
	if ch.Status != nil {
		to := *ch.Status
		if to != cur.Status {
			m.set("status", to)
			m.audit("status", string(cur.Status), string(to))
			switch {
			case to == domain.IncidentResolved:
				m.set("resolved_at", m.now)
				if err := m.resolveAlerts(); err != nil {
					return err
				}
			case cur.Status == domain.IncidentResolved:
				m.set("resolved_at", nil) // reopened
			}
		}
	}
	if ch.ResolvingComment != "" && ch.ResolvingComment != cur.ResolvingComment {
		// Alone, it edits the comment of a resolved incident: one reopened
		// meanwhile is not resolved again behind its reopener's back.
		if ch.Status == nil && cur.Status != domain.IncidentResolved {
			return domain.Errorf(domain.KindConflict, "incident %d is %s, not resolved: a resolving comment goes with status resolved", m.id, cur.Status)
		}
		m.set("resolving_comment", ch.ResolvingComment)
		m.audit("resolvingComment", cur.ResolvingComment, ch.ResolvingComment)
	}
	if ch.Comment != "" {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_comments (incident_id, comment, created_by, created_at)
			VALUES (?, ?, ?, ?)`), m.id, ch.Comment, m.actor, m.now); err != nil {
			return fmt.Errorf("comment on incident %d: %w", m.id, err)
		}
		m.audit("comment", "", ch.Comment)
	}
	return nil
}

// resolveAlerts resolves the incident's alerts that are not resolved yet.
func (m *manage) resolveAlerts() error {
	at := m.now.Format(time.RFC3339Nano)
	res, err := m.tx.ExecContext(m.ctx, m.tx.Rebind(`UPDATE alerts SET status = 'resolved', doc = `+m.jsonSet("status", "resolvedDateTime")+`
		WHERE incident_id = ? AND status <> 'resolved'`), string(domain.AlertResolved), at, m.id)
	if err != nil {
		return fmt.Errorf("resolve alerts of incident %d: %w", m.id, err)
	}
	if _, err := m.tx.ExecContext(m.ctx, m.tx.Rebind(`UPDATE incident_summary SET active_alerts = 0 WHERE incident_id = ?`), m.id); err != nil {
		return fmt.Errorf("resolve alerts of incident %d: %w", m.id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		m.audit("alerts.status", "", fmt.Sprintf("%d active alerts resolved with the incident", n))
	}
	return nil
}

// markAcknowledged stamps the incident's first human touch unless it has
// one.
func markAcknowledged(ctx context.Context, ex sqlx.ExtContext, id int64, at time.Time) error {
	if _, err := ex.ExecContext(ctx, ex.Rebind(`UPDATE incidents SET acknowledged_at = ?
		WHERE id = ? AND acknowledged_at IS NULL`), utc(at), id); err != nil {
		return fmt.Errorf("acknowledge incident %d: %w", id, err)
	}
	return nil
}

// markContained stamps when the incident's first containment action
// succeeded unless it has that already.
func markContained(ctx context.Context, ex sqlx.ExtContext, id int64, at time.Time) error {
	if _, err := ex.ExecContext(ctx, ex.Rebind(`UPDATE incidents SET contained_at = ?
		WHERE id = ? AND contained_at IS NULL`), utc(at), id); err != nil {
		return fmt.Errorf("mark incident %d contained: %w", id, err)
	}
	return nil
}

// MarkAcknowledged records a person's first touch of an incident at a time
// (a later touch changes nothing). Changes by hand (ManageIncident),
// decisions on actions and manual action requests (UpdateAction,
// RecordAction) call it themselves.
func (s *Store) MarkAcknowledged(ctx context.Context, id int64, at time.Time) error {
	return markAcknowledged(ctx, s.db, id, at)
}

// actionTouches stamps acknowledgement and containment after an action's
// status moved from before to a's: a person's decision or manual request
// acknowledges the incident; the first succeeded containment action
// (actions.IsContainment) contains it.
func actionTouches(ctx context.Context, tx *sqlx.Tx, incidentID int64, before domain.ActionStatus, a *domain.Action) error {
	decided := before == domain.ActionPending && (a.Status == domain.ActionApproved || a.Status == domain.ActionRejected)
	if decided && IsHuman(a.DecidedBy) {
		at := time.Now()
		if a.DecidedAt != nil {
			at = *a.DecidedAt
		}
		if err := markAcknowledged(ctx, tx, incidentID, at); err != nil {
			return err
		}
	}
	if a.Status == domain.ActionSucceeded && before != domain.ActionSucceeded && actions.IsContainment(a.Type) {
		at := time.Now()
		if a.FinishedAt != nil {
			at = *a.FinishedAt
		}
		if err := markContained(ctx, tx, incidentID, at); err != nil {
			return err
		}
	}
	return nil
}
