package activities

import (
	"context"
	"encoding/json"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
)

// Bounds on what one load of an incident carries into workflow history
// (docs/engine.md, "Bounds"): the most recently active alerts, at most
// MaxSnapshotAlerts of them and at most MaxSnapshotAlertBytes of encoded
// alerts; every alert is counted in the snapshot's AlertSummary. A pass
// keeps its snapshot while it waits for decisions, and the worker's
// workflow cache keeps the pass: under a flood that opened a thousand
// investigations waiting for approval, these bounds times the open
// investigations are most of AIR's heap (docs/performance.md).
const (
	MaxSnapshotAlerts     = 100
	MaxSnapshotAlertBytes = 128 << 10
)

// alertWindow reads the incident's most recent alerts within the bounds,
// and the summary of all of them. The alerts go into workflow history, so
// the provider's raw document is left out.
func (a *Activities) alertWindow(ctx context.Context, incidentID int64) ([]domain.Alert, *store.AlertSummary, error) {
	summary, err := a.Store.IncidentAlertSummary(ctx, incidentID)
	if err != nil {
		return nil, nil, err
	}
	alerts, err := a.Store.RecentIncidentAlerts(ctx, incidentID, MaxSnapshotAlerts)
	if err != nil {
		return nil, nil, err
	}
	// Newest last: drop the oldest until the window fits the byte bound,
	// keeping at least the newest alert.
	total, keep := 0, len(alerts)
	for i := len(alerts) - 1; i >= 0; i-- {
		b, err := json.Marshal(&alerts[i])
		if err != nil {
			return nil, nil, err
		}
		if total+len(b) > MaxSnapshotAlertBytes && i < len(alerts)-1 {
			break
		}
		total += len(b)
		keep = i
	}
	return alerts[keep:], summary, nil
}

// Policy is the policy in force for one decision, read when the decision
// is made (at proposal, approval and undo), never from a snapshot taken
// earlier nor from a message's body.
type Policy struct {
	Automation policy.Settings `json:"automation"`
	// Tags are the stored tags of the entities the decision is about.
	Tags map[domain.EntityKey][]string `json:"tags,omitempty"`
	// Holding are actions of other open incidents that keep the entities in
	// the state the decision would change: succeeded, not undone, of the
	// type asked about (ReadPolicy's holdingType).
	Holding []domain.Action `json:"holding,omitempty"`
	// Open are other open incidents' actions of PolicyRequest.OpenType on
	// the entities, not over yet.
	Open []domain.Action `json:"open,omitempty"`
}

// PolicyRequest names what a decision is about.
type PolicyRequest struct {
	IncidentID int64              `json:"incidentId"`
	Entities   []domain.EntityKey `json:"entities,omitempty"`
	// HoldingType, when set, asks for the succeeded actions of this type
	// on the entities in other open incidents (an undo's conflicts).
	HoldingType string `json:"holdingType,omitempty"`
	// OpenType, when set, asks for the actions of this type on the
	// entities that other open incidents proposed and that are not over
	// (a proposal joins one instead of acting twice).
	OpenType string `json:"openType,omitempty"`
}

// ReadPolicy reads the automation settings and the entities' tags as they
// are now. The incident workflow runs it as a local activity each time it
// decides.
func (a *Activities) ReadPolicy(ctx context.Context, req PolicyRequest) (*Policy, error) {
	s, err := a.settings(ctx)
	if err != nil {
		return nil, err
	}
	p := &Policy{Automation: s}
	if len(req.Entities) > 0 {
		if p.Tags, err = a.Store.EntityTags(ctx, req.Entities); err != nil {
			return nil, err
		}
	}
	if req.HoldingType != "" {
		for _, e := range req.Entities {
			held, err := a.Store.HoldingActions(ctx, req.IncidentID, req.HoldingType, e)
			if err != nil {
				return nil, err
			}
			p.Holding = append(p.Holding, held...)
		}
	}
	if req.OpenType != "" {
		for _, e := range req.Entities {
			open, err := a.Store.OpenActionsOn(ctx, req.IncidentID, req.OpenType, e)
			if err != nil {
				return nil, err
			}
			p.Open = append(p.Open, open...)
		}
	}
	return p, nil
}

// NoteAlsoProposed records that an investigation joined an action instead
// of proposing it again.
func (a *Activities) NoteAlsoProposed(ctx context.Context, act *domain.Action, by string, incidentID int64) error {
	return classify(a.Store.NoteAlsoProposed(ctx, act, by, incidentID))
}

// AuditInvestigation records a person's act on the whole investigation
// (a stop) in the audit log.
func (a *Activities) AuditInvestigation(ctx context.Context, incidentID int64, actor, verb, text string) error {
	return classify(a.Store.AuditInvestigation(ctx, incidentID, actor, verb, text))
}
