package workflows

import (
	"errors"
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
	selected, err := playbook.Select(books, env)
	if err != nil {
		return err
	}
	for _, pb := range selected {
		pin := PinnedPlaybook{Name: pb.Name, Version: pb.Version}
		if !slices.Contains(w.state.Playbooks, pin) {
			w.state.Playbooks = append(w.state.Playbooks, pin)
		}
	}
	if first {
		w.log.Info("investigation started", "playbooks", len(selected))
	}
	pc := plan.NewContext(snap.Incident, snap.Entities, snap.Automation)
	runs := make([]*pbRun, len(selected))
	for i, pb := range selected {
		runs[i] = newRun(pb, env)
	}
	// Stage by stage across playbooks: every playbook's containment
	// finishes before any eradication starts.
	for _, stage := range playbook.Stages {
		w.state.Stage = stage
		for _, r := range runs {
			if r.stopped {
				continue
			}
			if err := w.runStage(ctx, snap, pc, r, stage); err != nil {
				return err
			}
		}
		for _, r := range runs {
			if err := w.finishStage(ctx, snap, pc, r, stage); err != nil {
				return err
			}
		}
	}
	w.state.Stage = ""
	return nil
}

// pbRun is one playbook (or sub-playbook invocation) running in a pass:
// its environment, with the outputs of its steps so far, and the actions
// each step proposed.
type pbRun struct {
	pb      *playbook.Playbook
	env     *playbook.Env
	actions map[string][]*domain.Action // step id → actions, in Expand order
	failed  map[string]string           // step id → error, for steps that failed outright
	stopped bool                        // on_error: fail stopped the playbook
}

func newRun(pb *playbook.Playbook, env *playbook.Env) *pbRun {
	e := *env
	e.Steps = map[string]playbook.StepOutput{}
	return &pbRun{pb: pb, env: &e, actions: map[string][]*domain.Action{}, failed: map[string]string{}}
}

// output summarises a step's actions as later expressions read them.
func (r *pbRun) output(stepID string) playbook.StepOutput {
	out := playbook.StepOutput{Results: []playbook.ActionOutput{}}
	if msg, ok := r.failed[stepID]; ok {
		out.Status, out.Failed, out.Count, out.Error = playbook.StepFailed, 1, 1, msg
		return out
	}
	for _, a := range r.actions[stepID] {
		out.Count++
		out.Results = append(out.Results, playbook.ActionOutput{Target: string(a.TargetKey), TargetName: a.TargetName,
			Status: string(a.Status), Result: a.Result, Error: a.Error})
		switch a.Status {
		case domain.ActionSucceeded, domain.ActionUndone:
			out.Succeeded++
		case domain.ActionFailed:
			out.Failed++
			if out.Error == "" {
				out.Error = a.Error
			}
		case domain.ActionRejected, domain.ActionExpired:
			out.Skipped++
		default:
			out.Pending++
		}
	}
	switch {
	case out.Pending > 0:
		out.Status = playbook.StepPending
	case out.Count == 0 || out.Skipped == out.Count:
		out.Status = playbook.StepSkipped
	case out.Succeeded == out.Count:
		out.Status = playbook.StepSucceeded
	case out.Failed == out.Count:
		out.Status = playbook.StepFailed
	default:
		out.Status = playbook.StepPartial
	}
	return out
}

// runStage runs a playbook's steps of one stage in order. A step that reads
// another's outputs first waits for that step's actions to be final.
func (w *incident) runStage(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, r *pbRun, stage playbook.Stage) error {
	for _, step := range r.pb.Steps(stage) {
		if step.Handler || r.stopped {
			continue
		}
		if err := w.runStep(ctx, snap, pc, r, stage, step, r.env); err != nil {
			return err
		}
	}
	return nil
}

// finishStage waits for the stage's actions and applies on_error to the
// steps whose actions failed.
func (w *incident) finishStage(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, r *pbRun, stage playbook.Stage) error {
	for _, step := range r.pb.Steps(stage) {
		if err := w.await(ctx, r.actions[step.ID]); err != nil {
			return err
		}
		r.env.Steps[step.ID] = r.output(step.ID)
	}
	for _, step := range r.pb.Steps(stage) {
		// A use step fails only when its sub-playbook does (runStep saw
		// that); failures the sub-playbook handled itself stay there.
		if _, handled := r.failed[step.ID]; handled || step.Handler || step.Use != "" || r.stopped {
			continue
		}
		if out := r.output(step.ID); out.Failed > 0 {
			if err := w.onError(ctx, snap, pc, r, stage, step, out.Error); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *incident) await(ctx workflow.Context, acts []*domain.Action) error {
	for _, a := range acts {
		if err := workflow.Await(ctx, done(a)); err != nil {
			return err
		}
	}
	return nil
}

// stepFailure is a playbook step that failed with on_error: fail.
type stepFailure struct {
	playbook, step, msg string
}

func (e *stepFailure) Error() string {
	return fmt.Sprintf("playbook %s step %s: %s", e.playbook, e.step, e.msg)
}

// onError applies a failed step's on_error: fail stops the playbook and
// fails the investigation, continue goes on, a handler id runs that step
// with error and failed_step set.
func (w *incident) onError(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, r *pbRun,
	stage playbook.Stage, step *playbook.Step, msg string) error {
	w.log.Info("step failed", "playbook", r.pb.Name, "step", step.ID, "error", msg, "onError", step.OnError)
	switch step.OnError {
	case playbook.OnErrorContinue:
		return nil
	case playbook.OnErrorFail, "":
		r.stopped = true
		return &stepFailure{playbook: r.pb.Name, step: step.ID, msg: msg}
	}
	h := r.pb.Step(step.OnError)
	if h == nil {
		return &stepFailure{playbook: r.pb.Name, step: step.ID, msg: msg + " (and its handler " + step.OnError + " is missing)"}
	}
	env := playbook.WithError(r.env, step.ID, msg)
	if err := w.runStep(ctx, snap, pc, r, stage, h, env); err != nil {
		return err
	}
	if err := w.await(ctx, r.actions[h.ID]); err != nil {
		return err
	}
	r.env.Steps[h.ID] = r.output(h.ID)
	return nil
}

// runStep expands one step and carries out its invocations: a use step
// runs its sub-playbook, bookkeeping runs at once, a remediation becomes
// actions. A step that fails outright (its expressions, its bookkeeping,
// its sub-playbook) goes to onError at once.
func (w *incident) runStep(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, r *pbRun,
	stage playbook.Stage, step *playbook.Step, env *playbook.Env) error {
	for _, id := range step.Reads {
		if err := w.await(ctx, r.actions[id]); err != nil {
			return err
		}
		r.env.Steps[id] = r.output(id)
	}
	fail := func(err error) error {
		r.failed[step.ID] = rootMessage(err)
		w.state.Steps = append(w.state.Steps, StepRecord{Playbook: r.pb.Name, Stage: stage, Step: step.ID,
			Outcome: "failed: " + rootMessage(err), At: workflow.Now(ctx)})
		return w.onError(ctx, snap, pc, r, stage, step, rootMessage(err))
	}
	invs, err := step.Expand(env)
	if err != nil {
		return fail(err)
	}
	for _, inv := range invs {
		rec := StepRecord{Playbook: r.pb.Name, Stage: stage, Step: step.ID, Item: inv.ItemKey, At: workflow.Now(ctx)}
		switch {
		case step.Use != "":
			sub := newRun(step.Callee, playbook.WithInputs(env, inv.Args))
			sub.env.Steps = map[string]playbook.StepOutput{}
			for _, st := range playbook.Stages {
				if err := w.runStage(ctx, snap, pc, sub, st); err != nil {
					return err
				}
				if err := w.finishStage(ctx, snap, pc, sub, st); err != nil {
					var sf *stepFailure
					if errors.As(err, &sf) {
						r.actions[step.ID] = append(r.actions[step.ID], sub.all()...)
						return fail(err)
					}
					return err
				}
			}
			r.actions[step.ID] = append(r.actions[step.ID], sub.all()...)
			rec.Outcome = "ran " + step.Use
			w.state.Steps = append(w.state.Steps, rec)
		case !step.Spec.Remediation:
			if err := w.bookkeeping(ctx, step.Action, inv.Args); err != nil {
				return fail(err)
			}
			rec.Outcome = "done"
			w.state.Steps = append(w.state.Steps, rec)
		default:
			a, err := w.proposeStep(ctx, snap, pc, r.pb, step, inv)
			if err != nil {
				return err
			}
			if a == nil {
				rec.Outcome = "skipped by policy"
			} else {
				r.actions[step.ID] = append(r.actions[step.ID], a)
				rec.Outcome = "action " + a.ID + ": " + string(a.Status)
			}
			w.state.Steps = append(w.state.Steps, rec)
		}
	}
	return nil
}

// all lists every action the run's steps proposed, in step order.
func (r *pbRun) all() []*domain.Action {
	var out []*domain.Action
	for _, stage := range playbook.Stages {
		for _, step := range r.pb.Steps(stage) {
			out = append(out, r.actions[step.ID]...)
		}
	}
	return out
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

// proposeStep turns a remediation step's invocation into an action, or
// finds the one an earlier pass or run recorded; nil when policy leaves it
// out.
func (w *incident) proposeStep(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, pb *playbook.Playbook,
	step *playbook.Step, inv playbook.Invocation) (*domain.Action, error) {
	a, d, err := plan.Propose(pc, pb, step, inv)
	if err != nil {
		return nil, err
	}
	id := actionID(a.IdempotencyKey)
	w.steps[id] = step
	if known := w.state.action(id); known != nil {
		return known, nil
	}
	if d.Outcome == policy.Skip {
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
	return w.state.action(id), nil
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
