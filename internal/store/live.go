package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// AlertSummary is what an investigation knows of an incident's alerts
// beyond the window it loads: how many, when the first and last were
// active, and how they spread over severities and categories (MITRE
// tactics).
type AlertSummary struct {
	Count      int            `json:"count"`
	First      time.Time      `json:"first,omitzero"`
	Last       time.Time      `json:"last,omitzero"`
	Severities map[string]int `json:"severities,omitempty"`
	Categories map[string]int `json:"categories,omitempty"`
}

// IncidentAlertSummary summarises an incident's alerts in the database,
// without reading their documents.
func (s *Store) IncidentAlertSummary(ctx context.Context, id int64) (*AlertSummary, error) {
	var rows []struct {
		Severity string `db:"severity"`
		Category string `db:"category"`
		N        int    `db:"n"`
		// Times come back as text from SQLite's MIN/MAX; scan them as such.
		First string `db:"first"`
		Last  string `db:"last"`
	}
	err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT severity, category, COUNT(*) AS n,
		CAST(MIN(activity_time) AS TEXT) AS first, CAST(MAX(activity_time) AS TEXT) AS last
		FROM alerts WHERE incident_id = ? GROUP BY severity, category`), id)
	if err != nil {
		return nil, fmt.Errorf("summarise alerts of incident %d: %w", id, err)
	}
	sum := &AlertSummary{Severities: map[string]int{}, Categories: map[string]int{}}
	for _, r := range rows {
		sum.Count += r.N
		sum.Severities[r.Severity] += r.N
		if r.Category != "" {
			sum.Categories[r.Category] += r.N
		}
		if t, ok := parseDBTime(r.First); ok && (sum.First.IsZero() || t.Before(sum.First)) {
			sum.First = t
		}
		if t, ok := parseDBTime(r.Last); ok && t.After(sum.Last) {
			sum.Last = t
		}
	}
	return sum, nil
}

// parseDBTime reads a timestamp as either dialect prints it as text.
func parseDBTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05-07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// RecentIncidentAlerts returns at most limit of the incident's alerts, the
// most recently active ones, oldest first, as AIR decoded them and without
// the provider's raw document.
func (s *Store) RecentIncidentAlerts(ctx context.Context, id int64, limit int) ([]domain.Alert, error) {
	var docs []struct {
		Doc        string `db:"doc"`
		AssignedTo string `db:"assigned_to"`
	}
	if err := s.db.SelectContext(ctx, &docs, s.db.Rebind(fmt.Sprintf(`SELECT doc, assigned_to FROM alerts WHERE incident_id = ?
		ORDER BY activity_time DESC, id DESC LIMIT %d`, limit)), id); err != nil {
		return nil, fmt.Errorf("read recent alerts of incident %d: %w", id, err)
	}
	out := make([]domain.Alert, len(docs))
	for i, d := range docs {
		a := &out[len(docs)-1-i]
		if err := json.Unmarshal([]byte(d.Doc), a); err != nil {
			return nil, fmt.Errorf("decode stored alert: %w", err)
		}
		a.IncidentID = id
		a.Raw = nil
		if d.AssignedTo != "" {
			a.AssignedTo = d.AssignedTo
		}
	}
	return out, nil
}

// HoldingActions returns the succeeded, not undone actions of one type on
// one entity in open incidents other than incidentID: what still keeps the
// entity contained, say, when incidentID's investigation undoes its own
// containment of it.
func (s *Store) HoldingActions(ctx context.Context, incidentID int64, actionType string, target domain.EntityKey) ([]domain.Action, error) {
	out := []domain.Action{}
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT a.* FROM actions a JOIN incidents i ON i.id = a.incident_id
		WHERE a.type = ? AND a.target_key = ? AND a.status = ? AND a.incident_id <> ? AND i.status IN (?, ?)
		ORDER BY a.created_at, a.id LIMIT 20`),
		actionType, target, domain.ActionSucceeded, incidentID, domain.IncidentActive, domain.IncidentInProgress)
	if err != nil {
		return nil, fmt.Errorf("read actions holding %s: %w", target, err)
	}
	return out, nil
}

// OpenActionsOn returns the actions of one type on one entity, with the
// given parameters hash, that open incidents other than incidentID proposed
// and that are not over: pending, approved, running or succeeded. A second
// incident's investigation joins such an action instead of acting twice.
func (s *Store) OpenActionsOn(ctx context.Context, incidentID int64, actionType string, target domain.EntityKey) ([]domain.Action, error) {
	out := []domain.Action{}
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT a.* FROM actions a JOIN incidents i ON i.id = a.incident_id
		WHERE a.type = ? AND a.target_key = ? AND a.status IN (?, ?, ?, ?) AND a.incident_id <> ? AND i.status IN (?, ?)
		AND a.undo_of = '' ORDER BY a.created_at, a.id LIMIT 20`),
		actionType, target, domain.ActionPending, domain.ActionApproved, domain.ActionRunning, domain.ActionSucceeded,
		incidentID, domain.IncidentActive, domain.IncidentInProgress)
	if err != nil {
		return nil, fmt.Errorf("read open actions on %s: %w", target, err)
	}
	return out, nil
}

// NoteAlsoProposed records on an action that another investigation
// proposed the same remediation and joined it instead of acting twice
// ("also proposed by …"), in the audit log of both incidents.
func (s *Store) NoteAlsoProposed(ctx context.Context, act *domain.Action, by string, incidentID int64) error {
	defer s.publish(incidentChanged(act.IncidentID), incidentChanged(incidentID))
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		text := fmt.Sprintf("also proposed by %s of incident %d", by, incidentID)
		if err := appendAudit(ctx, tx, records.AuditEntry{Actor: by, Verb: "action.joined", Object: "action:" + act.ID,
			IncidentID: &act.IncidentID, After: text}); err != nil {
			return err
		}
		if incidentID == act.IncidentID {
			return nil
		}
		return appendAudit(ctx, tx, records.AuditEntry{Actor: by, Verb: "action.joined", Object: "action:" + act.ID,
			IncidentID: &incidentID, After: text})
	})
}

// AuditInvestigation records a person's act on an investigation as a
// whole (verb investigation.stop, say) in the audit log.
func (s *Store) AuditInvestigation(ctx context.Context, incidentID int64, actor, verb, text string) error {
	if err := appendAudit(ctx, s.db, records.AuditEntry{Actor: actor, Verb: verb, Object: fmt.Sprintf("incident:%d", incidentID),
		IncidentID: &incidentID, After: text}); err != nil {
		return err
	}
	s.publish(incidentChanged(incidentID))
	return nil
}
