package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/msgauth"
)

// Error types of the Updates' refusals, for translation by callers.
const (
	ErrNotFound  = string(domain.KindNotFound)
	ErrConflict  = string(domain.KindConflict)
	ErrInvalid   = string(domain.KindInvalid)
	ErrForbidden = string(domain.KindForbidden)
)

// DecideRequest is the payload of the decide Update.
type DecideRequest struct {
	ActionID string          `json:"actionId"`
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment,omitempty"`
	By       string          `json:"by"`
	// Role is the decider's role; only responders and admins decide.
	Role domain.Role `json:"role"`
	// ParamsHash, when set, binds the decision to the exact action the
	// analyst saw: if the action changed since, the decision is refused.
	ParamsHash string `json:"paramsHash,omitempty"`
	// Auth authenticates the request (see auth.go); the engine sets it.
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

// UndoRequest is the payload of the undo Update: reverse a succeeded action
// with its registered undo action.
type UndoRequest struct {
	ActionID string      `json:"actionId"`
	Comment  string      `json:"comment,omitempty"`
	By       string      `json:"by"`
	Role     domain.Role `json:"role"`
	// Force releases a target that another open incident still holds
	// (see undo): without it such an undo is refused, naming the holder.
	Force bool `json:"force,omitempty"`
	// Auth authenticates the request (see auth.go); the engine sets it.
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

// ManualRequest is the payload of the request Update: a responder asks for
// an action by hand. It waits for approval like any other.
type ManualRequest struct {
	Type    string           `json:"type"`
	Target  domain.EntityKey `json:"target"`
	Params  domain.RawJSON   `json:"params,omitempty"`
	Comment string           `json:"comment,omitempty"`
	By      string           `json:"by"`
	Role    domain.Role      `json:"role"`
	// Auth authenticates the request (see auth.go); the engine sets it.
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

func (w *incident) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*State, error) { return &w.state, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, w.decide,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req DecideRequest) error {
			return w.checkDecision(req, !w.loaded)
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateUndo, w.undo,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req UndoRequest) error {
			return w.checkUndo(req, !w.loaded)
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRequest, w.request,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ManualRequest) error {
			return w.checkRequest(req)
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAnswer, w.answer,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req AnswerRequest) error {
			return w.checkAnswer(req, !w.loaded)
		}}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateStop, w.stopUpdate,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req StopRequest) error {
			return w.checkStop(req)
		}})
}

func refuse(kind, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), kind)
}

func needResponder(role domain.Role) error {
	if !role.AtLeast(domain.RoleResponder) {
		return refuse(ErrForbidden, "role %q may not decide actions: responder or admin needed", role)
	}
	return nil
}

// checkDecision refuses a decision by a role that may not decide, on an
// unknown action, on one already decided, on one changed since the analyst
// saw it, or — with four-eyes on — by whoever requested it. Before the
// first snapshot only what needs no state is checked (early is true); the
// handler checks again once loaded.
func (w *incident) checkDecision(req DecideRequest, early bool) error {
	if req.Decision != domain.DecisionApprove && req.Decision != domain.DecisionReject {
		return refuse(ErrInvalid, "decision %q: want approve or reject", req.Decision)
	}
	if err := needResponder(req.Role); err != nil {
		return err
	}
	if early {
		return nil
	}
	a := w.state.action(req.ActionID)
	if a == nil {
		return refuse(ErrNotFound, "action %s is not part of incident %d", req.ActionID, w.in.IncidentID)
	}
	if a.Status != domain.ActionPending {
		return refuse(ErrConflict, "action %s is already %s", a.ID, a.Status)
	}
	if w.deciding[a.ID] {
		return refuse(ErrConflict, "action %s is being decided by someone else", a.ID)
	}
	if req.ParamsHash != "" && req.ParamsHash != a.ParamsHash {
		return refuse(ErrConflict, "action %s changed since it was shown (params hash %s, now %s): decide again",
			a.ID, req.ParamsHash, a.ParamsHash)
	}
	if w.settings.FourEyes && req.Decision == domain.DecisionApprove && a.Source == domain.SourceManual && a.RequestedBy == req.By {
		return refuse(ErrForbidden, "four-eyes: %s requested action %s and may not approve it", req.By, a.ID)
	}
	return nil
}

// decide applies a validated decision and records it. The action's
// follower then runs or drops it.
func (w *incident) decide(ctx workflow.Context, req DecideRequest) (*domain.Action, error) {
	w.updated = true
	if err := w.awaitLoaded(ctx); err != nil {
		return nil, err
	}
	if err := w.checkDecision(req, false); err != nil {
		return nil, err
	}
	if w.live >= 1 {
		// Four-eyes as it is now, not as the last pass read it.
		w.deciding[req.ActionID] = true
		_, err := w.readPolicy(ctx, activities.PolicyRequest{})
		delete(w.deciding, req.ActionID)
		if err != nil {
			return nil, err
		}
		if err := w.checkDecision(req, false); err != nil {
			return nil, err
		}
	}
	a := w.state.action(req.ActionID)
	now := workflow.Now(ctx)
	a.Status = domain.ActionApproved
	if req.Decision == domain.DecisionReject {
		a.Status = domain.ActionRejected
	}
	a.DecidedBy, a.DecidedAt, a.DecisionComment = req.By, &now, req.Comment
	w.log.Info("action decided", "action", a.ID, "decision", req.Decision, "by", req.By)
	// The status changed above, so a concurrent decision is refused by the
	// validator; the follower holds off until the decision is recorded, so
	// the store never sees "running" before "approved".
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

// checkUndo refuses an undo by a role that may not, of an unknown action,
// of one that did not succeed, has no undo, or was undone already.
func (w *incident) checkUndo(req UndoRequest, early bool) error {
	if err := needResponder(req.Role); err != nil {
		return err
	}
	if early {
		return nil
	}
	a := w.state.action(req.ActionID)
	if a == nil {
		return refuse(ErrNotFound, "action %s is not part of incident %d", req.ActionID, w.in.IncidentID)
	}
	spec, ok := actions.Lookup(a.Type)
	if !ok || spec.Undo == "" {
		return refuse(ErrInvalid, "%s cannot be undone", a.Type)
	}
	if a.Status != domain.ActionSucceeded {
		return refuse(ErrConflict, "action %s is %s: only a succeeded action can be undone", a.ID, a.Status)
	}
	if w.deciding[a.ID] {
		return refuse(ErrConflict, "action %s is being undone by someone else", a.ID)
	}
	for _, o := range w.state.Actions {
		if o.UndoOf == a.ID && o.Status != domain.ActionFailed && o.Status != domain.ActionRejected && o.Status != domain.ActionExpired {
			return refuse(ErrConflict, "action %s is already being undone by %s (%s)", a.ID, o.ID, o.Status)
		}
	}
	return nil
}

// undo records the undo action, approved by whoever asked, and hands it to
// a follower; the original becomes undone when the undo succeeds. It
// returns the undo action as recorded, before it runs.
func (w *incident) undo(ctx workflow.Context, req UndoRequest) (*domain.Action, error) {
	w.updated = true
	if err := w.awaitLoaded(ctx); err != nil {
		return nil, err
	}
	if err := w.checkUndo(req, false); err != nil {
		return nil, err
	}
	orig := w.state.action(req.ActionID)
	spec, _ := actions.Lookup(orig.Type)
	var live *activities.Policy
	if w.live >= 1 {
		w.deciding[orig.ID] = true
		p, err := w.readPolicy(ctx, activities.PolicyRequest{Entities: []domain.EntityKey{orig.TargetKey}, HoldingType: orig.Type})
		delete(w.deciding, orig.ID)
		if err != nil {
			return nil, err
		}
		if err := w.checkUndo(req, false); err != nil {
			return nil, err
		}
		if len(p.Holding) > 0 && !req.Force {
			h := p.Holding[0]
			return nil, refuse(ErrConflict, "%s is still held by action %s (%s) of open incident %d: undoing here releases it for that incident too; undo with force to do it anyway",
				orig.TargetName, h.ID, h.Type, h.IncidentID)
		}
		live = p
	}
	// The undo takes the original's parameters that it declares (the file
	// to release, the registry value to restore), with its own comment.
	var was map[string]any
	_ = json.Unmarshal(orig.Params, &was)
	args := map[string]any{}
	if undo, ok := actions.Lookup(spec.Undo); ok {
		for k, v := range was {
			if _, declared := undo.Param(k); declared {
				args[k] = v
			}
		}
		if _, ok := undo.Param("comment"); ok {
			args["comment"] = fmt.Sprintf("AIR incident %d: undo of action %s", w.in.IncidentID, orig.ID)
		}
	}
	params, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	key := orig.IdempotencyKey + "/undo"
	if live != nil {
		// An undo that was rejected or expired (four-eyes) or failed may be
		// asked again: each attempt is its own action.
		n := 0
		for _, o := range w.state.Actions {
			if o.UndoOf == orig.ID {
				n++
			}
		}
		if n > 0 {
			key += fmt.Sprintf("/%d", n+1)
		}
	}
	now := workflow.Now(ctx)
	u := &domain.Action{
		ID: actionID(key), IncidentID: w.in.IncidentID, InvestigationID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Playbook: orig.Playbook, PlaybookVersion: orig.PlaybookVersion, Step: orig.Step, Type: spec.Undo,
		TargetKey: orig.TargetKey, TargetName: orig.TargetName, Params: params,
		ParamsHash: domain.HashParams(spec.Undo, orig.TargetKey, params), Source: domain.SourceManual,
		RequestedBy: req.By, Status: domain.ActionApproved, Reason: "undo requested by " + req.By,
		DecidedBy: req.By, DecidedAt: &now, DecisionComment: req.Comment, CreatedAt: now,
		UndoOf: orig.ID, IdempotencyKey: key,
	}
	if live != nil && live.Automation.FourEyes {
		// Four-eyes covers undo: another responder approves it.
		u.Status, u.DecidedBy, u.DecidedAt = domain.ActionPending, "", nil
		u.Reason = "undo requested by " + req.By + "; four-eyes: another responder must approve it"
	}
	if live != nil && len(live.Holding) > 0 {
		u.Reason += fmt.Sprintf("; released although open incident %d still holds it (force)", live.Holding[0].IncidentID)
	}
	return w.propose(ctx, u, nil)
}

// checkRequest refuses a manual action that is unknown, has no fitting
// target or bad parameters, or comes from a role that may not ask.
func (w *incident) checkRequest(req ManualRequest) error {
	if err := needResponder(req.Role); err != nil {
		return err
	}
	if w.stop != nil {
		return refuse(ErrConflict, "the investigation was stopped by %s: %s", w.stop.By, w.stop.Reason)
	}
	spec, ok := actions.Lookup(req.Type)
	if !ok || !spec.Remediation {
		return refuse(ErrInvalid, "type: %q is not a remediation action", req.Type)
	}
	if spec.CaseAction() {
		return refuse(ErrInvalid, "type: %s changes the incident itself: manage the incident (PATCH /api/v1/incidents/{id}) instead of asking for an action", req.Type)
	}
	if kind, _, _ := splitKey(req.Target); spec.Target != "" && kind != spec.Target {
		return refuse(ErrInvalid, "target: %s acts on a %s, got %q", req.Type, spec.Target, req.Target)
	}
	args := map[string]any{}
	if len(req.Params) > 0 {
		if err := json.Unmarshal(req.Params, &args); err != nil {
			return refuse(ErrInvalid, "params: want a JSON object: %v", err)
		}
	}
	if _, err := spec.CheckArgs(args); err != nil {
		return refuse(ErrInvalid, "params.%v", err)
	}
	return nil
}

// request records a manual action, pending an analyst's approval.
func (w *incident) request(ctx workflow.Context, req ManualRequest) (*domain.Action, error) {
	w.updated = true
	if err := w.awaitLoaded(ctx); err != nil {
		return nil, err
	}
	if w.stop != nil {
		return nil, refuse(ErrConflict, "the investigation was stopped by %s: %s", w.stop.By, w.stop.Reason)
	}
	spec, _ := actions.Lookup(req.Type)
	args := map[string]any{}
	if len(req.Params) > 0 {
		_ = json.Unmarshal(req.Params, &args) // checked by the validator
	}
	args, _ = spec.CheckArgs(args)
	params, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	now := workflow.Now(ctx)
	key := fmt.Sprintf("incident-%d/manual/%s/%s/%d", w.in.IncidentID, req.Type, req.Target, now.UnixNano())
	name := string(req.Target)
	if _, id, ok := splitKey(req.Target); ok {
		name = id
	}
	if req.Comment != "" {
		req.Comment = ": " + req.Comment
	}
	a := &domain.Action{
		ID: actionID(key), IncidentID: w.in.IncidentID, InvestigationID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Playbook: "manual", Step: "manual", Type: req.Type, TargetKey: req.Target, TargetName: name, Params: params,
		ParamsHash: domain.HashParams(req.Type, req.Target, params), Source: domain.SourceManual,
		RequestedBy: req.By, Status: domain.ActionPending, CreatedAt: now, IdempotencyKey: key,
		Reason: "requested by hand by " + req.By + req.Comment + "; manual actions wait for approval",
	}
	return w.propose(ctx, a, nil)
}

// awaitLoaded waits for the first snapshot, so that handlers of Updates
// delivered with the workflow's start see the recorded actions.
func (w *incident) awaitLoaded(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return w.loaded })
}
