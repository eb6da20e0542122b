package store

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// Outcome says what ingesting an alert did.
type Outcome string

// Outcomes.
const (
	Created   Outcome = "created"   // a new alert
	Updated   Outcome = "updated"   // a newer version of a known alert
	Unchanged Outcome = "unchanged" // the same or an older version: ignored
)

// CorrelationRules configure how alerts join incidents. The zero value is
// the default: a 24-hour window.
type CorrelationRules struct {
	// Window is how far apart in time an alert and an incident's sighting of
	// a shared entity may be for the alert to join. 0 means 24 hours.
	Window time.Duration
}

func (r CorrelationRules) window() time.Duration {
	if r.Window <= 0 {
		return 24 * time.Hour
	}
	return r.Window
}

// IngestResult reports what became of one alert.
type IngestResult struct {
	AlertID     string  `json:"id"`
	Outcome     Outcome `json:"outcome"`
	IncidentID  int64   `json:"incidentId"`
	NewIncident bool    `json:"newIncident,omitempty"`
	// Notify says the incident's investigation must hear of this alert: it
	// is new or changed, or the investigation never started (an earlier
	// attempt to start it failed), so a re-sent alert retries the start.
	Notify bool `json:"-"`
}

// IngestAlert upserts the alert by id and places it in an incident, in one
// transaction: a newer lastUpdateDateTime replaces the stored version, an
// older or equal one is ignored; a new alert joins the open incident that
// saw one of its entities within the window, or opens a new incident.
//
// Concurrent ingesters are serialised on the alert's entity keys (advisory
// locks on PostgreSQL, the single writer lock on SQLite), so two related
// alerts arriving at once never open two incidents.
func (s *Store) IngestAlert(ctx context.Context, a *domain.Alert, rules CorrelationRules) (IngestResult, error) {
	res := IngestResult{AlertID: a.ID}
	keys := entityKeys(a)
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockKeys(ctx, tx, append([]string{"alert:" + a.ID}, keys...)); err != nil {
			return err
		}
		var prev struct {
			IncidentID int64     `db:"incident_id"`
			LastUpdate time.Time `db:"last_update"`
		}
		err := tx.GetContext(ctx, &prev, tx.Rebind(`SELECT incident_id, last_update FROM alerts WHERE id = ?`), a.ID)
		switch {
		case err == nil:
			res.IncidentID = prev.IncidentID
			if !a.LastUpdateDateTime.After(prev.LastUpdate) {
				res.Outcome = Unchanged
				var st domain.InvestigationState
				if err := tx.GetContext(ctx, &st, tx.Rebind(`SELECT investigation_state FROM incidents WHERE id = ?`), prev.IncidentID); err != nil {
					return fmt.Errorf("read investigation state: %w", err)
				}
				res.Notify = st == domain.InvestigationQueued
				return nil
			}
			res.Outcome = Updated
			if err := updateAlert(ctx, tx, a); err != nil {
				return err
			}
		case isNoRows(err):
			res.Outcome = Created
			id, err := s.correlate(ctx, tx, a, keys, rules)
			if err != nil {
				return err
			}
			if id == 0 {
				if id, err = s.createIncident(ctx, tx, a); err != nil {
					return err
				}
				res.NewIncident = true
			}
			res.IncidentID = id
			if err := insertAlert(ctx, tx, a, id); err != nil {
				return err
			}
		default:
			return fmt.Errorf("read alert %q: %w", a.ID, err)
		}
		res.Notify = true
		if err := linkEntities(ctx, tx, a, res.IncidentID); err != nil {
			return err
		}
		if err := refreshIncident(ctx, tx, res.IncidentID); err != nil {
			return err
		}
		verb := "alert.joined"
		if res.Outcome == Updated {
			verb = "alert.updated"
		}
		return appendAudit(ctx, tx, AuditEntry{Actor: "system:ingest", Verb: verb,
			Object: "alert:" + a.ID, IncidentID: &res.IncidentID, After: a.Title})
	})
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest alert %q: %w", a.ID, err)
	}
	return res, nil
}

// entityKeys lists the alert's distinct entity keys in sorted order — the
// order locks are taken in, so that two ingesters cannot deadlock.
func entityKeys(a *domain.Alert) []string {
	var keys []string
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key != "" && !slices.Contains(keys, string(ev.Entity.Key)) {
			keys = append(keys, string(ev.Entity.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

func (s *Store) lockKeys(ctx context.Context, tx *sqlx.Tx, keys []string) error {
	if s.dialect != Postgres {
		return nil // SQLite: the immediate transaction already holds the only write lock
	}
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		ids = append(ids, int64(h.Sum64()))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, id); err != nil {
			return fmt.Errorf("lock entity: %w", err)
		}
	}
	return nil
}

// correlate returns the open incident the alert joins, or 0 for none: the
// one sharing the most entity keys within the window, then the most
// recently active, then the oldest.
func (s *Store) correlate(ctx context.Context, tx *sqlx.Tx, a *domain.Alert, keys []string, rules CorrelationRules) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	t := a.ActivityTime()
	w := rules.window()
	q, args, err := sqlx.In(`SELECT ie.incident_id
		FROM incident_entities ie JOIN incidents i ON i.id = ie.incident_id
		WHERE ie.entity_key IN (?) AND i.status IN ('active', 'inProgress')
		  AND ie.last_seen >= ? AND ie.last_seen <= ?
		GROUP BY ie.incident_id
		ORDER BY COUNT(*) DESC, MAX(ie.last_seen) DESC, ie.incident_id ASC`, keys, utc(t.Add(-w)), utc(t.Add(w)))
	if err != nil {
		return 0, err
	}
	var cands []int64
	if err := tx.SelectContext(ctx, &cands, tx.Rebind(q), args...); err != nil {
		return 0, fmt.Errorf("find incidents to join: %w", err)
	}
	if len(cands) == 0 {
		return 0, nil
	}
	return cands[0], nil
}

func (s *Store) createIncident(ctx context.Context, tx *sqlx.Tx, a *domain.Alert) (int64, error) {
	now := utc(time.Now())
	t := utc(a.ActivityTime())
	q := `INSERT INTO incidents (display_name, severity, status, investigation_state,
			first_activity, last_activity, created_at, updated_at)
		VALUES (?, ?, 'active', 'queued', ?, ?, ?, ?)`
	args := []any{a.Title, a.Severity, t, t, now, now}
	var id int64
	if s.dialect == Postgres {
		if err := tx.GetContext(ctx, &id, tx.Rebind(q+" RETURNING id"), args...); err != nil {
			return 0, fmt.Errorf("create incident: %w", err)
		}
	} else {
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("create incident: %w", err)
		}
		if id, err = r.LastInsertId(); err != nil {
			return 0, err
		}
	}
	return id, appendAudit(ctx, tx, AuditEntry{Actor: "system:correlation", Verb: "incident.created",
		Object: fmt.Sprintf("incident:%d", id), IncidentID: &id, After: "active"})
}

func alertDoc(a *domain.Alert) (string, error) {
	b, err := json.Marshal(a)
	return string(b), err
}

func insertAlert(ctx context.Context, tx *sqlx.Tx, a *domain.Alert, incidentID int64) error {
	doc, err := alertDoc(a)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO alerts (id, incident_id, status, severity, title, category,
		service_source, detection_source, created_at, last_update, activity_time, doc, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, incidentID, a.Status, a.Severity, a.Title, a.Category, a.ServiceSource, a.DetectionSource,
		utc(a.CreatedDateTime), utc(a.LastUpdateDateTime), utc(a.ActivityTime()), doc, rawOf(a))
	if err != nil {
		return fmt.Errorf("insert alert: %w", err)
	}
	return nil
}

func updateAlert(ctx context.Context, tx *sqlx.Tx, a *domain.Alert) error {
	doc, err := alertDoc(a)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE alerts SET status = ?, severity = ?, title = ?, category = ?,
		service_source = ?, detection_source = ?, last_update = ?, activity_time = ?, doc = ?, raw = ?
		WHERE id = ?`),
		a.Status, a.Severity, a.Title, a.Category, a.ServiceSource, a.DetectionSource,
		utc(a.LastUpdateDateTime), utc(a.ActivityTime()), doc, rawOf(a), a.ID)
	if err != nil {
		return fmt.Errorf("update alert: %w", err)
	}
	// The new version's evidence replaces the old one's.
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM alert_entities WHERE alert_id = ?`), a.ID); err != nil {
		return fmt.Errorf("clear alert entities: %w", err)
	}
	return nil
}

func rawOf(a *domain.Alert) string {
	if len(a.Raw) == 0 {
		b, _ := json.Marshal(a)
		return string(b)
	}
	return string(a.Raw)
}

// linkEntities records the alert's entities, their links to the alert and
// to its incident, keeping each entity's strongest verdict.
func linkEntities(ctx context.Context, tx *sqlx.Tx, a *domain.Alert, incidentID int64) error {
	t := utc(a.ActivityTime())
	merged := map[domain.EntityKey]*domain.Entity{}
	var order []domain.EntityKey
	for _, ev := range a.Evidence {
		e := ev.Entity
		if e == nil || e.Key == "" {
			continue
		}
		if m, ok := merged[e.Key]; ok {
			m.Verdict = domain.StrongerVerdict(m.Verdict, e.Verdict)
			continue
		}
		c := *e
		merged[e.Key] = &c
		order = append(order, e.Key)
	}
	slices.Sort(order)
	for _, k := range order {
		e := merged[k]
		attrs, err := json.Marshal(e.Attrs)
		if err != nil {
			return err
		}
		verdict := e.Verdict
		if verdict == "" {
			verdict = domain.VerdictUnknown
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO entities (key, kind, name, attrs, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET name = excluded.name, attrs = excluded.attrs,
				last_seen = CASE WHEN excluded.last_seen > entities.last_seen THEN excluded.last_seen ELSE entities.last_seen END`),
			e.Key, e.Kind, e.Name, string(attrs), t, t); err != nil {
			return fmt.Errorf("upsert entity %s: %w", e.Key, err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO alert_entities (alert_id, entity_key, verdict)
			VALUES (?, ?, ?) ON CONFLICT (alert_id, entity_key) DO UPDATE SET verdict = excluded.verdict`),
			a.ID, e.Key, verdict); err != nil {
			return fmt.Errorf("link alert entity %s: %w", e.Key, err)
		}
		var cur struct {
			Verdict  domain.Verdict `db:"verdict"`
			LastSeen time.Time      `db:"last_seen"`
		}
		err = tx.GetContext(ctx, &cur, tx.Rebind(`SELECT verdict, last_seen FROM incident_entities
			WHERE incident_id = ? AND entity_key = ?`), incidentID, e.Key)
		switch {
		case isNoRows(err):
			_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_entities (incident_id, entity_key, verdict, last_seen)
				VALUES (?, ?, ?, ?)`), incidentID, e.Key, verdict, t)
		case err == nil:
			seen := cur.LastSeen
			if t.After(seen) {
				seen = t
			}
			_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE incident_entities SET verdict = ?, last_seen = ?
				WHERE incident_id = ? AND entity_key = ?`),
				domain.StrongerVerdict(cur.Verdict, verdict), seen, incidentID, e.Key)
		}
		if err != nil {
			return fmt.Errorf("link incident entity %s: %w", e.Key, err)
		}
	}
	return nil
}

// refreshIncident recomputes what an incident derives from its alerts:
// severity (the highest), alert count, activity span and generated name.
func refreshIncident(ctx context.Context, tx *sqlx.Tx, id int64) error {
	var rows []struct {
		Severity domain.Severity `db:"severity"`
		Category string          `db:"category"`
		Source   string          `db:"service_source"`
		Activity time.Time       `db:"activity_time"`
	}
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT severity, category, service_source, activity_time
		FROM alerts WHERE incident_id = ?`), id); err != nil {
		return fmt.Errorf("read incident alerts: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	sev := domain.SeverityUnknown
	first, last := rows[0].Activity, rows[0].Activity
	var cats, srcs []string
	for _, r := range rows {
		if r.Severity.Rank() > sev.Rank() {
			sev = r.Severity
		}
		if r.Activity.Before(first) {
			first = r.Activity
		}
		if r.Activity.After(last) {
			last = r.Activity
		}
		cats = append(cats, r.Category)
		srcs = append(srcs, r.Source)
	}
	var counts []struct {
		Kind string `db:"kind"`
		N    int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &counts, tx.Rebind(`SELECT e.kind AS kind, COUNT(*) AS n
		FROM incident_entities ie JOIN entities e ON e.key = ie.entity_key
		WHERE ie.incident_id = ? GROUP BY e.kind`), id); err != nil {
		return fmt.Errorf("count incident entities: %w", err)
	}
	var devices, users int
	for _, c := range counts {
		switch domain.EntityKind(c.Kind) {
		case domain.KindDevice:
			devices = c.N
		case domain.KindUser:
			users = c.N
		}
	}
	name := domain.IncidentName(cats, devices, users, srcs)
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incidents SET severity = ?, alert_count = ?,
		first_activity = ?, last_activity = ?, display_name = ?, updated_at = ? WHERE id = ?`),
		sev, len(rows), utc(first), utc(last), name, utc(time.Now()), id)
	if err != nil {
		return fmt.Errorf("update incident %d: %w", id, err)
	}
	return nil
}
