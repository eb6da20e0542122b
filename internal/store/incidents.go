package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// IncidentFilter selects incidents for the queue. The zero value lists every
// incident, last updated first.
type IncidentFilter struct {
	Statuses []domain.IncidentStatus
	Limit    int // 0 means 100
}

// ListIncidents returns incidents matching the filter, last updated first.
func (s *Store) ListIncidents(ctx context.Context, f IncidentFilter) ([]domain.Incident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents i`
	var args []any
	if len(f.Statuses) > 0 {
		q += ` WHERE i.status IN (` + placeholders(len(f.Statuses)) + `)`
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += fmt.Sprintf(` ORDER BY i.updated_at DESC, i.id DESC LIMIT %d`, limit)
	out := []domain.Incident{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// GetIncident returns one incident, or a not-found error.
func (s *Store) GetIncident(ctx context.Context, id int64) (*domain.Incident, error) {
	var inc domain.Incident
	err := s.db.GetContext(ctx, &inc, s.db.Rebind(`SELECT `+incidentColumns+` FROM incidents i WHERE i.id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "incident %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get incident %d: %w", id, err)
	}
	return &inc, nil
}

// IncidentAlerts returns the incident's alerts as AIR decoded them, oldest
// activity first.
func (s *Store) IncidentAlerts(ctx context.Context, id int64) ([]domain.Alert, error) {
	var docs []struct {
		Doc        string `db:"doc"`
		AssignedTo string `db:"assigned_to"`
	}
	if err := s.db.SelectContext(ctx, &docs, s.db.Rebind(`SELECT doc, assigned_to FROM alerts WHERE incident_id = ?
		ORDER BY activity_time, id`), id); err != nil {
		return nil, fmt.Errorf("read alerts of incident %d: %w", id, err)
	}
	out := make([]domain.Alert, 0, len(docs))
	for _, d := range docs {
		var a domain.Alert
		if err := json.Unmarshal([]byte(d.Doc), &a); err != nil {
			return nil, fmt.Errorf("decode stored alert: %w", err)
		}
		a.IncidentID = id
		if d.AssignedTo != "" { // assigned in AIR: a provider's update does not undo it
			a.AssignedTo = d.AssignedTo
		}
		out = append(out, a)
	}
	return out, nil
}

// IncidentEntities returns the incident's entities, each with the strongest
// verdict any of its alerts gave it, sorted by key.
func (s *Store) IncidentEntities(ctx context.Context, id int64) ([]domain.Entity, error) {
	var rows []struct {
		Key       domain.EntityKey  `db:"key"`
		Kind      domain.EntityKind `db:"kind"`
		Name      string            `db:"name"`
		Attrs     string            `db:"attrs"`
		Verdict   domain.Verdict    `db:"verdict"`
		AIR       sql.NullString    `db:"air_verdict"`
		Source    sql.NullString    `db:"source"`
		By        sql.NullString    `db:"decided_by"`
		Reason    sql.NullString    `db:"reason"`
		DecidedAt sql.NullTime      `db:"decided_at"`
	}
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT e.key, e.kind, e.name, e.attrs, ie.verdict,
		v.verdict AS air_verdict, v.source, v.decided_by, v.reason, v.decided_at
		FROM incident_entities ie JOIN entities e ON e.key = ie.entity_key
		LEFT JOIN entity_verdicts v ON v.incident_id = ie.incident_id AND v.entity_key = ie.entity_key
		WHERE ie.incident_id = ? ORDER BY e.key`), id); err != nil {
		return nil, fmt.Errorf("read entities of incident %d: %w", id, err)
	}
	out := make([]domain.Entity, 0, len(rows))
	for _, r := range rows {
		e := domain.Entity{Key: r.Key, Kind: r.Kind, Name: r.Name, Verdict: r.Verdict}
		if r.AIR.Valid {
			// AIR's verdict wins; the provider's stays beside it.
			e.ProviderVerdict, e.Verdict = r.Verdict, domain.Verdict(r.AIR.String)
			e.Decision = &domain.VerdictDecision{Source: r.Source.String, By: r.By.String, Reason: r.Reason.String, At: r.DecidedAt.Time}
		}
		if err := json.Unmarshal([]byte(r.Attrs), &e.Attrs); err != nil {
			return nil, fmt.Errorf("decode attrs of %s: %w", r.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// SetInvestigationState projects the incident workflow's investigation
// state into the incident row.
func (s *Store) SetInvestigationState(ctx context.Context, id int64, state domain.InvestigationState) error {
	if s.dialect == Postgres {
		// The same in one statement, one round trip: every investigation
		// sets its state at least twice.
		var before domain.InvestigationState
		now := utc(time.Now())
		err := s.db.QueryRowxContext(ctx, `WITH old AS (SELECT investigation_state FROM incidents WHERE id = $1 FOR UPDATE),
			up AS (UPDATE incidents SET investigation_state = $2, updated_at = $3 FROM old
				WHERE incidents.id = $1 AND old.investigation_state <> $2 RETURNING old.investigation_state),
			au AS (INSERT INTO audit (at, actor, verb, object, incident_id, before, after)
				SELECT $3, 'system:investigation', 'investigation.state', $4, $1, up.investigation_state, $2 FROM up)
			SELECT investigation_state FROM old`, id, state, now, fmt.Sprintf("incident:%d", id)).Scan(&before)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "incident %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("set investigation state of incident %d: %w", id, err)
		}
		s.publish(incidentChanged(id))
		return nil
	}
	return s.inIncidentTx(ctx, id, func(tx *sqlx.Tx) error {
		var before domain.InvestigationState
		if err := tx.GetContext(ctx, &before, tx.Rebind(`SELECT investigation_state FROM incidents WHERE id = ?`), id); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "incident %d not found", id)
			}
			return err
		}
		if before == state {
			return nil
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incidents SET investigation_state = ?, updated_at = ? WHERE id = ?`),
			state, utc(time.Now()), id); err != nil {
			return fmt.Errorf("set investigation state of incident %d: %w", id, err)
		}
		return appendAudit(ctx, tx, records.AuditEntry{Actor: "system:investigation", Verb: "investigation.state",
			Object: fmt.Sprintf("incident:%d", id), IncidentID: &id, Before: string(before), After: string(state)})
	})
}

func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

// AddIncidentTags adds tags the incident does not have yet.
func (s *Store) AddIncidentTags(ctx context.Context, id int64, tags []string, actor string) error {
	if s.dialect == Postgres {
		return s.addIncidentTagsPostgres(ctx, id, tags, actor)
	}
	return s.inIncidentTx(ctx, id, func(tx *sqlx.Tx) error {
		var raw string
		if err := tx.GetContext(ctx, &raw, tx.Rebind(`SELECT custom_tags FROM incidents WHERE id = ?`), id); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "incident %d not found", id)
			}
			return err
		}
		before, after, err := withTags(raw, tags)
		if err != nil || after == "" {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incidents SET custom_tags = ?, updated_at = ? WHERE id = ?`),
			after, utc(time.Now()), id); err != nil {
			return fmt.Errorf("tag incident %d: %w", id, err)
		}
		return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "incident.tags", Object: fmt.Sprintf("incident:%d", id),
			IncidentID: &id, Before: before, After: after})
	})
}

// addIncidentTagsPostgres is AddIncidentTags in two round trips instead of
// five: it reads the tags, then writes them and the audit entry in one
// statement on condition that the tags are still those it read, reading
// again when another writer came between.
func (s *Store) addIncidentTagsPostgres(ctx context.Context, id int64, tags []string, actor string) error {
	for range 10 {
		var raw string
		if err := s.db.GetContext(ctx, &raw, `SELECT custom_tags FROM incidents WHERE id = $1`, id); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "incident %d not found", id)
			}
			return fmt.Errorf("tag incident %d: %w", id, err)
		}
		before, after, err := withTags(raw, tags)
		if err != nil || after == "" {
			return err
		}
		res, err := s.db.ExecContext(ctx, `WITH up AS (UPDATE incidents SET custom_tags = $1, updated_at = $2
				WHERE id = $3 AND custom_tags = $4 RETURNING id)
			INSERT INTO audit (at, actor, verb, object, incident_id, before, after)
			SELECT $2, $5, 'incident.tags', $6, id, $7, $1 FROM up`,
			after, utc(time.Now()), id, raw, actor, fmt.Sprintf("incident:%d", id), before)
		if err != nil {
			return fmt.Errorf("tag incident %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			s.publish(incidentChanged(id))
			return err
		}
	}
	return domain.Errorf(domain.KindConflict, "incident %d: its tags kept changing while they were written; try again", id)
}

// withTags adds tags to the stored tag list raw (JSON) and returns the
// list before and after, as stored; after is empty when no tag is new.
func withTags(raw string, tags []string) (before, after string, err error) {
	var cur domain.StringList
	if err := cur.Scan(raw); err != nil {
		return "", "", err
	}
	next := slices.Clone(cur)
	for _, t := range tags {
		if t != "" && !slices.Contains(next, t) {
			next = append(next, t)
		}
	}
	if len(next) == len(cur) {
		return "", "", nil
	}
	b, _ := cur.Value()
	a, err := next.Value()
	if err != nil {
		return "", "", err
	}
	return b.(string), a.(string), nil
}

// AddIncidentComment appends a comment to the incident.
func (s *Store) AddIncidentComment(ctx context.Context, id int64, text, actor string) error {
	return s.inIncidentTx(ctx, id, func(tx *sqlx.Tx) error {
		now := utc(time.Now())
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_comments (incident_id, comment, created_by, created_at)
			VALUES (?, ?, ?, ?)`), id, text, actor, now); err != nil {
			return fmt.Errorf("comment on incident %d: %w", id, err)
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: now, Actor: actor, Verb: "incident.comment",
			Object: fmt.Sprintf("incident:%d", id), IncidentID: &id, After: text})
	})
}

// IncidentComments returns the incident's comments, oldest first.
func (s *Store) IncidentComments(ctx context.Context, id int64) ([]domain.Comment, error) {
	out := []domain.Comment{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT comment, created_by, created_at
		FROM incident_comments WHERE incident_id = ? ORDER BY id`), id); err != nil {
		return nil, fmt.Errorf("read comments of incident %d: %w", id, err)
	}
	return out, nil
}
