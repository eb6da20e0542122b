package store

import (
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
)

// batch is one ingest transaction: it reads the correlation state the
// batch's alerts can touch in a few bulk queries, decides alert by alert in
// memory (package correlate), and writes everything back in bulk at the
// end. Merges are the exception: they are written as they happen.
type batch struct {
	ctx   context.Context
	s     *Store
	tx    *sqlx.Tx
	rules CorrelationRules
	now   time.Time

	existing map[string]prevAlert
	byKey    map[domain.EntityKey][]*sightingState // open, non-routine incidents' sightings
	known    map[incKey]*sightingState             // every loaded or new (incident, key)
	openN    map[domain.EntityKey]int              // open non-routine incidents per key
	incs     map[int64]*incState
	buckets  map[profileKey]map[int64]bool
	recent   map[string]map[domain.EntityKey]recentHit
	routine  map[string]int64                        // routine key → open routine incident (0: none)
	activity map[int64]map[int64]int                 // incident → bucket → notable alerts (storm window of the batch)
	aliases  map[domain.EntityKey][]domain.EntityKey // FQDN → short host key it also links under
	newAct   map[int64]map[int64]int                 // increments to write

	// pending writes
	entityRows  map[domain.EntityKey][]any
	alertRows   [][]any
	alertEnts   map[alertEntKey]domain.Verdict
	dirtySight  map[incKey]bool
	newBuckets  map[profileKey]map[int64]bool
	dirtyRecent map[string]map[domain.EntityKey]bool
	audits      []AuditEntry
}

type prevAlert struct {
	incidentID int64
	lastUpdate time.Time
}

type incKey struct {
	inc int64
	key domain.EntityKey
}

type alertEntKey struct {
	alert string
	key   domain.EntityKey
}

type profileKey struct {
	anchor   domain.EntityKey
	detector string
}

type recentHit struct {
	inc int64
	at  time.Time
}

type sightingState struct {
	correlate.Sighting
	key     domain.EntityKey
	verdict domain.Verdict
}

// incState is an incident as the batch sees it.
type incState struct {
	id                        int64
	status                    domain.IncidentStatus
	assignedTo, class, determ string
	state                     domain.InvestigationState
	severity                  domain.Severity
	alerts                    int
	first, last               time.Time
	displayName               string
	redirect                  int64
	sum                       summary
	materialSeq, notifiedSeq  int64
	dirty, full               bool
	joined, quiet             int // alerts of this batch
	signalled                 bool
}

// summary is incident_summary as Go values.
type summary struct {
	RoutineKey       string            `db:"routine_key"`
	Categories       domain.StringList `db:"categories"`
	Techniques       domain.StringList `db:"techniques"`
	ServiceSources   domain.StringList `db:"service_sources"`
	DetectionSources domain.StringList `db:"detection_sources"`
	Devices          domain.StringList `db:"devices"`
	Users            domain.StringList `db:"users"`
	Mailboxes        domain.StringList `db:"mailboxes"`
	Apps             domain.StringList `db:"apps"`
	DeviceCount      int               `db:"device_count"`
	UserCount        int               `db:"user_count"`
	MailboxCount     int               `db:"mailbox_count"`
	AppCount         int               `db:"app_count"`
	MaliciousCount   int               `db:"malicious_count"`
	ActiveAlerts     int               `db:"active_alerts"`
	MaxTactic        int               `db:"max_tactic"`
	PriorityScore    int               `db:"priority_score"`
	PriorityFactors  string            `db:"priority_factors"`
	SystemTags       domain.StringList `db:"system_tags"`
	SeverityManual   bool              `db:"severity_manual"`
	NameManual       bool              `db:"name_manual"`
	LastNotable      *time.Time        `db:"last_notable"`
	QuietAlerts      int64             `db:"quiet_alerts"`
	MaterialSeq      int64             `db:"material_seq"`
	NotifiedSeq      int64             `db:"notified_seq"`
}

// maxAssetNames bounds the impacted-asset names kept per kind; the counts
// stay exact.
const maxAssetNames = 50

func newBatch(ctx context.Context, s *Store, tx *sqlx.Tx, rules CorrelationRules) *batch {
	return &batch{ctx: ctx, s: s, tx: tx, rules: rules, now: time.Now().UTC(),
		existing: map[string]prevAlert{}, byKey: map[domain.EntityKey][]*sightingState{},
		known: map[incKey]*sightingState{}, openN: map[domain.EntityKey]int{}, incs: map[int64]*incState{},
		buckets: map[profileKey]map[int64]bool{}, recent: map[string]map[domain.EntityKey]recentHit{},
		routine: map[string]int64{}, entityRows: map[domain.EntityKey][]any{},
		activity: map[int64]map[int64]int{}, newAct: map[int64]map[int64]int{},
		aliases:   map[domain.EntityKey][]domain.EntityKey{},
		alertEnts: map[alertEntKey]domain.Verdict{}, dirtySight: map[incKey]bool{},
		newBuckets: map[profileKey]map[int64]bool{}, dirtyRecent: map[string]map[domain.EntityKey]bool{}}
}

func allKeys(a *domain.Alert) []domain.EntityKey {
	var keys []domain.EntityKey
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key != "" && !slices.Contains(keys, ev.Entity.Key) {
			keys = append(keys, ev.Entity.Key)
		}
	}
	return keys
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
	return b.s.lockNames(b.ctx, b.tx, names)
}

// load reads, in bulk, the state the batch's alerts can touch.
func (b *batch) load(alerts []*domain.Alert) error {
	ids := make([]string, 0, len(alerts))
	keySet := map[domain.EntityKey]bool{}
	detSet := map[string]bool{}
	minT, maxT := time.Time{}, time.Time{}
	for _, a := range alerts {
		ids = append(ids, a.ID)
		for _, k := range allKeys(a) {
			keySet[k] = true
			for _, al := range b.aliases[k] {
				keySet[al] = true
			}
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
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	dets := make([]string, 0, len(detSet))
	for d := range detSet {
		dets = append(dets, d)
	}
	slices.Sort(dets)

	err := inChunks(ids, func(part []string) error {
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
			b.existing[r.ID] = prevAlert{incidentID: r.IncidentID, lastUpdate: r.LastUpdate}
		}
		return nil
	})
	if err != nil {
		return err
	}

	from := utc(minT.Add(-b.rules.WindowOrDefault()))
	incIDs := map[int64]bool{}
	err = inChunks(keys, func(part []string) error {
		var rows []struct {
			IncidentID  int64          `db:"incident_id"`
			Key         string         `db:"entity_key"`
			Verdict     domain.Verdict `db:"verdict"`
			LastSeen    time.Time      `db:"last_seen"`
			LastNotable sql.NullTime   `db:"last_notable"`
			Routine     string         `db:"routine_key"`
		}
		// Every open incident's sighting is read, so that "new entity" (a
		// material change, an impacted asset) is exact; only those within
		// the window are candidates and count towards "too common".
		q := `SELECT ie.incident_id, ie.entity_key, ie.verdict, ie.last_seen, ie.last_notable, COALESCE(s.routine_key, '') AS routine_key
			FROM incident_entities ie JOIN incidents i ON i.id = ie.incident_id
			LEFT JOIN incident_summary s ON s.incident_id = ie.incident_id
			WHERE ie.entity_key IN (` + placeholders(len(part)) + `) AND i.status IN ('active', 'inProgress')`
		if err := b.tx.SelectContext(b.ctx, &rows, b.tx.Rebind(q), anySlice(part)...); err != nil {
			return fmt.Errorf("read incident entities: %w", err)
		}
		for _, r := range rows {
			st := &sightingState{key: domain.EntityKey(r.Key), verdict: r.Verdict,
				Sighting: correlate.Sighting{IncidentID: r.IncidentID, LastSeen: r.LastSeen.UTC()}}
			if r.LastNotable.Valid {
				st.LastNotable = r.LastNotable.Time.UTC()
			}
			b.known[incKey{r.IncidentID, st.key}] = st
			if r.Routine == "" && !st.LastSeen.Before(from) {
				b.byKey[st.key] = append(b.byKey[st.key], st)
				b.openN[st.key]++
				incIDs[r.IncidentID] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range b.existing {
		incIDs[p.incidentID] = true
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
				m := b.recent[r.Detector]
				if m == nil {
					m = map[domain.EntityKey]recentHit{}
					b.recent[r.Detector] = m
				}
				m[domain.EntityKey(r.Key)] = recentHit{inc: r.IncidentID, at: r.LastSeen.UTC()}
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
				if !detSet[r.Detector] {
					continue
				}
				pk := profileKey{domain.EntityKey(r.Key), r.Detector}
				m := b.buckets[pk]
				if m == nil {
					m = map[int64]bool{}
					b.buckets[pk] = m
				}
				m[r.Bucket] = true
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
			WHERE a.bucket >= ? AND a.bucket <= ? AND i.status IN ('active', 'inProgress')`), from, to); err != nil {
			return fmt.Errorf("read incident activity: %w", err)
		}
		for _, r := range rows {
			if b.activity[r.IncidentID] == nil {
				b.activity[r.IncidentID] = map[int64]int{}
			}
			b.activity[r.IncidentID][r.Bucket] += r.Notable
			incIDs[r.IncidentID] = true
		}
	}
	ids64 := make([]int64, 0, len(incIDs))
	for id := range incIDs {
		ids64 = append(ids64, id)
	}
	slices.Sort(ids64)
	return b.loadIncidents(ids64)
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
	COALESCE(s.notified_seq, 0) AS notified_seq
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
			st := &incState{id: r.ID, status: r.Status, assignedTo: r.AssignedTo, class: r.Class, determ: r.Determ,
				state: r.State, severity: r.Severity, alerts: r.Alerts, first: r.First.UTC(), last: r.Last.UTC(),
				displayName: r.DisplayName, sum: r.summary, materialSeq: r.MaterialSeq, notifiedSeq: r.NotifiedSeq}
			if r.Redirect.Valid {
				st.redirect = r.Redirect.Int64
			}
			if !r.HasSummary {
				st.full = true // an incident from before summaries: derive them once
			}
			b.incs[r.ID] = st
		}
		return nil
	})
}

// incident returns an incident's state, following merges, loading it when
// the batch has not seen it yet.
func (b *batch) incident(id int64) (*incState, error) {
	for hops := 0; hops < 100; hops++ {
		st, ok := b.incs[id]
		if !ok {
			if err := b.loadIncidents([]int64{id}); err != nil {
				return nil, err
			}
			if st, ok = b.incs[id]; !ok {
				return nil, fmt.Errorf("incident %d vanished", id)
			}
		}
		if st.status != domain.IncidentRedirected || st.redirect == 0 {
			return st, nil
		}
		id = st.redirect
	}
	return nil, fmt.Errorf("incident %d: redirect loop", id)
}

// routineIncident returns the open routine incident for a routine key, or 0.
func (b *batch) routineIncident(rk string) (int64, error) {
	if id, ok := b.routine[rk]; ok {
		return id, nil
	}
	var id int64
	err := b.tx.GetContext(b.ctx, &id, b.tx.Rebind(`SELECT s.incident_id FROM incident_summary s
		JOIN incidents i ON i.id = s.incident_id
		WHERE s.routine_key = ? AND i.status IN ('active', 'inProgress') ORDER BY s.incident_id DESC LIMIT 1`), rk)
	if isNoRows(err) {
		b.routine[rk] = 0
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find routine incident: %w", err)
	}
	b.routine[rk] = id
	return id, nil
}

// usable reports whether an incident may take one more alert.
func (b *batch) usable(st *incState) bool {
	return st.status.Open() && (b.rules.MaxAlerts <= 0 || st.alerts < b.rules.MaxAlerts)
}

// ingest places one alert.
func (b *batch) ingest(a *domain.Alert) (IngestResult, error) {
	res := IngestResult{AlertID: a.ID}
	if prev, ok := b.existing[a.ID]; ok {
		st, err := b.incident(prev.incidentID)
		if err != nil {
			return res, err
		}
		res.IncidentID = st.id
		if !a.LastUpdateDateTime.After(prev.lastUpdate) {
			res.Outcome = Unchanged
			if (st.state == domain.InvestigationQueued || st.materialSeq > st.notifiedSeq) && !st.signalled {
				res.Notify, st.signalled = true, true
			}
			return res, nil
		}
		res.Outcome = Updated
		row, err := alertRow(a, st.id, false)
		if err != nil {
			return res, err
		}
		if err := b.flushRows(); err != nil { // the row may still be pending from earlier in this batch
			return res, err
		}
		if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`UPDATE alerts SET status = ?, severity = ?, title = ?, category = ?,
			service_source = ?, detection_source = ?, last_update = ?, activity_time = ?, doc = ?, raw = ?,
			detector = ?, techniques = ? WHERE id = ?`),
			row[2], row[3], row[4], row[5], row[6], row[7], row[9], row[10], row[11], row[12], row[13], row[14], a.ID); err != nil {
			return res, fmt.Errorf("update alert: %w", err)
		}
		// The new version's evidence replaces the old one's.
		if _, err := b.tx.ExecContext(b.ctx, b.tx.Rebind(`DELETE FROM alert_entities WHERE alert_id = ?`), a.ID); err != nil {
			return res, fmt.Errorf("clear alert entities: %w", err)
		}
		b.existing[a.ID] = prevAlert{incidentID: st.id, lastUpdate: a.LastUpdateDateTime}
		ch := b.record(a, st, false, false)
		st.full = true
		b.material(st, ch, &res)
		b.audits = append(b.audits, AuditEntry{Actor: ingestActor, Verb: "alert.updated", Object: "alert:" + a.ID,
			IncidentID: &st.id, After: string(a.Status) + " " + string(a.Severity) + ": " + a.Title})
		return res, nil
	}

	res.Outcome = Created
	t := a.ActivityTime().UTC()
	links := b.rules.LinkKeys(a, func(k domain.EntityKey) int { return b.openN[k] })
	anchor := correlate.Anchor(a, links)
	det := correlate.Detector(a)
	routine := false
	if anchor != "" {
		routine = b.rules.Routine(b.bucketsBefore(profileKey{anchor, det}, t))
	}

	var cands []correlate.Candidate
	addCand := func(id int64) error {
		st, err := b.incident(id)
		if err != nil {
			return err
		}
		if !b.usable(st) || st.sum.RoutineKey != "" {
			return nil
		}
		for _, c := range cands {
			if c.IncidentID == st.id {
				return nil
			}
		}
		cands = append(cands, correlate.Candidate{IncidentID: st.id, Alerts: st.alerts})
		return nil
	}
	for _, k := range links {
		for _, s := range b.sightings(k) {
			st, err := b.incident(s.IncidentID)
			if err != nil {
				return res, err
			}
			if !b.rules.Joins(routine, t, s.Sighting, correlate.Advances(a.Category, st.sum.MaxTactic)) {
				continue
			}
			if err := addCand(st.id); err != nil {
				return res, err
			}
		}
	}
	// Campaigns need a named detection rule: titles such as "Malware
	// detected" are shared by unrelated detections.
	campaign := strings.TrimSpace(a.DetectorID)
	if burst := b.rules.BurstOrDefault(); !routine && burst > 0 && anchor != "" && campaign != "" {
		for other, hit := range b.recent[campaign] {
			if other != anchor && absDur(t.Sub(hit.at)) <= burst {
				if err := addCand(hit.inc); err != nil {
					return res, err
				}
			}
		}
	}
	if len(cands) == 0 && !routine && b.rules.StormGapOrDefault() > 0 {
		from, to := b.rules.StormWindow(t)
		var best *incState
		bestN := 0
		for id, acts := range b.activity {
			n := 0
			for bk, c := range acts {
				if bk >= from && bk <= to {
					n += c
				}
			}
			if !b.rules.Storm(n) {
				continue
			}
			st, err := b.incident(id)
			if err != nil {
				return res, err
			}
			if !b.usable(st) || st.sum.RoutineKey != "" {
				continue
			}
			if best == nil || n > bestN || n == bestN && st.id < best.id {
				best, bestN = st, n
			}
		}
		if best != nil {
			cands = append(cands, correlate.Candidate{IncidentID: best.id, Alerts: best.alerts})
		}
	}
	slices.SortFunc(cands, func(x, y correlate.Candidate) int { return int(x.IncidentID - y.IncidentID) })

	var target *incState
	if len(cands) > 0 {
		id, others := correlate.Choose(cands)
		st, err := b.incident(id)
		if err != nil {
			return res, err
		}
		target = st
		for _, o := range others {
			src, err := b.incident(o)
			if err != nil {
				return res, err
			}
			if src.id == target.id {
				continue
			}
			ok, why := correlate.CanMerge(mergeSide(target), mergeSide(src))
			if !ok {
				b.audits = append(b.audits, AuditEntry{Actor: "system:correlation", Verb: "incident.merge_refused",
					Object: fmt.Sprintf("incident:%d", src.id), IncidentID: &target.id,
					After: fmt.Sprintf("alert %s links incident %d: %s", a.ID, src.id, why)})
				continue
			}
			// The smaller is the source (Choose picked the biggest as target).
			if err := b.merge(target, src, "alert "+a.ID+" links both"); err != nil {
				return res, err
			}
			res.Merged = append(res.Merged, src.id)
		}
	}
	newInc := false
	if target == nil && routine {
		rk := string(anchor) // one noise incident per entity, whatever the detector
		id, err := b.routineIncident(rk)
		if err != nil {
			return res, err
		}
		if id != 0 {
			st, err := b.incident(id)
			if err != nil {
				return res, err
			}
			// Within the noise incident's span, widened by the gap: alerts
			// arrive out of order when sensors deliver late.
			gap := b.rules.RoutineGapOrDefault()
			if b.usable(st) && !t.Before(st.first.Add(-gap)) && !t.After(st.last.Add(gap)) {
				target = st
			}
		}
		if target == nil {
			st, err := b.createIncident(a, rk, anchor)
			if err != nil {
				return res, err
			}
			b.routine[rk] = st.id
			target, newInc = st, true
		}
	}
	if target == nil {
		st, err := b.createIncident(a, "", "")
		if err != nil {
			return res, err
		}
		target, newInc = st, true
	}

	res.IncidentID, res.NewIncident = target.id, newInc
	row, err := alertRow(a, target.id, routine)
	if err != nil {
		return res, err
	}
	b.alertRows = append(b.alertRows, row)
	b.existing[a.ID] = prevAlert{incidentID: target.id, lastUpdate: a.LastUpdateDateTime}
	ch := b.record(a, target, !routine, newInc)
	target.alerts++
	if !routine && b.rules.StormGapOrDefault() > 0 {
		bk := b.rules.Bucket(t)
		for _, m := range []map[int64]map[int64]int{b.activity, b.newAct} {
			if m[target.id] == nil {
				m[target.id] = map[int64]int{}
			}
			m[target.id][bk]++
		}
	}
	b.material(target, ch, &res)
	if ch.Material() {
		b.audits = append(b.audits, AuditEntry{Actor: ingestActor, Verb: "alert.joined", Object: "alert:" + a.ID,
			IncidentID: &target.id, After: string(a.Severity) + ": " + a.Title})
	}

	if anchor != "" {
		pk := profileKey{anchor, det}
		bk := b.rules.Bucket(t)
		if b.buckets[pk] == nil {
			b.buckets[pk] = map[int64]bool{}
		}
		if !b.buckets[pk][bk] {
			b.buckets[pk][bk] = true
			if b.newBuckets[pk] == nil {
				b.newBuckets[pk] = map[int64]bool{}
			}
			b.newBuckets[pk][bk] = true
		}
		if campaign != "" && !routine && b.rules.BurstOrDefault() > 0 {
			det := campaign
			m := b.recent[det]
			if m == nil {
				m = map[domain.EntityKey]recentHit{}
				b.recent[det] = m
			}
			if h, ok := m[anchor]; !ok || !t.Before(h.at) || h.inc != target.id {
				m[anchor] = recentHit{inc: target.id, at: t}
				if b.dirtyRecent[det] == nil {
					b.dirtyRecent[det] = map[domain.EntityKey]bool{}
				}
				b.dirtyRecent[det][anchor] = true
			}
		}
	}
	return res, nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// sightings returns the open incidents' sightings of a key and of its
// aliases (a unique FQDN's short host name).
func (b *batch) sightings(k domain.EntityKey) []*sightingState {
	al := b.aliases[k]
	if len(al) == 0 {
		return b.byKey[k]
	}
	out := slices.Clone(b.byKey[k])
	for _, a := range al {
		out = append(out, b.byKey[a]...)
	}
	return out
}

// bucketsBefore counts the distinct buckets of a profile that precede t's
// bucket within the routine window.
func (b *batch) bucketsBefore(pk profileKey, t time.Time) int {
	first, cur := b.rules.FirstBucket(t), b.rules.Bucket(t)
	n := 0
	for bk := range b.buckets[pk] {
		if bk >= first && bk < cur {
			n++
		}
	}
	return n
}

func mergeSide(st *incState) correlate.MergeSide {
	return correlate.MergeSide{Status: st.status, AssignedTo: st.assignedTo, Classification: st.class, Determination: st.determ}
}

// record notes the alert's entities and derived fields against its
// incident and returns what it changed.
func (b *batch) record(a *domain.Alert, st *incState, notable, newInc bool) correlate.Change {
	t := a.ActivityTime().UTC()
	ch := correlate.Change{NewIncident: newInc, Severity: a.Severity, Was: st.severity}
	if a.Category != "" && !slices.Contains(st.sum.Categories, a.Category) {
		ch.NewTactic = true
	}
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
			b.addAsset(st, e)
		}
		verdicts[e.Key] = domain.StrongerVerdict(verdicts[e.Key], orUnknown(e.Verdict))
	}
	for _, k := range order {
		v := verdicts[k]
		b.alertEnts[alertEntKey{a.ID, k}] = v
		ik := incKey{st.id, k}
		s, ok := b.known[ik]
		if !ok {
			ch.NewEntities++
			s = &sightingState{key: k, verdict: v, Sighting: correlate.Sighting{IncidentID: st.id, LastSeen: t}}
			b.known[ik] = s
			if st.sum.RoutineKey == "" {
				b.byKey[k] = append(b.byKey[k], s)
				b.openN[k]++
			}
			if v == domain.VerdictMalicious {
				st.sum.MaliciousCount++
			}
		} else {
			if v == domain.VerdictMalicious && s.verdict != domain.VerdictMalicious {
				st.sum.MaliciousCount++
			}
			s.verdict = domain.StrongerVerdict(s.verdict, v)
			if t.After(s.LastSeen) {
				s.LastSeen = t
			}
		}
		if notable && t.After(s.LastNotable) {
			s.LastNotable = t
		}
		b.dirtySight[ik] = true
	}

	// Derived fields, incrementally.
	if !st.sum.SeverityManual && a.Severity.Rank() > st.severity.Rank() {
		st.severity = a.Severity
	}
	if st.alerts == 0 && st.first.IsZero() || t.Before(st.first) {
		st.first = t
	}
	if t.After(st.last) {
		st.last = t
	}
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

func orUnknown(v domain.Verdict) domain.Verdict {
	if v == "" {
		return domain.VerdictUnknown
	}
	return v
}

func addUnique(list domain.StringList, v string) domain.StringList {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	out := append(list, v)
	slices.Sort(out)
	return out
}

// addAsset counts an entity among the incident's impacted assets the first
// time the incident sees it.
func (b *batch) addAsset(st *incState, e *domain.Entity) {
	if _, ok := b.known[incKey{st.id, e.Key}]; ok {
		return
	}
	var names *domain.StringList
	var n *int
	switch e.Kind {
	case domain.KindDevice:
		names, n = &st.sum.Devices, &st.sum.DeviceCount
	case domain.KindUser:
		names, n = &st.sum.Users, &st.sum.UserCount
	case domain.KindMailbox:
		names, n = &st.sum.Mailboxes, &st.sum.MailboxCount
	case "cloudApp", "oauthApp":
		names, n = &st.sum.Apps, &st.sum.AppCount
	default:
		return
	}
	*n++
	if len(*names) < maxAssetNames {
		*names = addUnique(*names, e.Name)
	}
}

// material decides whether the investigation hears of the alert, and
// counts it when it does not.
func (b *batch) material(st *incState, ch correlate.Change, res *IngestResult) {
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
func (b *batch) createIncident(a *domain.Alert, routineKey string, anchor domain.EntityKey) (*incState, error) {
	t := utc(a.ActivityTime())
	name := a.Title
	if routineKey != "" {
		name = "Recurring alerts on " + entityName(a, anchor)
	}
	q := `INSERT INTO incidents (display_name, severity, status, investigation_state,
			first_activity, last_activity, created_at, updated_at)
		VALUES (?, ?, 'active', 'queued', ?, ?, ?, ?)`
	args := []any{name, a.Severity, t, t, b.now, b.now}
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
	st := &incState{id: id, status: domain.IncidentActive, state: domain.InvestigationQueued, severity: a.Severity,
		first: t, last: t, displayName: name, class: "unknown", determ: "unknown"}
	st.sum.RoutineKey = routineKey
	b.incs[id] = st
	after := "active"
	if routineKey != "" {
		after = "active (recurring alerts on " + string(anchor) + ")"
	}
	b.audits = append(b.audits, AuditEntry{Actor: "system:correlation", Verb: "incident.created",
		Object: fmt.Sprintf("incident:%d", id), IncidentID: &id, After: after})
	return st, nil
}

func entityName(a *domain.Alert, key domain.EntityKey) string {
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key == key && ev.Entity.Name != "" {
			return ev.Entity.Name
		}
	}
	return string(key)
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
// redirectIncidentId, system tag Redirected, both activity logs).
func (b *batch) merge(target, src *incState, why string) error {
	if err := b.flushRows(); err != nil {
		return err
	}
	if err := mergeIncidents(b.ctx, b.tx, target.id, src.id, "system:correlation", why); err != nil {
		return err
	}
	// Mirror the move in memory.
	for k, s := range b.known {
		if k.inc != src.id {
			continue
		}
		delete(b.known, k)
		tk := incKey{target.id, k.key}
		if ts, ok := b.known[tk]; ok {
			if s.LastSeen.After(ts.LastSeen) {
				ts.LastSeen = s.LastSeen
			}
			if s.LastNotable.After(ts.LastNotable) {
				ts.LastNotable = s.LastNotable
			}
			ts.verdict = domain.StrongerVerdict(ts.verdict, s.verdict)
			s.IncidentID = 0 // dead: drop from byKey below
		} else {
			s.IncidentID = target.id
			b.known[tk] = s
		}
	}
	for k, list := range b.byKey {
		out := list[:0]
		for _, s := range list {
			if s.IncidentID != 0 {
				out = append(out, s)
			}
		}
		b.byKey[k] = out
	}
	for det, m := range b.recent {
		for k, h := range m {
			if h.inc == src.id {
				m[k] = recentHit{inc: target.id, at: h.at}
				if b.dirtyRecent[det] == nil {
					b.dirtyRecent[det] = map[domain.EntityKey]bool{}
				}
				b.dirtyRecent[det][k] = true
			}
		}
	}
	for id, p := range b.existing {
		if p.incidentID == src.id {
			b.existing[id] = prevAlert{incidentID: target.id, lastUpdate: p.lastUpdate}
		}
	}
	if acts := b.activity[src.id]; acts != nil {
		if b.activity[target.id] == nil {
			b.activity[target.id] = map[int64]int{}
		}
		for bk, n := range acts {
			b.activity[target.id][bk] += n
		}
		delete(b.activity, src.id)
	}
	target.alerts += src.alerts
	target.full, target.dirty = true, true
	target.materialSeq++ // new alerts and entities for the investigation
	src.status, src.redirect = domain.IncidentRedirected, target.id
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
		{`INSERT INTO incident_entities (incident_id, entity_key, verdict, last_seen, last_notable)
			SELECT ?, entity_key, verdict, last_seen, last_notable FROM incident_entities WHERE incident_id = ?
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
	if err := appendAudit(ctx, tx, AuditEntry{Actor: actor, Verb: "incident.merged_into", Object: srcObj, IncidentID: &src,
		Before: "active", After: "redirected to " + dstObj + ": " + why}); err != nil {
		return err
	}
	return appendAudit(ctx, tx, AuditEntry{Actor: actor, Verb: "incident.merged_from", Object: dstObj, IncidentID: &target,
		After: "took the alerts, entities and tags of " + srcObj + ": " + why})
}

// sightingMerge keeps the strongest verdict and the latest times when one
// (incident, entity) row meets another.
var sightingMerge = `verdict = CASE WHEN ` + verdictRankSQL("excluded.verdict") + ` > ` + verdictRankSQL("incident_entities.verdict") +
	` THEN excluded.verdict ELSE incident_entities.verdict END,
	last_seen = CASE WHEN excluded.last_seen > incident_entities.last_seen THEN excluded.last_seen ELSE incident_entities.last_seen END,
	last_notable = CASE WHEN incident_entities.last_notable IS NULL OR excluded.last_notable > incident_entities.last_notable
		THEN COALESCE(excluded.last_notable, incident_entities.last_notable) ELSE incident_entities.last_notable END`

func verdictRankSQL(col string) string {
	return `(CASE ` + col + ` WHEN 'malicious' THEN 3 WHEN 'suspicious' THEN 2 WHEN 'noThreatsFound' THEN 1 ELSE 0 END)`
}

// flushRows writes the pending rows (entities first: alerts' links refer to
// them).
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
	if err := b.s.copyRows(b.ctx, b.tx, "alerts", alertCols, b.alertRows); err != nil {
		return err
	}
	b.alertRows = b.alertRows[:0]
	if len(b.alertEnts) > 0 {
		rows := make([][]any, 0, len(b.alertEnts))
		for k, v := range b.alertEnts {
			rows = append(rows, []any{k.alert, k.key, v})
		}
		// No row can exist yet: a new alert has none, and an updated one had
		// its links deleted after the pending rows were flushed.
		if err := b.s.copyRows(b.ctx, b.tx, "alert_entities", "alert_id, entity_key, verdict", rows); err != nil {
			return err
		}
		clear(b.alertEnts)
	}
	if len(b.dirtySight) > 0 {
		rows := make([][]any, 0, len(b.dirtySight))
		for k := range b.dirtySight {
			s := b.known[k]
			if s == nil || s.IncidentID != k.inc {
				continue
			}
			var notable any
			if !s.LastNotable.IsZero() {
				notable = utc(s.LastNotable)
			}
			rows = append(rows, []any{k.inc, k.key, s.verdict, utc(s.LastSeen), notable})
		}
		slices.SortFunc(rows, func(x, y []any) int {
			if c := x[0].(int64) - y[0].(int64); c != 0 {
				return int(c)
			}
			return strings.Compare(string(x[1].(domain.EntityKey)), string(y[1].(domain.EntityKey)))
		})
		if err := insertRows(b.ctx, b.tx, "incident_entities", "incident_id, entity_key, verdict, last_seen, last_notable",
			`ON CONFLICT (incident_id, entity_key) DO UPDATE SET `+sightingMerge, rows); err != nil {
			return err
		}
		clear(b.dirtySight)
	}
	if len(b.newBuckets) > 0 {
		var rows [][]any
		for pk, m := range b.newBuckets {
			for bk := range m {
				rows = append(rows, []any{pk.anchor, pk.detector, bk})
			}
		}
		if err := insertRows(b.ctx, b.tx, "detector_buckets", "entity_key, detector, bucket",
			`ON CONFLICT (entity_key, detector, bucket) DO NOTHING`, rows); err != nil {
			return err
		}
		clear(b.newBuckets)
	}
	if len(b.newAct) > 0 {
		var rows [][]any
		for inc, m := range b.newAct {
			for bk, n := range m {
				rows = append(rows, []any{inc, bk, n})
			}
		}
		slices.SortFunc(rows, func(x, y []any) int {
			if c := x[0].(int64) - y[0].(int64); c != 0 {
				return int(c)
			}
			return int(x[1].(int64) - y[1].(int64))
		})
		if err := insertRows(b.ctx, b.tx, "incident_activity", "incident_id, bucket, notable",
			`ON CONFLICT (incident_id, bucket) DO UPDATE SET notable = incident_activity.notable + excluded.notable`, rows); err != nil {
			return err
		}
		clear(b.newAct)
	}
	if len(b.dirtyRecent) > 0 {
		var rows [][]any
		for det, m := range b.dirtyRecent {
			for k := range m {
				h := b.recent[det][k]
				rows = append(rows, []any{det, k, h.inc, utc(h.at)})
			}
		}
		if err := insertRows(b.ctx, b.tx, "detector_recent", "detector, entity_key, incident_id, last_seen",
			`ON CONFLICT (detector, entity_key) DO UPDATE SET incident_id = excluded.incident_id,
			last_seen = CASE WHEN excluded.last_seen > detector_recent.last_seen THEN excluded.last_seen ELSE detector_recent.last_seen END`, rows); err != nil {
			return err
		}
		clear(b.dirtyRecent)
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
	b.audits = append(b.audits, AuditEntry{Actor: ingestActor, Verb: "incident.status", Object: fmt.Sprintf("incident:%d", st.id),
		IncidentID: &st.id, Before: string(st.status), After: string(domain.IncidentResolved)})
	st.status = domain.IncidentResolved
	return nil
}

// ingestActor is who ingest's changes are by in activity logs.
const ingestActor = "system:ingest"

func (b *batch) flush() error {
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
			b.audits = append(b.audits, AuditEntry{Actor: ingestActor, Verb: "alerts.counted",
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
