package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// InvestigationScope returns the entity keys the incident's investigation
// took into its scope so far, sorted.
func (s *Store) InvestigationScope(ctx context.Context, incidentID int64) ([]domain.EntityKey, error) {
	out := []domain.EntityKey{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT entity_key FROM investigation_scope
		WHERE incident_id = ? ORDER BY entity_key`), incidentID); err != nil {
		return nil, fmt.Errorf("read scope of incident %d: %w", incidentID, err)
	}
	return out, nil
}

// AddToScope adds entity keys to the incident's investigation scope.
func (s *Store) AddToScope(ctx context.Context, incidentID int64, keys []domain.EntityKey) error {
	if len(keys) == 0 {
		return nil
	}
	// One statement, so one round trip and no explicit transaction.
	q := `INSERT INTO investigation_scope (incident_id, entity_key) VALUES ` +
		strings.Repeat("(?, ?), ", len(keys)-1) + `(?, ?) ON CONFLICT (incident_id, entity_key) DO NOTHING`
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, incidentID, k)
	}
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(q), args...); err != nil {
		return fmt.Errorf("add %d entities to scope of incident %d: %w", len(keys), incidentID, err)
	}
	return nil
}
