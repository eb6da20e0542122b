package correlate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// The engine: Run places a batch of alerts given the correlation state the
// batch can touch, and returns a Plan — which incidents to open, where each
// alert goes, which incidents merge and why, and the state rows to write.
// It reads no database and no clock. The store loads a State inside its
// transaction (every open incident's sightings of the batch's entity keys,
// the detectors' recent hits and buckets, the storm counters, the routine
// incidents) and applies the Plan; Memory keeps a whole State in memory for
// plan mode and `starter correlate`.

// Outcome says what ingesting an alert did.
type Outcome string

// Outcomes.
const (
	Created   Outcome = "created"   // a new alert
	Updated   Outcome = "updated"   // a newer version of a known alert
	Unchanged Outcome = "unchanged" // the same or an older version: ignored
)

// Seen is an incident's sighting of an entity with its strongest verdict.
type Seen struct {
	Sighting
	Key     domain.EntityKey
	Verdict domain.Verdict
}

// IncKey names one (incident, entity) sighting.
type IncKey struct {
	Inc int64
	Key domain.EntityKey
}

// Profile is a detector on an anchor entity (routine-noise tracking).
type Profile struct {
	Anchor   domain.EntityKey
	Detector string
}

// Hit is a detector's last notable alert on an entity (campaign tracking).
type Hit struct {
	Inc int64
	At  time.Time
}

// Prev is what the state knows of an alert already stored.
type Prev struct {
	Incident   int64
	LastUpdate time.Time
}

// Incident is what correlation knows of an incident.
type Incident struct {
	ID                                        int64
	Status                                    domain.IncidentStatus
	AssignedTo, Classification, Determination string
	Alerts                                    int
	First, Last                               time.Time
	RoutineKey                                string // non-empty: an entity's recurring-noise incident
	Categories                                []string
	MaxTactic                                 int
	Redirect                                  int64
}

func (in *Incident) mergeSide() MergeSide {
	return MergeSide{Status: in.Status, AssignedTo: in.AssignedTo, Classification: in.Classification, Determination: in.Determination}
}

// State is the correlation state a batch can touch. The loader fills the
// exported maps (Add* helpers keep them consistent); Run updates them as it
// places alerts, so that each alert sees the ones before it.
type State struct {
	Existing  map[string]Prev
	Incidents map[int64]*Incident
	// Known holds every open incident's sighting of the batch's keys; ByKey
	// and OpenN only the candidates (not routine incidents, seen within the
	// window before the batch's first alert).
	Known    map[IncKey]*Seen
	ByKey    map[domain.EntityKey][]*Seen
	OpenN    map[domain.EntityKey]int
	Buckets  map[Profile]map[int64]bool
	Recent   map[string]map[domain.EntityKey]Hit
	Routine  map[string]int64 // routine key → its open incident (absent or 0: none)
	Activity map[int64]map[int64]int
	// Aliases: a key also finds the sightings of these keys and, through
	// them, of its whole identity (aliases.go): an FQDN its unique short
	// host name (UnifyHosts), a Defender device id the FQDN an alert named
	// with it, a UPN its SID. LoadAliases and AddAlias fill it.
	Aliases map[domain.EntityKey][]Alias

	lastRef int64 // provisional ids of new incidents: -1, -2, …

	// Scratch buffers of place, reused from alert to alert.
	cands  []cand
	plain  []Candidate
	others []domain.EntityKey
	idBuf  []identityKey
	// routineWindow is the routine window in words, for reasons.
	routineWindow string
	// counted caches bucketsBefore per profile for one pair of first and
	// current buckets; AddBucket drops a profile's entry.
	counted map[Profile]bucketCount
	// oneIdentity's.
	partners, reached []domain.EntityKey
	// keys and verdicts of the alert record is noting.
	recKeys     []domain.EntityKey
	recVerdicts []domain.Verdict
	// The batch's alias pairs, read once by AliasFrontier (alertPairs),
	// and the index of the alert Run is placing (-1: none).
	pairAlerts []*domain.Alert
	pairs      [][]AliasRow
	namesMemo  *namesMemo // nil: entity.Names each time
	noise      noiseNames // NoiseKey's answers
	placing    int

	dirtySight  map[IncKey]bool
	dirtyAlias  map[[2]domain.EntityKey]bool
	newBuckets  map[Profile]map[int64]bool
	dirtyRecent map[string]map[domain.EntityKey]bool
	newAct      map[int64]map[int64]int
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Existing: map[string]Prev{}, Incidents: map[int64]*Incident{}, Known: map[IncKey]*Seen{},
		ByKey: map[domain.EntityKey][]*Seen{}, OpenN: map[domain.EntityKey]int{}, Buckets: map[Profile]map[int64]bool{},
		Recent: map[string]map[domain.EntityKey]Hit{}, Routine: map[string]int64{}, Activity: map[int64]map[int64]int{},
		Aliases: map[domain.EntityKey][]Alias{}, noise: noiseNames{}, placing: -1}
}

// AddSighting records an open incident's sighting; candidate says whether
// it may link (not a routine incident, within the window).
func (s *State) AddSighting(seen *Seen, candidate bool) {
	s.Known[IncKey{seen.IncidentID, seen.Key}] = seen
	if candidate {
		s.ByKey[seen.Key] = append(s.ByKey[seen.Key], seen)
		s.OpenN[seen.Key]++
	}
}

// AddBucket records that a detector fired on an anchor in a bucket.
func (s *State) AddBucket(p Profile, bucket int64) {
	delete(s.counted, p)
	m := s.Buckets[p]
	if m == nil {
		m = map[int64]bool{}
		s.Buckets[p] = m
	}
	m[bucket] = true
}

// AddRecent records a detector's last notable hit on an entity.
func (s *State) AddRecent(detector string, key domain.EntityKey, h Hit) {
	m := s.Recent[detector]
	if m == nil {
		m = map[domain.EntityKey]Hit{}
		s.Recent[detector] = m
	}
	m[key] = h
}

// AddActivity adds notable alerts of an incident in a storm bucket.
func (s *State) AddActivity(inc, bucket int64, n int) {
	if s.Activity[inc] == nil {
		s.Activity[inc] = map[int64]int{}
	}
	s.Activity[inc][bucket] += n
}

// AllKeys returns an alert's distinct entity keys in evidence order.
func AllKeys(a *domain.Alert) []domain.EntityKey {
	var keys []domain.EntityKey
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key != "" && !slices.Contains(keys, ev.Entity.Key) {
			keys = append(keys, ev.Entity.Key)
		}
	}
	return keys
}

// Merge is one incident merged into another, and why.
type Merge struct {
	Target, Source int64
	Why            string
}

// Decision is where one alert goes and why.
type Decision struct {
	AlertID string
	Outcome Outcome
	// Incident is the incident the alert joined (a provisional id < 0 for
	// one opened by this plan); later merges of the plan may redirect it.
	Incident    int64
	NewIncident bool
	// RoutineKey and Anchor name a new recurring-noise incident; Flood
	// says it is one flooding detector's (FloodBuckets).
	RoutineKey string
	Anchor     domain.EntityKey
	Flood      bool
	Routine    bool // the alert is routine noise on its anchor
	Merges     []Merge
	Refused    []Merge
	// NewKeys are the entity keys the incident did not have; NewMalicious
	// counts keys that became malicious in it; NewTactic: a category it did
	// not have.
	NewKeys      []domain.EntityKey
	NewMalicious int
	NewTactic    bool
	// Reasons explain the decision in an analyst's words.
	Reasons []string
}

// Plan is the outcome of Run.
type Plan struct {
	Decisions []Decision // one per alert, in order
	// Created lists the provisional ids of the incidents to open, in the
	// order they were opened (Decisions say with which alert).
	Created []int64
	// Rows to write, final (after every merge of the plan).
	Sightings []*Seen
	Buckets   []BucketRow
	Recent    []RecentRow
	Activity  []ActivityRow
	// Aliases are the alias pairs the batch's evidence named, both
	// directions, with their times widened by what was known.
	Aliases []AliasRow
}

// BucketRow, RecentRow and ActivityRow are state rows to write.
type BucketRow struct {
	Profile
	Bucket int64
}
type RecentRow struct {
	Detector string
	Key      domain.EntityKey
	Hit
}
type ActivityRow struct {
	Incident, Bucket int64
	Notable          int
}

// Final follows merges from an incident to the one that holds its alerts.
func (s *State) Final(id int64) int64 {
	for hops := 0; hops < 100; hops++ {
		in, ok := s.Incidents[id]
		if !ok || in.Status != domain.IncidentRedirected || in.Redirect == 0 {
			return id
		}
		id = in.Redirect
	}
	return id
}

func (s *State) incident(id int64) (*Incident, error) {
	for hops := 0; hops < 100; hops++ {
		in, ok := s.Incidents[id]
		if !ok {
			return nil, fmt.Errorf("incident %d is not in the correlation state", id)
		}
		if in.Status != domain.IncidentRedirected || in.Redirect == 0 {
			return in, nil
		}
		id = in.Redirect
	}
	return nil, fmt.Errorf("incident %d: redirect loop", id)
}

func (r Rules) usable(in *Incident) bool {
	return in.Status.Open() && (r.MaxAlerts <= 0 || in.Alerts < r.MaxAlerts)
}

// Run places the alerts in order. The state is updated as it goes (it is
// the engine's working copy, not stored anywhere by Run).
func (r Rules) Run(s *State, alerts []*domain.Alert) (*Plan, error) {
	s.dirtySight, s.newBuckets = map[IncKey]bool{}, map[Profile]map[int64]bool{}
	s.dirtyAlias = map[[2]domain.EntityKey]bool{}
	s.dirtyRecent, s.newAct = map[string]map[domain.EntityKey]bool{}, map[int64]map[int64]int{}
	p := &Plan{Decisions: make([]Decision, 0, len(alerts))}
	defer func() { s.placing = -1 }()
	clear(s.counted) // Buckets may have been filled directly since

	for i, a := range alerts {
		s.placing = i
		d, err := r.place(s, p, a)
		if err != nil {
			return nil, fmt.Errorf("correlate alert %q: %w", a.ID, err)
		}
		p.Decisions = append(p.Decisions, d)
	}
	r.rows(s, p)
	s.aliasRows(p)
	return p, nil
}

func (r Rules) place(s *State, p *Plan, a *domain.Alert) (Decision, error) {
	d := Decision{AlertID: a.ID}
	if prev, ok := s.Existing[a.ID]; ok {
		in, err := s.incident(prev.Incident)
		if err != nil {
			return d, err
		}
		d.Incident = in.ID
		if !a.LastUpdateDateTime.After(prev.LastUpdate) {
			d.Outcome = Unchanged
			d.Reasons = append(d.Reasons, "already stored in this or a newer version")
			return d, nil
		}
		d.Outcome = Updated
		s.recordAliases(a)
		d.Reasons = append(d.Reasons, fmt.Sprintf("newer version of an alert of incident %d", in.ID))
		s.Existing[a.ID] = Prev{Incident: in.ID, LastUpdate: a.LastUpdateDateTime}
		s.record(a, in, &d, false)
		return d, nil
	}

	d.Outcome = Created
	t := a.ActivityTime().UTC()
	// Before linking: the alert that names an MDE id and an FQDN together
	// is the one that joins their incidents.
	s.recordAliases(a)
	links := r.LinkKeys(a, func(k domain.EntityKey) int { return s.OpenN[k] })
	anchor := Anchor(a, links)
	det := Detector(a)
	routine, before := false, 0
	if anchor != "" {
		before = s.bucketsBefore(r, Profile{anchor, det}, t)
		routine = r.Routine(before)
	}
	if routine {
		if s.routineWindow == "" {
			s.routineWindow = r.RoutineWindowOrDefault().String()
		}
		// fmt's "routine: %q fired on %s in %d earlier 10-minute buckets within %s", without fmt.
		d.Reasons = append(d.Reasons, "routine: "+strconv.Quote(det)+" fired on "+string(anchor)+" in "+
			strconv.Itoa(before)+" earlier 10-minute buckets within "+s.routineWindow)
	}
	d.Routine = routine

	// Candidates, each with the reason it was found for (the first one)
	// and how an alias led to it (the first alias chain in words). Reasons
	// are written only for the candidates they describe.
	cands := s.cands[:0]
	defer func() { s.cands = cands[:0] }()
	// candidate resolves id and says whether it becomes a new candidate
	// (usable, not a noise incident, not one already), and which one it is
	// (-1: none).
	candidate := func(id int64) (*Incident, int, bool, error) {
		in, err := s.incident(id)
		if err != nil {
			return nil, -1, false, err
		}
		if !r.usable(in) || in.RoutineKey != "" {
			return in, -1, false, nil
		}
		for i := range cands {
			if cands[i].IncidentID == in.ID {
				return in, i, false, nil
			}
		}
		return in, -1, true, nil
	}
	rank := TacticRank(a.Category)
	for _, k := range links {
		ids := s.identity(r, k, t)
		direct := s.ByKey[k]
		for j, n := -1, 0; ; n++ {
			// The key's own sightings, then each identity key's.
			for n >= len(direct) {
				j, n = j+1, 0
				if j >= len(ids) {
					break
				}
				direct = s.ByKey[ids[j].Key]
			}
			if j >= len(ids) {
				break
			}
			seen := direct[n]
			in, err := s.incident(seen.IncidentID)
			if err != nil {
				return d, err
			}
			adv := RankAdvances(rank, in.MaxTactic)
			hasVia := j >= 0 && ids[j].hasVia
			kind := r.link(s, a, k, seen, !hasVia, in, t, routine, adv) // story.go
			if kind == noLink {
				continue
			}
			c, at, add, err := candidate(in.ID)
			if err != nil {
				return d, err
			}
			if add {
				reason := kind.reason(routine, k, seen, a, t, in.MaxTactic)
				nc := cand{Candidate: Candidate{IncidentID: c.ID, Alerts: c.Alerts}}
				if hasVia {
					nc.via = via(ids, j)
					nc.why = fmt.Sprintf("%s, as %s (%s)", reason, seen.Key, nc.via)
				} else {
					nc.why = reason
				}
				cands = append(cands, nc)
			} else if hasVia && at >= 0 && cands[at].via == "" {
				cands[at].via = via(ids, j)
			}
		}
	}
	// Campaigns need a named detection rule: titles such as "Malware
	// detected" are shared by unrelated detections.
	campaign := strings.TrimSpace(a.DetectorID)
	if burst := r.BurstOrDefault(); !routine && burst > 0 && anchor != "" && campaign != "" {
		hits := s.Recent[campaign]
		others := s.others[:0]
		for other, hit := range hits {
			if other != anchor && absDur(t.Sub(hit.At)) <= burst {
				others = append(others, other)
			}
		}
		slices.Sort(others) // map order must not decide the reasons' order
		for _, other := range others {
			hit := hits[other]
			c, _, add, err := candidate(hit.Inc)
			if err != nil {
				return d, err
			}
			if add {
				cands = append(cands, cand{Candidate: Candidate{IncidentID: c.ID, Alerts: c.Alerts},
					why: fmt.Sprintf("campaign: detector %q fired on %s %s apart", campaign, other, absDur(t.Sub(hit.At)))})
			}
		}
		s.others = others[:0]
	}
	if len(cands) == 0 && !routine && r.StormGapOrDefault() > 0 {
		from, to := r.StormWindow(t)
		var best *Incident
		bestN := 0
		for id, acts := range s.Activity {
			n := 0
			for bk, c := range acts {
				if bk >= from && bk <= to {
					n += c
				}
			}
			if !r.Storm(n) {
				continue
			}
			in, err := s.incident(id)
			if err != nil {
				return d, err
			}
			if !r.usable(in) || in.RoutineKey != "" {
				continue
			}
			if best == nil || n > bestN || n == bestN && cmpID(in.ID, best.ID) < 0 {
				best, bestN = in, n
			}
		}
		if best != nil {
			cands = append(cands, cand{Candidate: Candidate{IncidentID: best.ID, Alerts: best.Alerts},
				why: fmt.Sprintf("attack under way: incident %d has %d notable alerts within %s and nothing else links",
					best.ID, bestN, r.StormGapOrDefault())})
		}
	}

	var target *Incident
	if len(cands) > 0 {
		slices.SortFunc(cands, func(x, y cand) int { return cmpID(x.IncidentID, y.IncidentID) })
		plain := s.plain[:0]
		for _, c := range cands {
			plain = append(plain, c.Candidate)
		}
		s.plain = plain[:0]
		id, others := Choose(plain)
		in, err := s.incident(id)
		if err != nil {
			return d, err
		}
		target = in
		whyOf := func(id int64) *cand {
			for i := range cands {
				if cands[i].IncidentID == id {
					return &cands[i]
				}
			}
			return &cand{}
		}
		tc := whyOf(in.ID)
		d.Reasons = append(d.Reasons, "joined incident "+strconv.FormatInt(in.ID, 10)+": "+tc.why)
		for _, o := range others {
			src, err := s.incident(o)
			if err != nil {
				return d, err
			}
			if src.ID == target.ID {
				continue
			}
			sc := whyOf(src.ID)
			ok, no := CanMerge(target.mergeSide(), src.mergeSide())
			if !ok {
				d.Refused = append(d.Refused, Merge{Target: target.ID, Source: src.ID,
					Why: fmt.Sprintf("alert %s links incident %d: %s", a.ID, src.ID, no)})
				d.Reasons = append(d.Reasons, fmt.Sprintf("also links incident %d (%s), not merged: %s", src.ID, sc.why, no))
				continue
			}
			// The smaller is the source (Choose picked the biggest as target).
			mw := "alert " + a.ID + " links both"
			if v := joinVia(sc.via, tc.via); v != "" {
				mw += ": " + v
			}
			d.Merges = append(d.Merges, Merge{Target: target.ID, Source: src.ID, Why: mw})
			d.Reasons = append(d.Reasons, fmt.Sprintf("merged incident %d into %d: %s", src.ID, target.ID, sc.why))
			s.merge(target, src)
		}
	}
	newInc := false
	if target == nil && routine {
		flood := before >= FloodBuckets
		rk := s.noise.key(anchor, a.ProductName, "")
		if flood {
			rk = s.noise.key(anchor, a.ProductName, det)
		}
		if id := s.Routine[rk]; id != 0 {
			in, err := s.incident(id)
			if err != nil {
				return d, err
			}
			// Within the noise incident's span, widened by the gap: alerts
			// arrive out of order when sensors deliver late.
			gap := r.RoutineGapOrDefault()
			if r.usable(in) && !t.Before(in.First.Add(-gap)) && !t.After(in.Last.Add(gap)) {
				target = in
				d.Reasons = append(d.Reasons, "joined the recurring-noise incident "+strconv.FormatInt(in.ID, 10)+" of "+string(anchor))
			}
		}
		if target == nil && campaign != "" {
			// A detector firing on another entity's noise within the burst
			// (two sensors seeing the same traffic): that noise is this one.
			if partner := r.noisePartners(s, anchor, campaign, t); len(partner) > 0 {
				target = partner[0].in
				s.Routine[rk] = target.ID
				d.Reasons = append(d.Reasons, "joined the recurring-noise incident "+strconv.FormatInt(target.ID, 10)+": "+partner[0].why)
			}
		}
		if target == nil {
			target, newInc = s.create(p, t, rk), true
			s.Routine[rk] = target.ID
			d.RoutineKey, d.Anchor, d.Flood = rk, anchor, flood
			if flood {
				d.Reasons = append(d.Reasons, fmt.Sprintf("opened a recurring-noise incident for %q on %s: it floods it (%d buckets)", det, anchor, before))
			} else {
				d.Reasons = append(d.Reasons, fmt.Sprintf("opened a recurring-noise incident for %s", anchor))
			}
		}
	}
	if target == nil {
		target, newInc = s.create(p, t, ""), true
		if len(links) == 0 {
			d.Reasons = append(d.Reasons, "opened a new incident: no entity that links")
		} else {
			d.Reasons = append(d.Reasons, "opened a new incident: no open incident saw "+joinKeys(links)+" close enough in time")
		}
	}
	if routine && !newInc && target.RoutineKey != "" && campaign != "" {
		target = r.noiseCampaign(s, &d, target, anchor, campaign, t)
	}
	d.Incident, d.NewIncident = target.ID, newInc
	s.Existing[a.ID] = Prev{Incident: target.ID, LastUpdate: a.LastUpdateDateTime}
	s.record(a, target, &d, !routine)
	target.Alerts++
	if !routine && r.StormGapOrDefault() > 0 {
		bk := r.Bucket(t)
		s.AddActivity(target.ID, bk, 1)
		if s.newAct[target.ID] == nil {
			s.newAct[target.ID] = map[int64]int{}
		}
		s.newAct[target.ID][bk]++
	}
	if anchor != "" {
		pk := Profile{anchor, det}
		bk := r.Bucket(t)
		if !s.Buckets[pk][bk] {
			s.AddBucket(pk, bk)
			if s.newBuckets[pk] == nil {
				s.newBuckets[pk] = map[int64]bool{}
			}
			s.newBuckets[pk][bk] = true
		}
		if campaign != "" && routine && target.RoutineKey != "" && r.BurstOrDefault() > 0 {
			nk := NoiseDetector(campaign)
			if h, ok := s.Recent[nk][anchor]; !ok || !t.Before(h.At) || h.Inc != target.ID {
				s.AddRecent(nk, anchor, Hit{Inc: target.ID, At: t})
				s.markRecent(nk, anchor)
			}
		}
		if campaign != "" && !routine && r.BurstOrDefault() > 0 {
			if h, ok := s.Recent[campaign][anchor]; !ok || !t.Before(h.At) || h.Inc != target.ID {
				s.AddRecent(campaign, anchor, Hit{Inc: target.ID, At: t})
				s.markRecent(campaign, anchor)
			}
		}
	}
	return d, nil
}

// NoiseDetector is the name under which a detector's routine hits are
// remembered for noise campaigns, apart from its notable hits.
func NoiseDetector(detector string) string { return "noise:" + detector }

// noisePartner is another entity's open recurring-noise incident where
// the same detection rule fired within the burst, and why it is one.
type noisePartner struct {
	in  *Incident
	why string
}

// noisePartners lists, by entity, the open recurring-noise incidents of
// other entities where the detection rule fired within the burst of t: two
// sensors seeing the same traffic, one detector on many hosts at once.
func (r Rules) noisePartners(s *State, anchor domain.EntityKey, campaign string, t time.Time) []noisePartner {
	burst := r.BurstOrDefault()
	if burst <= 0 {
		return nil
	}
	hits := s.Recent[NoiseDetector(campaign)]
	var out []noisePartner
	for other, hit := range hits {
		if other == anchor || absDur(t.Sub(hit.At)) > burst {
			continue
		}
		in, err := s.incident(hit.Inc)
		if err != nil || !r.usable(in) || in.RoutineKey == "" {
			continue
		}
		out = append(out, noisePartner{in, "noise campaign: detector " + strconv.Quote(campaign) + " fired on " +
			string(other) + " " + absDur(t.Sub(hit.At)).String() + " apart"})
	}
	// Map order must not decide: the oldest incident first.
	slices.SortFunc(out, func(x, y noisePartner) int { return cmpID(x.in.ID, y.in.ID) })
	return out
}

// noiseCampaign merges the alert's recurring-noise incident (an existing
// one) with its noise partners, the smaller into the bigger, and returns
// the incident the alert is in afterwards.
func (r Rules) noiseCampaign(s *State, d *Decision, target *Incident, anchor domain.EntityKey, campaign string, t time.Time) *Incident {
	for _, p := range r.noisePartners(s, anchor, campaign, t) {
		src, _ := s.incident(p.in.ID) // an earlier merge may have redirected it
		if src == nil || src.ID == target.ID || !r.usable(src) {
			continue
		}
		into, from := target, src
		if from.Alerts > into.Alerts || from.Alerts == into.Alerts && cmpID(from.ID, into.ID) < 0 {
			into, from = from, into
		}
		if ok, _ := CanMerge(into.mergeSide(), from.mergeSide()); !ok {
			continue
		}
		d.Merges = append(d.Merges, Merge{Target: into.ID, Source: from.ID, Why: p.why})
		d.Reasons = append(d.Reasons, fmt.Sprintf("merged recurring-noise incident %d into %d: %s", from.ID, into.ID, p.why))
		s.merge(into, from)
		target = into
	}
	return target
}

// cand is a candidate incident, the reason it was found for and how an
// alias led to it ("" for none).
type cand struct {
	Candidate
	why, via string
}

// cmpID orders incident ids by age: stored ones by id, then the ones a
// plan opens (provisional ids -1, -2, …) in the order it opened them.
func cmpID(x, y int64) int {
	x, y = idOrder(x), idOrder(y)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func idOrder(id int64) int64 {
	if id < 0 {
		return math.MaxInt64/2 - id
	}
	return id
}

func joinKeys(keys []domain.EntityKey) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func (s *State) markRecent(det string, k domain.EntityKey) {
	if s.dirtyRecent[det] == nil {
		s.dirtyRecent[det] = map[domain.EntityKey]bool{}
	}
	s.dirtyRecent[det][k] = true
}

// create opens an incident with a provisional id.
func (s *State) create(p *Plan, t time.Time, routineKey string) *Incident {
	s.lastRef--
	in := &Incident{ID: s.lastRef, Status: domain.IncidentActive, Classification: "unknown", Determination: "unknown",
		First: t, Last: t, RoutineKey: routineKey}
	s.Incidents[in.ID] = in
	p.Created = append(p.Created, in.ID)
	return in
}

// bucketsBefore counts the distinct buckets of a profile that precede t's
// bucket within the routine window.
func (s *State) bucketsBefore(r Rules, pk Profile, t time.Time) int {
	first, cur := r.FirstBucket(t), r.Bucket(t)
	if c, ok := s.counted[pk]; ok && c.first == first && c.cur == cur {
		return c.n
	}
	n := 0
	for bk := range s.Buckets[pk] {
		if bk >= first && bk < cur {
			n++
		}
	}
	if s.counted == nil {
		s.counted = map[Profile]bucketCount{}
	}
	s.counted[pk] = bucketCount{first, cur, n}
	return n
}

// bucketCount is what bucketsBefore counted for a profile between two
// buckets.
type bucketCount struct {
	first, cur int64
	n          int
}

// record notes the alert's entities against its incident.
func (s *State) record(a *domain.Alert, in *Incident, d *Decision, notable bool) {
	t := a.ActivityTime().UTC()
	if a.Category != "" && !slices.Contains(in.Categories, a.Category) {
		d.NewTactic = true
	}
	// The alert's keys in evidence order, each with its strongest verdict.
	order, verdicts := s.recKeys[:0], s.recVerdicts[:0]
	for _, ev := range a.Evidence {
		e := ev.Entity
		if e == nil || e.Key == "" {
			continue
		}
		if i := slices.Index(order, e.Key); i >= 0 {
			verdicts[i] = domain.StrongerVerdict(verdicts[i], OrUnknown(e.Verdict))
			continue
		}
		order = append(order, e.Key)
		verdicts = append(verdicts, domain.StrongerVerdict("", OrUnknown(e.Verdict)))
	}
	host := AlertHost(a)
	s.recKeys, s.recVerdicts = order[:0], verdicts[:0]
	for i, k := range order {
		v := verdicts[i]
		ik := IncKey{in.ID, k}
		seen, ok := s.Known[ik]
		if !ok {
			d.NewKeys = append(d.NewKeys, k)
			seen = &Seen{Key: k, Verdict: v, Sighting: Sighting{IncidentID: in.ID, LastSeen: t}}
			s.AddSighting(seen, in.RoutineKey == "")
			if v == domain.VerdictMalicious {
				d.NewMalicious++
			}
		} else {
			if v == domain.VerdictMalicious && seen.Verdict != domain.VerdictMalicious {
				d.NewMalicious++
			}
			seen.Verdict = domain.StrongerVerdict(seen.Verdict, v)
			if t.After(seen.LastSeen) {
				seen.LastSeen = t
			}
		}
		if notable && t.After(seen.LastNotable) {
			seen.LastNotable = t
		}
		noteStory(seen, host, KeyRole(a, k), t)
		s.dirtySight[ik] = true
	}
	if in.Alerts == 0 && in.First.IsZero() || t.Before(in.First) {
		in.First = t
	}
	if t.After(in.Last) {
		in.Last = t
	}
	if a.Category != "" && !slices.Contains(in.Categories, a.Category) {
		in.Categories = append(in.Categories, a.Category)
		slices.Sort(in.Categories)
	}
	in.MaxTactic = max(in.MaxTactic, TacticRank(a.Category))
}

// OrUnknown maps an empty verdict to unknown.
func OrUnknown(v domain.Verdict) domain.Verdict {
	if v == "" {
		return domain.VerdictUnknown
	}
	return v
}

// merge moves the source's sightings, campaign hits, alerts and storm
// counters to the target in the state.
func (s *State) merge(target, src *Incident) {
	for k, seen := range s.Known {
		if k.Inc != src.ID {
			continue
		}
		delete(s.Known, k)
		tk := IncKey{target.ID, k.Key}
		if ts, ok := s.Known[tk]; ok {
			mergeStory(ts, seen)
			if seen.LastSeen.After(ts.LastSeen) {
				ts.LastSeen = seen.LastSeen
			}
			if seen.LastNotable.After(ts.LastNotable) {
				ts.LastNotable = seen.LastNotable
			}
			ts.Verdict = domain.StrongerVerdict(ts.Verdict, seen.Verdict)
			seen.IncidentID = 0 // dead: dropped from ByKey below
		} else {
			seen.IncidentID = target.ID
			s.Known[tk] = seen
		}
		if s.dirtySight[k] {
			delete(s.dirtySight, k)
			s.dirtySight[tk] = true
		}
	}
	for k, list := range s.ByKey {
		out := list[:0]
		for _, seen := range list {
			if seen.IncidentID != 0 {
				out = append(out, seen)
			}
		}
		s.ByKey[k] = out
	}
	for det, m := range s.Recent {
		for k, h := range m {
			if h.Inc == src.ID {
				m[k] = Hit{Inc: target.ID, At: h.At}
				s.markRecent(det, k)
			}
		}
	}
	for id, p := range s.Existing {
		if p.Incident == src.ID {
			s.Existing[id] = Prev{Incident: target.ID, LastUpdate: p.LastUpdate}
		}
	}
	if acts := s.Activity[src.ID]; acts != nil {
		for bk, n := range acts {
			s.AddActivity(target.ID, bk, n)
		}
		delete(s.Activity, src.ID)
	}
	if acts := s.newAct[src.ID]; acts != nil {
		if s.newAct[target.ID] == nil {
			s.newAct[target.ID] = map[int64]int{}
		}
		for bk, n := range acts {
			s.newAct[target.ID][bk] += n
		}
		delete(s.newAct, src.ID)
	}
	target.Alerts += src.Alerts
	for _, c := range src.Categories {
		if !slices.Contains(target.Categories, c) {
			target.Categories = append(target.Categories, c)
		}
	}
	slices.Sort(target.Categories)
	target.MaxTactic = max(target.MaxTactic, src.MaxTactic)
	if !src.First.IsZero() && (target.First.IsZero() || src.First.Before(target.First)) {
		target.First = src.First
	}
	if src.Last.After(target.Last) {
		target.Last = src.Last
	}
	src.Status, src.Redirect = domain.IncidentRedirected, target.ID
}

// rows fills the plan's state rows from the dirty sets, in a stable order.
func (r Rules) rows(s *State, p *Plan) {
	for k := range s.dirtySight {
		seen := s.Known[k]
		if seen == nil || seen.IncidentID != k.Inc {
			continue
		}
		p.Sightings = append(p.Sightings, seen)
	}
	slices.SortFunc(p.Sightings, func(x, y *Seen) int {
		if c := cmpID(x.IncidentID, y.IncidentID); c != 0 {
			return c
		}
		return strings.Compare(string(x.Key), string(y.Key))
	})
	for pk, m := range s.newBuckets {
		for bk := range m {
			p.Buckets = append(p.Buckets, BucketRow{pk, bk})
		}
	}
	for inc, m := range s.newAct {
		for bk, n := range m {
			p.Activity = append(p.Activity, ActivityRow{inc, bk, n})
		}
	}
	slices.SortFunc(p.Activity, func(x, y ActivityRow) int {
		if c := cmpID(x.Incident, y.Incident); c != 0 {
			return c
		}
		return cmpID(x.Bucket, y.Bucket)
	})
	for det, m := range s.dirtyRecent {
		for k := range m {
			p.Recent = append(p.Recent, RecentRow{det, k, s.Recent[det][k]})
		}
	}
}
