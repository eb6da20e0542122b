package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
)

// Prevalence is how widely AIR's own store has seen an observable: the
// entities that carry it, and the alerts, incidents, devices and users
// those entities appeared with.
type Prevalence struct {
	Kind  intel.Kind `json:"kind"`
	Value string     `json:"value"`
	// Entities are the keys that carry the value: the file keyed by it (or
	// whose other hashes include it), the IP, the URL, or for a domain the
	// URLs on it and its subdomains.
	Entities  []domain.EntityKey `json:"entities"`
	Alerts    int                `json:"alerts"`
	Incidents int                `json:"incidents"`
	Devices   int                `json:"devices"`
	Users     int                `json:"users"`
	// DeviceKeys and IncidentIDs list up to PrevalenceListMax of them, so
	// that an investigation can find the same file on another device.
	DeviceKeys  []domain.EntityKey `json:"deviceKeys"`
	IncidentIDs []int64            `json:"incidentIds"`
	FirstSeen   *time.Time         `json:"firstSeen,omitempty"`
	LastSeen    *time.Time         `json:"lastSeen,omitempty"`
	// Truncated says the value is carried by more than PrevalenceListMax
	// entities (a popular domain) and only that many were counted.
	Truncated bool `json:"truncated,omitempty"`
}

// PrevalenceListMax bounds the entities, device keys and incident ids a
// Prevalence reads and lists.
const PrevalenceListMax = 500

// Prevalence counts how many devices, users, alerts and incidents have
// seen a value of a kind (file hash, ip, domain, url; normalised as
// intel.Normalize does), with the first and last time its entities were
// seen. A value never seen answers zero counts, not an error.
func (s *Store) Prevalence(ctx context.Context, kind intel.Kind, value string) (*Prevalence, error) {
	p := &Prevalence{Kind: kind, Value: value, Entities: []domain.EntityKey{}, DeviceKeys: []domain.EntityKey{}, IncidentIDs: []int64{}}
	keys, err := s.prevalenceKeys(ctx, kind, value)
	if err != nil {
		return nil, fmt.Errorf("prevalence of %s %s: %w", kind, value, err)
	}
	if len(keys) > PrevalenceListMax {
		keys, p.Truncated = keys[:PrevalenceListMax], true
	}
	if len(keys) == 0 {
		return p, nil
	}
	p.Entities = keys
	err = s.prevalenceCounts(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("prevalence of %s %s: %w", kind, value, err)
	}
	return p, nil
}

// prevalenceKeys finds the entity keys that carry the value.
func (s *Store) prevalenceKeys(ctx context.Context, kind intel.Kind, value string) ([]domain.EntityKey, error) {
	var (
		q    string
		args []any
	)
	switch kind {
	case intel.KindIP:
		q, args = `SELECT key FROM entities WHERE key = ?`, []any{"ip:" + value}
	case intel.KindURL:
		q, args = `SELECT key FROM entities WHERE key = ?`, []any{"url:" + value}
	case intel.KindFile:
		// A file is keyed by its strongest hash; its others are in attrs
		// (JSON, written by encoding/json without spaces).
		q, args = `SELECT key FROM entities WHERE key = ?`, []any{"file:" + value}
		if len(value) != 64 {
			field := "md5"
			if len(value) == 40 {
				field = "sha1"
			}
			q += ` OR (kind = 'file' AND attrs LIKE ?)`
			args = append(args, `%"`+field+`":"`+value+`"%`)
		}
	case intel.KindDomain:
		d := likeEscape(value)
		q = `SELECT key FROM entities WHERE kind = 'url' AND (key LIKE ? ESCAPE '\' OR key LIKE ? ESCAPE '\'
			OR key LIKE ? ESCAPE '\' OR key LIKE ? ESCAPE '\')`
		args = []any{`url:%://` + d + `/%`, `url:%://` + d + `:%`, `url:%://%.` + d + `/%`, `url:%://%.` + d + `:%`}
	default:
		return nil, domain.Invalid("kind", "want ip, domain, url or file, got %q", kind)
	}
	var keys []domain.EntityKey
	if err := s.db.SelectContext(ctx, &keys, s.db.Rebind(q+` ORDER BY key LIMIT `+fmt.Sprint(PrevalenceListMax+1)), args...); err != nil {
		return nil, err
	}
	if kind == intel.KindDomain {
		// LIKE's '%' may span "/" or "@": keep URLs whose host really is
		// the domain or below it.
		keys = slices.DeleteFunc(keys, func(k domain.EntityKey) bool { return !urlOnDomain(string(k), value) })
	}
	return keys, nil
}

// urlOnDomain reports whether a URL entity key's host is d or a subdomain.
func urlOnDomain(key, d string) bool {
	_, rest, ok := strings.Cut(key, "://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return host == d || strings.HasSuffix(host, "."+d)
}

// prevalenceCounts fills in the counts for p.Entities.
func (s *Store) prevalenceCounts(ctx context.Context, p *Prevalence) error {
	in := func(q string, extra ...any) (string, []any, error) {
		q, args, err := sqlx.In(q, append([]any{p.Entities}, extra...)...)
		return s.db.Rebind(q), args, err
	}
	q, args, err := in(`SELECT COUNT(DISTINCT alert_id) FROM alert_entities WHERE entity_key IN (?)`)
	if err != nil {
		return err
	}
	if err := s.db.GetContext(ctx, &p.Alerts, q, args...); err != nil {
		return err
	}
	q, args, err = in(`SELECT DISTINCT incident_id FROM incident_entities WHERE entity_key IN (?) ORDER BY incident_id`)
	if err != nil {
		return err
	}
	if err := s.db.SelectContext(ctx, &p.IncidentIDs, q, args...); err != nil {
		return err
	}
	p.Incidents = len(p.IncidentIDs)
	if len(p.IncidentIDs) > PrevalenceListMax {
		p.IncidentIDs = p.IncidentIDs[:PrevalenceListMax]
	}
	// The devices and users that appeared in the same alerts as the value.
	var seen []struct {
		Kind string           `db:"kind"`
		Key  domain.EntityKey `db:"key"`
	}
	q, args, err = in(`SELECT DISTINCT e.kind, e.key FROM alert_entities ae
		JOIN alert_entities o ON o.alert_id = ae.alert_id
		JOIN entities e ON e.key = o.entity_key
		WHERE ae.entity_key IN (?) AND e.kind IN ('device', 'user') ORDER BY e.kind, e.key`)
	if err != nil {
		return err
	}
	if err := s.db.SelectContext(ctx, &seen, q, args...); err != nil {
		return err
	}
	for _, e := range seen {
		switch e.Kind {
		case string(domain.KindDevice):
			p.Devices++
			if len(p.DeviceKeys) < PrevalenceListMax {
				p.DeviceKeys = append(p.DeviceKeys, e.Key)
			}
		case string(domain.KindUser):
			p.Users++
		}
	}
	var times []struct {
		First time.Time `db:"first_seen"`
		Last  time.Time `db:"last_seen"`
	}
	q, args, err = in(`SELECT first_seen, last_seen FROM entities WHERE key IN (?)`)
	if err != nil {
		return err
	}
	if err := s.db.SelectContext(ctx, &times, q, args...); err != nil {
		return err
	}
	for _, t := range times {
		if p.FirstSeen == nil || t.First.Before(*p.FirstSeen) {
			f := t.First.UTC()
			p.FirstSeen = &f
		}
		if p.LastSeen == nil || t.Last.After(*p.LastSeen) {
			l := t.Last.UTC()
			p.LastSeen = &l
		}
	}
	return nil
}
