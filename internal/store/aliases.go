package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// aliasReader is what readAliases needs: a transaction or the database.
type aliasReader interface {
	sqlx.QueryerContext
	Rebind(string) string
}

// readAliases returns the stored aliases of keys (entity_aliases), leaving
// out IP pairs that cannot hold at or after since (correlate.IPAliasWindow);
// a zero since reads every pair.
func readAliases(ctx context.Context, q aliasReader, keys []domain.EntityKey, since time.Time) ([]correlate.AliasRow, error) {
	var out []correlate.AliasRow
	err := inChunks(keys, func(part []domain.EntityKey) error {
		var rows []struct {
			Of    domain.EntityKey `db:"entity_key"`
			Key   domain.EntityKey `db:"alias_key"`
			Alert string           `db:"alert_id"`
			First time.Time        `db:"first_seen"`
			Last  time.Time        `db:"last_seen"`
		}
		sel := `SELECT entity_key, alias_key, alert_id, first_seen, last_seen FROM entity_aliases
			WHERE entity_key IN (` + placeholders(len(part)) + `)`
		if err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(sel), anySlice(part)...); err != nil {
			return fmt.Errorf("read entity aliases: %w", err)
		}
		for _, r := range rows {
			row := correlate.AliasRow{Of: r.Of, Alias: correlate.Alias{Key: r.Key, Alert: r.Alert, First: r.First.UTC(), Last: r.Last.UTC()}}
			if since.IsZero() || row.MayHold(since) {
				out = append(out, row)
			}
		}
		return nil
	})
	return out, err
}

// EntityAliases returns the other identifiers of a device or user that
// alerts named together with it, directly or through one another
// (correlate.Identity), IP pairs with the times they hold around.
func (s *Store) EntityAliases(ctx context.Context, key domain.EntityKey) ([]correlate.AliasRow, error) {
	st := correlate.NewState()
	_, err := st.LoadAliases([]domain.EntityKey{key}, func(keys []domain.EntityKey) ([]correlate.AliasRow, error) {
		return readAliases(ctx, s.db, keys, time.Time{})
	})
	if err != nil {
		return nil, err
	}
	return st.Identity(key), nil
}
