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
	"github.com/airsoc/air/internal/records"
)

// Prevalence counts how many devices, users, alerts and incidents have
// seen a value of a kind (file hash, ip, domain, url; normalised as
// intel.Normalize does), with the first and last time its entities were
// seen. A value never seen answers zero counts, not an error.
func (s *Store) Prevalence(ctx context.Context, kind intel.Kind, value string) (*records.Prevalence, error) {
	p := &records.Prevalence{Kind: kind, Value: value, Entities: []domain.EntityKey{}, DeviceKeys: []domain.EntityKey{}, IncidentIDs: []int64{}}
	ents, err := s.prevalenceEntities(ctx, kind, value)
	if err != nil {
		return nil, fmt.Errorf("prevalence of %s %s: %w", kind, value, err)
	}
	if len(ents) > records.PrevalenceListMax {
		ents, p.Truncated = ents[:records.PrevalenceListMax], true
	}
	if len(ents) == 0 {
		return p, nil
	}
	for _, e := range ents {
		p.Entities = append(p.Entities, e.Key)
		if p.FirstSeen == nil || e.First.Before(*p.FirstSeen) {
			f := e.First.UTC()
			p.FirstSeen = &f
		}
		if p.LastSeen == nil || e.Last.After(*p.LastSeen) {
			l := e.Last.UTC()
			p.LastSeen = &l
		}
	}
	err = s.prevalenceCounts(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("prevalence of %s %s: %w", kind, value, err)
	}
	return p, nil
}

// seenEntity is an entity that carries a value, with when it was seen.
type seenEntity struct {
	Key   domain.EntityKey `db:"key"`
	First time.Time        `db:"first_seen"`
	Last  time.Time        `db:"last_seen"`
}

// prevalenceEntities finds the entities that carry the value, by key.
func (s *Store) prevalenceEntities(ctx context.Context, kind intel.Kind, value string) ([]seenEntity, error) {
	var (
		q    string
		args []any
	)
	switch kind {
	case intel.KindIP:
		q, args = `key = ?`, []any{"ip:" + value}
	case intel.KindURL:
		q, args = `key = ?`, []any{"url:" + value}
	case intel.KindFile:
		// A file is keyed by its strongest hash; its others are in
		// attrs, found through an index on the attribute (0505).
		q, args = `key = ?`, []any{"file:" + value}
		if len(value) != 64 {
			field := "md5"
			if len(value) == 40 {
				field = "sha1"
			}
			q += ` OR (kind = 'file' AND ` + s.attrExpr(field) + ` = ?)`
			args = append(args, value)
		}
	case intel.KindDomain:
		d := likeEscape(value)
		q = `kind = 'url' AND (key LIKE ? ESCAPE '\' OR key LIKE ? ESCAPE '\'
			OR key LIKE ? ESCAPE '\' OR key LIKE ? ESCAPE '\')`
		args = []any{`url:%://` + d + `/%`, `url:%://` + d + `:%`, `url:%://%.` + d + `/%`, `url:%://%.` + d + `:%`}
	default:
		return nil, domain.Invalid("kind", "want ip, domain, url or file, got %q", kind)
	}
	var ents []seenEntity
	if err := s.db.SelectContext(ctx, &ents, s.db.Rebind(`SELECT key, first_seen, last_seen FROM entities WHERE `+q+
		` ORDER BY key LIMIT `+fmt.Sprint(records.PrevalenceListMax+1)), args...); err != nil {
		return nil, err
	}
	if kind == intel.KindDomain {
		// LIKE's '%' may span "/" or "@": keep URLs whose host really is
		// the domain or below it.
		ents = slices.DeleteFunc(ents, func(e seenEntity) bool { return !urlOnDomain(string(e.Key), value) })
	}
	return ents, nil
}

// attrExpr is the SQL for an entity's attribute, as the expression indexes
// of migration 0505 write it.
func (s *Store) attrExpr(field string) string {
	if s.dialect == Postgres {
		return `(attrs::jsonb ->> '` + field + `')`
	}
	return `json_extract(attrs, '$.` + field + `')`
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

// prevalenceCounts fills in the counts for p.Entities, in one query of
// three parts (a round trip each would cost more than the queries): how
// many alerts, which incidents, and which devices and users appeared in
// the same alerts, told by their keys' kind prefix ("device:…").
//
// The devices and users are read from the value's alerts, then those
// alerts' entities by alert_entities' primary key. Written as a join (with
// entities for the kind) the planner could start from every device and
// user, or read all of alert_entities (4 to 75 ms with 5,000 alerts);
// PostgreSQL reads an ARRAY(subquery) first, as a value.
func (s *Store) prevalenceCounts(ctx context.Context, p *records.Prevalence) error {
	alerts := `IN (SELECT alert_id FROM alert_entities WHERE entity_key IN (?))`
	if s.dialect == Postgres {
		alerts = `= ANY(ARRAY(SELECT alert_id FROM alert_entities WHERE entity_key IN (?)))`
	}
	q, args, err := sqlx.In(`SELECT 'alerts' AS what, '' AS entity, COUNT(DISTINCT alert_id) AS n FROM alert_entities WHERE entity_key IN (?)
		UNION ALL
		SELECT DISTINCT 'incident', '', incident_id FROM incident_entities WHERE entity_key IN (?)
		UNION ALL
		SELECT DISTINCT 'seen', entity_key, 0 FROM alert_entities WHERE alert_id `+alerts+`
			AND (entity_key LIKE 'device:%' OR entity_key LIKE 'user:%')
		ORDER BY what, n, entity`, p.Entities, p.Entities, p.Entities)
	if err != nil {
		return err
	}
	var rows []struct {
		What   string           `db:"what"`
		Entity domain.EntityKey `db:"entity"`
		N      int64            `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
		return err
	}
	for _, r := range rows {
		switch {
		case r.What == "alerts":
			p.Alerts = int(r.N)
		case r.What == "incident":
			p.Incidents++
			if len(p.IncidentIDs) < records.PrevalenceListMax {
				p.IncidentIDs = append(p.IncidentIDs, r.N)
			}
		case strings.HasPrefix(string(r.Entity), string(domain.KindDevice)+":"):
			p.Devices++
			if len(p.DeviceKeys) < records.PrevalenceListMax {
				p.DeviceKeys = append(p.DeviceKeys, r.Entity)
			}
		default:
			p.Users++
		}
	}
	return nil
}
