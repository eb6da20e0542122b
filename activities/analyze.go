package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/store"
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
	Feed    string             `json:"feed"`
	Matches []store.IntelMatch `json:"matches"`
}

// AnalyzeEntities gathers facts about the incident's entities named by the
// request (the file.analyze, ip.analyze and url.analyze steps): which
// threat-intelligence feeds name each observable of the entity (a known-
// benign list's match is an intel.benign fact, not a match), and how often
// the organisation has seen it. It records the facts, one per entity, kind
// and source, replacing earlier ones, so a retry records nothing twice.
// Entities without observables (a device, a user) yield no facts.
func (a *Activities) AnalyzeEntities(ctx context.Context, req AnalyzeRequest) (*AnalyzeResult, error) {
	ents, err := a.Store.IncidentEntities(ctx, req.IncidentID)
	if err != nil {
		return nil, classify(err)
	}
	res := &AnalyzeResult{Facts: []domain.Fact{}}
	var notes []string
	for _, key := range req.Keys {
		i := slices.IndexFunc(ents, func(e domain.Entity) bool { return e.Key == key })
		if i < 0 {
			return nil, classify(domain.Errorf(domain.KindNotFound, "entity %s is not in incident %d", key, req.IncidentID))
		}
		facts, note, err := a.analyze(ctx, ents[i], req.At)
		if err != nil {
			return nil, classify(err)
		}
		res.Facts = append(res.Facts, facts...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	if err := a.Store.RecordFacts(ctx, req.IncidentID, res.Facts); err != nil {
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
