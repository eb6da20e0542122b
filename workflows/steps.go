package workflows

import (
	"encoding/json"
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
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

	env := playbook.NewEnv(snap.Incident, snap.Alerts, snap.Entities)
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
	entities := map[domain.EntityKey]domain.Entity{}
	for _, e := range snap.Entities {
		entities[e.Key] = e
	}
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
					a, err := w.runStep(ctx, snap, pb, stage, step, inv, entities)
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

// runStep carries out one invocation of a step. Incident bookkeeping runs
// at once; a remediation becomes an action, returned to wait on.
func (w *incident) runStep(ctx workflow.Context, snap activities.Snapshot, pb *playbook.Playbook, stage playbook.Stage,
	step *playbook.Step, inv playbook.Invocation, entities map[domain.EntityKey]domain.Entity) (*domain.Action, error) {
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
	key := fmt.Sprintf("incident-%d/%s/%s/%s", w.in.IncidentID, pb.Name, step.ID, inv.Target)
	id := actionID(key)
	if a := w.state.action(id); a != nil {
		return a, nil // proposed in an earlier pass or run
	}
	target := entities[inv.Target]
	d := policy.Decide(snap.Automation, policy.Input{ActionType: step.Action, Approval: step.Approval,
		Verdict: target.Verdict, DeviceGroup: target.Attrs["deviceGroup"], FilePath: target.Attrs["filePath"],
		EntityTags: target.Tags})
	if d.Outcome == policy.Skip {
		rec.Outcome = "skipped: " + d.Reason
		w.state.Steps = append(w.state.Steps, rec)
		return nil, nil
	}
	params, err := json.Marshal(inv.Args)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	a := &domain.Action{
		ID: id, IncidentID: w.in.IncidentID, InvestigationID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Playbook: pb.Name, PlaybookVersion: pb.Version, Step: step.ID, Type: step.Action,
		TargetKey: inv.Target, TargetName: inv.TargetName, Params: params,
		ParamsHash: domain.HashParams(step.Action, inv.Target, params), Source: domain.SourceAutomated,
		RequestedBy: "playbook:" + pb.Name, Status: domain.ActionPending, Reason: d.Reason,
		CreatedAt: workflow.Now(ctx), IdempotencyKey: key,
	}
	if d.Outcome == policy.Run {
		a.Status = domain.ActionApproved
		a.DecidedBy = domain.PolicyActor
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
