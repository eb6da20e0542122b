package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/remediation"
)

// propose records a new action (the store keeps the first version of an id,
// and may hold it back to pending past a rate guardrail), adds it to the
// state and hands it to a follower. It returns the action as recorded.
func (w *incident) propose(ctx workflow.Context, a *domain.Action, rate *policy.Rate) (*domain.Action, error) {
	var stored domain.Action
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.RecordAction, a, rate).Get(ctx, &stored); err != nil {
		return nil, fmt.Errorf("record action: %w", err)
	}
	if known := w.state.action(stored.ID); known != nil {
		// A side pass (await) proposed the same step while this one was
		// being recorded: one action, one follower.
		c := *known
		return &c, nil
	}
	a = &stored
	w.state.Actions = append(w.state.Actions, a)
	w.log.Info("action proposed", "action", a.ID, "type", a.Type, "target", a.TargetKey, "status", a.Status, "reason", a.Reason)
	w.followAsync(ctx, a)
	c := *a
	return &c, nil
}

// adopt takes into the state the actions an earlier run recorded, and
// follows those not yet final.
func (w *incident) adopt(ctx workflow.Context, recorded []domain.Action) {
	for i := range recorded {
		if w.state.action(recorded[i].ID) != nil {
			continue
		}
		a := recorded[i]
		w.state.Actions = append(w.state.Actions, &a)
		if !a.Status.Final() {
			w.followAsync(ctx, &a)
		}
	}
}

// followAsync runs follow in a coroutine the workflow waits for.
func (w *incident) followAsync(ctx workflow.Context, a *domain.Action) {
	w.following++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.following-- }()
		if err := w.follow(ctx, a); err != nil {
			w.log.Error("follow action", "action", a.ID, "error", err)
		}
	})
}

// done reports whether the action reached a final state, for stage waits.
func done(a *domain.Action) func() bool {
	return func() bool { return a.Status.Final() }
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
		// Expiry counts from when the action was proposed, also for an
		// action adopted from an earlier run.
		left := a.CreatedAt.Add(expiry).Sub(workflow.Now(ctx))
		decided := a.Status != domain.ActionPending
		if left > 0 {
			var err error
			decided, err = workflow.AwaitWithTimeout(ctx, left, func() bool {
				return a.Status != domain.ActionPending && !w.recording[a.ID] || w.stop != nil && !w.recording[a.ID] && !w.deciding[a.ID]
			})
			if err != nil {
				return err
			}
		}
		if w.stop != nil && a.Status == domain.ActionPending {
			// Proposed while the investigation was being stopped.
			now := workflow.Now(ctx)
			a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = domain.ActionRejected, w.stop.By, &now, w.stop.Reason
			if err := w.save(ctx, a); err != nil {
				return err
			}
			decided = true
		}
		if !decided {
			now := workflow.Now(ctx)
			a.Status, a.DecidedBy, a.DecidedAt = domain.ActionExpired, "system:expiry", &now
			a.DecisionComment = fmt.Sprintf("no decision within %s", expiry)
			w.log.Info("action expired", "action", a.ID)
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
	if a.Type == ExpandScope { // nothing outside to call: approving it is the effect
		a.Status, a.StartedAt, a.FinishedAt, a.Result = domain.ActionSucceeded, &now, &now, "scope expanded"
		return w.save(ctx, a)
	}
	a.Status, a.StartedAt = domain.ActionRunning, &now
	if err := w.save(ctx, a); err != nil {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, executeOptions(w.steps[a.ID]))
	var res remediation.Result
	err := workflow.ExecuteActivity(actx, acts.ExecuteAction, remediation.Request{
		ActionID: a.ID, IncidentID: a.IncidentID, Type: a.Type, Target: a.TargetKey, TargetName: a.TargetName,
		Params: a.Params, IdempotencyKey: a.IdempotencyKey, Connectors: a.Connectors,
	}).Get(ctx, &res)
	finished := workflow.Now(ctx)
	a.FinishedAt = &finished
	if err != nil {
		a.Status, a.Error = domain.ActionFailed, rootMessage(err)
	} else {
		a.Status, a.Result = domain.ActionSucceeded, res.Summary
		a.Connector, a.ConnectorNote = res.Connector, strings.Join(res.Skipped, "; ")
	}
	w.log.Info("action finished", "action", a.ID, "status", a.Status, "connector", a.Connector)
	if err := w.save(ctx, a); err != nil {
		return err
	}
	if a.Type == resolveType && a.Status == domain.ActionSucceeded && res.Changed {
		return w.resolvedByPlaybook(ctx, a)
	}
	if a.Status == domain.ActionSucceeded && res.Changed && strings.HasPrefix(string(a.TargetKey), "incident:") &&
		w.version(ctx, waitSeesChanges) == 1 {
		// A case action changed the incident (severity, classification,
		// assignment): wait steps check their condition again, as after a
		// change by hand.
		w.epoch++
	}
	if a.UndoOf != "" && a.Status == domain.ActionSucceeded {
		if orig := w.state.action(a.UndoOf); orig != nil {
			orig.Status = domain.ActionUndone
			return w.save(ctx, orig)
		}
	}
	return nil
}

// resolveType is the case action that resolves the incident.
const resolveType = "incident.resolve"

// resolvedByPlaybook records that a playbook's incident.resolve resolved
// the incident, as a change the post-incident review reads, and stops the
// investigation as an analyst's resolve does: no step runs after it and
// the actions still pending are rejected ("incident resolved by …").
// Unlike a person's stop, the investigation then ends with the state its
// remediations earned (benign when there were none).
func (w *incident) resolvedByPlaybook(ctx workflow.Context, a *domain.Action) error {
	by := "system:playbook:" + a.Playbook
	w.state.Changes = append(w.state.Changes, ChangeRecord{Field: FieldStatus, To: string(domain.IncidentResolved), By: by,
		At: workflow.Now(ctx)})
	if w.stop != nil {
		return nil
	}
	if err := w.halt(ctx, by, "incident resolved by "+by+" (action "+a.ID+")"); err != nil {
		return err
	}
	w.stop.byPlaybook = true
	return nil
}

// caseAction reports whether an action type changes the incident itself
// (actions.Spec.CaseAction): it does not remediate evidence, so it does
// not count toward the investigation's final state.
func caseAction(actionType string) bool {
	spec, ok := actions.Lookup(actionType)
	return ok && spec.CaseAction()
}

// executeOptions are an execution's timeout and retries: the playbook
// step's, else the defaults (10 minutes; 10 attempts with backoff from 1 s
// to 1 min; domain errors never retried).
func executeOptions(step *playbook.Step) workflow.ActivityOptions {
	o := workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    5 * activities.HeartbeatEvery,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{ErrNotFound, ErrInvalid, ErrConflict, ErrForbidden},
		},
	}
	if step == nil {
		return o
	}
	if step.Timeout > 0 {
		o.StartToCloseTimeout = step.Timeout
	}
	if r := step.Retry; r.Attempts > 0 {
		o.RetryPolicy.MaximumAttempts = int32(r.Attempts)
		if r.Backoff > 0 {
			o.RetryPolicy.InitialInterval = r.Backoff
		}
		if r.MaxBackoff > 0 {
			o.RetryPolicy.MaximumInterval = r.MaxBackoff
		}
		for _, k := range r.NonRetryable {
			if !slices.Contains(o.RetryPolicy.NonRetryableErrorTypes, k) {
				o.RetryPolicy.NonRetryableErrorTypes = append(o.RetryPolicy.NonRetryableErrorTypes, k)
			}
		}
	}
	return o
}

func (w *incident) save(ctx workflow.Context, a *domain.Action) error {
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.UpdateAction, a).Get(ctx, nil); err != nil {
		return fmt.Errorf("record action %s: %w", a.ID, err)
	}
	return nil
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

func splitKey(k domain.EntityKey) (domain.EntityKind, string, bool) {
	kind, id, ok := strings.Cut(string(k), ":")
	return domain.EntityKind(kind), id, ok && id != ""
}

// localCtx configures local activities: store reads and writes that must be
// fast (an alert-to-pending-action path without a trip through matching).
func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: 20, NonRetryableErrorTypes: []string{ErrNotFound, ErrInvalid, ErrConflict, ErrForbidden},
		},
	})
}
