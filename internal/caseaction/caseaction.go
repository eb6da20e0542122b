// Package caseaction carries out case actions: what a playbook does to AIR's
// own incident — set its severity, classify it, assign it, resolve it — once
// policy or an analyst in the action center let it run. They are actions of
// the connector kind actions.AIR; the connector router hands them here.
//
// Each is applied through the store's manage code
// (store.ApplyIncidentOperation), the one path an analyst's change through
// the API takes too: the same validation (a determination must fit its
// classification), the same activity log entries, the same cascades
// (resolving resolves the incident's active alerts, assigning assigns
// them). The change is audited as the playbook's ("system:playbook:NAME"),
// or as the person's who asked for a manual action.
//
// Exactly once: the action's idempotency key is recorded with the change in
// one transaction, so a retried attempt whose first try committed changes
// nothing — not even after an analyst reopened the incident meanwhile — and
// Decide is a pre-check on the incident as it is: an incident already
// resolved is left as it is, a severity already set is not set again.
package caseaction

import (
	"context"
	"fmt"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// Case action types.
const (
	SetSeverity = "incident.set_severity"
	Classify    = "incident.classify"
	Assign      = "incident.assign"
	Resolve     = "incident.resolve"
)

// Types lists the action types this package carries out.
func Types() []string { return []string{SetSeverity, Classify, Assign, Resolve} }

// Executor carries out case actions against the store.
type Executor struct {
	Store *store.Store
	// Changed, when set, hears of every change applied (the incident
	// before and after, and who it is audited as), e.g. to write it back
	// to the alerts' providers as a change by hand is.
	Changed func(ctx context.Context, incidentID int64, before, after *domain.Incident, by string)
}

var _ remediation.Executor = (*Executor)(nil)

// Execute applies one case action exactly once per idempotency key.
func (e *Executor) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	params, err := remediation.DecodeParams(req.Params)
	if err != nil {
		return remediation.Result{}, domain.Invalid("params", "%v", err)
	}
	if _, err := Decide(req.Type, params, &domain.Incident{}); err != nil && domain.KindOf(err) == domain.KindInvalid {
		return remediation.Result{}, err // a bad request fails before the incident is locked
	}
	actor, err := e.actor(ctx, req)
	if err != nil {
		return remediation.Result{}, err
	}
	op, before, after, err := e.Store.ApplyIncidentOperation(ctx, req.IncidentID, req.IdempotencyKey, req.Type, actor,
		func(cur *domain.Incident) (store.IncidentDecision, error) { return Decide(req.Type, params, cur) })
	if err != nil {
		return remediation.Result{}, err
	}
	if before == nil { // applied by an earlier attempt
		return remediation.Result{Summary: op.Result, Changed: false}, nil
	}
	if op.Changed && e.Changed != nil {
		e.Changed(ctx, req.IncidentID, before, after, actor)
	}
	return remediation.Result{Summary: op.Result, Changed: op.Changed}, nil
}

// actor is who the change is audited as: the action's playbook, or the
// person who asked for it by hand.
func (e *Executor) actor(ctx context.Context, req remediation.Request) (string, error) {
	if req.ActionID == "" {
		return "system:playbook", nil
	}
	a, err := e.Store.GetAction(ctx, req.ActionID)
	if err != nil {
		return "", fmt.Errorf("read action %s: %w", req.ActionID, err)
	}
	return store.ActionActor(a), nil
}

// Decide says what a case action does to the incident as it is now: the
// change to apply through the manage code (nil for none) and the result
// line the action center shows. It is pure, and the pre-check that keeps
// the action idempotent: asking for what the incident already is changes
// nothing, and an incident already resolved is not resolved again (nor
// its resolution overwritten). Bad parameters are invalid, naming the
// parameter.
func Decide(actionType string, params map[string]any, cur *domain.Incident) (store.IncidentDecision, error) {
	str := func(name string) string { s, _ := params[name].(string); return s }
	switch actionType {
	case SetSeverity:
		sev, err := domain.ParseEnum("severity", str("severity"), domain.Severities, false)
		if err != nil {
			return store.IncidentDecision{}, err
		}
		if sev == cur.Severity {
			return store.IncidentDecision{Result: "severity already " + string(sev)}, nil
		}
		return store.IncidentDecision{Change: &records.IncidentChange{Severity: &sev},
			Result: fmt.Sprintf("severity %s → %s", orNone(string(cur.Severity)), sev)}, nil
	case Classify:
		c, d, err := domain.CheckClassification(str("classification"), str("determination"))
		if err != nil {
			return store.IncidentDecision{}, err
		}
		if c == cur.Classification && d == cur.Determination {
			return store.IncidentDecision{Result: fmt.Sprintf("already classified %s (%s)", c, d)}, nil
		}
		return store.IncidentDecision{Change: &records.IncidentChange{Classification: &c, Determination: &d},
			Result: fmt.Sprintf("classified %s (%s), was %s", c, d, orNone(cur.Classification))}, nil
	case Assign:
		who, ok := params["assignedTo"].(string)
		if !ok {
			return store.IncidentDecision{}, domain.Invalid("assignedTo", "want a string (\"\" unassigns)")
		}
		if who == cur.AssignedTo {
			if who == "" {
				return store.IncidentDecision{Result: "already unassigned"}, nil
			}
			return store.IncidentDecision{Result: "already assigned to " + who}, nil
		}
		result := "assigned to " + who
		if who == "" {
			result = "unassigned"
		}
		if cur.AssignedTo != "" {
			result += ", was " + cur.AssignedTo
		}
		return store.IncidentDecision{Change: &records.IncidentChange{AssignedTo: &who}, Result: result}, nil
	case Resolve:
		c, d, err := domain.CheckClassification(str("classification"), str("determination"))
		if err != nil {
			return store.IncidentDecision{}, err
		}
		if cur.Status == domain.IncidentResolved {
			by := ""
			if cur.LastModifiedBy != "" {
				by = " (last changed by " + cur.LastModifiedBy + ")"
			}
			return store.IncidentDecision{Result: "already resolved" + by + "; left as it is"}, nil
		}
		resolved := domain.IncidentResolved
		ch := &records.IncidentChange{Status: &resolved, Classification: &c, Determination: &d, ResolvingComment: str("comment")}
		return store.IncidentDecision{Change: ch, Result: fmt.Sprintf("resolved as %s (%s)", c, d)}, nil
	}
	return store.IncidentDecision{}, domain.Errorf(domain.KindInvalid, "%s is not a case action (want one of %v)", actionType, Types())
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
