package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// Setting reads the JSON setting stored under key into out and reports
// whether it was set.
func (s *Store) Setting(ctx context.Context, key string, out any) (bool, error) {
	var v string
	err := s.db.GetContext(ctx, &v, s.db.Rebind(`SELECT value FROM settings WHERE key = ?`), key)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read setting %s: %w", key, err)
	}
	if err := json.Unmarshal([]byte(v), out); err != nil {
		return false, fmt.Errorf("decode setting %s: %w", key, err)
	}
	return true, nil
}

// SettingsWithPrefix returns every setting whose key starts with prefix,
// by key, as the JSON it was stored as.
func (s *Store) SettingsWithPrefix(ctx context.Context, prefix string) (map[string]json.RawMessage, error) {
	var rows []struct {
		Key   string `db:"key"`
		Value string `db:"value"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT key, value FROM settings
		WHERE substr(key, 1, ?) = ? ORDER BY key`), len(prefix), prefix); err != nil {
		return nil, fmt.Errorf("read settings %s*: %w", prefix, err)
	}
	out := make(map[string]json.RawMessage, len(rows))
	for _, r := range rows {
		out[r.Key] = json.RawMessage(r.Value)
	}
	return out, nil
}

// PutSetting stores value under key and audits the change, before → after.
func (s *Store) PutSetting(ctx context.Context, key string, value any, actor string) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("encode setting %s: %w", key, err)
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var before string
		err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT value FROM settings WHERE key = ?`), key)
		if err != nil && !isNoRows(err) {
			return err
		}
		if before == string(b) {
			return nil
		}
		now := utc(time.Now())
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO settings (key, value, updated_at, updated_by)
			VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`), key, string(b), now, actor); err != nil {
			return fmt.Errorf("write setting %s: %w", key, err)
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: now, Actor: actor, Verb: "settings.changed", Object: "settings:" + key,
			Before: before, After: string(b)})
	})
}

// EntityTags returns the administrator's tags of the given entities.
func (s *Store) EntityTags(ctx context.Context, keys []domain.EntityKey) (map[domain.EntityKey][]string, error) {
	out := map[domain.EntityKey][]string{}
	if len(keys) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT entity_key, tag FROM entity_tags WHERE entity_key IN (?) ORDER BY entity_key, tag`, keys)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Key domain.EntityKey `db:"entity_key"`
		Tag string           `db:"tag"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("read entity tags: %w", err)
	}
	for _, r := range rows {
		out[r.Key] = append(out[r.Key], r.Tag)
	}
	return out, nil
}

// SetEntityTags replaces an entity's tags and audits the change.
func (s *Store) SetEntityTags(ctx context.Context, key domain.EntityKey, tags []string, actor string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var before []string
		if err := tx.SelectContext(ctx, &before, tx.Rebind(`SELECT tag FROM entity_tags WHERE entity_key = ? ORDER BY tag`), key); err != nil {
			return err
		}
		after := slices.Clone(tags)
		slices.Sort(after)
		after = slices.Compact(after)
		if slices.Equal(before, after) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM entity_tags WHERE entity_key = ?`), key); err != nil {
			return err
		}
		for _, t := range after {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO entity_tags (entity_key, tag) VALUES (?, ?)`), key, t); err != nil {
				return err
			}
		}
		b, _ := json.Marshal(before)
		a, _ := json.Marshal(after)
		return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "entity.tags", Object: string(key), Before: string(b), After: string(a)})
	})
}
