package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
)

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// IncidentDerived returns an incident's derived fields, or a not-found error.
func (s *Store) IncidentDerived(ctx context.Context, id int64) (*records.Derived, error) {
	var r incidentRow
	err := s.db.GetContext(ctx, &r, s.db.Rebind(incidentSelect+` WHERE i.id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "incident %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read incident %d: %w", id, err)
	}
	return r.summary.derived(id)
}

// derived turns a summary row into the incident's derived fields.
func (sum *summary) derived(id int64) (*records.Derived, error) {
	d := &records.Derived{IncidentID: id, Categories: orEmpty(sum.Categories), MitreTechniques: orEmpty(sum.Techniques),
		ServiceSources: orEmpty(sum.ServiceSources), DetectionSources: orEmpty(sum.DetectionSources),
		ImpactedAssets: records.ImpactedAssets{Devices: orEmpty(sum.Devices), Users: orEmpty(sum.Users), Mailboxes: orEmpty(sum.Mailboxes),
			Apps: orEmpty(sum.Apps), DeviceCount: sum.DeviceCount, UserCount: sum.UserCount, MailboxCount: sum.MailboxCount,
			AppCount: sum.AppCount},
		ActiveAlerts: sum.ActiveAlerts, PriorityScore: sum.PriorityScore, SystemTags: orEmpty(sum.SystemTags),
		Routine: sum.RoutineKey, QuietAlerts: sum.QuietAlerts, PriorityFactors: []correlate.Factor{}}
	if err := json.Unmarshal([]byte(sum.PriorityFactors), &d.PriorityFactors); err != nil {
		return nil, fmt.Errorf("decode priority factors of incident %d: %w", id, err)
	}
	return d, nil
}

// MarkNotified records that the incident's investigation heard of its
// material changes up to seq (IngestResult.NotifySeq), so that later quiet
// alerts do not signal it again.
func (s *Store) MarkNotified(ctx context.Context, incidentID, seq int64) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE incident_summary SET notified_seq = ?
		WHERE incident_id = ? AND notified_seq < ?`), seq, incidentID, seq)
	if err != nil {
		return fmt.Errorf("mark incident %d notified: %w", incidentID, err)
	}
	return nil
}

// recomputeSummary derives an incident's fields from its stored alerts and
// entities, for when an alert changed or moved (the batch path updates them
// incrementally otherwise). It runs a handful of grouped queries, never one
// row per alert into Go.
func recomputeSummary(ctx context.Context, tx *sqlx.Tx, st *incState) error {
	var groups []struct {
		Severity   domain.Severity    `db:"severity"`
		Category   string             `db:"category"`
		Service    string             `db:"service_source"`
		Detection  string             `db:"detection_source"`
		Techniques domain.StringList  `db:"techniques"`
		Status     domain.AlertStatus `db:"status"`
		N          int                `db:"n"`
	}
	if err := tx.SelectContext(ctx, &groups, tx.Rebind(`SELECT severity, category, service_source, detection_source,
		techniques, status, COUNT(*) AS n FROM alerts WHERE incident_id = ?
		GROUP BY severity, category, service_source, detection_source, techniques, status`), st.id); err != nil {
		return fmt.Errorf("summarise alerts of incident %d: %w", st.id, err)
	}
	sum := summary{RoutineKey: st.sum.RoutineKey, SystemTags: st.sum.SystemTags, SeverityManual: st.sum.SeverityManual,
		NameManual: st.sum.NameManual, QuietAlerts: st.sum.QuietAlerts}
	sev := domain.SeverityUnknown
	st.alerts = 0
	for _, g := range groups {
		st.alerts += g.N
		if g.Severity.Rank() > sev.Rank() {
			sev = g.Severity
		}
		sum.Categories = addUnique(sum.Categories, g.Category)
		sum.MaxTactic = max(sum.MaxTactic, correlate.TacticRank(g.Category))
		sum.ServiceSources = addUnique(sum.ServiceSources, g.Service)
		sum.DetectionSources = addUnique(sum.DetectionSources, g.Detection)
		for _, t := range g.Techniques {
			sum.Techniques = addUnique(sum.Techniques, t)
		}
		if g.Status != domain.AlertResolved {
			sum.ActiveAlerts += g.N
		}
	}
	if !st.sum.SeverityManual {
		st.severity = sev
	}
	var titles []struct {
		Title    string          `db:"title"`
		Severity domain.Severity `db:"severity"`
	}
	if err := tx.SelectContext(ctx, &titles, tx.Rebind(`SELECT title, severity FROM alerts WHERE incident_id = ?
		GROUP BY title, severity ORDER BY MIN(created_at), title`), st.id); err != nil {
		return fmt.Errorf("read alert titles of incident %d: %w", st.id, err)
	}
	for _, t := range titles {
		sum.Headline, sum.HeadlineRank = domain.AddHeadline(sum.Headline, sum.HeadlineRank, t.Title, t.Severity.Rank())
	}
	var times []time.Time
	for _, order := range []string{"ASC", "DESC"} {
		var t time.Time
		err := tx.GetContext(ctx, &t, tx.Rebind(`SELECT activity_time FROM alerts WHERE incident_id = ?
			ORDER BY activity_time `+order+` LIMIT 1`), st.id)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("read activity span of incident %d: %w", st.id, err)
		}
		times = append(times, t.UTC())
	}
	if !times[0].IsZero() {
		st.first, st.last = times[0], times[1]
	}
	var ents []struct {
		Kind    domain.EntityKind `db:"kind"`
		Name    string            `db:"name"`
		Verdict domain.Verdict    `db:"verdict"`
	}
	if err := tx.SelectContext(ctx, &ents, tx.Rebind(`SELECT e.kind, e.name, ie.verdict FROM incident_entities ie
		JOIN entities e ON e.key = ie.entity_key WHERE ie.incident_id = ? ORDER BY e.name`), st.id); err != nil {
		return fmt.Errorf("read entities of incident %d: %w", st.id, err)
	}
	for _, e := range ents {
		if e.Verdict == domain.VerdictMalicious {
			sum.MaliciousCount++
		}
		sum.Assets.Add(e.Kind, e.Name)
	}
	var notable time.Time
	err := tx.GetContext(ctx, &notable, tx.Rebind(`SELECT last_notable FROM incident_entities
		WHERE incident_id = ? AND last_notable IS NOT NULL ORDER BY last_notable DESC LIMIT 1`), st.id)
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("read last notable activity of incident %d: %w", st.id, err)
	}
	if !notable.IsZero() {
		n := notable.UTC()
		sum.LastNotable = &n
	}
	st.sum = sum
	st.full = false
	return nil
}

// writeIncident stores one incident's derived fields; see writeIncidents.
func writeIncident(ctx context.Context, tx *sqlx.Tx, st *incState, now time.Time) error {
	return writeIncidents(ctx, tx, []*incState{st}, now)
}

// writeIncidents stores incidents' derived fields — severity (unless set by
// hand), alert count, activity span, generated name (unless renamed), and
// the summary row with the priority score — in two statements for all of
// them, in id order (the order row locks are taken in).
func writeIncidents(ctx context.Context, tx *sqlx.Tx, sts []*incState, now time.Time) error {
	if len(sts) == 0 {
		return nil
	}
	slices.SortFunc(sts, func(a, b *incState) int { return int(a.id - b.id) })
	incRows := make([][]any, 0, len(sts))
	sumRows := make([][]any, 0, len(sts))
	for _, st := range sts {
		sum := &st.sum
		if !sum.NameManual && sum.RoutineKey == "" {
			st.displayName = domain.GeneratedName(sum.Headline, sum.Assets, sum.Categories, sum.ServiceSources)
		}
		score, factors := correlate.Priority(correlate.PriorityInput{Severity: st.severity, Tactics: sum.Categories,
			MaliciousEntities: sum.MaliciousCount, Devices: sum.DeviceCount, Users: sum.UserCount, Mailboxes: sum.MailboxCount,
			ServiceSources: len(sum.ServiceSources), Alerts: st.alerts})
		sum.PriorityScore = score
		fb, err := json.Marshal(factors)
		if err != nil {
			return err
		}
		if factors == nil {
			fb = []byte("[]")
		}
		sum.PriorityFactors = string(fb)
		// The row exists (the batch read it or created it): the insert half
		// of this upsert never runs, it only lets one statement update many.
		incRows = append(incRows, []any{st.id, st.displayName, st.severity, st.status, utc(st.first), utc(st.last), now, now, st.alerts,
			sum.PriorityScore})
		var notable any
		if sum.LastNotable != nil {
			notable = utc(*sum.LastNotable)
		}
		sumRows = append(sumRows, []any{st.id, sum.RoutineKey, sum.Categories, sum.Techniques, sum.ServiceSources,
			sum.DetectionSources, sum.Devices, sum.Users, sum.Mailboxes, sum.Apps, sum.DeviceCount, sum.UserCount,
			sum.MailboxCount, sum.AppCount, sum.MaliciousCount, sum.ActiveAlerts, sum.MaxTactic, sum.PriorityScore,
			sum.PriorityFactors, sum.SystemTags, notable, sum.QuietAlerts, st.materialSeq, sum.Headline, sum.HeadlineRank})
	}
	// priority_score is kept on the incident too, so that the queue sorts
	// by it from an index (migration 0007).
	if err := insertRows(ctx, tx, "incidents", "id, display_name, severity, status, first_activity, last_activity, created_at, updated_at, alert_count, priority_score",
		`ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, severity = excluded.severity,
		first_activity = excluded.first_activity, last_activity = excluded.last_activity, updated_at = excluded.updated_at,
		alert_count = excluded.alert_count, priority_score = excluded.priority_score`, incRows); err != nil {
		return fmt.Errorf("update incidents: %w", err)
	}
	if err := insertRows(ctx, tx, "incident_summary", `incident_id, routine_key, categories, techniques,
		service_sources, detection_sources, devices, users, mailboxes, apps, device_count, user_count, mailbox_count,
		app_count, malicious_count, active_alerts, max_tactic, priority_score, priority_factors, system_tags,
		last_notable, quiet_alerts, material_seq, headline, headline_rank`,
		`ON CONFLICT (incident_id) DO UPDATE SET categories = excluded.categories, techniques = excluded.techniques,
		service_sources = excluded.service_sources, detection_sources = excluded.detection_sources,
		devices = excluded.devices, users = excluded.users, mailboxes = excluded.mailboxes, apps = excluded.apps,
		device_count = excluded.device_count, user_count = excluded.user_count, mailbox_count = excluded.mailbox_count,
		app_count = excluded.app_count, malicious_count = excluded.malicious_count, active_alerts = excluded.active_alerts,
		max_tactic = excluded.max_tactic, priority_score = excluded.priority_score,
		priority_factors = excluded.priority_factors, system_tags = excluded.system_tags,
		last_notable = excluded.last_notable, quiet_alerts = excluded.quiet_alerts,
		headline = excluded.headline, headline_rank = excluded.headline_rank,
		material_seq = CASE WHEN excluded.material_seq > incident_summary.material_seq THEN excluded.material_seq ELSE incident_summary.material_seq END`,
		sumRows); err != nil {
		return fmt.Errorf("update incident summaries: %w", err)
	}
	return nil
}

// rebuildEntities derives an incident's entity rows from its alerts' links,
// after alerts left or joined it by hand.
func rebuildEntities(ctx context.Context, tx *sqlx.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM incident_entities WHERE incident_id = ?`), id); err != nil {
		return fmt.Errorf("clear entities of incident %d: %w", id, err)
	}
	rank := verdictRankSQL("ae.verdict")
	_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO incident_entities (incident_id, entity_key, verdict, last_seen, last_notable)
		SELECT a.incident_id, ae.entity_key,
			CASE MAX(`+rank+`) WHEN 3 THEN 'malicious' WHEN 2 THEN 'suspicious' WHEN 1 THEN 'noThreatsFound' ELSE 'unknown' END,
			MAX(a.activity_time), MAX(CASE WHEN a.routine THEN NULL ELSE a.activity_time END)
		FROM alert_entities ae JOIN alerts a ON a.id = ae.alert_id
		WHERE a.incident_id = ? GROUP BY a.incident_id, ae.entity_key`), id)
	if err != nil {
		return fmt.Errorf("rebuild entities of incident %d: %w", id, err)
	}
	return nil
}

// MoveAlert moves an alert to another open incident, or to a new one when
// to is 0, as an analyst decides. Both incidents' entities and derived
// fields follow, both activity logs record it, and an incident left without
// alerts is resolved. It returns the incident the alert is now in and
// whether that one is new.
func (s *Store) MoveAlert(ctx context.Context, alertID string, to int64, actor string) (int64, bool, error) {
	var dest, source int64
	created := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockNames(ctx, tx, []string{"alert:" + alertID}); err != nil {
			return err
		}
		var cur struct {
			IncidentID int64  `db:"incident_id"`
			Doc        string `db:"doc"`
		}
		err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT incident_id, doc FROM alerts WHERE id = ?`), alertID)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "alert %q not found", alertID)
		}
		if err != nil {
			return fmt.Errorf("read alert %q: %w", alertID, err)
		}
		if to == cur.IncidentID {
			return domain.Errorf(domain.KindConflict, "alert %q is already in incident %d", alertID, to)
		}
		var a domain.Alert
		if err := json.Unmarshal([]byte(cur.Doc), &a); err != nil {
			return fmt.Errorf("decode stored alert %q: %w", alertID, err)
		}
		b := newBatch(ctx, s, tx, correlate.Rules{})
		// An exercise's alert stays among its exercise's incidents (a new
		// one is the exercise's too); a real one among real ones.
		if b.exercise, err = exerciseOf(ctx, tx, cur.IncidentID); err != nil {
			return err
		}
		if to == 0 {
			st, err := b.createIncident(&a, &correlate.Decision{})
			if err != nil {
				return err
			}
			to, created = st.id, true
		} else {
			var status domain.IncidentStatus
			err := tx.GetContext(ctx, &status, tx.Rebind(`SELECT status FROM incidents WHERE id = ?`), to)
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "incident %d not found", to)
			}
			if err != nil {
				return fmt.Errorf("read incident %d: %w", to, err)
			}
			if !status.Open() {
				return domain.Errorf(domain.KindConflict, "incident %d is %s: alerts can only move to an open incident", to, status)
			}
			if ex, err := exerciseOf(ctx, tx, to); err != nil {
				return err
			} else if ex != b.exercise {
				return domain.Errorf(domain.KindConflict, "incident %d and alert %q are not of the same exercise: exercise alerts stay apart from real ones", to, alertID)
			}
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE alerts SET incident_id = ? WHERE id = ?`), to, alertID); err != nil {
			return fmt.Errorf("move alert %q: %w", alertID, err)
		}
		for _, id := range []int64{cur.IncidentID, to} {
			if err := rebuildEntities(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := b.loadIncidents([]int64{cur.IncidentID, to}); err != nil {
			return err
		}
		now := utc(time.Now())
		for _, id := range []int64{cur.IncidentID, to} {
			st := b.incs[id]
			if err := recomputeSummary(ctx, tx, st); err != nil {
				return err
			}
			if id == to {
				st.materialSeq++
			}
			if err := writeIncident(ctx, tx, st, now); err != nil {
				return err
			}
		}
		from, dst := "incident:"+strconv.FormatInt(cur.IncidentID, 10), "incident:"+strconv.FormatInt(to, 10)
		if err := appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "alert.moved_out", Object: "alert:" + alertID,
			IncidentID: &cur.IncidentID, Before: from, After: dst}); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "alert.moved_in", Object: "alert:" + alertID,
			IncidentID: &to, Before: from, After: dst}); err != nil {
			return err
		}
		if b.incs[cur.IncidentID].alerts == 0 {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incidents SET status = 'resolved', updated_at = ? WHERE id = ?`),
				now, cur.IncidentID); err != nil {
				return fmt.Errorf("resolve emptied incident %d: %w", cur.IncidentID, err)
			}
			if err := appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "incident.status", Object: from,
				IncidentID: &cur.IncidentID, Before: string(b.incs[cur.IncidentID].status), After: "resolved: no alerts left"}); err != nil {
				return err
			}
		}
		for _, e := range b.audits { // the new incident's creation, when there is one
			if err := appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		dest, source = to, cur.IncidentID
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	s.publish(incidentChanged(source), events.Event{Kind: events.Incident, IncidentID: dest, Created: created})
	return dest, created, nil
}

// ExportAssignments writes every real alert's incident as CSV lines
// "alert_id,incident_id", header first, in alert id order — the grouping
// that correlation produced, for scoring it against ground truth.
func (s *Store) ExportAssignments(ctx context.Context, w io.Writer) error {
	// Exercises are scored on their own (docs/secops.md): their alerts
	// would only blur a real grouping's figures.
	rows, err := s.db.QueryxContext(ctx, `SELECT id, incident_id FROM alerts WHERE `+notExercise("alerts.incident_id")+` ORDER BY id`)
	if err != nil {
		return fmt.Errorf("export assignments: %w", err)
	}
	defer rows.Close()
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, "alert_id,incident_id\n"...)
	for rows.Next() {
		var id string
		var inc int64
		if err := rows.Scan(&id, &inc); err != nil {
			return fmt.Errorf("export assignments: %w", err)
		}
		buf = appendCSVField(buf, domain.CSVCell(id))
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, inc, 10)
		buf = append(buf, '\n')
		if len(buf) > 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export assignments: %w", err)
	}
	_, err = w.Write(buf)
	return err
}

// appendCSVField quotes a field when CSV needs it (RFC 4180).
func appendCSVField(buf []byte, f string) []byte {
	if !slices.ContainsFunc([]byte(f), func(c byte) bool { return c == ',' || c == '"' || c == '\n' || c == '\r' }) {
		return append(buf, f...)
	}
	buf = append(buf, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			buf = append(buf, '"')
		}
		buf = append(buf, f[i])
	}
	return append(buf, '"')
}

// AlertIncident returns the incident an alert is in, or a not-found error.
func (s *Store) AlertIncident(ctx context.Context, alertID string) (int64, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, s.db.Rebind(`SELECT incident_id FROM alerts WHERE id = ?`), alertID)
	if isNoRows(err) {
		return 0, domain.Errorf(domain.KindNotFound, "alert %q not found", alertID)
	}
	if err != nil {
		return 0, fmt.Errorf("read alert %q: %w", alertID, err)
	}
	return id, nil
}

// CeilingInsert measures the raw insert rate of alert rows: the same rows
// IngestAlerts would write to the alerts table, the same way (COPY on
// PostgreSQL), in batches of the same size, one transaction each, into a scratch table shaped like alerts (with its
// indexes), without correlation, entities or incidents. It is the ceiling
// a benchmark compares ingest against. next yields batches until an empty
// one; only the time spent inserting counts. The scratch table is dropped.
func (s *Store) CeilingInsert(ctx context.Context, next func() ([]*domain.Alert, error)) (time.Duration, int, error) {
	create := `CREATE TABLE ceiling_alerts AS SELECT * FROM alerts WHERE 1 = 0`
	if s.dialect == Postgres {
		create = `CREATE TABLE ceiling_alerts (LIKE alerts INCLUDING DEFAULTS INCLUDING INDEXES)`
	}
	if _, err := s.db.ExecContext(ctx, `DROP TABLE IF EXISTS ceiling_alerts`); err != nil {
		return 0, 0, err
	}
	if _, err := s.db.ExecContext(ctx, create); err != nil {
		return 0, 0, fmt.Errorf("create scratch table: %w", err)
	}
	defer s.db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS ceiling_alerts`)
	var spent time.Duration
	n := 0
	for {
		b, err := next()
		if err != nil {
			return 0, 0, err
		}
		if len(b) == 0 {
			return spent, n, nil
		}
		start := time.Now()
		rows := make([][]any, 0, len(b))
		for _, a := range b {
			r, err := alertRow(a, 1, false)
			if err != nil {
				return 0, 0, err
			}
			rows = append(rows, r)
		}
		if err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			return s.copyRows(ctx, tx, "ceiling_alerts", alertCols, rows)
		}); err != nil {
			return 0, 0, err
		}
		spent += time.Since(start)
		n += len(b)
	}
}

// IncidentCounts returns how many incidents hold alerts (merged-away and
// emptied ones do not), and how many of those are open.
func (s *Store) IncidentCounts(ctx context.Context) (total, open int, err error) {
	var c struct {
		Total int `db:"total"`
		Open  int `db:"open"`
	}
	err = s.db.GetContext(ctx, &c, `SELECT COALESCE(SUM(CASE WHEN alert_count > 0 THEN 1 ELSE 0 END), 0) AS total,
		COALESCE(SUM(CASE WHEN alert_count > 0 AND status IN ('active', 'inProgress') THEN 1 ELSE 0 END), 0) AS open FROM incidents`)
	if err != nil {
		return 0, 0, fmt.Errorf("count incidents: %w", err)
	}
	return c.Total, c.Open, nil
}
