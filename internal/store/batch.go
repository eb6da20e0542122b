package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// batch is one ingest transaction: lock the batch's keys, load the
// correlation state its alerts can touch in a few bulk queries (load),
// let the engine (package correlate) decide where every alert goes
// (correlate.Rules.Run, pure), then apply its plan: open incidents, merge,
// write alerts, sightings and derived fields in bulk (apply, flush).
type batch struct {
	ctx   context.Context
	s     *Store
	tx    *sqlx.Tx
	rules correlate.Rules
	now   time.Time
	// exercise is the breach exercise whose alerts this batch holds (0:
	// real alerts). The batch sees only that exercise's incidents and
	// detector history, so exercise alerts never join a real incident nor
	// real ones an exercise's, while the engine stays unaware of exercises.
	exercise int64

	st   *correlate.State
	plan *correlate.Plan
	incs map[int64]*incState // store-side incident state by real id
	real map[int64]int64     // provisional id (from the plan) → real id

	// pending writes
	entityRows map[domain.EntityKey][]any
	alertRows  [][]any
	pendingRow map[string]int // alert id → index in alertRows
	alertEnts  map[alertEntKey]domain.Verdict
	audits     []records.AuditEntry
}

type alertEntKey struct {
	alert string
	key   domain.EntityKey
}

// incState is an incident as the batch sees it: the engine's view (c) and
// the derived fields the store keeps.
type incState struct {
	c                        *correlate.Incident
	id                       int64
	status                   domain.IncidentStatus
	state                    domain.InvestigationState
	severity                 domain.Severity
	alerts                   int
	first, last              time.Time
	displayName              string
	sum                      summary
	materialSeq, notifiedSeq int64
	dirty, full              bool
	joined, quiet            int // alerts of this batch
	signalled                bool
}

// summary is incident_summary as Go values.
type summary struct {
	RoutineKey       string            `db:"routine_key"`
	Categories       domain.StringList `db:"categories"`
	Techniques       domain.StringList `db:"techniques"`
	ServiceSources   domain.StringList `db:"service_sources"`
	DetectionSources domain.StringList `db:"detection_sources"`
	domain.Assets
	MaliciousCount  int               `db:"malicious_count"`
	ActiveAlerts    int               `db:"active_alerts"`
	MaxTactic       int               `db:"max_tactic"`
	PriorityScore   int               `db:"priority_score"`
	PriorityFactors string            `db:"priority_factors"`
	SystemTags      domain.StringList `db:"system_tags"`
	SeverityManual  bool              `db:"severity_manual"`
	NameManual      bool              `db:"name_manual"`
	LastNotable     *time.Time        `db:"last_notable"`
	QuietAlerts     int64             `db:"quiet_alerts"`
	MaterialSeq     int64             `db:"material_seq"`
	NotifiedSeq     int64             `db:"notified_seq"`
	// Headline is the distinct titles of the most severe alerts (of
	// severity rank HeadlineRank); the generated name starts with them.
	Headline     domain.StringList `db:"headline"`
	HeadlineRank int               `db:"headline_rank"`
}

func newBatch(ctx context.Context, s *Store, tx *sqlx.Tx, rules correlate.Rules) *batch {
	return &batch{ctx: ctx, s: s, tx: tx, rules: rules, now: time.Now().UTC(),
		st: correlate.NewState(), incs: map[int64]*incState{}, real: map[int64]int64{},
		entityRows: map[domain.EntityKey][]any{}, pendingRow: map[string]int{},
		alertEnts: map[alertEntKey]domain.Verdict{}}
}

func allKeys(a *domain.Alert) []domain.EntityKey { return correlate.AllKeys(a) }

// sameExercise is the condition keeping the incidents aliased i to the
// batch's exercise (real ones for a real batch); its argument is
// b.exercise.
const sameExercise = `COALESCE(i.exercise_id, 0) = ?`

// det is the name a detector is stored under in the batch's detector
// history: an exercise's detectors are kept apart by a prefix, so that an
// exercise's replayed scanner neither makes a real alert look like routine
// noise nor joins a real campaign.
func (b *batch) det(d string) string {
	if b.exercise == 0 {
		return d
	}
	return "exercise:" + strconv.FormatInt(b.exercise, 10) + ":" + d
}

// undet is det's inverse: the detector's name, and whether the stored
// name belongs to the batch's exercise (or, for a real batch, to none).
func (b *batch) undet(stored string) (string, bool) {
	if b.exercise == 0 {
		return stored, !strings.HasPrefix(stored, "exercise:")
	}
	return strings.CutPrefix(stored, b.det(""))
}

// lock takes the batch's locks: every alert id, entity key and detector.
func (b *batch) lock(alerts []*domain.Alert) error {
	var names []string
	for _, a := range alerts {
		names = append(names, "alert:"+a.ID, "detector:"+correlate.Detector(a))
		for _, k := range allKeys(a) {
			names = append(names, string(k))
		}
	}
	// The aliases the batch records: a batch that finds a key's aliases
	// waits for the one that writes them.
	for _, k := range correlate.AliasKeys(alerts) {
		names = append(names, string(k))
	}
	return b.s.lockNames(b.ctx, b.tx, names)
}

// load reads, in bulk, the correlation state the batch's alerts can touch.
func (b *batch) load(alerts []*domain.Alert) error {
	ids := make([]string, 0, len(alerts))
	keySet := map[domain.EntityKey]bool{}
	detSet := map[string]bool{}
	minT, maxT := time.Time{}, time.Time{}
	for _, a := range alerts {
		ids = append(ids, a.ID)
		for _, k := range allKeys(a) {
			keySet[k] = true
		}
		detSet[correlate.Detector(a)] = true
		t := a.ActivityTime()
		if minT.IsZero() || t.Before(minT) {
			minT = t
		}
		if t.After(maxT) {
			maxT = t
		}
	}
	more, err := b.st.LoadAliases(correlate.AliasFrontier(keySet, alerts), func(keys []domain.EntityKey) ([]correlate.AliasRow, error) {
		return readAliases(b.ctx, b.tx, keys, minT)
	})
	if err != nil {
		return err
	}
	for _, k := range more {
		keySet[k] = true
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	dets := make([]string, 0, 2*len(detSet))
	for d := range detSet {
		dets = append(dets, b.det(d), b.det(correlate.NoiseDetector(d)))
	}
	slices.Sort(dets)

	incIDs := map[int64]bool{}
	err = inChunks(ids, func(part []string) error {
		var rows []struct {
			ID         string    `db:"id"`
			IncidentID int64     `db:"incident_id"`
			LastUpdate time.Time `db:"last_update"`
		}
		q := `SELECT id, incident_id, last_update FROM alerts WHERE id IN (` + placeholders(len(part)) + `)`
		if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), anySlice(part)...); err != nil {
			return fmt.Errorf("read known alerts: %w", err)
		}
		for _, r := range rows {
			b.st.Existing[r.ID] = correlate.Prev{Incident: r.IncidentID, LastUpdate: r.LastUpdate}
			incIDs[r.IncidentID] = true
		}
		return nil
	})
	if err != nil {
		return err
	}

	from := utc(minT.Add(-b.rules.WindowOrDefault()))
	err = inChunks(keys, func(part []string) error {
		var rows []struct {
			IncidentID  int64          `db:"incident_id"`
			Key         string         `db:"entity_key"`
			Verdict     domain.Verdict `db:"verdict"`
			LastSeen    time.Time      `db:"last_seen"`
			LastNotable sql.NullTime   `db:"last_notable"`
			Roles       int            `db:"roles"`
			Host        string         `db:"host"`
			Routine     string         `db:"routine_key"`
		}
		// Every open incident's sighting is read, so that "new entity" (a
		// material change, an impacted asset) is exact; only those within
		// the window are candidates and count towards "too common".
		q := `SELECT ie.incident_id, ie.entity_key, ie.verdict, ie.last_seen, ie.last_notable, ie.roles, ie.host,
				COALESCE(s.routine_key, '') AS routine_key
			FROM incident_entities ie JOIN incidents i ON i.id = ie.incident_id
			LEFT JOIN incident_summary s ON s.incident_id = ie.incident_id
			WHERE ie.entity_key IN (` + placeholders(len(part)) + `) AND i.status IN ('active', 'inProgress') AND ` + sameExercise
		if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), append(anySlice(part), b.exercise)...); err != nil {
			return fmt.Errorf("read incident entities: %w", err)
		}
		for _, r := range rows {
			seen := &correlate.Seen{Key: domain.EntityKey(r.Key), Verdict: r.Verdict,
				Sighting: correlate.Sighting{IncidentID: r.IncidentID, LastSeen: r.LastSeen.UTC(),
					Roles: correlate.Role(r.Roles), Host: domain.EntityKey(r.Host)}}
			if r.LastNotable.Valid {
				seen.LastNotable = r.LastNotable.Time.UTC()
			}
			candidate := r.Routine == "" && !seen.LastSeen.Before(from)
			b.st.AddSighting(seen, candidate)
			if candidate {
				incIDs[r.IncidentID] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	if burst := b.rules.BurstOrDefault(); burst > 0 {
		err = inChunks(dets, func(part []string) error {
			var rows []struct {
				Detector   string    `db:"detector"`
				Key        string    `db:"entity_key"`
				IncidentID int64     `db:"incident_id"`
				LastSeen   time.Time `db:"last_seen"`
			}
			q := `SELECT detector, entity_key, incident_id, last_seen FROM detector_recent
				WHERE detector IN (` + placeholders(len(part)) + `) AND last_seen >= ?`
			if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), append(anySlice(part), utc(minT.Add(-burst)))...); err != nil {
				return fmt.Errorf("read recent detectors: %w", err)
			}
			for _, r := range rows {
				d, _ := b.undet(r.Detector)
				b.st.AddRecent(d, domain.EntityKey(r.Key), correlate.Hit{Inc: r.IncidentID, At: r.LastSeen.UTC()})
				incIDs[r.IncidentID] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	if b.rules.RoutineBuckets >= 0 {
		first := b.rules.FirstBucket(minT)
		err = inChunks(keys, func(part []string) error {
			var rows []struct {
				Key      string `db:"entity_key"`
				Detector string `db:"detector"`
				Bucket   int64  `db:"bucket"`
			}
			q := `SELECT entity_key, detector, bucket FROM detector_buckets
				WHERE entity_key IN (` + placeholders(len(part)) + `) AND bucket >= ?`
			if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), append(anySlice(part), first)...); err != nil {
				return fmt.Errorf("read detector buckets: %w", err)
			}
			for _, r := range rows {
				if d, ours := b.undet(r.Detector); ours && detSet[d] {
					b.st.AddBucket(correlate.Profile{Anchor: domain.EntityKey(r.Key), Detector: d}, r.Bucket)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The latest recurring-noise incident of each of the alerts' noise
		// keys (a routine alert's anchor is one of its entities), open or
		// merged into another by a noise campaign: the engine follows the
		// redirect.
		var noise []string
		for _, a := range alerts {
			noise = append(noise, correlate.NoiseKeys(a)...)
		}
		slices.Sort(noise)
		noise = slices.Compact(noise)
		err = inChunks(noise, func(part []string) error {
			var rows []struct {
				Key string `db:"routine_key"`
				ID  int64  `db:"id"`
			}
			q := `SELECT s.routine_key, MAX(s.incident_id) AS id FROM incident_summary s JOIN incidents i ON i.id = s.incident_id
				WHERE s.routine_key IN (` + placeholders(len(part)) + `) AND i.status IN ('active', 'inProgress', 'redirected') AND ` + sameExercise + `
				GROUP BY s.routine_key`
			if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), append(anySlice(part), b.exercise)...); err != nil {
				return fmt.Errorf("find routine incidents: %w", err)
			}
			for _, r := range rows {
				b.st.Routine[r.Key] = r.ID
				incIDs[r.ID] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	if b.rules.StormGapOrDefault() > 0 {
		from, _ := b.rules.StormWindow(minT)
		_, to := b.rules.StormWindow(maxT)
		var rows []struct {
			IncidentID int64 `db:"incident_id"`
			Bucket     int64 `db:"bucket"`
			Notable    int   `db:"notable"`
		}
		if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(`SELECT a.incident_id, a.bucket, a.notable
			FROM incident_activity a JOIN incidents i ON i.id = a.incident_id
			WHERE a.bucket >= ? AND a.bucket <= ? AND i.status IN ('active', 'inProgress') AND `+sameExercise), from, to, b.exercise); err != nil {
			return fmt.Errorf("read incident activity: %w", err)
		}
		for _, r := range rows {
			b.st.AddActivity(r.IncidentID, r.Bucket, r.Notable)
			incIDs[r.IncidentID] = true
		}
	}
	// Incidents and, transitively, the ones they were merged into.
	for len(incIDs) > 0 {
		ids64 := make([]int64, 0, len(incIDs))
		for id := range incIDs {
			ids64 = append(ids64, id)
		}
		slices.Sort(ids64)
		if err := b.loadIncidents(ids64); err != nil {
			return err
		}
		clear(incIDs)
		for _, id := range ids64 {
			if st := b.incs[id]; st != nil && st.c.Redirect != 0 {
				if _, ok := b.incs[st.c.Redirect]; !ok {
					incIDs[st.c.Redirect] = true
				}
			}
		}
	}
	return nil
}

// incidentRow is what loadIncidents reads per incident.
type incidentRow struct {
	ID          int64                     `db:"id"`
	Status      domain.IncidentStatus     `db:"status"`
	AssignedTo  string                    `db:"assigned_to"`
	Class       string                    `db:"classification"`
	Determ      string                    `db:"determination"`
	State       domain.InvestigationState `db:"investigation_state"`
	Severity    domain.Severity           `db:"severity"`
	Alerts      int                       `db:"alert_count"`
	First       time.Time                 `db:"first_activity"`
	Last        time.Time                 `db:"last_activity"`
	DisplayName string                    `db:"display_name"`
	Redirect    sql.NullInt64             `db:"redirect_incident_id"`
	HasSummary  bool                      `db:"has_summary"`
	summary
}

const incidentSelect = `SELECT i.id, i.status, i.assigned_to, i.classification, i.determination, i.investigation_state,
	i.severity, i.alert_count, i.first_activity, i.last_activity, i.display_name, i.redirect_incident_id,
	s.incident_id IS NOT NULL AS has_summary,
	COALESCE(s.routine_key, '') AS routine_key, COALESCE(s.categories, '[]') AS categories,
	COALESCE(s.techniques, '[]') AS techniques, COALESCE(s.service_sources, '[]') AS service_sources,
	COALESCE(s.detection_sources, '[]') AS detection_sources, COALESCE(s.devices, '[]') AS devices,
	COALESCE(s.users, '[]') AS users, COALESCE(s.mailboxes, '[]') AS mailboxes, COALESCE(s.apps, '[]') AS apps,
	COALESCE(s.device_count, 0) AS device_count, COALESCE(s.user_count, 0) AS user_count,
	COALESCE(s.mailbox_count, 0) AS mailbox_count, COALESCE(s.app_count, 0) AS app_count,
	COALESCE(s.malicious_count, 0) AS malicious_count, COALESCE(s.active_alerts, 0) AS active_alerts,
	COALESCE(s.max_tactic, 0) AS max_tactic, COALESCE(s.priority_score, 0) AS priority_score,
	COALESCE(s.priority_factors, '[]') AS priority_factors, COALESCE(s.system_tags, '[]') AS system_tags,
	COALESCE(s.severity_manual, FALSE) AS severity_manual, COALESCE(s.name_manual, FALSE) AS name_manual,
	s.last_notable, COALESCE(s.quiet_alerts, 0) AS quiet_alerts, COALESCE(s.material_seq, 0) AS material_seq,
	COALESCE(s.notified_seq, 0) AS notified_seq,
	COALESCE(s.headline, '[]') AS headline, COALESCE(s.headline_rank, 0) AS headline_rank
	FROM incidents i LEFT JOIN incident_summary s ON s.incident_id = i.id`

func (b *batch) loadIncidents(ids []int64) error {
	var missing []int64
	for _, id := range ids {
		if _, ok := b.incs[id]; !ok && id != 0 {
			missing = append(missing, id)
		}
	}
	return inChunks(missing, func(part []int64) error {
		var rows []incidentRow
		q := incidentSelect + ` WHERE i.id IN (` + placeholders(len(part)) + `)`
		if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), anySlice(part)...); err != nil {
			return fmt.Errorf("read incidents: %w", err)
		}
		for _, r := range rows {
			c := &correlate.Incident{ID: r.ID, Status: r.Status, AssignedTo: r.AssignedTo, Classification: r.Class,
				Determination: r.Determ, Alerts: r.Alerts, First: r.First.UTC(), Last: r.Last.UTC(),
				RoutineKey: r.RoutineKey, Categories: slices.Clone(r.Categories), MaxTactic: r.MaxTactic}
			if r.Redirect.Valid {
				c.Redirect = r.Redirect.Int64
			}
			st := &incState{c: c, id: r.ID, status: r.Status, state: r.State, severity: r.Severity, alerts: r.Alerts,
				first: c.First, last: c.Last, displayName: r.DisplayName, sum: r.summary,
				materialSeq: r.MaterialSeq, notifiedSeq: r.NotifiedSeq}
			if !r.HasSummary {
				st.full = true // an incident from before summaries: derive them once
			}
			b.incs[r.ID] = st
			b.st.Incidents[r.ID] = c
		}
		return nil
	})
}

// inc returns the store's state of an incident named by the plan.
func (b *batch) inc(id int64) *incState {
	if id < 0 {
		id = b.real[id]
	}
	return b.incs[id]
}

// final follows merges to the incident that holds an incident's alerts.
func (b *batch) final(id int64) int64 {
	for hops := 0; hops < 100; hops++ {
		st := b.incs[id]
		if st == nil || st.status != domain.IncidentRedirected || st.c.Redirect == 0 {
			return id
		}
		id = st.c.Redirect
		if id < 0 {
			id = b.real[id]
		}
	}
	return id
}

// apply carries out the engine's plan: it opens incidents, merges, and
// queues the alerts' rows and derived fields, alert by alert.
func (b *batch) apply(p *correlate.Plan, alerts []*domain.Alert) ([]records.IngestResult, error) {
	results := make([]records.IngestResult, len(alerts))
	for i, d := range p.Decisions {
		a := alerts[i]
		res := records.IngestResult{AlertID: a.ID, Outcome: d.Outcome}
		switch d.Outcome {
		case correlate.Unchanged:
			st := b.inc(d.Incident)
			res.IncidentID = st.id
			if (st.state == domain.InvestigationQueued || st.materialSeq > st.notifiedSeq) && !st.signalled {
				res.Notify, st.signalled = true, true
			}
		case correlate.Updated:
			st := b.inc(d.Incident)
			res.IncidentID = st.id
			if err := b.updateAlert(a); err != nil {
				return nil, err
			}
			ch := b.recordRows(a, st, &d, false, false)
			st.full = true
			b.material(st, ch, &res)
			b.audits = append(b.audits, records.AuditEntry{Actor: ingestActor, Verb: "alert.updated", Object: "alert:" + a.ID,
				IncidentID: &st.id, After: string(a.Status) + " " + string(a.Severity) + ": " + a.Title})
		default:
			if d.NewIncident {
				st, err := b.createIncident(a, &d)
				if err != nil {
					return nil, err
				}
				c := b.st.Incidents[d.Incident]
				st.c = c
				b.real[d.Incident] = st.id
			}
			for _, m := range d.Refused {
				tid := b.inc(m.Target).id
				b.audits = append(b.audits, records.AuditEntry{Actor: "system:correlation", Verb: "incident.merge_refused",
					Object: fmt.Sprintf("incident:%d", b.inc(m.Source).id), IncidentID: &tid, After: m.Why})
			}
			for _, m := range d.Merges {
				target, src := b.inc(m.Target), b.inc(m.Source)
				if err := b.merge(target, src, m.Why); err != nil {
					return nil, err
				}
				res.Merged = append(res.Merged, src.id)
			}
			st := b.inc(d.Incident)
			res.IncidentID, res.NewIncident = st.id, d.NewIncident
			b.pendingRow[a.ID] = len(b.alertRows)
			row, err := alertRow(a, st.id, d.Routine)
			if err != nil {
				return nil, err
			}
			b.alertRows = append(b.alertRows, row)
			ch := b.recordRows(a, st, &d, !d.Routine, d.NewIncident)
			b.material(st, ch, &res)
			if ch.Material() {
				what := string(a.Severity) + ": " + a.Title
				if why := correlate.JoinReason(d, b.real); why != "" {
					what += " — joined: " + why // correlate/story.go
				}
				b.audits = append(b.audits, records.AuditEntry{Actor: ingestActor, Verb: "alert.joined", Object: "alert:" + a.ID,
					IncidentID: &st.id, After: what})
			}
		}
		results[i] = res
	}
	b.plan = p // its state rows are written by flush
	return results, nil
}

// updateAlert replaces a stored alert's columns with a newer version, or
// the row still pending from earlier in this batch.
func (b *batch) updateAlert(a *domain.Alert) error {
	if i, ok := b.pendingRow[a.ID]; ok {
		old := b.alertRows[i]
		row, err := alertRow(a, old[1].(int64), old[15].(bool))
		if err != nil {
			return err
		}
		row[8] = old[8]
		b.alertRows[i] = row
		for k := range b.alertEnts {
			if k.alert == a.ID {
				delete(b.alertEnts, k)
			}
		}
		return nil
	}
	row, err := alertRow(a, 0, false)
	if err != nil {
		return err
	}
	if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`UPDATE alerts SET status = ?, severity = ?, title = ?, category = ?,
		service_source = ?, detection_source = ?, last_update = ?, activity_time = ?, doc = ?, raw = ?,
		detector = ?, techniques = ? WHERE id = ?`),
		row[2], row[3], row[4], row[5], row[6], row[7], row[9], row[10], row[11], row[12], row[13], row[14], a.ID); err != nil {
		return fmt.Errorf("update alert: %w", err)
	}
	// The new version's evidence replaces the old one's.
	if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`DELETE FROM alert_entities WHERE alert_id = ?`), a.ID); err != nil {
		return fmt.Errorf("clear alert entities: %w", err)
	}
	return nil
}

// recordRows queues the alert's entity rows and updates the incident's
// derived fields; it returns what the alert changed.
func (b *batch) recordRows(a *domain.Alert, st *incState, d *correlate.Decision, notable, newInc bool) correlate.Change {
	t := a.ActivityTime().UTC()
	ch := correlate.Change{NewIncident: newInc, Severity: a.Severity, Was: st.severity,
		NewEntities: len(d.NewKeys), NewTactic: d.NewTactic}
	verdicts := map[domain.EntityKey]domain.Verdict{}
	var order []domain.EntityKey
	for _, ev := range a.Evidence {
		e := ev.Entity
		if e == nil || e.Key == "" {
			continue
		}
		if _, ok := verdicts[e.Key]; !ok {
			order = append(order, e.Key)
			attrs, _ := json.Marshal(e.Attrs)
			if e.Attrs == nil {
				attrs = []byte("{}")
			}
			b.entityRows[e.Key] = []any{e.Key, e.Kind, e.Name, string(attrs), t, t}
			if slices.Contains(d.NewKeys, e.Key) {
				addAsset(st, e)
			}
		}
		verdicts[e.Key] = domain.StrongerVerdict(verdicts[e.Key], correlate.OrUnknown(e.Verdict))
	}
	for _, k := range order {
		b.alertEnts[alertEntKey{a.ID, k}] = verdicts[k]
	}
	st.sum.MaliciousCount += d.NewMalicious

	// Derived fields, incrementally.
	if !st.sum.SeverityManual && a.Severity.Rank() > st.severity.Rank() {
		st.severity = a.Severity
	}
	st.sum.Headline, st.sum.HeadlineRank = domain.AddHeadline(st.sum.Headline, st.sum.HeadlineRank, a.Title, a.Severity.Rank())
	st.sum.Categories = addUnique(st.sum.Categories, a.Category)
	st.sum.MaxTactic = max(st.sum.MaxTactic, correlate.TacticRank(a.Category))
	for _, tech := range a.MitreTechniques {
		st.sum.Techniques = addUnique(st.sum.Techniques, tech)
	}
	st.sum.ServiceSources = addUnique(st.sum.ServiceSources, a.ServiceSource)
	st.sum.DetectionSources = addUnique(st.sum.DetectionSources, a.DetectionSource)
	if a.Status != domain.AlertResolved {
		st.sum.ActiveAlerts++
	}
	if notable && (st.sum.LastNotable == nil || t.After(*st.sum.LastNotable)) {
		tt := t
		st.sum.LastNotable = &tt
	}
	st.dirty = true
	st.joined++
	return ch
}

func addUnique(list domain.StringList, v string) domain.StringList { return domain.AddSorted(list, v) }

// addAsset counts an entity among the incident's impacted assets the first
// time the incident sees it.
func addAsset(st *incState, e *domain.Entity) { st.sum.Assets.Add(e.Kind, e.Name) }

// material decides whether the investigation hears of the alert, and
// counts it when it does not.
func (b *batch) material(st *incState, ch correlate.Change, res *records.IngestResult) {
	if ch.Material() {
		st.materialSeq++
		res.Notify = true
		st.signalled = true
		return
	}
	st.quiet++
	st.sum.QuietAlerts++
	if st.materialSeq > st.notifiedSeq && !st.signalled {
		// An earlier material change was never acknowledged: retry once.
		res.Notify, st.signalled = true, true
	}
}

// createIncident opens an incident for the alert; a routine incident carries
// its routine key and a name that says so.
func (b *batch) createIncident(a *domain.Alert, d *correlate.Decision) (*incState, error) {
	routineKey, anchor := d.RoutineKey, d.Anchor
	t := utc(a.ActivityTime())
	name := domain.NewIncidentName(a, routineKey != "", d.Flood, anchor)
	q := `INSERT INTO incidents (display_name, severity, status, investigation_state,
			first_activity, last_activity, created_at, updated_at, exercise_id)
		VALUES (?, ?, 'active', 'queued', ?, ?, ?, ?, ?)`
	var exercise any // NULL for a real incident
	if b.exercise != 0 {
		exercise = b.exercise
	}
	args := []any{name, a.Severity, t, t, b.now, b.now, exercise}
	var id int64
	if b.s.dialect == Postgres {
		if err := b.tx.GetContext(b.ctx, &id, b.tx.Rebind(q+" RETURNING id"), args...); err != nil {
			return nil, fmt.Errorf("create incident: %w", err)
		}
	} else {
		r, err := b.tx.ExecContext(b.ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("create incident: %w", err)
		}
		if id, err = r.LastInsertId(); err != nil {
			return nil, err
		}
	}
	if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`INSERT INTO incident_summary (incident_id, routine_key) VALUES (?, ?)`),
		id, routineKey); err != nil {
		return nil, fmt.Errorf("create incident summary: %w", err)
	}
	c := &correlate.Incident{ID: id, Status: domain.IncidentActive, Classification: "unknown", Determination: "unknown",
		First: t, Last: t, RoutineKey: routineKey}
	st := &incState{c: c, id: id, status: domain.IncidentActive, state: domain.InvestigationQueued, severity: a.Severity,
		first: t, last: t, displayName: name}
	st.sum.RoutineKey = routineKey
	b.incs[id] = st
	after := "active"
	if routineKey != "" {
		after = "active (recurring alerts on " + string(anchor) + ")"
	}
	b.audits = append(b.audits, records.AuditEntry{Actor: "system:correlation", Verb: "incident.created",
		Object: fmt.Sprintf("incident:%d", id), IncidentID: &id, After: after})
	return st, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// merge moves the source incident's alerts, entities and tags into the
// target and redirects the source (SPEC: status redirected,
// redirectIncidentId, system tag Redirected, both activity logs). The
// engine already moved its state; this batch's own rows are written with
// their final incident at the end.
func (b *batch) merge(target, src *incState, why string) error {
	if err := mergeIncidents(b.ctx, b.tx, target.id, src.id, "system:correlation", why); err != nil {
		return err
	}
	target.full, target.dirty = true, true
	target.materialSeq++ // new alerts and entities for the investigation
	src.status = domain.IncidentRedirected
	src.dirty = false
	return nil
}

// mergeIncidents moves src into target in SQL and redirects src.
func mergeIncidents(ctx context.Context, tx *sqlx.Tx, target, src int64, actor, why string) error {
	stmts := []struct {
		q    string
		args []any
	}{
		{`UPDATE alerts SET incident_id = ? WHERE incident_id = ?`, []any{target, src}},
		{`INSERT INTO incident_entities (incident_id, entity_key, verdict, last_seen, last_notable, roles, host)
			SELECT ?, entity_key, verdict, last_seen, last_notable, roles, host FROM incident_entities WHERE incident_id = ?
			ON CONFLICT (incident_id, entity_key) DO UPDATE SET ` + sightingMerge, []any{target, src}},
		{`DELETE FROM incident_entities WHERE incident_id = ?`, []any{src}},
		{`UPDATE detector_recent SET incident_id = ? WHERE incident_id = ?`, []any{target, src}},
		{`INSERT INTO incident_activity (incident_id, bucket, notable)
			SELECT ?, bucket, notable FROM incident_activity WHERE incident_id = ?
			ON CONFLICT (incident_id, bucket) DO UPDATE SET notable = incident_activity.notable + excluded.notable`, []any{target, src}},
		{`DELETE FROM incident_activity WHERE incident_id = ?`, []any{src}},
		{`UPDATE incidents SET status = 'redirected', redirect_incident_id = ?, alert_count = 0, updated_at = ? WHERE id = ?`,
			[]any{target, utc(time.Now()), src}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, tx.Rebind(s.q), s.args...); err != nil {
			return fmt.Errorf("merge incident %d into %d: %w", src, target, err)
		}
	}
	var tags struct {
		Src domain.StringList `db:"src"`
		Dst domain.StringList `db:"dst"`
	}
	if err := tx.GetContext(ctx, &tags, tx.Rebind(`SELECT s.custom_tags AS src, d.custom_tags AS dst
		FROM incidents s, incidents d WHERE s.id = ? AND d.id = ?`), src, target); err != nil {
		return fmt.Errorf("read tags to merge: %w", err)
	}
	merged := slices.Clone(tags.Dst)
	for _, t := range tags.Src {
		if !slices.Contains(merged, t) {
			merged = append(merged, t)
		}
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incidents SET custom_tags = ? WHERE id = ?`), merged, target); err != nil {
		return fmt.Errorf("merge tags: %w", err)
	}
	var sys domain.StringList
	if err := tx.GetContext(ctx, &sys, tx.Rebind(`SELECT system_tags FROM incident_summary WHERE incident_id = ?`), src); err != nil && !isNoRows(err) {
		return fmt.Errorf("read system tags: %w", err)
	}
	if !slices.Contains(sys, "Redirected") {
		sys = append(sys, "Redirected")
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE incident_summary SET system_tags = ?, active_alerts = 0 WHERE incident_id = ?`), sys, src); err != nil {
		return fmt.Errorf("tag redirected incident: %w", err)
	}
	srcObj, dstObj := "incident:"+strconv.FormatInt(src, 10), "incident:"+strconv.FormatInt(target, 10)
	if err := appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "incident.merged_into", Object: srcObj, IncidentID: &src,
		Before: "active", After: "redirected to " + dstObj + ": " + why}); err != nil {
		return err
	}
	return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "incident.merged_from", Object: dstObj, IncidentID: &target,
		After: "took the alerts, entities and tags of " + srcObj + ": " + why})
}

// sightingMerge keeps the strongest verdict and the latest times when one
// (incident, entity) row meets another.
var sightingMerge = `verdict = CASE WHEN ` + verdictRankSQL("excluded.verdict") + ` > ` + verdictRankSQL("incident_entities.verdict") +
	` THEN excluded.verdict ELSE incident_entities.verdict END,
	last_seen = CASE WHEN excluded.last_seen > incident_entities.last_seen THEN excluded.last_seen ELSE incident_entities.last_seen END,
	last_notable = CASE WHEN incident_entities.last_notable IS NULL OR excluded.last_notable > incident_entities.last_notable
		THEN COALESCE(excluded.last_notable, incident_entities.last_notable) ELSE incident_entities.last_notable END,
	roles = incident_entities.roles | excluded.roles,
	host = CASE WHEN excluded.host <> '' AND (incident_entities.host = '' OR excluded.last_seen >= incident_entities.last_seen)
		THEN excluded.host ELSE incident_entities.host END`

func verdictRankSQL(col string) string {
	return `(CASE ` + col + ` WHEN 'malicious' THEN 3 WHEN 'suspicious' THEN 2 WHEN 'noThreatsFound' THEN 1 ELSE 0 END)`
}

// realID maps a plan's incident id to the stored one.
func (b *batch) realID(id int64) int64 {
	if id < 0 {
		return b.real[id]
	}
	return id
}

// flushRows writes the pending rows (entities first: alerts' links refer to
// them) and the plan's state rows, each with its final incident.
func (b *batch) flushRows() error {
	if len(b.entityRows) > 0 {
		keys := make([]domain.EntityKey, 0, len(b.entityRows))
		for k := range b.entityRows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		rows := make([][]any, len(keys))
		for i, k := range keys {
			rows[i] = b.entityRows[k]
		}
		if err := insertRows(b.ctx, b.tx, "entities", "key, kind, name, attrs, first_seen, last_seen",
			`ON CONFLICT (key) DO UPDATE SET name = excluded.name, attrs = excluded.attrs,
			last_seen = CASE WHEN excluded.last_seen > entities.last_seen THEN excluded.last_seen ELSE entities.last_seen END`, rows); err != nil {
			return err
		}
		clear(b.entityRows)
	}
	for _, row := range b.alertRows {
		row[1] = b.final(row[1].(int64))
	}
	if err := b.s.copyRows(b.ctx, b.tx, "alerts", alertCols, b.alertRows); err != nil {
		return err
	}
	b.alertRows = b.alertRows[:0]
	clear(b.pendingRow)
	if len(b.alertEnts) > 0 {
		rows := make([][]any, 0, len(b.alertEnts))
		for k, v := range b.alertEnts {
			rows = append(rows, []any{k.alert, k.key, v})
		}
		// No row can exist yet: a new alert has none, and an updated one had
		// its links deleted.
		if err := b.s.copyRows(b.ctx, b.tx, "alert_entities", "alert_id, entity_key, verdict", rows); err != nil {
			return err
		}
		clear(b.alertEnts)
	}
	p := b.plan
	if p == nil {
		return nil
	}
	b.plan = nil
	if len(p.Sightings) > 0 {
		rows := make([][]any, 0, len(p.Sightings))
		for _, s := range p.Sightings {
			var notable any
			if !s.LastNotable.IsZero() {
				notable = utc(s.LastNotable)
			}
			rows = append(rows, []any{b.realID(s.IncidentID), s.Key, s.Verdict, utc(s.LastSeen), notable, int(s.Roles), string(s.Host)})
		}
		slices.SortFunc(rows, func(x, y []any) int {
			if c := cmp.Compare(x[0].(int64), y[0].(int64)); c != 0 {
				return c
			}
			return strings.Compare(string(x[1].(domain.EntityKey)), string(y[1].(domain.EntityKey)))
		})
		if err := insertRows(b.ctx, b.tx, "incident_entities", "incident_id, entity_key, verdict, last_seen, last_notable, roles, host",
			`ON CONFLICT (incident_id, entity_key) DO UPDATE SET `+sightingMerge, rows); err != nil {
			return err
		}
	}
	if len(p.Aliases) > 0 {
		rows := make([][]any, len(p.Aliases))
		for i, r := range p.Aliases {
			rows[i] = []any{r.Of, r.Key, r.Alert, utc(r.First), utc(r.Last)}
		}
		// The plan's times are final (widened by what was loaded); the CASEs
		// keep a concurrent writer's wider ones.
		if err := insertRows(b.ctx, b.tx, "entity_aliases", "entity_key, alias_key, alert_id, first_seen, last_seen",
			`ON CONFLICT (entity_key, alias_key) DO UPDATE SET
			alert_id = CASE WHEN excluded.first_seen < entity_aliases.first_seen THEN excluded.alert_id ELSE entity_aliases.alert_id END,
			first_seen = CASE WHEN excluded.first_seen < entity_aliases.first_seen THEN excluded.first_seen ELSE entity_aliases.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > entity_aliases.last_seen THEN excluded.last_seen ELSE entity_aliases.last_seen END`, rows); err != nil {
			return err
		}
	}
	if len(p.Buckets) > 0 {
		rows := make([][]any, len(p.Buckets))
		for i, r := range p.Buckets {
			rows[i] = []any{r.Anchor, b.det(r.Detector), r.Bucket}
		}
		if err := insertRows(b.ctx, b.tx, "detector_buckets", "entity_key, detector, bucket",
			`ON CONFLICT (entity_key, detector, bucket) DO NOTHING`, rows); err != nil {
			return err
		}
	}
	if len(p.Activity) > 0 {
		rows := make([][]any, len(p.Activity))
		for i, r := range p.Activity {
			rows[i] = []any{b.realID(r.Incident), r.Bucket, r.Notable}
		}
		slices.SortFunc(rows, func(x, y []any) int {
			if c := cmp.Compare(x[0].(int64), y[0].(int64)); c != 0 {
				return c
			}
			return cmp.Compare(x[1].(int64), y[1].(int64))
		})
		if err := insertRows(b.ctx, b.tx, "incident_activity", "incident_id, bucket, notable",
			`ON CONFLICT (incident_id, bucket) DO UPDATE SET notable = incident_activity.notable + excluded.notable`, rows); err != nil {
			return err
		}
	}
	if len(p.Recent) > 0 {
		rows := make([][]any, len(p.Recent))
		for i, r := range p.Recent {
			rows[i] = []any{b.det(r.Detector), r.Key, b.realID(r.Inc), utc(r.At)}
		}
		if err := insertRows(b.ctx, b.tx, "detector_recent", "detector, entity_key, incident_id, last_seen",
			`ON CONFLICT (detector, entity_key) DO UPDATE SET incident_id = excluded.incident_id,
			last_seen = CASE WHEN excluded.last_seen > detector_recent.last_seen THEN excluded.last_seen ELSE detector_recent.last_seen END`, rows); err != nil {
			return err
		}
	}
	return nil
}

// flush writes everything pending and refreshes the touched incidents, in
// id order.
// resolveByAlerts resolves an open incident whose alerts the provider has
// all resolved, in its activity log as a change by system:ingest.
func (b *batch) resolveByAlerts(st *incState) error {
	if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`UPDATE incidents SET status = ?, resolved_at = ?,
		last_modified_by = ? WHERE id = ?`), domain.IncidentResolved, utc(b.now), ingestActor, st.id); err != nil {
		return fmt.Errorf("resolve incident %d: %w", st.id, err)
	}
	b.audits = append(b.audits, records.AuditEntry{Actor: ingestActor, Verb: "incident.status", Object: fmt.Sprintf("incident:%d", st.id),
		IncidentID: &st.id, Before: string(st.status), After: string(domain.IncidentResolved)})
	st.status = domain.IncidentResolved
	return nil
}

// ingestActor is who ingest's changes are by in activity logs.
const ingestActor = "system:ingest"

func (b *batch) flush() error {
	for _, st := range b.incs {
		if c := st.c; c != nil && st.dirty {
			st.alerts, st.first, st.last = c.Alerts, c.First, c.Last
		}
	}
	if err := b.flushRows(); err != nil {
		return err
	}
	ids := make([]int64, 0, len(b.incs))
	for id, st := range b.incs {
		if st.dirty || st.full && st.joined > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var write []*incState
	for _, id := range ids {
		st := b.incs[id]
		if st.status == domain.IncidentRedirected {
			continue
		}
		if st.full {
			if err := recomputeSummary(b.ctx, b.tx, st); err != nil {
				return err
			}
			// SPEC: when the provider has resolved every alert, the
			// incident is resolved.
			if st.status.Open() && st.alerts > 0 && st.sum.ActiveAlerts == 0 {
				if err := b.resolveByAlerts(st); err != nil {
					return err
				}
			}
		}
		write = append(write, st)
		if st.quiet > 0 {
			b.audits = append(b.audits, records.AuditEntry{Actor: ingestActor, Verb: "alerts.counted",
				Object: fmt.Sprintf("incident:%d", id), IncidentID: &st.id,
				After: fmt.Sprintf("%d alerts joined without a material change (counted, investigation not signalled)", st.quiet)})
		}
	}
	if err := writeIncidents(b.ctx, b.tx, write, b.now); err != nil {
		return err
	}
	if len(b.audits) > 0 {
		rows := make([][]any, len(b.audits))
		for i, e := range b.audits {
			if e.At.IsZero() {
				e.At = b.now
			}
			rows[i] = []any{utc(e.At), e.Actor, e.Verb, e.Object, e.IncidentID, e.Before, e.After}
		}
		if err := b.s.copyRows(b.ctx, b.tx, "audit", "at, actor, verb, object, incident_id, before, after", rows); err != nil {
			return err
		}
		b.audits = nil
	}
	return nil
}
