package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
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
	// Suspected are the incident's devices the hunt made suspicious:
	// with Found, what the investigation's next pass looks at.
	Suspected []domain.EntityKey `json:"suspected"`
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
// Every device of the incident that saw the entity (the one it came from
// too) and that its alerts did not already call malicious or suspicious
// becomes suspicious by the step's rule, so that the containment rules of
// the next pass consider it. Devices already in the incident are not
// found again, so a retried or repeated hunt adds nothing twice.
func (a *Activities) HuntEntities(ctx context.Context, req HuntRequest) (*HuntResult, error) {
	ents, err := a.Store.IncidentEntities(ctx, req.IncidentID)
	if err != nil {
		return nil, classify(err)
	}
	have := map[domain.EntityKey]bool{}
	for _, e := range ents {
		have[e.Key] = true
	}
	res := &HuntResult{Found: []domain.EntityKey{}, Merged: []int64{}, Suspected: []domain.EntityKey{}}
	var notes []string
	saw := map[domain.EntityKey]string{} // device → the malicious entity's name it saw
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
		what := fmt.Sprintf("%s %s", e.Kind, e.Name)
		var found []domain.EntityKey
		for _, d := range p.DeviceKeys {
			if have[d] {
				saw[d] = what
				continue
			}
			if len(found) == MaxHuntDevices {
				notes = append(notes, fmt.Sprintf("%s: more than %d other devices saw it, the first %d joined", e.Name, MaxHuntDevices, MaxHuntDevices))
				break
			}
			name := strings.TrimPrefix(string(d), "device:")
			if rec, err := a.Store.GetEntity(ctx, d); err == nil && rec.Name != "" {
				name = rec.Name
			}
			link := records.EvidenceLink{IncidentID: req.IncidentID, Entity: d, From: key, Step: step, At: req.At,
				Reason: fmt.Sprintf("%s (%s) was also seen on %s", what, e.Verdict, name)}
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
			saw[d] = what
			found = append(found, d)
		}
		res.Found = append(res.Found, found...)
	}
	// Every device of the incident that saw what the hunt looked for —
	// the one it came from too — is suspect unless its alerts said more,
	// so that the containment rules of the next pass consider it.
	if len(saw) > 0 {
		if ents, err = a.Store.IncidentEntities(ctx, req.IncidentID); err != nil {
			return nil, classify(err)
		}
	}
	for _, e := range ents {
		what, ok := saw[e.Key]
		if !ok || e.Verdict == domain.VerdictMalicious || e.Verdict == domain.VerdictSuspicious {
			continue
		}
		ch := records.VerdictChange{Verdict: domain.VerdictSuspicious, Reason: what + ", judged malicious, was seen on it"}
		v, err := a.Store.SetRuleVerdict(ctx, req.IncidentID, e.Key, ch, req.Playbook, req.Step)
		if err != nil {
			return nil, classify(err)
		}
		if v.Verdict == domain.VerdictSuspicious {
			res.Suspected = append(res.Suspected, e.Key)
		}
	}
	var lines []string
	if len(res.Found) > 0 {
		lines = append(lines, fmt.Sprintf("%d other device(s) joined the investigation", len(res.Found)))
	}
	if len(res.Merged) > 0 {
		lines = append(lines, fmt.Sprintf("merged incident(s) %v, which held them", res.Merged))
	}
	if len(res.Suspected) > 0 {
		lines = append(lines, fmt.Sprintf("%d device(s) now suspicious", len(res.Suspected)))
	}
	if len(lines) == 0 {
		lines = append(lines, "no other device saw it")
	}
	res.Summary = strings.Join(append(lines, notes...), "; ")
	return res, nil
}
