// Package plan says what playbooks would do to an incident, and is the one
// place where a step invocation becomes a proposed action with its policy
// decision: the incident workflow calls Propose for real, plan mode calls
// it for every step without running anything, so the plan an analyst reads
// is the decision the engine takes.
package plan

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// Context is what a proposal is decided against: the incident, its
// entities by key and the tenant's settings.
type Context struct {
	Incident domain.Incident
	Entities map[domain.EntityKey]domain.Entity
	Settings policy.Settings
	// Merged are the actions of incidents merged into this one (see
	// Covered).
	Merged []domain.Action
	// Recorded are the incident's own actions so far, for a plan of a
	// stored incident (see Known).
	Recorded []domain.Action
}

// Known returns the incident's recorded action a proposal is, as the
// workflow finds it: the one with its idempotency key (this step proposed
// it on an earlier pass), else the same action (type, target, parameters)
// another step proposed, unless that one failed (then the workflow asks
// again). nil when the proposal is new.
func (c *Context) Known(a *domain.Action) *domain.Action {
	for i := range c.Recorded {
		if m := &c.Recorded[i]; m.IdempotencyKey == a.IdempotencyKey {
			return m
		}
	}
	for i := range c.Recorded {
		m := &c.Recorded[i]
		if m.Type == a.Type && m.TargetKey == a.TargetKey && m.UndoOf == "" && m.ParamsHash == a.ParamsHash &&
			m.Status != domain.ActionFailed {
			return m
		}
	}
	return nil
}

// OutcomeDone is the outcome of a proposal whose action succeeded already.
const OutcomeDone = "done"

// KnownOutcome is how a plan shows a proposal the incident recorded: done
// when it succeeded, else its status (pending, rejected, …), with who
// proposed it and when it was decided.
func KnownOutcome(m *domain.Action) (outcome, reason string) {
	outcome = string(m.Status)
	if m.Status == domain.ActionSucceeded {
		outcome = OutcomeDone
	}
	reason = fmt.Sprintf("recorded as action %s (%s/%s): %s", m.ID, m.Playbook, m.Step, m.Status)
	if m.DecidedBy != "" {
		reason += ", decided by " + m.DecidedBy
	}
	if m.Result != "" {
		reason += ": " + m.Result
	}
	if m.Error != "" {
		reason += ": " + m.Error
	}
	return outcome, reason
}

// Covered returns the action of an incident merged into this one that
// already covers a proposal: the same type on the same entity, waiting,
// under way, done, or undone by an analyst. Proposing it again would
// remediate the entity twice. A merged action that was rejected, expired or
// failed covers nothing: the bigger incident asks again.
func (c *Context) Covered(a *domain.Action) *domain.Action {
	for i := range c.Merged {
		m := &c.Merged[i]
		if m.Type != a.Type || m.TargetKey != a.TargetKey || m.UndoOf != "" {
			continue
		}
		switch m.Status {
		case domain.ActionRejected, domain.ActionExpired, domain.ActionFailed:
			continue
		}
		return m
	}
	return nil
}

// CoveredReason says which merged action covers a proposal.
func CoveredReason(m *domain.Action) string {
	return fmt.Sprintf("covered by action %s of merged incident %d (%s)", m.ID, m.IncidentID, m.Status)
}

// NewContext indexes the entities.
func NewContext(inc domain.Incident, entities []domain.Entity, settings policy.Settings) *Context {
	c := &Context{Incident: inc, Entities: make(map[domain.EntityKey]domain.Entity, len(entities)), Settings: settings}
	for _, e := range entities {
		c.Entities[e.Key] = e
	}
	return c
}

// IdempotencyKey names a step invocation's action the same way in every
// run of an investigation: incident, playbook, step and target.
func IdempotencyKey(incidentID int64, playbookName, stepID string, target domain.EntityKey) string {
	return fmt.Sprintf("incident-%d/%s/%s/%s", incidentID, playbookName, stepID, target)
}

// Propose turns a remediation step's invocation into an action (without id,
// times or decision fields, which the caller sets) and decides it. A Skip
// decision means no action.
func Propose(c *Context, pb *playbook.Playbook, step *playbook.Step, inv playbook.Invocation) (*domain.Action, policy.Decision, error) {
	target := c.Entities[inv.Target]
	targetKey, targetName := inv.Target, inv.TargetName
	incident := step.Spec != nil && step.Spec.CaseAction()
	if incident {
		// A case action acts on the incident itself, keyed by it so that
		// it is never joined with another incident's.
		targetKey, targetName = domain.IncidentTarget(c.Incident.ID), c.Incident.DisplayName
		if targetName == "" {
			targetName = fmt.Sprintf("incident %d", c.Incident.ID)
		}
	}
	d := policy.Decide(c.Settings, policy.Input{ActionType: step.Action, Approval: step.Approval, Incident: incident,
		Verdict: target.Verdict, DeviceGroup: target.Attrs["deviceGroup"], FilePath: target.Attrs["filePath"],
		EntityTags: target.Tags, Rule: policy.RuleEnv{
			Action:   policy.RuleAction{Type: step.Action, Params: inv.Args},
			Incident: policy.RuleIncident{ID: c.Incident.ID, Severity: string(c.Incident.Severity), Tags: c.Incident.CustomTags},
			Target: policy.RuleTarget{Key: string(target.Key), Kind: string(target.Kind), Name: target.Name,
				Verdict: string(target.Verdict), DeviceGroup: target.Attrs["deviceGroup"], Tags: target.Tags},
		}})
	params, err := json.Marshal(inv.Args)
	if err != nil {
		return nil, d, fmt.Errorf("encode params: %w", err)
	}
	a := &domain.Action{
		IncidentID: c.Incident.ID, Playbook: pb.Name, PlaybookVersion: pb.Version, Step: step.ID, Type: step.Action,
		TargetKey: targetKey, TargetName: targetName, Params: params,
		ParamsHash: domain.HashParams(step.Action, targetKey, params), Source: domain.SourceAutomated,
		RequestedBy: "playbook:" + pb.Name, Status: domain.ActionPending, Reason: d.Reason,
		IdempotencyKey: IdempotencyKey(c.Incident.ID, pb.Name, step.ID, targetKey),
	}
	if len(step.Connectors) > 0 {
		a.Connectors = domain.NameList(slices.Clone(step.Connectors))
	}
	if d.Outcome == policy.Run {
		a.Status, a.DecidedBy = domain.ActionApproved, domain.PolicyActor
	}
	return a, d, nil
}
