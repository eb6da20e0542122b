package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// EntityRecord is an entity as the store keeps it: its key, kind, name and
// attributes as last seen, the administrator's tags, and when alerts
// first and last named it.
type EntityRecord struct {
	domain.Entity
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

type entityRow struct {
	Key       domain.EntityKey  `db:"key"`
	Kind      domain.EntityKind `db:"kind"`
	Name      string            `db:"name"`
	Attrs     string            `db:"attrs"`
	FirstSeen time.Time         `db:"first_seen"`
	LastSeen  time.Time         `db:"last_seen"`
}

func (r *entityRow) record() (EntityRecord, error) {
	e := EntityRecord{Entity: domain.Entity{Key: r.Key, Kind: r.Kind, Name: r.Name}, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}
	if err := json.Unmarshal([]byte(r.Attrs), &e.Attrs); err != nil {
		return EntityRecord{}, fmt.Errorf("decode attrs of %s: %w", r.Key, err)
	}
	return e, nil
}

const entitySelect = `SELECT key, kind, name, attrs, first_seen, last_seen FROM entities`

// GetEntity returns one entity with its tags, or a not-found error.
func (s *Store) GetEntity(ctx context.Context, key domain.EntityKey) (*EntityRecord, error) {
	var r entityRow
	err := s.db.GetContext(ctx, &r, s.db.Rebind(entitySelect+` WHERE key = ?`), key)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "entity %s not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("read entity %s: %w", key, err)
	}
	e, err := r.record()
	if err != nil {
		return nil, err
	}
	tags, err := s.EntityTags(ctx, []domain.EntityKey{key})
	if err != nil {
		return nil, err
	}
	e.Tags = tags[key]
	return &e, nil
}

// MaxHostCandidates bounds the devices DevicesByLabel reads.
const MaxHostCandidates = 200

// DevicesByLabel returns the device entities whose key or name has one of
// the host labels as its first DNS label ("ws-042" finds device:ws-042,
// device:ws-042.corp.example and a device keyed by its id named
// WS-042.corp.example), at most MaxHostCandidates, for
// correlate.HostAliases.
func (s *Store) DevicesByLabel(ctx context.Context, labels []string) ([]domain.Entity, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	var conds []string
	var args []any
	for _, l := range labels {
		l = strings.ToLower(l)
		conds = append(conds, `key = ? OR key LIKE ? ESCAPE '\' OR lower(name) = ? OR lower(name) LIKE ? ESCAPE '\'`)
		args = append(args, "device:"+l, "device:"+likeEscape(l)+".%", l, likeEscape(l)+".%")
	}
	var rows []entityRow
	q := entitySelect + ` WHERE kind = 'device' AND (` + strings.Join(conds, " OR ") + `) ORDER BY key` +
		fmt.Sprintf(` LIMIT %d`, MaxHostCandidates)
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("find devices by host name: %w", err)
	}
	out := make([]domain.Entity, 0, len(rows))
	for i := range rows {
		e, err := rows[i].record()
		if err != nil {
			return nil, err
		}
		out = append(out, e.Entity)
	}
	return out, nil
}

// FindEntity returns the key of the entity of a kind that a person names:
// the key kind:name when there is one, else the entity of that kind whose
// name is name without regard to case (the one seen last, when several
// are). Not found is an error of kind not found.
func (s *Store) FindEntity(ctx context.Context, kind domain.EntityKind, name string) (domain.EntityKey, error) {
	name = strings.TrimSpace(name)
	var keys []domain.EntityKey
	err := s.db.SelectContext(ctx, &keys, s.db.Rebind(`SELECT key FROM entities WHERE key = ?
		UNION ALL SELECT key FROM (SELECT key FROM entities WHERE kind = ? AND lower(name) = ? ORDER BY last_seen DESC, key LIMIT 1) n`),
		string(kind)+":"+strings.ToLower(name), kind, strings.ToLower(name))
	if err != nil {
		return "", fmt.Errorf("find %s %q: %w", kind, name, err)
	}
	if len(keys) == 0 {
		return "", domain.Errorf(domain.KindNotFound, "no %s named %q", kind, name)
	}
	return keys[0], nil
}

// EntityAlerts returns the alerts that name any of the query's entities,
// most recent activity first.
func (s *Store) EntityAlerts(ctx context.Context, q records.EntityAlertQuery) (*records.AlertPage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, domain.Invalid("limit", "want from 1 to 1000, got %d", limit)
	}
	page := &records.AlertPage{Value: []domain.Alert{}}
	if len(q.Keys) == 0 {
		return page, nil
	}
	where := ` FROM alerts a WHERE a.id IN (SELECT ae.alert_id FROM alert_entities ae WHERE ae.entity_key IN (` +
		placeholders(len(q.Keys)) + `))`
	args := anys(q.Keys)
	if len(q.Scope) > 0 {
		where += ` AND ` + s.incidentInGroupsSQL("a.incident_id", len(q.Scope))
		args = append(args, lowerAll(q.Scope)...)
	}
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+where), args...); err != nil {
		return nil, fmt.Errorf("count alerts of %v: %w", q.Keys, err)
	}
	var docs []struct {
		Doc        string `db:"doc"`
		IncidentID int64  `db:"incident_id"`
		AssignedTo string `db:"assigned_to"`
	}
	if err := s.db.SelectContext(ctx, &docs, s.db.Rebind(`SELECT a.doc, a.incident_id, a.assigned_to`+where+
		fmt.Sprintf(` ORDER BY a.activity_time DESC, a.id DESC LIMIT %d`, limit)), args...); err != nil {
		return nil, fmt.Errorf("read alerts of %v: %w", q.Keys, err)
	}
	for _, d := range docs {
		var a domain.Alert
		if err := json.Unmarshal([]byte(d.Doc), &a); err != nil {
			return nil, fmt.Errorf("decode stored alert: %w", err)
		}
		a.IncidentID = d.IncidentID
		if d.AssignedTo != "" {
			a.AssignedTo = d.AssignedTo
		}
		page.Value = append(page.Value, a)
	}
	return page, nil
}
