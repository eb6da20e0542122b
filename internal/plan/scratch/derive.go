package scratch

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/policy"
)

// ingestActor is who ingest's changes are by (the store's name for it).
const ingestActor = "system:ingest"

// correlation is ingest in memory: the engine's state (correlate.Memory)
// and, beside it, what the store would keep of incidents, alerts and
// entities. Each alert is one batch; apply and flush follow the store's
// batch.apply and batch.flush (internal/store/batch.go), so that every
// derived field comes out as the store's: incrementally as alerts join,
// re-derived from the incident's alerts and entities when an alert was
// updated or incidents merged (the store's recomputeSummary).
type correlation struct {
	mem      *correlate.Memory
	now      time.Time
	incs     map[int64]*incident
	created  []int64                         // incident ids, in order of creation
	alerts   map[string]*storedAlert         // the kept version of each alert
	members  map[int64][]string              // alert ids by the incident that holds them
	entities map[domain.EntityKey]*entityRow // the store's entities table
}

// storedAlert is an alert as the store's alerts table keeps it.
type storedAlert struct {
	a        *domain.Alert
	doc      []byte    // the alert as JSON when it was kept (alerts.doc)
	created  time.Time // its first version's creation (alerts.created_at)
	activity time.Time // its kept version's activity time (alerts.activity_time)
}

// entityRow is an entity as the store's entities table keeps it: the kind
// it was first stored with, the name and attributes it was last named with.
type entityRow struct {
	kind  domain.EntityKind
	name  string
	attrs []byte
}

// incident is the store's view of an incident (its incState): the fields
// written to incidents and the parts of incident_summary its name reads.
type incident struct {
	id           int64
	name         string
	routine      bool
	severity     domain.Severity
	status       domain.IncidentStatus
	resolved     bool // by ingest, every alert being resolved
	redirect     int64
	alerts       int
	first, last  time.Time
	headline     []string
	headlineRank int
	categories   domain.StringList
	sources      domain.StringList
	assets       domain.Assets
	dirty, full  bool
}

func newCorrelation(rules correlate.Rules, now time.Time) *correlation {
	return &correlation{mem: correlate.NewMemory(rules), now: now, incs: map[int64]*incident{},
		alerts: map[string]*storedAlert{}, members: map[int64][]string{}, entities: map[domain.EntityKey]*entityRow{}}
}

// ingest correlates one alert, as store.IngestAlert does.
func (c *correlation) ingest(a *domain.Alert) error {
	ds, err := c.mem.Ingest([]*domain.Alert{a})
	if err != nil {
		return fmt.Errorf("correlate alert %q: %w", a.ID, err)
	}
	if len(ds) != 1 {
		return fmt.Errorf("correlate alert %q: %d decisions for one alert", a.ID, len(ds))
	}
	rows := map[domain.EntityKey]entityRow{}
	if err := c.apply(a, ds[0], rows); err != nil {
		return fmt.Errorf("alert %q: %w", a.ID, err)
	}
	return c.flush(rows)
}

// apply carries out one decision (the store's batch.apply): it opens
// incidents, merges, keeps the alert and updates derived fields.
func (c *correlation) apply(a *domain.Alert, d correlate.Decision, rows map[domain.EntityKey]entityRow) error {
	switch d.Outcome {
	case correlate.Unchanged:
		return nil
	case correlate.Updated:
		in, err := c.incident(d.Incident)
		if err != nil {
			return err
		}
		if err := c.keep(a, 0); err != nil {
			return err
		}
		c.record(a, in, d, rows)
		in.full = true
		return nil
	}
	if d.NewIncident {
		if err := c.create(a, d); err != nil {
			return err
		}
	}
	for _, m := range d.Merges {
		if err := c.merge(m.Target, m.Source); err != nil {
			return err
		}
	}
	in, err := c.incident(d.Incident)
	if err != nil {
		return err
	}
	if err := c.keep(a, c.final(in.id)); err != nil {
		return err
	}
	c.record(a, in, d, rows)
	return nil
}

func (c *correlation) incident(id int64) (*incident, error) {
	in := c.incs[id]
	if in == nil {
		return nil, fmt.Errorf("the engine placed it in incident %d, which it never opened", id)
	}
	return in, nil
}

// final follows merges to the incident that holds an incident's alerts.
func (c *correlation) final(id int64) int64 {
	for hops := 0; hops < 100; hops++ {
		in := c.incs[id]
		if in == nil || in.redirect == 0 {
			return id
		}
		id = in.redirect
	}
	return id
}

// create opens an incident for the alert (the store's createIncident).
func (c *correlation) create(a *domain.Alert, d correlate.Decision) error {
	if _, ok := c.incs[d.Incident]; ok {
		return fmt.Errorf("the engine opened incident %d twice", d.Incident)
	}
	t := a.ActivityTime().UTC()
	c.incs[d.Incident] = &incident{id: d.Incident, name: domain.NewIncidentName(a, d.RoutineKey != "", d.Flood, d.Anchor),
		routine: d.RoutineKey != "", severity: a.Severity, status: domain.IncidentActive, first: t, last: t}
	c.created = append(c.created, d.Incident)
	return nil
}

// merge moves the source's alerts into the target and redirects the
// source; the target is re-derived (the store's batch.merge).
func (c *correlation) merge(target, src int64) error {
	t, err := c.incident(target)
	if err != nil {
		return err
	}
	s, err := c.incident(src)
	if err != nil {
		return err
	}
	t.full, t.dirty = true, true
	s.status, s.redirect, s.dirty = domain.IncidentRedirected, target, false
	c.members[target] = append(c.members[target], c.members[src]...)
	delete(c.members, src)
	return nil
}

// keep stores the alert's version: a new alert in incident inc, or (inc
// 0) a newer version of a known one, which keeps its incident and its
// first creation time, as the store's updateAlert does.
func (c *correlation) keep(a *domain.Alert, inc int64) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	if inc == 0 {
		cur := c.alerts[a.ID]
		if cur == nil {
			return fmt.Errorf("the engine updated an alert it never placed")
		}
		cur.a, cur.doc, cur.activity = a, doc, a.ActivityTime().UTC()
		return nil
	}
	c.alerts[a.ID] = &storedAlert{a: a, doc: doc, created: a.CreatedDateTime.UTC(), activity: a.ActivityTime().UTC()}
	c.members[inc] = append(c.members[inc], a.ID)
	return nil
}

// record queues the alert's entity rows and folds the alert into the
// incident's derived fields (the store's recordRows).
func (c *correlation) record(a *domain.Alert, in *incident, d correlate.Decision, rows map[domain.EntityKey]entityRow) {
	seen := map[domain.EntityKey]bool{}
	for _, ev := range a.Evidence {
		e := ev.Entity
		if e == nil || e.Key == "" || seen[e.Key] {
			continue
		}
		seen[e.Key] = true
		rows[e.Key] = entityRow{kind: e.Kind, name: e.Name, attrs: attrsJSON(e.Attrs)}
		if slices.Contains(d.NewKeys, e.Key) {
			in.assets.Add(e.Kind, e.Name)
		}
	}
	if a.Severity.Rank() > in.severity.Rank() {
		in.severity = a.Severity
	}
	in.headline, in.headlineRank = domain.AddHeadline(in.headline, in.headlineRank, a.Title, a.Severity.Rank())
	in.categories = domain.AddSorted(in.categories, a.Category)
	in.sources = domain.AddSorted(in.sources, a.ServiceSource)
	in.dirty = true
}

// attrsJSON is an entity's attributes as the store keeps them ({} for none).
func attrsJSON(attrs map[string]string) []byte {
	if attrs == nil {
		return []byte("{}")
	}
	b, err := json.Marshal(attrs)
	if err != nil { // a map of strings always encodes
		return []byte("{}")
	}
	return b
}

// flush writes the batch's entity rows and refreshes the incidents it
// touched, in id order (the store's batch.flush).
func (c *correlation) flush(rows map[domain.EntityKey]entityRow) error {
	for k, r := range rows {
		if cur := c.entities[k]; cur != nil {
			cur.name, cur.attrs = r.name, r.attrs
		} else {
			c.entities[k] = &r
		}
	}
	var ids []int64
	for id, in := range c.incs {
		if in.dirty && in.status != domain.IncidentRedirected {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		in := c.incs[id]
		e := c.mem.Incident(id)
		if e == nil || e.ID != id {
			return fmt.Errorf("incident %d is unknown to the engine", id)
		}
		in.alerts, in.first, in.last = e.Alerts, e.First.UTC(), e.Last.UTC()
		if in.full {
			if active := c.rederive(in); in.status.Open() && in.alerts > 0 && active == 0 {
				in.status, in.resolved = domain.IncidentResolved, true
			}
		}
		if !in.routine {
			in.name = domain.GeneratedName(in.headline, in.assets, in.categories, in.sources)
		}
		in.dirty, in.full = false, false
	}
	return nil
}

// rederive derives an incident's fields from its alerts and entities (the
// store's recomputeSummary) and returns how many of its alerts are not
// resolved.
func (c *correlation) rederive(in *incident) (active int) {
	type group struct {
		title    string
		severity domain.Severity
		created  time.Time
	}
	var groups []group
	sev := domain.SeverityUnknown
	in.alerts, in.categories, in.sources = 0, nil, nil
	var first, last time.Time
	for _, id := range c.members[in.id] {
		row := c.alerts[id]
		a := row.a
		in.alerts++
		if a.Severity.Rank() > sev.Rank() {
			sev = a.Severity
		}
		in.categories = domain.AddSorted(in.categories, a.Category)
		in.sources = domain.AddSorted(in.sources, a.ServiceSource)
		if a.Status != domain.AlertResolved {
			active++
		}
		if i := slices.IndexFunc(groups, func(g group) bool { return g.title == a.Title && g.severity == a.Severity }); i >= 0 {
			if row.created.Before(groups[i].created) {
				groups[i].created = row.created
			}
		} else {
			groups = append(groups, group{a.Title, a.Severity, row.created})
		}
		if first.IsZero() || row.activity.Before(first) {
			first = row.activity
		}
		if row.activity.After(last) {
			last = row.activity
		}
	}
	in.severity = sev
	// GROUP BY title, severity ORDER BY MIN(created_at), title
	slices.SortStableFunc(groups, func(x, y group) int {
		return cmp.Or(x.created.Compare(y.created), strings.Compare(x.title, y.title))
	})
	in.headline, in.headlineRank = nil, 0
	for _, g := range groups {
		in.headline, in.headlineRank = domain.AddHeadline(in.headline, in.headlineRank, g.title, g.severity.Rank())
	}
	if !first.IsZero() {
		in.first, in.last = first, last
	}
	in.assets = domain.Assets{}
	for _, e := range c.incidentEntities(in.id, func(x, y domain.Entity) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(string(x.Key), string(y.Key)))
	}) {
		in.assets.Add(e.Kind, e.Name)
	}
	return active
}

// incidentEntities are the incident's entities (its sightings of keys an
// alert named), with the strongest verdict its alerts gave each, in the
// order by; attributes are left out.
func (c *correlation) incidentEntities(id int64, by func(x, y domain.Entity) int) []domain.Entity {
	var out []domain.Entity
	for _, s := range c.mem.Sightings(id) {
		if row := c.entities[s.Key]; row != nil {
			out = append(out, domain.Entity{Key: s.Key, Kind: row.kind, Name: row.name, Verdict: s.Verdict})
		}
	}
	slices.SortFunc(out, by)
	return out
}

// incidents returns the incidents not merged away, in order of creation,
// ready to plan.
func (c *correlation) incidents(settings policy.Settings) ([]plan.Incident, error) {
	out := make([]plan.Incident, 0, len(c.created))
	for _, id := range c.created {
		in := c.incs[id]
		if in.status == domain.IncidentRedirected {
			continue
		}
		alerts, err := c.incidentAlerts(id)
		if err != nil {
			return nil, err
		}
		ents, err := c.entitiesOf(id)
		if err != nil {
			return nil, err
		}
		out = append(out, plan.Incident{Incident: in.record(c.now), Alerts: alerts, Entities: ents, Settings: settings})
	}
	return out, nil
}

// record is the incident as the store's incidents row would read, now
// being when it was created (and resolved, by ingest).
func (in *incident) record(now time.Time) domain.Incident {
	r := domain.Incident{ID: in.id, DisplayName: in.name, Severity: in.severity, Status: in.status,
		Classification: "unknown", Determination: "unknown", InvestigationState: domain.InvestigationQueued,
		CustomTags: domain.StringList{}, AlertCount: in.alerts, FirstActivity: in.first, LastActivity: in.last,
		CreatedDateTime: now, LastUpdateDateTime: now}
	if in.resolved {
		at := now
		r.ResolvedDateTime, r.LastModifiedBy = &at, ingestActor
	}
	return r
}

// incidentAlerts are the incident's alerts as stored, oldest activity
// first (the store's IncidentAlerts).
func (c *correlation) incidentAlerts(id int64) ([]domain.Alert, error) {
	rows := make([]*storedAlert, 0, len(c.members[id]))
	for _, aid := range c.members[id] {
		rows = append(rows, c.alerts[aid])
	}
	slices.SortFunc(rows, func(x, y *storedAlert) int {
		return cmp.Or(x.activity.Compare(y.activity), strings.Compare(x.a.ID, y.a.ID))
	})
	out := make([]domain.Alert, 0, len(rows))
	for _, r := range rows {
		var a domain.Alert
		if err := json.Unmarshal(r.doc, &a); err != nil {
			return nil, fmt.Errorf("decode alert %q: %w", r.a.ID, err)
		}
		a.IncidentID = id
		out = append(out, a)
	}
	return out, nil
}

// entitiesOf are the incident's entities sorted by key, with their
// attributes (the store's IncidentEntities; plan mode has no entity tags
// nor verdicts decided in AIR).
func (c *correlation) entitiesOf(id int64) ([]domain.Entity, error) {
	ents := c.incidentEntities(id, func(x, y domain.Entity) int { return strings.Compare(string(x.Key), string(y.Key)) })
	if ents == nil {
		ents = []domain.Entity{} // as the store reads none
	}
	for i := range ents {
		if err := json.Unmarshal(c.entities[ents[i].Key].attrs, &ents[i].Attrs); err != nil {
			return nil, fmt.Errorf("decode attrs of %s: %w", ents[i].Key, err)
		}
	}
	return ents, nil
}
