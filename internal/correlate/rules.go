// Package correlate holds the decisions that place an alert in an incident,
// as pure functions over plain values: which entity keys may link, whether
// an alert is routine noise, whether a sighting is close enough in time,
// which candidate incident wins, whether two incidents may merge, what is a
// material change for the investigation, and the incident's priority score.
//
// The store (internal/store) gathers the facts inside its transaction and
// asks these functions; keeping them here, free of SQL and clocks, lets the
// rules be tested by table and explained in one place
// (docs/ingest-and-correlation.md).
//
// The rules, in the order they apply to a new alert:
//  1. Link keys: the alert's entity keys whose kind links (Rules.Kinds;
//     by default every kind but registry keys and cloud apps, which every
//     machine shares), minus the stop-list and minus keys already seen in
//     more than Rules.CommonAfter open incidents (too common to link on).
//     A link key also finds the sightings of its aliases: the other
//     identifiers of the same device or user (aliases.go).
//  2. Routine noise: a detector that keeps firing on the same entity in many
//     distinct time buckets (Rules.RoutineBuckets buckets of
//     Rules.RoutineBucket within Rules.RoutineWindow) is background noise.
//     A routine alert joins an incident only while that incident is hot on
//     the entity (a notable alert on it within Rules.HotGap); otherwise it
//     goes to the entity's recurring-noise incident (one per entity, closed
//     after Rules.RoutineGap of silence), so noise is counted in one place
//     and never pulls unrelated alerts together.
//  3. Time proximity: a notable alert joins an open incident that saw one of
//     its link keys within Rules.LinkGap — extended to Rules.Window when
//     the alert advances the incident's kill chain (a later MITRE tactic
//     than any the incident has), because attacks progress slowly and
//     noise does not progress at all. Pivots (story.go) also link: a key
//     that was the destination or target in an earlier incident and is
//     the source in a later alert on another host joins them within
//     Rules.Pivot — the attacker moved from there — but only in kill-chain
//     order, only for a key that was the target in one open incident, and
//     never for a key too common to link.
//  4. Campaigns: the same detection rule (detectorId; titles are too
//     generic) firing as a notable alert on different entities within
//     Rules.Burst (a scan, a spray, an outbreak) links them.
//  5. Attacks under way: a notable alert linked to nothing else joins a big
//     incident with notable activity within Rules.StormGap (time
//     proximity without a shared entity, only during a storm).
//  6. Caps: an incident with Rules.MaxAlerts alerts takes no more.
//  7. Several candidates: the alert joins the biggest (then the oldest);
//     the others merge into it where SPEC's merge rules allow.
package correlate

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/entity"
)

// Rules configure correlation. The zero value is the default.
type Rules struct {
	// Window bounds how far apart an alert and an incident's sighting of a
	// shared entity may ever be. 0 means 24 hours.
	Window time.Duration
	// LinkGap is the time proximity for a notable alert to join on a shared
	// entity when it does not advance the kill chain. 0 means 1 hour; set it
	// to Window for plain window correlation.
	LinkGap time.Duration
	// Kinds lists the entity kinds that link; empty means DefaultKinds.
	Kinds []domain.EntityKind
	// StopList lists entity keys that never link (a domain controller, a
	// scanner's address, a shared mailbox), written as keys
	// ("ip:10.0.0.53") or as a kind prefix ("ip:*").
	StopList []string
	// CommonAfter: a key seen in more than this many open incidents stops
	// linking. 0 means 25; negative disables.
	CommonAfter int
	// MaxAlerts caps an incident's alerts; once reached, new alerts open
	// another incident. 0 means no cap.
	MaxAlerts int
	// Burst is how close in time the same detector must fire on different
	// entities to link them as one campaign. 0 means 1 minute; negative
	// disables.
	Burst time.Duration
	// RoutineBucket, RoutineBuckets and RoutineWindow define routine noise:
	// a detector seen on an entity in at least RoutineBuckets distinct
	// buckets of RoutineBucket within RoutineWindow. Defaults: 10 minutes,
	// 3, 24 hours. RoutineBuckets < 0 disables routine detection.
	RoutineBucket  time.Duration
	RoutineBuckets int
	RoutineWindow  time.Duration
	// RoutineGap is how long after its last alert an entity's
	// recurring-noise incident still takes more noise; after a longer
	// silence the noise opens a new one. 0 means 1 hour (never more than
	// RoutineWindow).
	RoutineGap time.Duration
	// HotGap is how close to a notable alert on the same entity a routine
	// alert must be to join that alert's incident. 0 means 10 minutes.
	HotGap time.Duration
	// StormGap and StormAlerts define an attack under way: an open incident
	// with at least StormAlerts notable alerts within StormGap of an alert
	// (counted in routine buckets). A notable alert that links to nothing else joins the
	// biggest such incident: during a live attack, a first-time detection
	// on a neighbouring host (a CPU anomaly on the monitoring server while a
	// web server is being cracked) belongs to the story, not to a queue of
	// its own. Defaults: 40 minutes, 500; a negative StormGap disables.
	StormGap    time.Duration
	StormAlerts int
	// Pivot is how long after an incident saw a key as a destination or
	// target a later alert that has the same key as its source, on another
	// host and not earlier in the kill chain, still joins it (story.go):
	// the attacker moved from there. 0 means 24 hours (never more than
	// Window); negative disables.
	Pivot time.Duration
}

// DefaultKinds are the entity kinds that link by default: all but the ones
// every machine shares.
var DefaultKinds = []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindMailbox, domain.KindFile,
	domain.KindProcess, domain.KindIP, domain.KindURL, domain.KindMessage, entity.KindRegistryValue, entity.KindOAuthApp}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// WindowOrDefault returns the effective window.
func (r Rules) WindowOrDefault() time.Duration { return orDur(r.Window, 24*time.Hour) }

// LinkGapOrDefault returns the effective proximity gap, never above the window.
func (r Rules) LinkGapOrDefault() time.Duration {
	return min(orDur(r.LinkGap, time.Hour), r.WindowOrDefault())
}

// BurstOrDefault returns the campaign window; 0 when disabled.
func (r Rules) BurstOrDefault() time.Duration {
	if r.Burst < 0 {
		return 0
	}
	return orDur(r.Burst, time.Minute)
}

// HotGapOrDefault returns the effective hot gap.
func (r Rules) HotGapOrDefault() time.Duration { return orDur(r.HotGap, 10*time.Minute) }

// RoutineWindowOrDefault returns the look-back of routine detection.
func (r Rules) RoutineWindowOrDefault() time.Duration { return orDur(r.RoutineWindow, 24*time.Hour) }

// RoutineGapOrDefault returns the effective routine gap.
func (r Rules) RoutineGapOrDefault() time.Duration {
	return min(orDur(r.RoutineGap, time.Hour), r.RoutineWindowOrDefault())
}

func (r Rules) routineBucket() time.Duration { return orDur(r.RoutineBucket, 10*time.Minute) }

// Validate checks the settings and names the one at fault.
func (r Rules) Validate() error {
	switch {
	case r.Window < 0:
		return domain.Invalid("correlation.window", "must not be negative, got %s", r.Window)
	case r.LinkGap < 0:
		return domain.Invalid("correlation.linkGap", "must not be negative, got %s", r.LinkGap)
	case r.MaxAlerts < 0:
		return domain.Invalid("correlation.maxAlerts", "must not be negative, got %d", r.MaxAlerts)
	case r.RoutineBucket < 0 || r.RoutineWindow < 0 || r.RoutineGap < 0 || r.HotGap < 0:
		return domain.Invalid("correlation.routine", "durations must not be negative")
	}
	for _, s := range r.StopList {
		if _, _, ok := entity.Split(domain.EntityKey(s)); !ok {
			return domain.Invalid("correlation.stopList", "want entity keys such as ip:10.0.0.53 or ip:*, got %q", s)
		}
	}
	return nil
}

// Links reports whether keys of this kind may link alerts.
func (r Rules) Links(kind domain.EntityKind) bool {
	if len(r.Kinds) == 0 {
		return slices.Contains(DefaultKinds, kind)
	}
	return slices.Contains(r.Kinds, kind)
}

// Stopped reports whether the stop-list names the key or its kind.
func (r Rules) Stopped(key domain.EntityKey) bool {
	kind, _, _ := entity.Split(key)
	for _, s := range r.StopList {
		if s == string(key) || s == string(kind)+":*" {
			return true
		}
	}
	return false
}

// Common reports whether a key seen in n open incidents is too common to link.
func (r Rules) Common(n int) bool {
	switch {
	case r.CommonAfter < 0:
		return false
	case r.CommonAfter == 0:
		return n > 25
	default:
		return n > r.CommonAfter
	}
}

// LinkKeys returns the keys of a that may link, sorted and distinct, given
// how many open incidents each key is already in.
func (r Rules) LinkKeys(a *domain.Alert, openIncidents func(domain.EntityKey) int) []domain.EntityKey {
	var out []domain.EntityKey
	for _, ev := range a.Evidence {
		e := ev.Entity
		if e == nil || e.Key == "" || slices.Contains(out, e.Key) || !r.Links(e.Kind) || r.Stopped(e.Key) {
			continue
		}
		if openIncidents != nil && r.Common(openIncidents(e.Key)) {
			continue
		}
		out = append(out, e.Key)
	}
	slices.Sort(out)
	return out
}

// Anchor returns the entity a detector's routine is tracked on: the first
// device, else the first user, else the first link key; "" for none.
func Anchor(a *domain.Alert, links []domain.EntityKey) domain.EntityKey {
	for _, kind := range []domain.EntityKind{domain.KindDevice, domain.KindUser} {
		for _, ev := range a.Evidence {
			if ev.Entity != nil && ev.Entity.Kind == kind && slices.Contains(links, ev.Entity.Key) {
				return ev.Entity.Key
			}
		}
	}
	if len(links) > 0 {
		return links[0]
	}
	return ""
}

// Detector names what raised the alert: its detector id, else its title.
func Detector(a *domain.Alert) string {
	return strings.TrimSpace(firstNonEmpty(a.DetectorID, a.Title))
}

// NoiseKey names the recurring-noise incident of an entity's routine alerts
// from one product, or of one flooding detector (detector non-empty). A
// sensor's noise is triaged and tuned in that sensor, so each product's
// noise on an entity is an incident of its own: an IDS's alerts on a host
// do not bury the host agent's noise, nor the agent's relayed copies of
// them. A detector that floods the entity (FloodBuckets) is the one thing
// to tune there, so it gets an incident of its own. Alerts that name no
// product share the entity's key.
func NoiseKey(anchor domain.EntityKey, product, detector string) string {
	k := string(anchor)
	if product = strings.TrimSpace(product); product != "" {
		k += " from " + product
	}
	if detector != "" {
		k += ": " + detector
	}
	return k
}

// NoiseKeys are the recurring-noise incidents an alert may join: per
// product and per detector, on each of its entities (the anchor is one).
func NoiseKeys(a *domain.Alert) []string { return noiseNames(nil).keys(a, nil) }

// noiseNames remembers NoiseKey's answers: the same entities, products and
// detectors come back alert after alert, and building the key each time
// was a sixth of the engine's allocations. A nil one remembers nothing.
type noiseNames map[noiseName]string

type noiseName struct {
	anchor            domain.EntityKey
	product, detector string
}

func (m noiseNames) key(anchor domain.EntityKey, product, detector string) string {
	if m == nil {
		return NoiseKey(anchor, product, detector)
	}
	n := noiseName{anchor, product, detector}
	k, ok := m[n]
	if !ok {
		k = NoiseKey(anchor, product, detector)
		m[n] = k
	}
	return k
}

// keys appends NoiseKeys(a) to out.
func (m noiseNames) keys(a *domain.Alert, out []string) []string {
	det := Detector(a)
	for _, ev := range a.Evidence {
		if ev.Entity == nil || ev.Entity.Key == "" {
			continue
		}
		k := ev.Entity.Key
		out = append(out, m.key(k, a.ProductName, ""), m.key(k, a.ProductName, det))
	}
	return out
}

// FloodBuckets is when a routine detector floods its entity: it fired in
// that many routine buckets (six hours' worth) of the routine window.
const FloodBuckets = 36

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Bucket returns the routine bucket an instant falls in.
func (r Rules) Bucket(t time.Time) int64 {
	return t.UTC().UnixNano() / int64(r.routineBucket())
}

// FirstBucket returns the oldest bucket that still counts for routine
// detection at t.
func (r Rules) FirstBucket(t time.Time) int64 {
	return r.Bucket(t.Add(-r.RoutineWindowOrDefault()))
}

// Routine reports whether a detector seen on an entity in this many distinct
// buckets (within the routine window, before this alert) is routine noise.
func (r Rules) Routine(buckets int) bool {
	switch {
	case r.RoutineBuckets < 0:
		return false
	case r.RoutineBuckets == 0:
		return buckets >= 3
	default:
		return buckets >= r.RoutineBuckets
	}
}

// Sighting is what an open incident knows of one entity.
type Sighting struct {
	IncidentID  int64
	LastSeen    time.Time // last alert naming the entity
	LastNotable time.Time // last notable (not routine) alert naming it; zero for none
	// Roles are the roles the incident's alerts gave the entity (source,
	// destination), Host the device of the last alert that named it: what
	// a story across hosts reads (story.go). Zero when unknown.
	Roles Role
	Host  domain.EntityKey
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Joins reports whether an alert at t may join the incident of a sighting:
// a routine alert only while the incident is hot on the entity; a notable
// one within the link gap, or within the window when it advances the
// incident's kill chain.
func (r Rules) Joins(routine bool, t time.Time, s Sighting, advances bool) bool {
	if routine {
		return !s.LastNotable.IsZero() && absDur(t.Sub(s.LastNotable)) <= r.HotGapOrDefault()
	}
	gap := r.LinkGapOrDefault()
	if advances {
		gap = r.WindowOrDefault()
	}
	return absDur(t.Sub(s.LastSeen)) <= gap
}

// StormGapOrDefault returns the storm gap; 0 when disabled.
func (r Rules) StormGapOrDefault() time.Duration {
	if r.StormGap < 0 {
		return 0
	}
	return orDur(r.StormGap, 40*time.Minute)
}

// StormWindow returns the buckets [from, to] around t whose notable alerts
// count towards a storm.
func (r Rules) StormWindow(t time.Time) (int64, int64) {
	gap := r.StormGapOrDefault()
	return r.Bucket(t.Add(-gap)), r.Bucket(t.Add(gap))
}

// Storm reports whether an incident with this many notable alerts within
// the storm window of an alert is an attack under way that the alert,
// linked to nothing else, joins.
func (r Rules) Storm(notable int) bool {
	if r.StormGapOrDefault() == 0 {
		return false
	}
	need := r.StormAlerts
	if need <= 0 {
		need = 500
	}
	return notable >= need
}

// Tactics in kill-chain order (MITRE ATT&CK enterprise, Graph spelling).
var Tactics = []string{"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
	"PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement", "Collection",
	"CommandAndControl", "Exfiltration", "Impact"}

// TacticRank returns a tactic's place in the kill chain (1 for
// Reconnaissance), or 0 for a category that is not a tactic.
func TacticRank(category string) int {
	for i, t := range Tactics {
		if strings.EqualFold(t, category) {
			return i + 1
		}
	}
	return 0
}

// Advances reports whether a category moves an incident whose furthest
// tactic has rank maxRank further along the kill chain.
func Advances(category string, maxRank int) bool {
	return RankAdvances(TacticRank(category), maxRank)
}

// RankAdvances is Advances for a tactic rank already known (TacticRank).
func RankAdvances(rank, maxRank int) bool {
	return rank > 0 && maxRank > 0 && rank > maxRank
}

// Candidate is an open incident an alert may join.
type Candidate struct {
	IncidentID int64
	Alerts     int
}

// Choose returns the incident the alert joins — the one with most alerts,
// then the oldest — and the others, in id order.
func Choose(cands []Candidate) (int64, []int64) {
	if len(cands) == 0 {
		return 0, nil
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if c.Alerts > best.Alerts || (c.Alerts == best.Alerts && cmpID(c.IncidentID, best.IncidentID) < 0) {
			best = c
		}
	}
	var others []int64
	for _, c := range cands {
		if c.IncidentID != best.IncidentID && !slices.Contains(others, c.IncidentID) {
			others = append(others, c.IncidentID)
		}
	}
	slices.SortFunc(others, cmpID)
	return best.IncidentID, others
}

// MergeSide is what the merge rules look at on each incident.
type MergeSide struct {
	Status         domain.IncidentStatus
	AssignedTo     string
	Classification string
	Determination  string
}

// CanMerge applies SPEC's merge rules and says why not when it refuses: no
// merge when either is not open, when they have different assignees, or
// different classification or determination.
func CanMerge(target, source MergeSide) (bool, string) {
	switch {
	case !target.Status.Open() || !source.Status.Open():
		return false, "an incident is not open"
	case target.AssignedTo != source.AssignedTo:
		return false, "different assignees"
	case target.Classification != source.Classification || target.Determination != source.Determination:
		return false, "different classification or determination"
	}
	return true, ""
}

// Change is what one alert brings to its incident, for deciding whether the
// investigation must hear of it.
type Change struct {
	NewIncident bool
	NewEntities int             // entity keys the incident did not have
	Severity    domain.Severity // the alert's severity
	Was         domain.Severity // the incident's severity before
	NewTactic   bool            // a category the incident did not have
}

// Material reports whether the change must reach the investigation: a new
// incident, new entities, a higher severity or a new tactic. Everything else
// (the 100,000th scan alert on the same host) is only counted.
func (c Change) Material() bool {
	return c.NewIncident || c.NewEntities > 0 || c.Severity.Rank() > c.Was.Rank() || c.NewTactic
}

// Factor is one reason for a priority score, with the points it gave.
type Factor struct {
	Name   string `json:"name"`
	Points int    `json:"points"`
	Detail string `json:"detail"`
}

// PriorityInput is what the priority score looks at.
type PriorityInput struct {
	Severity          domain.Severity
	Tactics           []string
	MaliciousEntities int
	Devices, Users    int
	Mailboxes         int
	ServiceSources    int
	Alerts            int
	CriticalAssets    int // entities tagged or grouped as critical
}

// Priority scores an incident from 0 to 100 and returns the factors that
// produced the score, largest first, so that an analyst sees why.
func Priority(in PriorityInput) (int, []Factor) {
	var fs []Factor
	addF := func(name string, pts int, detail string) {
		if pts > 0 {
			fs = append(fs, Factor{Name: name, Points: pts, Detail: detail})
		}
	}
	sev := map[domain.Severity]int{domain.SeverityHigh: 40, domain.SeverityMedium: 25, domain.SeverityLow: 10, domain.SeverityInformational: 3}
	addF("severity", sev[in.Severity], "incident severity "+string(in.Severity))
	maxRank := 0
	for _, t := range in.Tactics {
		maxRank = max(maxRank, TacticRank(t))
	}
	if n := len(in.Tactics); n > 1 {
		addF("multi-stage", min(15, 5*(n-1)), strconv.Itoa(n)+" MITRE tactics")
	}
	if maxRank >= TacticRank("LateralMovement") {
		addF("kill-chain depth", 10, "reached "+Tactics[maxRank-1])
	}
	addF("malicious entities", min(15, 5*in.MaliciousEntities), strconv.Itoa(in.MaliciousEntities)+" entities with a malicious verdict")
	assets := in.Devices + in.Users + in.Mailboxes
	if assets > 1 {
		addF("scope", min(10, 2*(assets-1)), strconv.Itoa(in.Devices)+" devices, "+strconv.Itoa(in.Users)+" users, "+strconv.Itoa(in.Mailboxes)+" mailboxes")
	}
	addF("critical assets", min(10, 10*in.CriticalAssets), strconv.Itoa(in.CriticalAssets)+" critical assets")
	if in.ServiceSources > 1 {
		addF("multiple sources", 5, strconv.Itoa(in.ServiceSources)+" service sources agree")
	}
	if in.Alerts > 1 {
		addF("alert volume", min(5, int(math.Log10(float64(in.Alerts))*2)), strconv.Itoa(in.Alerts)+" alerts")
	}
	score := 0
	for _, f := range fs {
		score += f.Points
	}
	slices.SortStableFunc(fs, func(a, b Factor) int { return b.Points - a.Points })
	return min(score, 100), fs
}
