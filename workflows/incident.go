// Package workflows holds AIR's Temporal workflow code: IncidentWorkflow, the
// one durable investigation of each incident.
//
// Everything here is deterministic: time comes from workflow.Now, concurrency
// from workflow.Go, every outside read or write from an activity. Playbook
// expressions are evaluated here too; the playbook package guarantees they
// are pure. Changes to this code must keep recorded histories replaying
// (see the replay test) or be guarded with workflow.GetVersion.
package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// Names the outside world uses to reach an incident workflow.
const (
	TaskQueue         = "air-incidents"
	SignalAlertsAdded = "alerts-added"
	UpdateDecide      = "decide"
	QueryState        = "state"
)

// DefaultApprovalExpiry is how long a pending action waits before it expires
// (and counts as rejected).
const DefaultApprovalExpiry = 7 * 24 * time.Hour

// IncidentInput starts an incident workflow.
type IncidentInput struct {
	IncidentID int64 `json:"incidentId"`
	// ApprovalExpiry overrides DefaultApprovalExpiry when positive.
	ApprovalExpiry time.Duration `json:"approvalExpiry,omitempty"`
}

// AlertsAdded is the signal ingest sends when alerts join the incident.
type AlertsAdded struct {
	AlertIDs []string `json:"alertIds"`
}

// DecideRequest is the payload of the decide Update.
type DecideRequest struct {
	ActionID string          `json:"actionId"`
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment,omitempty"`
	By       string          `json:"by"`
	// ParamsHash, when set, binds the decision to the exact action the
	// analyst saw: if the action changed since, the decision is refused.
	ParamsHash string `json:"paramsHash,omitempty"`
}

// Error types of the decide Update's refusals, for translation by callers.
const (
	ErrNotFound = string(domain.KindNotFound)
	ErrConflict = string(domain.KindConflict)
	ErrInvalid  = string(domain.KindInvalid)
)

// State is the investigation as the workflow knows it; the state query
// returns it.
type State struct {
	IncidentID    int64                     `json:"incidentId"`
	Investigation domain.InvestigationState `json:"investigationState"`
	Stage         playbook.Stage            `json:"stage,omitempty"`
	Playbooks     []PinnedPlaybook          `json:"playbooks"`
	Actions       []*domain.Action          `json:"actions"`
	Steps         []StepRecord              `json:"steps"`
	Error         string                    `json:"error,omitempty"`
	SeenAlerts    []string                  `json:"seenAlerts,omitempty"`
}

// PinnedPlaybook names a playbook version an investigation runs with.
type PinnedPlaybook struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// StepRecord is what one step did, for the investigation's timeline.
type StepRecord struct {
	Playbook string         `json:"playbook"`
	Stage    playbook.Stage `json:"stage"`
	Step     string         `json:"step"`
	Item     string         `json:"item,omitempty"`
	Outcome  string         `json:"outcome"`
}

func (s *State) action(id string) *domain.Action {
	i := slices.IndexFunc(s.Actions, func(a *domain.Action) bool { return a.ID == id })
	if i < 0 {
		return nil
	}
	return s.Actions[i]
}

// incident runs one investigation.
type incident struct {
	in    IncidentInput
	state State
	log   log.Logger
	added workflow.ReceiveChannel
	// recording marks actions whose decision is being written to the store.
	recording map[string]bool
}

// drainSignals takes every alerts-added signal received so far and reports
// whether one of them named an alert the investigation had not seen.
func (w *incident) drainSignals() bool {
	fresh := false
	for {
		var sig AlertsAdded
		if !w.added.ReceiveAsync(&sig) {
			return fresh
		}
		for _, id := range sig.AlertIDs {
			if !slices.Contains(w.state.SeenAlerts, id) {
				w.state.SeenAlerts = append(w.state.SeenAlerts, id)
				fresh = true
			}
		}
	}
}

var acts *activities.Activities // nil: only its method values are used, to name activities

// IncidentWorkflow investigates one incident: it pins the playbooks that
// match, runs their stages in order, turns remediation steps into actions
// that run or wait for a decision, and ends with the investigation state.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (*State, error) {
	w := &incident{in: in, state: State{IncidentID: in.IncidentID, Investigation: domain.InvestigationQueued},
		recording: map[string]bool{}}
	w.log = log.With(workflow.GetLogger(ctx), "IncidentID", in.IncidentID)
	if err := w.register(ctx); err != nil {
		return nil, err
	}
	w.added = workflow.GetSignalChannel(ctx, SignalAlertsAdded)
	w.drainSignals()

	w.setState(ctx, domain.InvestigationRunning)
	var sources []activities.PlaybookSource
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadPlaybooks).Get(ctx, &sources); err != nil {
		return w.fail(ctx, fmt.Errorf("load playbooks: %w", err))
	}
	books := make([]*playbook.Playbook, 0, len(sources))
	for _, src := range sources {
		pb, err := playbook.CompileCached(src.File, src.Source)
		if err != nil {
			return w.fail(ctx, fmt.Errorf("compile pinned playbook %s: %w", src.File, err))
		}
		books = append(books, pb)
	}

	for pass := 0; ; pass++ {
		if err := w.investigate(ctx, books, pass == 0); err != nil {
			return w.fail(ctx, err)
		}
		// Alerts that joined meanwhile may bring new entities: run again.
		// Steps already recorded are recognised by their action ids and not
		// proposed twice. Draining right before completing also means a
		// signal that races the completion makes Temporal retry this task
		// with the signal present, instead of losing it.
		if !w.drainSignals() {
			break
		}
	}
	w.setState(ctx, w.finalState())
	w.log.Info("investigation finished", "state", w.state.Investigation)
	return &w.state, nil
}

func (w *incident) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*State, error) { return &w.state, nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, w.decide,
		workflow.UpdateHandlerOptions{Validator: w.validateDecision})
}

// validateDecision refuses, before anything is written to history, a
// decision on an unknown action, on one already decided, or on an action
// that changed since the analyst saw it.
func (w *incident) validateDecision(ctx workflow.Context, req DecideRequest) error {
	if req.Decision != domain.DecisionApprove && req.Decision != domain.DecisionReject {
		return temporal.NewApplicationError(fmt.Sprintf("decision %q: want approve or reject", req.Decision), ErrInvalid)
	}
	a := w.state.action(req.ActionID)
	if a == nil {
		return temporal.NewApplicationError(fmt.Sprintf("action %s is not part of incident %d", req.ActionID, w.in.IncidentID), ErrNotFound)
	}
	if a.Status != domain.ActionPending {
		return temporal.NewApplicationError(fmt.Sprintf("action %s is already %s", a.ID, a.Status), ErrConflict, a.Status)
	}
	if req.ParamsHash != "" && req.ParamsHash != a.ParamsHash {
		return temporal.NewApplicationError(fmt.Sprintf("action %s changed since it was shown (params hash %s, now %s): decide again",
			a.ID, req.ParamsHash, a.ParamsHash), ErrConflict, a.Status)
	}
	return nil
}

// decide applies a validated decision and records it. The action's waiter
// (see awaitDecision) then runs or drops it.
func (w *incident) decide(ctx workflow.Context, req DecideRequest) (*domain.Action, error) {
	a := w.state.action(req.ActionID)
	now := workflow.Now(ctx)
	a.Status = domain.ActionApproved
	if req.Decision == domain.DecisionReject {
		a.Status = domain.ActionRejected
	}
	a.DecidedBy, a.DecidedAt, a.DecisionComment = req.By, &now, req.Comment
	w.log.Info("action decided", "action", a.ID, "decision", req.Decision, "by", req.By)
	// The status changed above, so a concurrent decision is refused by the
	// validator; the waiter holds off until the decision is recorded, so the
	// store never sees "running" before "approved".
	w.recording[a.ID] = true
	defer delete(w.recording, a.ID)
	decided := *a
	if err := w.save(ctx, &decided); err != nil {
		// Not recorded: not decided. The analyst gets the error and can retry.
		a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = domain.ActionPending, "", nil, ""
		return nil, err
	}
	return &decided, nil
}

// investigate runs every matching playbook through the six stages.
func (w *incident) investigate(ctx workflow.Context, books []*playbook.Playbook, first bool) error {
	var snap activities.Snapshot
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadIncident, w.in.IncidentID).Get(ctx, &snap); err != nil {
		return fmt.Errorf("load incident: %w", err)
	}
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
		var waiting []workflow.Future
		for _, pb := range selected {
			for _, step := range pb.Steps(stage) {
				invs, err := step.Expand(env)
				if err != nil {
					return fmt.Errorf("playbook %s step %s: %w", pb.Name, step.ID, err)
				}
				for _, inv := range invs {
					f, err := w.runStep(ctx, snap, pb, stage, step, inv, entities)
					if err != nil {
						return fmt.Errorf("playbook %s step %s: %w", pb.Name, step.ID, err)
					}
					if f != nil {
						waiting = append(waiting, f)
					}
				}
			}
		}
		// A stage ends when each of its actions has been decided and run:
		// containment finishes before eradication starts.
		for _, f := range waiting {
			if err := f.Get(ctx, nil); err != nil {
				return err
			}
		}
	}
	w.state.Stage = ""
	return nil
}

// runStep carries out one invocation of a step. Incident bookkeeping runs
// at once; a remediation becomes an action and returns a future that is
// ready when the action reached a final state.
func (w *incident) runStep(ctx workflow.Context, snap activities.Snapshot, pb *playbook.Playbook, stage playbook.Stage,
	step *playbook.Step, inv playbook.Invocation, entities map[domain.EntityKey]domain.Entity) (workflow.Future, error) {
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
		return nil, nil // proposed in an earlier pass
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
	var stored domain.Action
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.RecordAction, a, rate).Get(ctx, &stored); err != nil {
		return nil, fmt.Errorf("record action: %w", err)
	}
	// An earlier run of this investigation may have recorded and decided it.
	a = &stored
	w.state.Actions = append(w.state.Actions, a)
	rec.Outcome = "action " + a.ID + ": " + string(a.Status)
	w.state.Steps = append(w.state.Steps, rec)
	w.log.Info("action proposed", "action", a.ID, "type", a.Type, "target", a.TargetKey, "status", a.Status, "reason", a.Reason)

	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		set.Set(nil, w.follow(ctx, a))
	})
	return f, nil
}

// follow takes an action from its recorded status to a final one: wait for
// a decision (or expiry), then run it.
func (w *incident) follow(ctx workflow.Context, a *domain.Action) error {
	if a.Status == domain.ActionPending {
		w.refreshState(ctx)
		expiry := w.in.ApprovalExpiry
		if expiry <= 0 {
			expiry = DefaultApprovalExpiry
		}
		decided, err := workflow.AwaitWithTimeout(ctx, expiry, func() bool {
			return a.Status != domain.ActionPending && !w.recording[a.ID]
		})
		if err != nil {
			return err
		}
		if !decided {
			now := workflow.Now(ctx)
			a.Status, a.DecidedBy, a.DecidedAt = domain.ActionExpired, "system:expiry", &now
			a.DecisionComment = fmt.Sprintf("no decision within %s", expiry)
			if err := w.save(ctx, a); err != nil {
				return err
			}
		}
		w.refreshState(ctx)
	}
	if a.Status != domain.ActionApproved && a.Status != domain.ActionRunning {
		return nil
	}
	return w.execute(ctx, a)
}

// execute runs an approved action once. The idempotency key travels with
// the request, so a retry after a worker crash repeats the request, not the
// effect; the result is recorded from what the activity returned.
func (w *incident) execute(ctx workflow.Context, a *domain.Action) error {
	now := workflow.Now(ctx)
	a.Status, a.StartedAt = domain.ActionRunning, &now
	if err := w.save(ctx, a); err != nil {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
		},
	})
	var res activities.ExecuteResult
	err := workflow.ExecuteActivity(actx, acts.ExecuteAction, activities.ExecuteRequest{
		ActionID: a.ID, IncidentID: a.IncidentID, Type: a.Type, Target: a.TargetKey, TargetName: a.TargetName,
		Params: a.Params, IdempotencyKey: a.IdempotencyKey,
	}).Get(ctx, &res)
	done := workflow.Now(ctx)
	a.FinishedAt = &done
	if err != nil {
		a.Status, a.Error = domain.ActionFailed, rootMessage(err)
	} else {
		a.Status, a.Result = domain.ActionSucceeded, res.Summary
	}
	w.log.Info("action finished", "action", a.ID, "status", a.Status)
	return w.save(ctx, a)
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
	spec, _ := actions.Lookup(action)
	return fmt.Errorf("action %s (%s) has no runner", action, spec.Doc)
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

func (w *incident) save(ctx workflow.Context, a *domain.Action) error {
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.UpdateAction, a).Get(ctx, nil); err != nil {
		return fmt.Errorf("record action %s: %w", a.ID, err)
	}
	return nil
}

// refreshState shows pendingApproval while any action waits, running
// otherwise.
func (w *incident) refreshState(ctx workflow.Context) {
	st := domain.InvestigationRunning
	if slices.ContainsFunc(w.state.Actions, func(a *domain.Action) bool { return a.Status == domain.ActionPending }) {
		st = domain.InvestigationPendingApproval
	}
	w.setState(ctx, st)
}

// finalState follows SPEC §1: no remediation needed → benign; every action
// ran → successfullyRemediated; some rejected, expired or failed →
// partiallyRemediated.
func (w *incident) finalState() domain.InvestigationState {
	if len(w.state.Actions) == 0 {
		return domain.InvestigationBenign
	}
	for _, a := range w.state.Actions {
		if a.Status != domain.ActionSucceeded {
			return domain.InvestigationPartiallyRemediated
		}
	}
	return domain.InvestigationSuccessfullyRemediated
}

func (w *incident) setState(ctx workflow.Context, st domain.InvestigationState) {
	if w.state.Investigation == st {
		return
	}
	w.state.Investigation = st
	err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.SetInvestigationState, w.in.IncidentID, st).Get(ctx, nil)
	if err != nil {
		w.log.Error("project investigation state", "error", err)
	}
}

// fail ends the investigation as failed, recording why; a playbook error
// never leaves a workflow stuck.
func (w *incident) fail(ctx workflow.Context, err error) (*State, error) {
	w.state.Error = rootMessage(err)
	w.log.Error("investigation failed", "error", w.state.Error)
	w.setState(ctx, domain.InvestigationFailed)
	return &w.state, nil
}

func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// actionID derives a short, stable id from the idempotency key, so that
// every run of an investigation names the same action the same way.
func actionID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])[:12]
}

// localCtx configures local activities: store reads and writes that must be
// fast (an alert-to-pending-action path without a trip through matching).
func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: 20, NonRetryableErrorTypes: []string{ErrNotFound, ErrInvalid, ErrConflict},
		},
	})
}
