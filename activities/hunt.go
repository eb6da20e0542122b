package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/store"
)

// HuntRequest asks to look for some of an incident's entities elsewhere in
// AIR's store (the file.hunt, ip.hunt and url.hunt steps).
type HuntRequest struct {
	IncidentID int64              `json:"incidentId"`
	Keys       []domain.EntityKey `json:"keys"`
	Playbook   string             `json:"playbook"`
	Step       string             `json:"step"`
	At         time.Time          `json:"at"`
}

// HuntResult says what a hunt found: the devices that joined the
// investigation, the incidents merged into it, and a line for the step.
type HuntResult struct {
	Found   []domain.EntityKey `json:"found"`
	Merged  []int64            `json:"merged"`
	Summary string             `json:"summary"`
}

// MaxHuntDevices bounds the devices one hunted entity brings into an
// investigation: a file on hundreds of devices is a software rollout or an
// outbreak, either way not one investigation's evidence.
const MaxHuntDevices = 50

// HuntEntities finds the other devices in the store that saw each entity
// named by the request (in the same alert as it: the file on a device, the
// device that talked to the IP) and makes them evidence of the incident,
// each with an edge of the investigation graph saying where it was found
// from. A device that another open incident holds is not held by two
// investigations: that incident is merged into this one, with the reason.
// A device found this way that its alerts did not already call malicious
// or suspicious becomes suspicious by the step's rule, so that the
// containment rules of the next pass consider it. Devices already in the
// incident are skipped, so a retried or repeated hunt finds nothing new.
func (a *Activities) HuntEntities(ctx context.Context, req HuntRequest) (*HuntResult, error) {
	ents, err := a.Store.IncidentEntities(ctx, req.IncidentID)
	if err != nil {
		return nil, classify(err)
	}
	have := map[domain.EntityKey]bool{}
	for _, e := range ents {
		have[e.Key] = true
	}
	res := &HuntResult{Found: []domain.EntityKey{}, Merged: []int64{}}
	var notes []string
	step := req.Playbook + "/" + req.Step
	for _, key := range req.Keys {
		i := slices.IndexFunc(ents, func(e domain.Entity) bool { return e.Key == key })
		if i < 0 {
			return nil, classify(domain.Errorf(domain.KindNotFound, "entity %s is not in incident %d", key, req.IncidentID))
		}
		e := ents[i]
		obs := intel.Observables(e)
		if len(obs) == 0 {
			continue
		}
		p, err := a.Store.Prevalence(ctx, obs[0].Kind, obs[0].Value)
		if err != nil {
			return nil, classify(err)
		}
		var found []domain.EntityKey
		for _, d := range p.DeviceKeys {
			if have[d] {
				continue
			}
			if len(found) == MaxHuntDevices {
				notes = append(notes, fmt.Sprintf("%s: more than %d other devices saw it, the first %d joined", e.Name, MaxHuntDevices, MaxHuntDevices))
				break
			}
			link := store.EvidenceLink{IncidentID: req.IncidentID, Entity: d, From: key, Step: step, At: req.At,
				Reason: fmt.Sprintf("%s %s (%s) was also seen on %s", e.Kind, e.Name, e.Verdict, strings.TrimPrefix(string(d), "device:"))}
			holders, err := a.Store.OpenIncidentsWith(ctx, d, req.IncidentID)
			if err != nil {
				return nil, classify(err)
			}
			for _, h := range holders {
				l := link
				l.Reason = fmt.Sprintf("%s, which incident %d held: merged into this one", link.Reason, h)
				merged, err := a.Store.MergeFound(ctx, req.IncidentID, h, l)
				if err != nil {
					return nil, classify(err)
				}
				if merged {
					res.Merged = append(res.Merged, h)
				}
			}
			if len(holders) == 0 {
				if _, err := a.Store.AddFoundEvidence(ctx, link); err != nil {
					return nil, classify(err)
				}
			}
			have[d] = true
			found = append(found, d)
		}
		res.Found = append(res.Found, found...)
	}
	if len(res.Found) == 0 {
		res.Summary = "no other device saw it"
		if len(notes) > 0 {
			res.Summary = strings.Join(notes, "; ")
		}
		return res, nil
	}
	// The verdicts of the devices as they are now, merged alerts included.
	ents, err = a.Store.IncidentEntities(ctx, req.IncidentID)
	if err != nil {
		return nil, classify(err)
	}
	for _, e := range ents {
		if !slices.Contains(res.Found, e.Key) || e.Verdict == domain.VerdictMalicious || e.Verdict == domain.VerdictSuspicious {
			continue
		}
		ch := store.VerdictChange{Verdict: domain.VerdictSuspicious, Reason: "evidence the investigation judged malicious was seen on it"}
		if _, err := a.Store.SetRuleVerdict(ctx, req.IncidentID, e.Key, ch, req.Playbook, req.Step); err != nil {
			return nil, classify(err)
		}
	}
	line := fmt.Sprintf("%d other device(s) joined the investigation", len(res.Found))
	if len(res.Merged) > 0 {
		line += fmt.Sprintf("; merged incident(s) %v, which held them", res.Merged)
	}
	res.Summary = strings.Join(append([]string{line}, notes...), "; ")
	return res, nil
}
