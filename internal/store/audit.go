package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// AuditEntry is one line of the append-only audit log: who did what to
// which object, when, and the value before and after.
type AuditEntry struct {
	ID         int64     `json:"id" db:"id"`
	At         time.Time `json:"at" db:"at"`
	Actor      string    `json:"actor" db:"actor"`
	Verb       string    `json:"verb" db:"verb"`
	Object     string    `json:"object" db:"object"`
	IncidentID *int64    `json:"incidentId,omitempty" db:"incident_id"`
	Before     string    `json:"before,omitempty" db:"before"`
	After      string    `json:"after,omitempty" db:"after"`
}

func appendAudit(ctx context.Context, ex sqlx.ExtContext, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := ex.ExecContext(ctx, ex.Rebind(`INSERT INTO audit (at, actor, verb, object, incident_id, before, after)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), utc(e.At), e.Actor, e.Verb, e.Object, e.IncidentID, e.Before, e.After)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// IncidentActivity returns an incident's activity log, oldest first.
func (s *Store) IncidentActivity(ctx context.Context, incidentID int64) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT id, at, actor, verb, object, incident_id, before, after
		FROM audit WHERE incident_id = ? ORDER BY id`), incidentID)
	if err != nil {
		return nil, fmt.Errorf("read activity of incident %d: %w", incidentID, err)
	}
	return out, nil
}

// WithoutHiddenActions drops from an incident's activity log the entries
// about actions a device-group-scoped reader may not see (visible lists
// the ones they may), so the log tells them no more than the actions do.
func WithoutHiddenActions(entries []AuditEntry, visible []domain.Action) []AuditEntry {
	ids := make(map[string]bool, len(visible))
	for _, a := range visible {
		ids[a.ID] = true
	}
	return slices.DeleteFunc(entries, func(e AuditEntry) bool {
		id, ok := strings.CutPrefix(e.Object, "action:")
		return ok && !ids[id]
	})
}
