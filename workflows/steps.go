package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/actions"
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
	if w.version(ctx, truthfulOutcomeVersion) >= 1 {
		w.malicious = domain.Uncontained(snap.Entities, snap.Alerts)
	}
	w.adopt(ctx, snap.Actions)
	w.adoptQuestions(snap.Questions)
	w.loaded = true
	if snap.Incident.Status == domain.IncidentRedirected && snap.Incident.RedirectIncidentID != nil &&
		w.version(ctx, mergedAwayVersion) >= 1 {
		// Merged into another incident, whose investigation carries on
		// with this one's alerts and entities and covers its actions: no
		// playbook runs on the empty shell. Actions already proposed are
		// still followed to their end.
		w.noteStep(StepRecord{Playbook: "investigation", Step: "merged", At: workflow.Now(ctx),
			Outcome: fmt.Sprintf("merged into incident %d, whose investigation carries on", *snap.Incident.RedirectIncidentID)})
		return nil
	}

	// Runs recorded before scope tracking existed investigate everything.
	scoped := snap.Entities
	if w.version(ctx, scopeVersion) >= 1 {
		var err error
		if scoped, err = w.scope(ctx, snap); err != nil {
			return err
		}
	}
	env := playbook.NewEnv(snap.Incident, snap.Alerts, scoped)
	playbook.AddFacts(env, snap.Facts)
	// The tenant's values of the playbooks' inputs come with the snapshot,
	// so a replay sees what the run saw; runs recorded before inputs read
	// every input at its default.
	var tenant map[string]map[string]any
	inputs := w.version(ctx, inputsVersion)
	if inputs >= 1 {
		tenant = snap.Inputs
	}
	// Choose applies the exclusive rule. No GetVersion guard: the books are
	// the sources pinned in this run's history, and a source recorded before
	// `exclusive` existed cannot carry it (the parser rejected unknown keys),
	// so replaying an old history selects exactly what it selected then.
	choice, err := playbook.ChooseWith(books, env, tenant)
	if err != nil {
		return err
	}
	selected := choice.Run
	w.noteChoice(choice)
	if first {
		w.log.Info("investigation started", "playbooks", len(selected))
	}
	pc := plan.NewContext(snap.Incident, snap.Entities, snap.Automation)
	pc.Merged = snap.MergedActions
	summary := w.version(ctx, summaryVersion)
	runs := make([]*pbRun, len(selected))
	for i, pb := range selected {
		penv := env
		if len(pb.Inputs) > 0 {
			penv = playbook.WithPlaybookInputs(env, pb, tenant[pb.Name])
		}
		runs[i] = newRun(pb, penv, summary)
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
		if stage == playbook.StageAnalysis && w.version(ctx, factsVersion) >= 1 {
			// What this pass's analysis steps learned, for the rules of the
			// stages after it (item.intel).
			var facts []domain.Fact
			if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadFacts, w.in.IncidentID).Get(ctx, &facts); err != nil {
				return fmt.Errorf("load facts: %w", err)
			}
			for _, r := range runs {
				playbook.AddFacts(r.env, facts)
			}
		}
	}
	w.state.Stage = ""
	return nil
}

// scopeVersion marks runs that track the investigation's scope: runs
// recorded before it investigate every entity.
const scopeVersion = "investigation-scope"

// mergedAwayVersion marks runs that run no playbook on an incident merged
// into another (status redirected): the other's investigation carries on.
const mergedAwayVersion = "merged-away-rests"

// factsVersion marks runs that read the facts again after the analysis
// stage (LoadFacts), so that containment's rules see what analysis found.
const factsVersion = "facts-after-analysis"

// noteChoice pins the playbooks that run and records the ones that matched
// but do not, with why (State.NotRun), for the pages and the CLI. It only
// changes the state: no command, so replays are unaffected.
func (w *incident) noteChoice(choice playbook.Choice) {
	for _, pb := range choice.Run {
		pin := PinnedPlaybook{Name: pb.Name, Version: pb.Version}
		if !slices.Contains(w.state.Playbooks, pin) {
			w.state.Playbooks = append(w.state.Playbooks, pin)
		}
		w.state.NotRun = slices.DeleteFunc(w.state.NotRun, func(n NotRunPlaybook) bool { return n.Name == pb.Name })
	}
	for _, l := range choice.Left {
		ran := slices.ContainsFunc(w.state.Playbooks, func(p PinnedPlaybook) bool { return p.Name == l.Playbook.Name })
		known := slices.ContainsFunc(w.state.NotRun, func(n NotRunPlaybook) bool { return n.Name == l.Playbook.Name })
		if ran || known {
			continue
		}
		w.log.Info("playbook matched but does not run", "playbook", l.Playbook.Name, "reason", l.Reason)
		w.state.NotRun = append(w.state.NotRun, NotRunPlaybook{Name: l.Playbook.Name, Version: l.Playbook.Version, Reason: l.Reason})
	}
}

// pbRun is one playbook (or sub-playbook invocation) running in a pass:
// its environment, with the outputs of its steps so far, and what each
// step's invocations did.
type pbRun struct {
	pb      *playbook.Playbook
	env     *playbook.Env
	inv     map[string][]invocation // step id → invocations, in Expand order
	failed  map[string]string       // step id → error, for steps that failed outright
	stopped bool                    // on_error: fail stopped the playbook
	// path names a sub-playbook run by the use steps and items that led to
	// it ("/contain/device:dev1"); "" for a playbook. Questions and waits
	// are keyed by it, so that each item's sub-playbook asks its own.
	path string
	// summary is the version of step outputs (see summaryVersion).
	summary workflow.Version
}

// invocation is one invocation of a step: an action, or (act nil) a
// bookkeeping step that ran or a remediation that policy left out.
type invocation struct {
	act *domain.Action
	out playbook.ActionOutput // when act is nil
	// remediation marks actions and policy-skipped remediations, which a
	// use step's output counts from its sub-playbook; bookkeeping stays
	// with its own step.
	remediation bool
	// q is an ask step's question; wait a wait step's wait.
	q    *domain.Question
	wait *condWait
}

// inputsVersion marks runs whose playbooks read the tenant's values of
// their inputs (the snapshot's Inputs); earlier runs read every input at
// its default.
const inputsVersion = "playbook-inputs"

// truthfulOutcomeVersion: runs from it on remember the malicious evidence
// nothing contained, so that finalState does not call them benign.
const truthfulOutcomeVersion = "truthful-outcome"

// summaryVersion 1 counts every invocation in a step's output, as plan
// mode and the docs do: a bookkeeping step that ran is succeeded, a
// remediation that policy left out is skipped. Runs recorded before it
// counted only actions (a bookkeeping step read as skipped).
const summaryVersion = "step-output-summary"

func newRun(pb *playbook.Playbook, env *playbook.Env, summary workflow.Version) *pbRun {
	e := *env
	e.Steps = map[string]playbook.StepOutput{}
	return &pbRun{pb: pb, env: &e, inv: map[string][]invocation{}, failed: map[string]string{}, summary: summary}
}

// waitsOf lists what a step's invocations wait for before the step's output
// is final: its actions reaching a final state, its question an answer
// (or its timeout), its wait its condition.
func (w *incident) waitsOf(r *pbRun, stepID string) []func() bool {
	var out []func() bool
	for _, iv := range r.inv[stepID] {
		switch {
		case iv.act != nil:
			out = append(out, done(iv.act))
		case iv.q != nil:
			out = append(out, w.finished(iv.q))
		case iv.wait != nil:
			out = append(out, iv.wait.done)
		}
	}
	return out
}

// subPath is the path of the sub-playbook a use step runs for one item.
func (r *pbRun) subPath(step *playbook.Step, inv playbook.Invocation) string {
	return r.path + "/" + step.ID + "/" + inv.ItemKey
}

// output summarises a step's invocations as later expressions read them
// (playbook.Summarize, shared with plan mode).
func (r *pbRun) output(stepID string) playbook.StepOutput {
	if msg, ok := r.failed[stepID]; ok {
		return playbook.StepOutput{Status: playbook.StepFailed, Failed: 1, Count: 1, Error: msg, Results: []playbook.ActionOutput{}}
	}
	var results []playbook.ActionOutput
	for _, iv := range r.inv[stepID] {
		switch {
		case iv.q != nil:
			return askOutput(iv.q)
		case iv.wait != nil:
			return waitOutput(iv.wait)
		case iv.act != nil:
			a := iv.act
			results = append(results, playbook.ActionOutput{Target: string(a.TargetKey), TargetName: a.TargetName,
				Status: string(a.Status), Result: a.Result, Error: a.Error})
		case r.summary >= 1:
			results = append(results, iv.out)
		}
	}
	return playbook.Summarize(results)
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
		if err := w.await(ctx, w.waitsOf(r, step.ID)); err != nil {
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

// await waits until every one of dones holds: actions are final,
// questions answered, conditions met (waitsOf). In eventful runs, alerts
// that join meanwhile do not wait with them: a side pass (one at a time)
// analyses the incident as it is now, so new evidence is looked at and its
// independent steps proposed while this action (or question) waits for a
// person; the side pass itself waits where it depends on the same ones.
func (w *incident) await(ctx workflow.Context, dones []func() bool) error {
	for _, done := range dones {
		for w.eventful >= 1 && !done() {
			if err := workflow.Await(ctx, func() bool { return done() || (!w.side && w.added.Len() > 0) }); err != nil {
				return err
			}
			if done() || !w.drainSignals() {
				continue
			}
			w.side = true
			w.sides++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { w.side = false }()
				if err := w.investigate(ctx, w.books, false); err != nil && !errors.Is(err, errStopped) && w.sideErr == nil {
					w.sideErr = err
				}
			})
		}
		if err := workflow.Await(ctx, done); err != nil {
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
	if err := w.await(ctx, w.waitsOf(r, h.ID)); err != nil {
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
	if w.stop != nil {
		return errStopped
	}
	for _, id := range step.Reads {
		if err := w.await(ctx, w.waitsOf(r, id)); err != nil {
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
	if len(invs) == 0 && w.people >= 1 {
		// Say why nothing ran: the pages and the CLI show it ("when is
		// false: steps.disable.succeeded > 0" after a rejection).
		why, err := step.WhyNone(env)
		if err != nil {
			why = rootMessage(err)
		}
		w.noteStep(StepRecord{Playbook: r.pb.Name, Stage: stage, Step: step.ID, Outcome: "skipped: " + why, At: workflow.Now(ctx)})
	}
	if (step.Ask != nil || step.Wait != nil) && w.people < 1 {
		return fail(fmt.Errorf("ask and wait steps need the %s workflow version; this run predates it", peopleVersion))
	}
	if step.Use != "" && w.eventful >= 1 {
		return w.runUse(ctx, snap, pc, r, stage, step, env, invs, fail)
	}
	for _, inv := range invs {
		rec := StepRecord{Playbook: r.pb.Name, Stage: stage, Step: step.ID, Item: inv.ItemKey, At: workflow.Now(ctx)}
		switch {
		case step.Ask != nil:
			q, err := w.ask(ctx, r, step, inv)
			if err != nil {
				return fail(err)
			}
			r.inv[step.ID] = append(r.inv[step.ID], invocation{q: q})
			rec.Outcome = fmt.Sprintf("asked %s: question %s (%s)", q.Audience, q.ID, q.Status)
			w.noteStep(rec)
		case step.Wait != nil:
			c := w.waitFor(ctx, r, step, env)
			r.inv[step.ID] = append(r.inv[step.ID], invocation{wait: c})
			rec.Outcome = fmt.Sprintf("waits until %s (by %s)", step.Wait.Until, c.rec.Deadline.Format(time.RFC3339))
			w.noteStep(rec)
		case step.Use != "":
			sub := newRun(step.Callee, playbook.WithInputs(env, inv.Args), r.summary)
			sub.path = r.subPath(step, inv)
			sub.env.Steps = map[string]playbook.StepOutput{}
			for _, st := range playbook.Stages {
				if err := w.runStage(ctx, snap, pc, sub, st); err != nil {
					return err
				}
				if err := w.finishStage(ctx, snap, pc, sub, st); err != nil {
					var sf *stepFailure
					if errors.As(err, &sf) {
						r.inv[step.ID] = append(r.inv[step.ID], sub.remediations()...)
						return fail(err)
					}
					return err
				}
			}
			r.inv[step.ID] = append(r.inv[step.ID], sub.remediations()...)
			rec.Outcome = "ran " + step.Use
			w.state.Steps = append(w.state.Steps, rec)
		case !step.Spec.Remediation:
			result, err := w.bookkeeping(ctx, r.pb.Name, r.env, step, inv)
			if err != nil {
				return fail(err)
			}
			r.inv[step.ID] = append(r.inv[step.ID], invocation{out: playbook.ActionOutput{Target: string(inv.Target),
				TargetName: inv.TargetName, Status: string(domain.ActionSucceeded), Result: result}})
			rec.Outcome = "done"
			w.state.Steps = append(w.state.Steps, rec)
		default:
			a, err := w.proposeStep(ctx, snap, pc, r.pb, step, inv)
			var elsewhere *handledElsewhere
			if errors.As(err, &elsewhere) {
				m := elsewhere.action
				r.inv[step.ID] = append(r.inv[step.ID], invocation{remediation: true, out: playbook.ActionOutput{
					Target: string(m.TargetKey), TargetName: m.TargetName, Status: string(m.Status), Result: m.Result, Error: m.Error}})
				rec.Outcome, rec.ActionID = elsewhere.Error(), m.ID
				w.state.Steps = append(w.state.Steps, rec)
				continue
			}
			if err != nil {
				return err
			}
			if a == nil {
				r.inv[step.ID] = append(r.inv[step.ID], invocation{remediation: true, out: playbook.ActionOutput{
					Target: string(inv.Target), TargetName: inv.TargetName, Status: playbook.InvocationSkipped}})
				rec.Outcome = "skipped by policy"
			} else {
				r.inv[step.ID] = append(r.inv[step.ID], invocation{act: a, remediation: true})
				rec.Outcome, rec.ActionID = "action "+a.ID+": "+string(a.Status), a.ID
			}
			w.state.Steps = append(w.state.Steps, rec)
		}
	}
	return nil
}

// runUse runs a use step's sub-playbook for every item side by side, stage
// by stage: each item's steps of a stage are proposed before any item's
// actions are awaited, so that one device's isolation waiting for an
// analyst does not hold back the next device's (eventful runs; earlier
// runs took the items one after another).
func (w *incident) runUse(ctx workflow.Context, snap activities.Snapshot, pc *plan.Context, r *pbRun,
	stage playbook.Stage, step *playbook.Step, env *playbook.Env, invs []playbook.Invocation, fail func(error) error) error {
	subs := make([]*pbRun, len(invs))
	for i, inv := range invs {
		subs[i] = newRun(step.Callee, playbook.WithInputs(env, inv.Args), r.summary)
		subs[i].path = r.subPath(step, inv)
	}
	collect := func() {
		for _, sub := range subs {
			r.inv[step.ID] = append(r.inv[step.ID], sub.remediations()...)
		}
	}
	for _, st := range playbook.Stages {
		for _, sub := range subs {
			if err := w.runStage(ctx, snap, pc, sub, st); err != nil {
				return err
			}
		}
		for _, sub := range subs {
			if err := w.finishStage(ctx, snap, pc, sub, st); err != nil {
				var sf *stepFailure
				if errors.As(err, &sf) {
					collect()
					return fail(err)
				}
				return err
			}
		}
	}
	collect()
	for _, inv := range invs {
		w.state.Steps = append(w.state.Steps, StepRecord{Playbook: r.pb.Name, Stage: stage, Step: step.ID, Item: inv.ItemKey,
			Outcome: "ran " + step.Use, At: workflow.Now(ctx)})
	}
	return nil
}

// remediations lists, in step order, the run's invocations that are
// actions or remediations policy left out: what a use step running this
// sub-playbook reports.
func (r *pbRun) remediations() []invocation {
	var out []invocation
	for _, stage := range playbook.Stages {
		for _, step := range r.pb.Steps(stage) {
			for _, iv := range r.inv[step.ID] {
				if iv.remediation {
					out = append(out, iv)
				}
			}
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
// out; a *handledElsewhere error when an action of an incident merged
// into this one already covers it.
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
	if w.live >= 1 {
		// Decide on the policy and tags as they are now, and join an
		// action that already does the same.
		p, own, other, err := w.liveProposal(ctx, a)
		if err != nil {
			return nil, err
		}
		if own != nil {
			return own, nil
		}
		if other != nil {
			return nil, &handledElsewhere{action: other, joined: true}
		}
		pc.Settings = p.Automation
		if e, ok := pc.Entities[inv.Target]; ok {
			e.Tags = p.Tags[inv.Target]
			pc.Entities[inv.Target] = e
		}
		if a, d, err = plan.Propose(pc, pb, step, inv); err != nil {
			return nil, err
		}
	}
	if d.Outcome == policy.Skip {
		return nil, nil
	}
	if m := pc.Covered(a); m != nil {
		return nil, &handledElsewhere{action: m}
	}
	a.ID, a.InvestigationID, a.CreatedAt = id, workflow.GetInfo(ctx).WorkflowExecution.ID, workflow.Now(ctx)
	if a.Status == domain.ActionApproved {
		a.DecidedAt = &a.CreatedAt
	}
	var rate *policy.Rate
	if r, ok := pc.Settings.Guardrails.Rates[a.Type]; ok {
		rate = &r
	}
	if _, err := w.propose(ctx, a, rate); err != nil {
		return nil, err
	}
	return w.state.action(id), nil
}

// handledElsewhere is proposeStep's answer when an action of an incident
// merged into this one covers the invocation (plan.Context.Covered).
type handledElsewhere struct {
	action *domain.Action
	// joined says the action is another open incident's that does the
	// same (liveProposal), not a merged incident's.
	joined bool
}

func (h *handledElsewhere) Error() string {
	if h.joined {
		return (&joined{action: h.action}).Error()
	}
	return plan.CoveredReason(h.action)
}

// bookkeeping runs a non-remediation step: incident bookkeeping, or evidence
// analysis of the invocation's target. It returns the step's result line.
func (w *incident) bookkeeping(ctx workflow.Context, pbName string, env *playbook.Env, step *playbook.Step, inv playbook.Invocation) (string, error) {
	lctx := localCtx(ctx)
	action := step.Action
	if actions.IsVerdict(action) {
		// A rule's verdict: recorded with the playbook and step as its
		// source; an analyst's verdict stands over it. Later stages, and
		// whether the investigation may end benign, read the verdict in
		// effect.
		v, _ := inv.Args["verdict"].(string)
		reason, _ := inv.Args["reason"].(string)
		var now domain.Verdict
		req := activities.VerdictRequest{IncidentID: w.in.IncidentID, Entity: inv.Target, Verdict: domain.Verdict(v), Reason: reason,
			Playbook: pbName, Step: step.ID}
		if err := workflow.ExecuteLocalActivity(lctx, acts.SetRuleVerdict, req).Get(ctx, &now); err != nil {
			return "", err
		}
		w.verdictChanged(inv.Target, now)
		playbook.SetVerdict(env, inv.Target, now)
		return fmt.Sprintf("%s is %s", inv.TargetName, now), nil
	}
	switch action {
	case "incident.tag":
		tags, _ := playbook.Strings(inv.Args["tags"]) // checked at load: a list of strings
		return "", workflow.ExecuteLocalActivity(lctx, acts.TagIncident, w.in.IncidentID, tags).Get(ctx, nil)
	case "incident.comment":
		text, _ := inv.Args["text"].(string)
		return "", workflow.ExecuteLocalActivity(lctx, acts.CommentIncident, w.in.IncidentID, text).Get(ctx, nil)
	case "file.analyze", "ip.analyze", "url.analyze", "device.analyze", "user.analyze":
		// The facts are recorded by the activity; the step's result
		// says what they amount to. The time is the workflow's, so a
		// replay asks about the same moment.
		var res activities.AnalyzeResult
		req := activities.AnalyzeRequest{IncidentID: w.in.IncidentID, Keys: []domain.EntityKey{inv.Target}, At: workflow.Now(ctx)}
		err := workflow.ExecuteLocalActivity(lctx, acts.AnalyzeEntities, req).Get(ctx, &res)
		return res.Summary, err
	case "file.hunt", "ip.hunt", "url.hunt":
		var res activities.HuntResult
		req := activities.HuntRequest{IncidentID: w.in.IncidentID, Keys: []domain.EntityKey{inv.Target},
			Playbook: pbName, Step: step.ID, At: workflow.Now(ctx)}
		if err := workflow.ExecuteLocalActivity(lctx, acts.HuntEntities, req).Get(ctx, &res); err != nil {
			return "", err
		}
		w.found = w.found || len(res.Found) > 0 || len(res.Suspected) > 0
		return res.Summary, nil
	}
	return "", fmt.Errorf("action %s has no runner in the incident workflow", action)
}

// noteStep records what a step did for the investigation's timeline, once:
// a later pass reaching the same step with the same outcome adds nothing.
func (w *incident) noteStep(rec StepRecord) {
	for _, s := range w.state.Steps {
		if s.Playbook == rec.Playbook && s.Step == rec.Step && s.Item == rec.Item && s.Outcome == rec.Outcome {
			return
		}
	}
	w.state.Steps = append(w.state.Steps, rec)
}
