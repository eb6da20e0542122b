package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

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
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO investigation_scope (incident_id, entity_key)
				VALUES (?, ?) ON CONFLICT (incident_id, entity_key) DO NOTHING`), incidentID, k); err != nil {
				return fmt.Errorf("add %s to scope of incident %d: %w", k, incidentID, err)
			}
		}
		return nil
	})
}
