package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
)

// AnalyzeRequest asks for facts about some of an incident's entities.
type AnalyzeRequest struct {
	IncidentID int64              `json:"incidentId"`
	Keys       []domain.EntityKey `json:"keys"`
	// At is the workflow's time: indicators must be valid then, and the
	// facts are stamped with it.
	At time.Time `json:"at"`
}

// AnalyzeResult is what the analysis learned, and a line for the step's
// output.
type AnalyzeResult struct {
	Facts   []domain.Fact `json:"facts"`
	Summary string        `json:"summary"`
}

// IntelMatchFact is the value of an intel.match or intel.benign fact: the
// indicators of one feed that named the entity.
type IntelMatchFact struct {
	Feed    string               `json:"feed"`
	Matches []records.IntelMatch `json:"matches"`
}

// AnalyzeEntities gathers facts about the incident's entities named by the
// request (the file.analyze, ip.analyze, url.analyze, device.analyze and
// user.analyze steps): which threat-intelligence feeds name each
// observable of the entity (a known-benign list's match is an intel.benign
// fact, not a match), how often the organisation has seen it, and what the
// connectors that enrich its kind say (Vendors: file and IP statistics, a
// device's logged-on users and related alerts, a user's risk and recent
// sign-ins). A vendor that fails or times out gives a vendor.error fact
// saying so, and the analysis goes on. It records the facts, one per
// entity, kind and source, replacing earlier ones, so a retry records
// nothing twice; a vendor that now answers in full clears its earlier
// vendor.error.
func (a *Activities) AnalyzeEntities(ctx context.Context, req AnalyzeRequest) (*AnalyzeResult, error) {
	ents, err := a.Store.IncidentEntities(ctx, req.IncidentID)
	if err != nil {
		return nil, classify(err)
	}
	vendors := a.Vendors
	if a.LabVendors != nil {
		// An exercise's entities are a replay's: the lab tenant tells
		// about them, never a vendor (docs/secops.md).
		ex, err := a.Store.IncidentExercise(ctx, req.IncidentID)
		if err != nil {
			return nil, classify(err)
		}
		if ex != 0 {
			vendors = a.LabVendors
		}
	}
	res := &AnalyzeResult{Facts: []domain.Fact{}}
	var notes []string
	var stale []domain.Fact // vendor.error facts a vendor that now answers clears
	for _, key := range req.Keys {
		i := slices.IndexFunc(ents, func(e domain.Entity) bool { return e.Key == key })
		if i < 0 {
			return nil, classify(domain.Errorf(domain.KindNotFound, "entity %s is not in incident %d", key, req.IncidentID))
		}
		facts, note, err := a.analyze(ctx, ents[i], req.At)
		if err != nil {
			return nil, classify(err)
		}
		vfacts, vnotes, cleared := a.enrichEntity(ctx, vendors, ents[i], req.At)
		facts = append(facts, vfacts...)
		if len(vnotes) > 0 {
			if note == "" {
				note = ents[i].Name + ": " + strings.Join(vnotes, "; ")
			} else {
				note += "; " + strings.Join(vnotes, "; ")
			}
		}
		res.Facts = append(res.Facts, facts...)
		if note != "" {
			notes = append(notes, note)
		}
		for _, vendor := range cleared {
			stale = append(stale, domain.Fact{Entity: key, Kind: domain.FactVendorError, Source: vendor})
		}
	}
	if err := a.Store.RecordFacts(ctx, req.IncidentID, res.Facts, stale...); err != nil {
		return nil, classify(err)
	}
	res.Summary = strings.Join(notes, "; ")
	return res, nil
}

// analyze gathers one entity's facts and says what they amount to.
func (a *Activities) analyze(ctx context.Context, e domain.Entity, at time.Time) ([]domain.Fact, string, error) {
	obs := intel.Observables(e)
	if len(obs) == 0 {
		return nil, "", nil
	}
	byFeed := map[string]*IntelMatchFact{}
	var feeds []string
	benign := map[string]bool{}
	for _, o := range obs {
		ms, err := a.Store.LookupIntel(ctx, o.Kind, o.Value, at)
		if err != nil {
			return nil, "", err
		}
		for _, m := range ms {
			f, ok := byFeed[m.Feed]
			if !ok {
				f = &IntelMatchFact{Feed: m.Feed}
				byFeed[m.Feed] = f
				feeds = append(feeds, m.Feed)
			}
			f.Matches = append(f.Matches, m)
			benign[m.Feed] = m.Benign
		}
	}
	var facts []domain.Fact
	var named, listed []string
	for _, feed := range feeds {
		kind := domain.FactIntelMatch
		if benign[feed] {
			kind = domain.FactIntelBenign
			listed = append(listed, feed)
		} else {
			named = append(named, feed)
		}
		v, err := json.Marshal(byFeed[feed])
		if err != nil {
			return nil, "", err
		}
		facts = append(facts, domain.Fact{Entity: e.Key, Kind: kind, Value: v, Source: "intel:" + feed, ObservedAt: at})
	}
	// Prevalence of the entity's own value (its key), the first observable.
	p, err := a.Store.Prevalence(ctx, obs[0].Kind, obs[0].Value)
	if err != nil {
		return nil, "", err
	}
	v, err := json.Marshal(p)
	if err != nil {
		return nil, "", err
	}
	facts = append(facts, domain.Fact{Entity: e.Key, Kind: domain.FactPrevalence, Value: v, Source: "store", ObservedAt: at})

	note := fmt.Sprintf("%s: ", e.Name)
	switch {
	case len(named) > 0:
		note += "named by " + strings.Join(named, ", ")
	default:
		note += "in no intel feed"
	}
	if len(listed) > 0 {
		note += ", known-benign in " + strings.Join(listed, ", ")
	}
	note += fmt.Sprintf(", seen on %d devices in %d incidents", p.Devices, p.Incidents)
	return facts, note, nil
}

// enrichEntity asks every connector that enriches the entity's kind, one
// after the other, and says in words what each told. It never fails: a
// vendor's failure is a vendor.error fact. cleared names the vendors that
// answered every look-up, whose earlier vendor.error no longer holds.
func (a *Activities) enrichEntity(ctx context.Context, vendors enrich.Source, e domain.Entity, at time.Time) (facts []domain.Fact, notes, cleared []string) {
	if vendors == nil {
		return nil, nil, nil
	}
	// The vendors are asked at once, each within its budget, so that the
	// analysis ends within one budget however many enrich the kind.
	ens := vendors.Enrichers(e.Kind)
	results := make([]enrich.Result, len(ens))
	var wg sync.WaitGroup
	for i, en := range ens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = enrich.Run(ctx, en, e, at, a.EnrichOptions)
		}()
	}
	wg.Wait()
	for i, en := range ens {
		r := results[i]
		if len(r.Facts) == 0 {
			continue
		}
		facts = append(facts, r.Facts...)
		var said []string
		for _, f := range r.Facts {
			if s := enrich.Describe(f); s != "" && f.Kind != domain.FactVendorError {
				said = append(said, s)
			}
		}
		if len(r.Failures) == 0 {
			cleared = append(cleared, en.Vendor())
		} else {
			var why []string
			for _, f := range r.Failures {
				why = append(why, f.Error)
			}
			said = append(said, "could not tell "+strings.Join(why, "; "))
			if a.Log != nil {
				a.Log.WithFields(logrus.Fields{"vendor": en.Vendor(), "entity": e.Key, "failures": len(r.Failures)}).
					Warn("enrichment failed; recorded as a vendor.error fact")
			}
		}
		notes = append(notes, en.Vendor()+" "+strings.Join(said, ", "))
	}
	return facts, notes, cleared
}
