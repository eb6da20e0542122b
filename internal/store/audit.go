package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

func appendAudit(ctx context.Context, ex sqlx.ExtContext, e records.AuditEntry) error {
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
func (s *Store) IncidentActivity(ctx context.Context, incidentID int64) ([]records.AuditEntry, error) {
	var out []records.AuditEntry
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
func WithoutHiddenActions(entries []records.AuditEntry, visible []domain.Action) []records.AuditEntry {
	ids := make(map[string]bool, len(visible))
	for _, a := range visible {
		ids[a.ID] = true
	}
	return slices.DeleteFunc(entries, func(e records.AuditEntry) bool {
		id, ok := strings.CutPrefix(e.Object, "action:")
		return ok && !ids[id]
	})
}
