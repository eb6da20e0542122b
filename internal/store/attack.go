package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/intel"
)

// AddKnowledge writes a bundle's MITRE ATT&CK tactics and techniques under
// the import: like its indicators, they become visible when Commit switches
// the feed to it.
func (im *IntelImport) AddKnowledge(ctx context.Context, k *intel.Knowledge) error {
	if k == nil {
		return nil
	}
	rows := make([][2]string, 0, len(k.Tactics)+len(k.Techniques))
	for _, t := range k.Tactics {
		b, _ := json.Marshal(t)
		rows = append(rows, [2]string{t.ID, string(b)})
	}
	for _, t := range k.Techniques {
		b, _ := json.Marshal(t)
		rows = append(rows, [2]string{t.ID, string(b)})
	}
	err := im.s.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO attack_objects (import_id, id, doc) VALUES (?, ?, ?)
				ON CONFLICT (import_id, id) DO UPDATE SET doc = excluded.doc`), im.id, r[0], r[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write ATT&CK knowledge of feed %q: %w", im.feed, err)
	}
	im.techniques = len(k.Techniques)
	return nil
}

// Attack is the ATT&CK knowledge AIR holds about some tactics and
// techniques, by id.
type Attack struct {
	Tactics    map[string]intel.Tactic
	Techniques map[string]intel.Technique
}

// AttackKnowledge reads what the live feeds say of the given tactic and
// technique ids; a sub-technique no feed describes brings its parent
// (T1566 for T1566.002), under the parent's id. When several feeds hold an
// id, the most recently imported wins. Ids no feed knows are absent.
func (s *Store) AttackKnowledge(ctx context.Context, tactics, techniques []string) (*Attack, error) {
	out := &Attack{Tactics: map[string]intel.Tactic{}, Techniques: map[string]intel.Technique{}}
	ids := slices.Clone(tactics)
	for _, t := range techniques {
		ids = append(ids, t)
		if p := intel.Parent(t); p != "" {
			ids = append(ids, p)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT o.id, o.doc FROM attack_objects o JOIN intel_feeds f ON f.import_id = o.import_id
		WHERE o.id IN (?) ORDER BY f.imported_at, f.name`, ids)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID  string `db:"id"`
		Doc string `db:"doc"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("read ATT&CK knowledge: %w", err)
	}
	for _, r := range rows { // later imports overwrite earlier ones
		var err error
		if strings.HasPrefix(r.ID, "TA") {
			var t intel.Tactic
			err = json.Unmarshal([]byte(r.Doc), &t)
			out.Tactics[r.ID] = t
		} else {
			var t intel.Technique
			err = json.Unmarshal([]byte(r.Doc), &t)
			out.Techniques[r.ID] = t
		}
		if err != nil {
			return nil, fmt.Errorf("decode ATT&CK object %s: %w", r.ID, err)
		}
	}
	return out, nil
}
