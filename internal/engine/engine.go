// Package engine is AIR's side of the Temporal client: it starts or signals
// an incident's workflow when alerts join it, and delivers analysts'
// decisions through the workflow's decide Update, translating the
// workflow's refusals into domain errors. The HTTP API, the pages and the
// command line all decide through here — one code path.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/workflows"
)

// Engine talks to Temporal on behalf of ingest and the action center.
type Engine struct {
	Client    client.Client
	TaskQueue string // empty means workflows.TaskQueue
	// ApprovalExpiry is passed to new investigations; 0 means the default.
	ApprovalExpiry time.Duration
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
	_, err := e.Client.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalAlertsAdded,
		workflows.AlertsAdded{AlertIDs: alertIDs}, opts, workflows.IncidentWorkflow,
		workflows.IncidentInput{IncidentID: incidentID, ApprovalExpiry: e.ApprovalExpiry})
	if err != nil {
		return fmt.Errorf("signal investigation of incident %d: %w", incidentID, err)
	}
	return nil
}

// Decide delivers a decision through the workflow's decide Update and
// returns the action as the workflow recorded it. Refusals come back as
// domain errors: not found, conflict (already decided, changed), forbidden
// (role, four-eyes) or invalid.
func (e *Engine) Decide(ctx context.Context, incidentID int64, req workflows.DecideRequest) (*domain.Action, error) {
	return e.update(ctx, incidentID, workflows.UpdateDecide, req.ActionID, req)
}

// Undo asks the workflow to undo a succeeded action; it returns the undo
// action as recorded (approved, about to run).
func (e *Engine) Undo(ctx context.Context, incidentID int64, req workflows.UndoRequest) (*domain.Action, error) {
	return e.update(ctx, incidentID, workflows.UpdateUndo, req.ActionID, req)
}

// Request asks the workflow for a manual action; it returns the action as
// recorded, pending approval.
func (e *Engine) Request(ctx context.Context, incidentID int64, req workflows.ManualRequest) (*domain.Action, error) {
	return e.update(ctx, incidentID, workflows.UpdateRequest, "", req)
}

// update sends an Update with start: an investigation that already
// finished (its incident still open) is started again to take it, and
// adopts the actions its earlier runs recorded.
func (e *Engine) update(ctx context.Context, incidentID int64, name, actionID string, arg any) (*domain.Action, error) {
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
		return nil, translate(err, incidentID, actionID)
	}
	// A validator's refusal arrives from Get, not from the call above.
	var a domain.Action
	if err := h.Get(ctx, &a); err != nil {
		return nil, translate(err, incidentID, actionID)
	}
	return &a, nil
}

// State queries the investigation's state.
func (e *Engine) State(ctx context.Context, incidentID int64) (*workflows.State, error) {
	v, err := e.Client.QueryWorkflow(ctx, domain.WorkflowID(incidentID), "", workflows.QueryState)
	if err != nil {
		return nil, translate(err, incidentID, "")
	}
	var st workflows.State
	if err := v.Get(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func translate(err error, incidentID int64, actionID string) error {
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
		if actionID != "" {
			return domain.Errorf(domain.KindConflict, "action %s: the investigation of incident %d is no longer running", actionID, incidentID)
		}
		return domain.Errorf(domain.KindNotFound, "no investigation for incident %d", incidentID)
	}
	return fmt.Errorf("incident %d: %w", incidentID, err)
}
