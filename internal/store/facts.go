package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// RecordFacts writes facts about an incident's entities; a fact of the same
// entity, kind and source replaces the earlier one, so that a retried or
// repeated analysis step does not pile up copies. The stale facts (by
// entity, kind and source: a vendor.error that a later analysis no longer
// finds) are removed in the same transaction, where there are any.
func (s *Store) RecordFacts(ctx context.Context, incidentID int64, facts []domain.Fact, stale ...domain.Fact) error {
	if len(facts) == 0 && len(stale) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, f := range stale {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM entity_facts WHERE incident_id = ? AND entity_key = ? AND kind = ? AND source = ?`),
				incidentID, string(f.Entity), f.Kind, f.Source); err != nil {
				return fmt.Errorf("delete fact %s of %s: %w", f.Kind, f.Entity, err)
			}
		}
		for _, f := range facts {
			_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO entity_facts (incident_id, entity_key, kind, source, value, observed_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (incident_id, entity_key, kind, source) DO UPDATE SET value = excluded.value, observed_at = excluded.observed_at`),
				incidentID, string(f.Entity), f.Kind, f.Source, string(f.Value), utc(f.ObservedAt))
			if err != nil {
				return fmt.Errorf("record fact %s of %s: %w", f.Kind, f.Entity, err)
			}
		}
		return nil
	})
}

// Facts returns what analysis learned about an incident's entities, by
// entity, kind and source.
func (s *Store) Facts(ctx context.Context, incidentID int64) ([]domain.Fact, error) {
	var rows []struct {
		Entity     string    `db:"entity_key"`
		Kind       string    `db:"kind"`
		Source     string    `db:"source"`
		Value      string    `db:"value"`
		ObservedAt time.Time `db:"observed_at"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT entity_key, kind, source, value, observed_at
		FROM entity_facts WHERE incident_id = ? ORDER BY entity_key, kind, source`), incidentID); err != nil {
		return nil, fmt.Errorf("read facts of incident %d: %w", incidentID, err)
	}
	out := make([]domain.Fact, len(rows))
	for i, r := range rows {
		out[i] = domain.Fact{Entity: domain.EntityKey(r.Entity), Kind: r.Kind, Source: r.Source,
			Value: domain.RawJSON(r.Value), ObservedAt: r.ObservedAt.UTC()}
	}
	return out, nil
}
