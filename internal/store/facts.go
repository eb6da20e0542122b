package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// RecordFacts writes facts about an incident's entities; a fact of the same
// entity, kind and source replaces the earlier one, so that a retried or
// repeated analysis step does not pile up copies. The stale facts (by
// entity, kind and source: a vendor.error that a later analysis no longer
// finds) are removed in the same statement or transaction.
func (s *Store) RecordFacts(ctx context.Context, incidentID int64, facts []domain.Fact, stale ...domain.Fact) error {
	if len(facts) == 0 && len(stale) == 0 {
		return nil
	}
	if len(facts) <= factsPerStatement && len(stale) <= factsPerStatement {
		// One statement, so one round trip and no explicit transaction: an
		// upsert of the new facts, on PostgreSQL with the DELETE of the
		// stale ones in a WITH clause. An analysis step records facts and
		// clears a vendor's error each time it runs.
		switch {
		case len(stale) == 0:
			return upsertFacts(ctx, s.db, incidentID, facts, "", nil)
		case s.dialect == Postgres && len(facts) > 0 && !sameFacts(stale, facts):
			q, args := deleteFacts(incidentID, stale)
			return upsertFacts(ctx, s.db, incidentID, facts, "WITH stale AS ("+q+") ", args)
		}
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if len(stale) > 0 {
			q, args := deleteFacts(incidentID, stale)
			if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
				return fmt.Errorf("clear %d facts of incident %d: %w", len(stale), incidentID, err)
			}
		}
		return upsertFacts(ctx, tx, incidentID, facts, "", nil)
	})
}

// deleteFacts is a DELETE of an incident's facts with the entity, kind and
// source of those given.
func deleteFacts(incidentID int64, facts []domain.Fact) (string, []any) {
	args := make([]any, 0, 1+3*len(facts))
	args = append(args, incidentID)
	for _, f := range facts {
		args = append(args, string(f.Entity), f.Kind, f.Source)
	}
	return `DELETE FROM entity_facts WHERE incident_id = ? AND (entity_key, kind, source) IN (VALUES ` +
		strings.Repeat("(?, ?, ?), ", len(facts)-1) + `(?, ?, ?))`, args
}

// sameFacts reports whether a fact of a names the entity, kind and source
// of one of b: one statement must not both delete and write a row.
func sameFacts(a, b []domain.Fact) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Entity == y.Entity && x.Kind == y.Kind && x.Source == y.Source {
				return true
			}
		}
	}
	return false
}

// factsPerStatement bounds the facts one INSERT writes, six parameters
// each, well under either database's limit on parameters.
const factsPerStatement = 500

// upsertFacts writes facts, factsPerStatement to a statement; with
// and its arguments, when given, precede the first. Of facts with the same
// entity, kind and source the last is written: one statement may not
// update a row twice.
func upsertFacts(ctx context.Context, ex sqlx.ExtContext, incidentID int64, facts []domain.Fact, with string, withArgs []any) error {
	type id struct {
		entity       domain.EntityKey
		kind, source string
	}
	last := make(map[id]int, len(facts))
	for i, f := range facts {
		last[id{f.Entity, f.Kind, f.Source}] = i
	}
	args := append(make([]any, 0, len(withArgs)+6*min(len(last), factsPerStatement)), withArgs...)
	flush := func() error {
		n := (len(args) - len(withArgs)) / 6
		if n == 0 {
			return nil
		}
		q := with + `INSERT INTO entity_facts (incident_id, entity_key, kind, source, value, observed_at) VALUES ` +
			strings.Repeat("(?, ?, ?, ?, ?, ?), ", n-1) + `(?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident_id, entity_key, kind, source) DO UPDATE SET value = excluded.value, observed_at = excluded.observed_at`
		if _, err := ex.ExecContext(ctx, ex.Rebind(q), args...); err != nil {
			return fmt.Errorf("record %d facts of incident %d: %w", n, incidentID, err)
		}
		args, with, withArgs = args[:0], "", nil
		return nil
	}
	for i, f := range facts {
		if last[id{f.Entity, f.Kind, f.Source}] != i {
			continue
		}
		args = append(args, incidentID, string(f.Entity), f.Kind, f.Source, string(f.Value), utc(f.ObservedAt))
		if len(args)-len(withArgs) == 6*factsPerStatement {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
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
