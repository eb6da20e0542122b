package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// investigate runs every matching playbook through the six stages, on a
// fresh snapshot of the incident.
func (w *incident) investigate(ctx workflow.Context, books []*playbook.Playbook, first bool) error {
	var snap activities.Snapshot
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadIncident, w.in.IncidentID).Get(ctx, &snap); err != nil {
		return fmt.Errorf("load incident: %w", err)
	}
	w.settings = snap.Automation
	w.adopt(ctx, snap.Actions)
	w.loaded = true

	// Runs recorded before scope tracking existed investigate everything.
	scoped := snap.Entities
	if workflow.GetVersion(ctx, "investigation-scope", workflow.DefaultVersion, 1) >= 1 {
		var err error
		if scoped, err = w.scope(ctx, snap); err != nil {
			return err
		}
	}
	env := playbook.NewEnv(snap.Incident, snap.Alerts, scoped)
	var selected []*playbook.Playbook
	for _, pb := range books {
		ok, err := pb.Matches(env)
		if err != nil {
			return fmt.Errorf("playbook %s: match: %w", pb.Name, err)
		}
		if ok {
			selected = append(selected, pb)
			pin := PinnedPlaybook{Name: pb.Name, Version: pb.Version}
			if !slices.Contains(w.state.Playbooks, pin) {
				w.state.Playbooks = append(w.state.Playbooks, pin)
			}
		}
	}
	if first {
		w.log.Info("investigation started", "playbooks", len(selected))
	}
	pc := plan.NewContext(snap.Incident, snap.Entities, snap.Automation)
	for _, stage := range playbook.Stages {
		w.state.Stage = stage
		var proposed []*domain.Action
		for _, pb := range selected {
			for _, step := range pb.Steps(stage) {
				invs, err := step.Expand(env)
				if err != nil {
					return fmt.Errorf("playbook %s step %s: %w", pb.Name, step.ID, err)
				}
				for _, inv := range invs {
					a, err := w.runStep(ctx, snap, pc, pb, stage, step, inv)
					if err != nil {
						return fmt.Errorf("playbook %s step %s: %w", pb.Name, step.ID, err)
					}
					if a != nil {
						proposed = append(proposed, a)
					}
				}
			}
		}
		// A stage ends when each of its actions has been decided and run:
		// containment finishes before eradication starts.
		for _, a := range proposed {
			if err := workflow.Await(ctx, done(a)); err != nil {
				return err
			}
		}
	}
	w.state.Stage = ""
	return nil
}

// ExpandScope is the action that asks to widen an investigation to the
// entities of alerts that joined it, when they bring ScopeApprovalDevices
// devices or more.
const ExpandScope = "investigation.expand_scope"

// ScopeApprovalDevices is how many new devices make a scope expansion wait
// for an analyst.
const ScopeApprovalDevices = 10

// scope returns the entities this pass investigates. The first look at an
// incident takes all of them; later ones add the entities of alerts that
// joined, unless they bring ScopeApprovalDevices devices or more: then an
// ExpandScope action waits for approval, and without it the new entities
// stay out.
func (w *incident) scope(ctx workflow.Context, snap activities.Snapshot) ([]domain.Entity, error) {
	in := map[domain.EntityKey]bool{}
	for _, k := range snap.Scope {
		in[k] = true
	}
	var fresh []domain.EntityKey
	devices := 0
	for _, e := range snap.Entities {
		if !in[e.Key] {
			fresh = append(fresh, e.Key)
			if e.Kind == domain.KindDevice {
				devices++
			}
		}
	}
	if len(fresh) == 0 {
		return snap.Entities, nil
	}
	if len(snap.Scope) > 0 && devices >= ScopeApprovalDevices {
		key := fmt.Sprintf("incident-%d/scope/%s", w.in.IncidentID, actionID(fmt.Sprint(fresh)))
		a := w.state.action(actionID(key))
		if a == nil {
			now := workflow.Now(ctx)
			var err error
			a, err = w.propose(ctx, &domain.Action{
				ID: actionID(key), IncidentID: w.in.IncidentID, InvestigationID: workflow.GetInfo(ctx).WorkflowExecution.ID,
				Playbook: "investigation", Step: "scope", Type: ExpandScope,
				TargetName: fmt.Sprintf("%d new devices, %d new entities", devices, len(fresh)),
				Params:     domain.RawJSON("{}"), ParamsHash: domain.HashParams(ExpandScope, "", []byte(fmt.Sprint(fresh))),
				Source: domain.SourceAutomated, RequestedBy: "system:investigation", Status: domain.ActionPending,
				Reason:    fmt.Sprintf("alerts that joined bring %d new devices (%d or more need approval to investigate)", devices, ScopeApprovalDevices),
				CreatedAt: now, IdempotencyKey: key,
			}, nil)
			if err != nil {
				return nil, err
			}
			a = w.state.action(a.ID)
		}
		if err := workflow.Await(ctx, done(a)); err != nil {
			return nil, err
		}
		if a.Status != domain.ActionSucceeded {
			kept := make([]domain.Entity, 0, len(snap.Entities)-len(fresh))
			for _, e := range snap.Entities {
				if in[e.Key] {
					kept = append(kept, e)
				}
			}
			return kept, nil
		}
	}
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.AddToScope, w.in.IncidentID, fresh).Get(ctx, nil); err != nil {
		return nil, fmt.Errorf("record scope: %w", err)
	}
	return snap.Entities, nil
}

// runStep carries out one invocation of a step. Incident bookkeeping runs
// at once; a remediation becomes an action, returned to wait on.
func (w *incident) runStep(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, pb *playbook.Playbook,
	stage playbook.Stage, step *playbook.Step, inv playbook.Invocation) (*domain.Action, error) {
	rec := StepRecord{Playbook: pb.Name, Stage: stage, Step: step.ID, Item: inv.ItemKey}
	if !step.Spec.Remediation {
		err := w.bookkeeping(ctx, step.Action, inv.Args)
		rec.Outcome = "done"
		if err != nil {
			rec.Outcome = "failed: " + err.Error()
		}
		w.state.Steps = append(w.state.Steps, rec)
		return nil, err
	}
	a, d, err := plan.Propose(pc, pb, step, inv)
	if err != nil {
		return nil, err
	}
	id := actionID(a.IdempotencyKey)
	if known := w.state.action(id); known != nil {
		return known, nil // proposed in an earlier pass or run
	}
	if d.Outcome == policy.Skip {
		rec.Outcome = "skipped: " + d.Reason
		w.state.Steps = append(w.state.Steps, rec)
		return nil, nil
	}
	a.ID, a.InvestigationID, a.CreatedAt = id, workflow.GetInfo(ctx).WorkflowExecution.ID, workflow.Now(ctx)
	if a.Status == domain.ActionApproved {
		a.DecidedAt = &a.CreatedAt
	}
	var rate *policy.Rate
	if r, ok := snap.Automation.Guardrails.Rates[a.Type]; ok {
		rate = &r
	}
	if _, err := w.propose(ctx, a, rate); err != nil {
		return nil, err
	}
	a = w.state.action(id)
	rec.Outcome = "action " + a.ID + ": " + string(a.Status)
	w.state.Steps = append(w.state.Steps, rec)
	return a, nil
}

// bookkeeping runs a non-remediation step on the incident itself.
func (w *incident) bookkeeping(ctx workflow.Context, action string, args map[string]any) error {
	lctx := localCtx(ctx)
	switch action {
	case "incident.tag":
		return workflow.ExecuteLocalActivity(lctx, acts.TagIncident, w.in.IncidentID, stringList(args["tags"])).Get(ctx, nil)
	case "incident.comment":
		text, _ := args["text"].(string)
		return workflow.ExecuteLocalActivity(lctx, acts.CommentIncident, w.in.IncidentID, text).Get(ctx, nil)
	}
	return fmt.Errorf("action %s has no runner in the incident workflow", action)
}

func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
