package correlate

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Memory runs the engine with its whole state in memory: plan mode and
// `starter correlate` use it to correlate a file as ingest would, without a
// database. Per batch it builds the same State the store loads (the same
// windows and filters), runs the engine and applies the plan, so that its
// grouping is the store's.
type Memory struct {
	Rules Rules
	// Batch is how many alerts one engine run takes (ingest's transaction
	// size); 0 means 1,000.
	Batch int

	incidents map[int64]*Incident
	alerts    map[string]memAlert
	order     []string // alert ids in first-seen order
	sightings map[domain.EntityKey]map[int64]*Seen
	incKeys   map[int64][]domain.EntityKey
	buckets   map[domain.EntityKey]map[string]map[int64]bool
	recent    map[string]map[domain.EntityKey]Hit
	activity  map[int64]map[int64]int
	routine   map[string]int64
	hosts     map[string][]domain.EntityKey // short label → device keys seen
	hostSeen  map[domain.EntityKey]bool     // keys apply has noted in hosts (or that are no host)
	hostNames map[domain.EntityKey]hostName // what HostKey and ShortHost make of each key seen
	names     *namesMemo                    // entity.Names of the entities seen
	noise     noiseNames                    // NoiseKey's answers
	aliases   map[domain.EntityKey][]Alias
	active    map[int64]int // unresolved alerts per incident
	lastID    int64
	// Explained keeps each alert's decision (with real incident ids).
	Explained map[string]Decision
	// Merges lists every merge, in order.
	Merges []Merge
}

type memAlert struct {
	incident   int64
	lastUpdate time.Time
	resolved   bool
}

// NewMemory returns an empty in-memory correlation.
func NewMemory(r Rules) *Memory {
	return &Memory{Rules: r, incidents: map[int64]*Incident{}, alerts: map[string]memAlert{},
		sightings: map[domain.EntityKey]map[int64]*Seen{}, incKeys: map[int64][]domain.EntityKey{},
		buckets: map[domain.EntityKey]map[string]map[int64]bool{}, recent: map[string]map[domain.EntityKey]Hit{},
		activity: map[int64]map[int64]int{}, routine: map[string]int64{}, hosts: map[string][]domain.EntityKey{},
		aliases: map[domain.EntityKey][]Alias{}, hostSeen: map[domain.EntityKey]bool{},
		hostNames: map[domain.EntityKey]hostName{},
		active:    map[int64]int{}, Explained: map[string]Decision{}}
}

// Ingest correlates alerts in batches and returns their decisions with
// real incident ids. Alerts' short host keys may be rewritten (as ingest
// does).
func (m *Memory) Ingest(alerts []*domain.Alert) ([]Decision, error) {
	if err := m.Rules.Validate(); err != nil {
		return nil, err
	}
	n := m.Batch
	if n <= 0 {
		n = 1000
	}
	if len(m.alerts) == 0 && len(m.Explained) == 0 { // sized once, not grown alert by alert
		m.alerts, m.Explained = make(map[string]memAlert, len(alerts)), make(map[string]Decision, len(alerts))
	}
	out := make([]Decision, 0, len(alerts))
	for start := 0; start < len(alerts); start += n {
		ds, err := m.batch(alerts[start:min(start+n, len(alerts))])
		if err != nil {
			return out, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// Incident returns an incident (following merges), or nil.
func (m *Memory) Incident(id int64) *Incident {
	id = m.final(id)
	return m.incidents[id]
}

// IncidentOf returns the incident that holds an alert now (0: unknown).
func (m *Memory) IncidentOf(alertID string) int64 {
	a, ok := m.alerts[alertID]
	if !ok {
		return 0
	}
	return m.final(a.incident)
}

// Sightings returns copies of an incident's sightings — the entities it
// has seen, with the strongest verdict its alerts gave each (the store's
// incident_entities rows) — in the order it first saw them. An unknown
// incident, or one merged away, has none.
func (m *Memory) Sightings(id int64) []Seen {
	keys := m.incKeys[id]
	out := make([]Seen, 0, len(keys))
	for _, k := range keys {
		if s := m.sightings[k][id]; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// AlertIDs returns every alert id, in the order first seen.
func (m *Memory) AlertIDs() []string { return m.order }

// Incidents returns how many incidents hold alerts (redirected ones do not).
func (m *Memory) Incidents() int {
	n := 0
	for _, in := range m.incidents {
		if in.Status != domain.IncidentRedirected {
			n++
		}
	}
	return n
}

// hostName remembers plainHostName of each key.
func (m *Memory) hostName(k domain.EntityKey) hostName {
	n, ok := m.hostNames[k]
	if !ok {
		n = plainHostName(k)
		m.hostNames[k] = n
	}
	return n
}

func (m *Memory) final(id int64) int64 {
	for hops := 0; hops < 100; hops++ {
		in := m.incidents[id]
		if in == nil || in.Status != domain.IncidentRedirected || in.Redirect == 0 {
			return id
		}
		id = in.Redirect
	}
	return id
}

func (m *Memory) batch(alerts []*domain.Alert) ([]Decision, error) {
	r := m.Rules
	s := NewState()
	if m.names == nil {
		m.names = newNamesMemo()
	}
	s.namesMemo = m.names
	if m.noise == nil {
		m.noise = noiseNames{}
	}
	s.noise = m.noise         // kept from batch to batch
	s.Incidents = m.incidents // shared: the engine's changes are the apply
	// Host names, as the store does before its locks.
	labels := hostLabels(alerts, m.hostName)
	var known []domain.EntityKey
	for l := range labels {
		known = append(known, m.hosts[l]...)
	}
	unifyHosts(alerts, known, s, labels, m.hostName)

	keySet := map[domain.EntityKey]bool{}
	detSet := map[string]bool{}
	var minT, maxT time.Time
	for _, a := range alerts {
		if p, ok := m.alerts[a.ID]; ok {
			s.Existing[a.ID] = Prev{Incident: m.final(p.incident), LastUpdate: p.lastUpdate}
		}
		for _, k := range AllKeys(a) {
			keySet[k] = true
		}
		detSet[Detector(a)] = true
		t := a.ActivityTime()
		if minT.IsZero() || t.Before(minT) {
			minT = t
		}
		if t.After(maxT) {
			maxT = t
		}
	}
	more, err := s.LoadAliases(s.AliasFrontier(keySet, alerts), func(keys []domain.EntityKey) ([]AliasRow, error) {
		var rows []AliasRow
		for _, k := range keys {
			for _, al := range m.aliases[k] {
				if row := (AliasRow{Of: k, Alias: al}); row.MayHold(minT) {
					rows = append(rows, row)
				}
			}
		}
		return rows, nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range more {
		keySet[k] = true
	}
	from := minT.Add(-r.WindowOrDefault()).UTC()
	for k := range keySet {
		for id, seen := range m.sightings[k] {
			in := m.incidents[id]
			if in == nil || !in.Status.Open() {
				continue
			}
			c := *seen
			s.AddSighting(&c, in.RoutineKey == "" && !c.LastSeen.Before(from))
		}
	}
	if burst := r.BurstOrDefault(); burst > 0 {
		since := minT.Add(-burst)
		for det := range detSet {
			for _, d := range []string{det, NoiseDetector(det)} {
				for k, h := range m.recent[d] {
					if !h.At.Before(since) {
						s.AddRecent(d, k, h)
					}
				}
			}
		}
	}
	if r.RoutineBuckets >= 0 {
		first := r.FirstBucket(minT)
		for k := range keySet {
			for det, bks := range m.buckets[k] {
				if !detSet[det] {
					continue
				}
				for bk := range bks {
					if bk >= first {
						s.AddBucket(Profile{k, det}, bk)
					}
				}
			}
		}
		var rks []string
		for _, a := range alerts {
			rks = m.noise.keys(a, rks[:0])
			for _, rk := range rks {
				if id := m.routine[rk]; id != 0 && m.incidents[m.final(id)].Status.Open() {
					s.Routine[rk] = id
				}
			}
		}
	}
	if r.StormGapOrDefault() > 0 {
		lo, _ := r.StormWindow(minT)
		_, hi := r.StormWindow(maxT)
		for id, acts := range m.activity {
			if in := m.incidents[id]; in == nil || !in.Status.Open() {
				continue
			}
			for bk, n := range acts {
				if bk >= lo && bk <= hi {
					s.AddActivity(id, bk, n)
				}
			}
		}
	}

	p, err := r.Run(s, alerts)
	if err != nil {
		return nil, err
	}
	return m.apply(p, alerts), nil
}

// apply writes a plan into the memory: real ids for new incidents, merges,
// sightings, buckets, campaign hits and storm counters.
func (m *Memory) apply(p *Plan, alerts []*domain.Alert) []Decision {
	real := map[int64]int64{}
	for _, ref := range p.Created {
		m.lastID++
		in := m.incidents[ref]
		delete(m.incidents, ref)
		in.ID = m.lastID
		m.incidents[in.ID] = in
		real[ref] = in.ID
		if in.RoutineKey != "" {
			m.routine[in.RoutineKey] = in.ID
		}
	}
	id := func(x int64) int64 {
		if x < 0 {
			return real[x]
		}
		return x
	}
	for _, in := range m.incidents {
		if in.Redirect < 0 {
			in.Redirect = real[in.Redirect]
		}
	}
	full := map[int64]bool{}
	out := make([]Decision, len(p.Decisions))
	for i, d := range p.Decisions {
		a := alerts[i]
		d.Incident = id(d.Incident)
		for j := range d.Merges {
			mg := &d.Merges[j]
			mg.Target, mg.Source = id(mg.Target), id(mg.Source)
			m.merge(mg.Target, mg.Source)
			m.Merges = append(m.Merges, *mg)
			full[mg.Target] = true
		}
		for j := range d.Refused {
			d.Refused[j].Target, d.Refused[j].Source = id(d.Refused[j].Target), id(d.Refused[j].Source)
		}
		resolved := a.Status == domain.AlertResolved
		switch d.Outcome {
		case Created:
			m.alerts[a.ID] = memAlert{incident: d.Incident, lastUpdate: a.LastUpdateDateTime, resolved: resolved}
			m.order = append(m.order, a.ID)
			if !resolved {
				m.active[d.Incident]++
			}
		case Updated:
			prev := m.alerts[a.ID]
			if prev.resolved != resolved {
				if resolved {
					m.active[d.Incident]--
				} else {
					m.active[d.Incident]++
				}
			}
			m.alerts[a.ID] = memAlert{incident: d.Incident, lastUpdate: a.LastUpdateDateTime, resolved: resolved}
			full[d.Incident] = true
		}
		d.Reasons = realIDs(d.Reasons, real)
		out[i] = d
		m.Explained[a.ID] = d
		for _, ev := range a.Evidence {
			if ev.Entity == nil || ev.Entity.Key == "" || m.hostSeen[ev.Entity.Key] {
				continue
			}
			k := ev.Entity.Key
			m.hostSeen[k] = true
			if n := m.hostName(k); n.ok {
				l := n.label
				if !slices.Contains(m.hosts[l], k) {
					m.hosts[l] = append(m.hosts[l], k)
				}
			}
		}
	}
	for _, seen := range p.Sightings {
		inc := id(seen.IncidentID)
		byInc := m.sightings[seen.Key]
		if byInc == nil {
			byInc = map[int64]*Seen{}
			m.sightings[seen.Key] = byInc
		}
		cur := byInc[inc]
		if cur == nil {
			c := *seen
			c.IncidentID = inc
			byInc[inc] = &c
			m.incKeys[inc] = append(m.incKeys[inc], seen.Key)
			continue
		}
		mergeSeen(cur, seen)
	}
	for _, row := range p.Aliases { // final values: replace
		list := m.aliases[row.Of]
		if i := slices.IndexFunc(list, func(al Alias) bool { return al.Key == row.Key }); i >= 0 {
			list[i] = row.Alias
		} else {
			m.aliases[row.Of] = append(list, row.Alias)
		}
	}
	for _, b := range p.Buckets {
		byDet := m.buckets[b.Anchor]
		if byDet == nil {
			byDet = map[string]map[int64]bool{}
			m.buckets[b.Anchor] = byDet
		}
		if byDet[b.Detector] == nil {
			byDet[b.Detector] = map[int64]bool{}
		}
		byDet[b.Detector][b.Bucket] = true
	}
	for _, rr := range p.Activity {
		inc := id(rr.Incident)
		if m.activity[inc] == nil {
			m.activity[inc] = map[int64]int{}
		}
		m.activity[inc][rr.Bucket] += rr.Notable
	}
	for _, rr := range p.Recent {
		byKey := m.recent[rr.Detector]
		if byKey == nil {
			byKey = map[domain.EntityKey]Hit{}
			m.recent[rr.Detector] = byKey
		}
		h := Hit{Inc: id(rr.Inc), At: rr.At}
		if cur, ok := byKey[rr.Key]; ok && cur.At.After(h.At) {
			h.At = cur.At
		}
		byKey[rr.Key] = h
	}
	// As ingest does for incidents it re-derives: every alert resolved by
	// its provider resolves the incident.
	for inc := range full {
		if in := m.incidents[inc]; in != nil && in.Status.Open() && in.Alerts > 0 && m.active[inc] <= 0 {
			in.Status = domain.IncidentResolved
		}
	}
	return out
}

// realIDs rewrites provisional incident ids in reasons ("incident -3",
// "into -3") to the ids they were given. It reads each number whole, so
// -3 never rewrites part of -30, and leaves reasons without one as they are.
func realIDs(reasons []string, real map[int64]int64) []string {
	if len(real) == 0 {
		return reasons
	}
	var out []string
	for i, r := range reasons {
		if !strings.Contains(r, "incident -") && !strings.Contains(r, "into -") {
			continue
		}
		if out == nil {
			out = slices.Clone(reasons)
		}
		for _, prefix := range []string{"incident -", "into -"} {
			out[i] = rewriteRefs(out[i], prefix, real)
		}
	}
	if out == nil {
		return reasons
	}
	return out
}

// rewriteRefs replaces each prefix+N in r whose -N real maps.
func rewriteRefs(r, prefix string, real map[int64]int64) string {
	var b strings.Builder
	for {
		i := strings.Index(r, prefix)
		if i < 0 {
			if b.Len() == 0 {
				return r
			}
			b.WriteString(r)
			return b.String()
		}
		j := i + len(prefix)
		for j < len(r) && r[j] >= '0' && r[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(r[i+len(prefix):j], 10, 64)
		id, ok := real[-n]
		b.WriteString(r[:i])
		if err == nil && ok {
			b.WriteString(prefix[:len(prefix)-1] + strconv.FormatInt(id, 10))
		} else {
			b.WriteString(r[i:j])
		}
		r = r[j:]
	}
}

func mergeSeen(dst, src *Seen) {
	mergeStory(dst, src)
	dst.Verdict = domain.StrongerVerdict(dst.Verdict, src.Verdict)
	if src.LastSeen.After(dst.LastSeen) {
		dst.LastSeen = src.LastSeen
	}
	if src.LastNotable.After(dst.LastNotable) {
		dst.LastNotable = src.LastNotable
	}
}

// merge moves src's sightings, hits and counters to target (the store's
// mergeIncidents).
func (m *Memory) merge(target, src int64) {
	for _, k := range m.incKeys[src] {
		byInc := m.sightings[k]
		seen := byInc[src]
		if seen == nil {
			continue
		}
		delete(byInc, src)
		if cur := byInc[target]; cur != nil {
			mergeSeen(cur, seen)
		} else {
			seen.IncidentID = target
			byInc[target] = seen
			m.incKeys[target] = append(m.incKeys[target], k)
		}
	}
	delete(m.incKeys, src)
	for _, byKey := range m.recent {
		for k, h := range byKey {
			if h.Inc == src {
				byKey[k] = Hit{Inc: target, At: h.At}
			}
		}
	}
	if acts := m.activity[src]; acts != nil {
		if m.activity[target] == nil {
			m.activity[target] = map[int64]int{}
		}
		for bk, n := range acts {
			m.activity[target][bk] += n
		}
		delete(m.activity, src)
	}
	m.active[target] += m.active[src]
	delete(m.active, src)
}
