// Package engine is AIR's side of the Temporal client: it starts or signals
// an incident's workflow when alerts join it or a person changes it,
// delivers analysts' decisions through the workflow's decide Update,
// translating the workflow's refusals into domain errors, and reads the
// workflow histories that post-incident review measures. The HTTP API, the
// pages and the command line all decide through here — one code path.
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/workflows"
)

// Engine talks to Temporal on behalf of ingest and the action center.
type Engine struct {
	Client    client.Client
	TaskQueue string // empty means workflows.TaskQueue
	// ApprovalExpiry is passed to new investigations; 0 means the default.
	ApprovalExpiry time.Duration
	// Keys signs every Update and incident-changed signal (see
	// internal/msgauth); the worker's workflows refuse unsigned ones. Nil
	// sends them unsigned, for workers that do not check (tests).
	Keys *msgauth.Keyring
	// UpdateTimeout bounds a decide, undo or request Update, Temporal's
	// answer included, and the start-or-signal of an investigation for new
	// alerts: past it the call fails as unavailable (HTTP 503) instead of
	// hanging while Temporal is unreachable. 0 means 15 s.
	UpdateTimeout time.Duration
	// Now is the signing clock; nil means time.Now.
	Now func() time.Time
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) updateTimeout() time.Duration {
	if e.UpdateTimeout > 0 {
		return e.UpdateTimeout
	}
	return 15 * time.Second
}

// sign stamps msg (a pointer to a workflows message) for the incident's
// workflow, when the engine has keys.
func (e *Engine) sign(kind string, incidentID int64, msg any) error {
	if e.Keys == nil {
		return nil
	}
	return workflows.Sign(e.Keys, kind, domain.WorkflowID(incidentID), e.now(), msg)
}

func (e *Engine) taskQueue() string {
	if e.TaskQueue != "" {
		return e.TaskQueue
	}
	return workflows.TaskQueue
}

// AlertsJoined starts the incident's investigation, or signals the running
// one, that these alerts joined it. A finished investigation of an incident
// still open starts again (a new run) with the new alerts; actions it
// already recorded are recognised, not proposed twice.
func (e *Engine) AlertsJoined(ctx context.Context, incidentID int64, alertIDs []string) error {
	opts := client.StartWorkflowOptions{
		ID:                    domain.WorkflowID(incidentID),
		TaskQueue:             e.taskQueue(),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	return e.bounded(ctx, incidentID, "new alerts", "", func(ctx context.Context) error {
		_, err := e.Client.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalAlertsAdded,
			workflows.AlertsAdded{AlertIDs: alertIDs}, opts, workflows.IncidentWorkflow,
			workflows.IncidentInput{IncidentID: incidentID, ApprovalExpiry: e.ApprovalExpiry})
		if err != nil {
			return fmt.Errorf("signal investigation of incident %d: %w", incidentID, err)
		}
		return nil
	})
}

// IncidentChanged tells the incident's investigation that a person changed
// the incident, so that the change is in the workflow history with its
// time (post-incident review reads acknowledgement and resolution there).
// A running investigation records it; a finished one gets a change-only
// run that records it and completes without investigating again.
func (e *Engine) IncidentChanged(ctx context.Context, incidentID int64, ch workflows.IncidentChange) error {
	if err := e.sign(workflows.SignalIncidentChanged, incidentID, &ch); err != nil {
		return err
	}
	opts := client.StartWorkflowOptions{
		ID:                    domain.WorkflowID(incidentID),
		TaskQueue:             e.taskQueue(),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	_, err := e.Client.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalIncidentChanged, ch, opts,
		workflows.IncidentWorkflow,
		workflows.IncidentInput{IncidentID: incidentID, ApprovalExpiry: e.ApprovalExpiry, ChangeOnly: true})
	if err != nil {
		return fmt.Errorf("signal incident %d changed: %w", incidentID, err)
	}
	return nil
}

// Decide delivers a decision through the workflow's decide Update and
// returns the action as the workflow recorded it. Refusals come back as
// domain errors: not found, conflict (already decided, changed), forbidden
// (role, four-eyes) or invalid.
func (e *Engine) Decide(ctx context.Context, incidentID int64, req workflows.DecideRequest) (*domain.Action, error) {
	if err := e.sign(workflows.UpdateDecide, incidentID, &req); err != nil {
		return nil, err
	}
	return e.action(ctx, incidentID, workflows.UpdateDecide, req.ActionID, req)
}

// Undo asks the workflow to undo a succeeded action; it returns the undo
// action as recorded (approved, about to run).
func (e *Engine) Undo(ctx context.Context, incidentID int64, req workflows.UndoRequest) (*domain.Action, error) {
	if err := e.sign(workflows.UpdateUndo, incidentID, &req); err != nil {
		return nil, err
	}
	return e.action(ctx, incidentID, workflows.UpdateUndo, req.ActionID, req)
}

// Request asks the workflow for a manual action; it returns the action as
// recorded, pending approval.
func (e *Engine) Request(ctx context.Context, incidentID int64, req workflows.ManualRequest) (*domain.Action, error) {
	if err := e.sign(workflows.UpdateRequest, incidentID, &req); err != nil {
		return nil, err
	}
	return e.action(ctx, incidentID, workflows.UpdateRequest, "", req)
}

// action sends an Update whose outcome is an action.
func (e *Engine) action(ctx context.Context, incidentID int64, name, actionID string, arg any) (*domain.Action, error) {
	subject := ""
	if actionID != "" {
		subject = "action " + actionID
	}
	var a domain.Action
	if err := e.update(ctx, incidentID, name, subject, arg, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Answer delivers an answer to an open question through the workflow's
// answer Update and returns the question as the workflow recorded it.
// Refusals come back as domain errors: not found (no such question),
// conflict (answered already, timed out), invalid (not a choice it
// offers) or forbidden (role).
func (e *Engine) Answer(ctx context.Context, incidentID int64, req workflows.AnswerRequest) (*domain.Question, error) {
	if err := e.sign(workflows.UpdateAnswer, incidentID, &req); err != nil {
		return nil, err
	}
	var q domain.Question
	if err := e.update(ctx, incidentID, workflows.UpdateAnswer, "question "+req.QuestionID, req, &q); err != nil {
		return nil, err
	}
	return &q, nil
}

// Stop stops a running investigation (responder role, with a reason): its
// pending actions are rejected with the reason and it ends
// terminatedByUser. An investigation that is not running cannot be
// stopped: there is nothing to stop, so no run is started for it.
func (e *Engine) Stop(ctx context.Context, incidentID int64, req workflows.StopRequest) (*workflows.State, error) {
	if err := e.sign(workflows.UpdateStop, incidentID, &req); err != nil {
		return nil, err
	}
	var st workflows.State
	err := e.bounded(ctx, incidentID, "stop", "; reload before trying again", func(ctx context.Context) error {
		h, err := e.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   domain.WorkflowID(incidentID),
			UpdateName:   workflows.UpdateStop,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, &st)
		}
		return err
	})
	switch {
	case err == nil:
		return &st, nil
	case domain.KindOf(err) == domain.KindUnavailable:
		return nil, err
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, domain.Errorf(domain.KindConflict, "incident %d: no investigation is running, so there is nothing to stop", incidentID)
	}
	return nil, translate(err, incidentID, "")
}

// update sends an Update with start: an investigation that already
// finished (its incident still open) is started again to take it, and
// adopts the actions its earlier runs recorded. The call is bounded by
// UpdateTimeout: the SDK retries an unreachable frontend for as long as
// the context lets it. The outcome is decoded into out.
func (e *Engine) update(ctx context.Context, incidentID int64, name, subject string, arg, out any) error {
	return e.bounded(ctx, incidentID, name, "; it may still be applied when Temporal is back: reload before trying again",
		func(ctx context.Context) error { return e.sendUpdate(ctx, incidentID, name, subject, arg, out) })
}

// bounded runs call with ctx bounded by UpdateTimeout, because the SDK
// retries an unreachable frontend for as long as the context lets it.
// When Temporal could not be reached in time (and the caller had not
// given up first), the error is unavailable (HTTP 503), naming what
// Temporal did not take; then says what the caller should do next.
func (e *Engine) bounded(ctx context.Context, incidentID int64, what, then string, call func(context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, e.updateTimeout())
	defer cancel()
	err := call(bctx)
	if err != nil && ctx.Err() == nil && unreachable(bctx, err) {
		return domain.Errorf(domain.KindUnavailable, "incident %d: Temporal did not take the %s within %s%s",
			incidentID, what, e.updateTimeout(), then)
	}
	return err
}

// unreachable reports whether err means Temporal could not be reached or
// did not answer in time (not a refusal).
func unreachable(ctx context.Context, err error) bool {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &unavailable) || errors.As(err, &deadline)
}

func (e *Engine) sendUpdate(ctx context.Context, incidentID int64, name, subject string, arg, out any) error {
	start := e.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       domain.WorkflowID(incidentID),
		TaskQueue:                e.taskQueue(),
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.IncidentWorkflow, workflows.IncidentInput{IncidentID: incidentID, ApprovalExpiry: e.ApprovalExpiry})
	h, err := e.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   domain.WorkflowID(incidentID),
			UpdateName:   name,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return translate(err, incidentID, subject)
	}
	// A validator's refusal arrives from Get, not from the call above.
	if err := h.Get(ctx, out); err != nil {
		return translate(err, incidentID, subject)
	}
	return nil
}

// State queries the investigation's state. When the latest run only
// recorded incident changes (workflows.IncidentInput.ChangeOnly), the
// state is that of the last run that investigated.
func (e *Engine) State(ctx context.Context, incidentID int64) (*workflows.State, error) {
	st, err := e.query(ctx, incidentID, "")
	if err != nil || !st.ChangeOnly {
		return st, err
	}
	runs, err := e.runs(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	// Newest first, bounded: a long row of change-only runs is unusual.
	for i, n := len(runs)-1, 0; i >= 0 && n < maxWalkBack; i, n = i-1, n+1 {
		prev, err := e.closedState(ctx, incidentID, runs[i])
		if err != nil {
			return nil, err
		}
		if prev != nil && !prev.ChangeOnly {
			return prev, nil
		}
	}
	return nil, domain.Errorf(domain.KindNotFound, "no investigation for incident %d: its runs only recorded changes", incidentID)
}

// maxWalkBack bounds the runs State reads back past change-only runs.
const maxWalkBack = 20

func (e *Engine) query(ctx context.Context, incidentID int64, runID string) (*workflows.State, error) {
	v, err := e.Client.QueryWorkflow(ctx, domain.WorkflowID(incidentID), runID, workflows.QueryState)
	if err != nil {
		return nil, translate(err, incidentID, "")
	}
	var st workflows.State
	if err := v.Get(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// closedState reads a run's state from its close event when it completed
// (cheap: no replay), else by querying it; nil when it has none.
func (e *Engine) closedState(ctx context.Context, incidentID int64, run *workflowpb.WorkflowExecutionInfo) (*workflows.State, error) {
	runID := run.GetExecution().GetRunId()
	if run.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		it := e.Client.GetWorkflowHistory(ctx, domain.WorkflowID(incidentID), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, translate(err, incidentID, "")
			}
			if attr := ev.GetWorkflowExecutionCompletedEventAttributes(); attr != nil {
				var st workflows.State
				if err := converter.GetDefaultDataConverter().FromPayloads(attr.GetResult(), &st); err != nil {
					return nil, fmt.Errorf("decode state of run %s: %w", runID, err)
				}
				return &st, nil
			}
		}
		return nil, nil
	}
	if run.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		return nil, nil // its successor, newer, says more
	}
	st, err := e.query(ctx, incidentID, runID)
	if domain.KindOf(err) == domain.KindNotFound {
		return nil, nil
	}
	return st, err
}

// runs lists the runs of the incident's workflow, oldest first, as
// visibility knows them (the latest may lag behind by moments).
func (e *Engine) runs(ctx context.Context, incidentID int64) ([]*workflowpb.WorkflowExecutionInfo, error) {
	var out []*workflowpb.WorkflowExecutionInfo
	req := &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("WorkflowId = %q", domain.WorkflowID(incidentID)),
		PageSize: 100,
	}
	for {
		resp, err := e.Client.ListWorkflow(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("list runs of incident %d: %w", incidentID, err)
		}
		out = append(out, resp.GetExecutions()...)
		if len(resp.GetNextPageToken()) == 0 || len(out) >= MaxRuns {
			break
		}
		req.NextPageToken = resp.GetNextPageToken()
	}
	slices.SortStableFunc(out, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.GetStartTime().AsTime().Compare(b.GetStartTime().AsTime())
	})
	return out, nil
}

// MaxRuns bounds the runs of one incident's workflow that IncidentHistory
// reads.
const MaxRuns = 500

// MaxHistoryEvents bounds the events IncidentHistory reads in all: past
// it, later runs are left out and the error says so.
const MaxHistoryEvents = 200_000

// IncidentHistory returns the workflow history of every run of the
// incident's investigation, oldest run first, each run's events in order:
// what post-incident review measures. The latest run is read even when
// visibility has not listed it yet. A not-found error means the incident
// never had an investigation (or its histories are past retention).
func (e *Engine) IncidentHistory(ctx context.Context, incidentID int64) ([][]*historypb.HistoryEvent, error) {
	runs, err := e.runs(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	id := domain.WorkflowID(incidentID)
	ids := make([]string, 0, len(runs)+1)
	for _, r := range runs {
		ids = append(ids, r.GetExecution().GetRunId())
	}
	// The current run, which a just-started change-only run may be.
	if d, err := e.Client.DescribeWorkflowExecution(ctx, id, ""); err == nil {
		if cur := d.GetWorkflowExecutionInfo().GetExecution().GetRunId(); !slices.Contains(ids, cur) {
			ids = append(ids, cur)
		}
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("describe investigation of incident %d: %w", incidentID, err)
	}
	if len(ids) == 0 {
		return nil, domain.Errorf(domain.KindNotFound, "no investigation history for incident %d", incidentID)
	}
	out := make([][]*historypb.HistoryEvent, 0, len(ids))
	total := 0
	for i, runID := range ids {
		if total >= MaxHistoryEvents {
			return out, fmt.Errorf("read the first %d runs only (%d events, the limit): the %d later runs are left out",
				i, total, len(ids)-i)
		}
		var events []*historypb.HistoryEvent
		it := e.Client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				if isNotFound(err) { // past retention: the others still count
					break
				}
				return nil, fmt.Errorf("read history of incident %d run %s: %w", incidentID, runID, err)
			}
			events = append(events, ev)
		}
		if len(events) > 0 {
			out = append(out, events)
			total += len(events)
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// translate turns a workflow's refusal into a domain error. subject names
// the action or question an Update was about ("" for none).
func translate(err error, incidentID int64, subject string) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case workflows.ErrNotFound:
			return domain.Errorf(domain.KindNotFound, "%s", app.Message())
		case workflows.ErrConflict:
			return domain.Errorf(domain.KindConflict, "%s", app.Message())
		case workflows.ErrInvalid:
			return domain.Errorf(domain.KindInvalid, "%s", app.Message())
		case workflows.ErrForbidden:
			return domain.Errorf(domain.KindForbidden, "%s", app.Message())
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if subject != "" {
			return domain.Errorf(domain.KindConflict, "%s: the investigation of incident %d is no longer running", subject, incidentID)
		}
		return domain.Errorf(domain.KindNotFound, "no investigation for incident %d", incidentID)
	}
	return fmt.Errorf("incident %d: %w", incidentID, err)
}
