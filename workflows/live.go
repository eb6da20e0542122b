package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/internal/policy"
)

// liveVersion marks runs whose decisions read the present (docs/engine.md,
// "The live loop"): policy and entity tags are read through the ReadPolicy
// local activity at each proposal, approval and undo; an investigation can
// be stopped; a proposal joins an open action of the same type, target and
// parameters (of this incident or another open one) instead of acting
// twice; the seen-alert list and the history are bounded. Runs recorded
// before it decide from the pass's snapshot.
const liveVersion = "live-loop"

// eventfulVersion marks runs in which alerts that join while an action
// waits for a decision are analysed at once in a side pass (await), instead
// of after the decision.
const eventfulVersion = "eventful-waits"

// awaitSide waits for a side pass under way to finish and returns how it
// failed.
func (w *incident) awaitSide(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return !w.side }); err != nil {
		return err
	}
	return w.sideErr
}

// UpdateStop stops an investigation (StopRequest).
const UpdateStop = "stop"

// StopRequest is the payload of the stop Update: a responder ends the
// investigation; its pending actions are rejected with the reason.
type StopRequest struct {
	Reason string      `json:"reason"`
	By     string      `json:"by"`
	Role   domain.Role `json:"role"`
	// Auth is the engine's stamp (see Sign).
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

// DefaultMaxHistoryBytes is the history size past which an investigation
// continues as new between passes.
const DefaultMaxHistoryBytes = 8 << 20

// MaxSeenAlerts bounds the alert ids a run remembers (and carries across
// continue-as-new): the most recent ones. An older id signalled again
// counts as new and costs one more pass, which finds nothing to do.
const MaxSeenAlerts = 1000

// stopped is why an investigation stops.
type stopped struct {
	By, Reason string
	// byPlaybook marks a stop because a playbook resolved the incident.
	byPlaybook bool
}

// errStopped ends a pass when the investigation was stopped.
var errStopped = errors.New("investigation stopped")

// readPolicy reads the policy in force now, for one decision.
func (w *incident) readPolicy(ctx workflow.Context, req activities.PolicyRequest) (*activities.Policy, error) {
	req.IncidentID = w.in.IncidentID
	var p activities.Policy
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.ReadPolicy, req).Get(ctx, &p); err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	w.settings = p.Automation
	return &p, nil
}

// checkStop refuses a stop by a role that may not, without a reason, or of
// an investigation already stopped.
func (w *incident) checkStop(req StopRequest) error {
	if err := needResponder(req.Role); err != nil {
		return err
	}
	if req.Reason == "" {
		return refuse(ErrInvalid, "reason: say why the investigation stops")
	}
	if w.stop != nil {
		return refuse(ErrConflict, "the investigation was already stopped by %s: %s", w.stop.By, w.stop.Reason)
	}
	return nil
}

// stopUpdate is the stop Update's handler.
func (w *incident) stopUpdate(ctx workflow.Context, req StopRequest) (*State, error) {
	w.updated = true
	if err := w.awaitLoaded(ctx); err != nil {
		return nil, err
	}
	if err := w.checkStop(req); err != nil {
		return nil, err
	}
	if err := w.halt(ctx, req.By, "investigation stopped by "+req.By+": "+req.Reason); err != nil {
		return nil, err
	}
	s := w.state
	return &s, nil
}

// halt stops the investigation: no step runs after it, every pending action
// is rejected with the reason (an action already approved or running
// finishes: its effect may be under way), and the stop is audited. The
// investigation then ends terminatedByUser.
func (w *incident) halt(ctx workflow.Context, by, reason string) error {
	if w.stop != nil {
		return nil
	}
	w.stop = &stopped{By: by, Reason: reason}
	w.state.StoppedBy, w.state.StopReason = by, reason
	w.log.Info("investigation stopped", "by", by, "reason", reason)
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.AuditInvestigation, w.in.IncidentID, by,
		"investigation.stop", reason).Get(ctx, nil); err != nil {
		return fmt.Errorf("audit stop: %w", err)
	}
	for _, a := range w.state.Actions {
		if a.Status != domain.ActionPending || w.recording[a.ID] || w.deciding[a.ID] {
			continue
		}
		now := workflow.Now(ctx)
		a.Status, a.DecidedBy, a.DecidedAt, a.DecisionComment = domain.ActionRejected, by, &now, reason
		w.recording[a.ID] = true
		err := w.save(ctx, a)
		delete(w.recording, a.ID)
		if err != nil {
			return err
		}
	}
	w.refreshState(ctx)
	return nil
}

// canonicalParams are an action's parameters without its free-text
// comment, which names the incident: two proposals with the same type,
// target and canonical parameters are one action.
func canonicalParams(raw domain.RawJSON) string {
	m := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	delete(m, "comment")
	keys := slices.Sorted(maps.Keys(m))
	b, _ := json.Marshal(keys)
	v, _ := json.Marshal(m) // encoding/json sorts map keys
	return string(b) + string(v)
}

// sameAction reports whether b does what a proposes: same type, target and
// canonical parameters, not an undo.
func sameAction(a, b *domain.Action) bool {
	return a.Type == b.Type && a.TargetKey == b.TargetKey && b.UndoOf == "" &&
		canonicalParams(a.Params) == canonicalParams(b.Params)
}

// joinable reports whether a proposal may join an existing action: one that
// failed does not hold (the proposal asks again).
func joinable(b *domain.Action) bool {
	return b.Status != domain.ActionFailed
}

// joined is proposeStep's answer when the proposal joins an action of
// another open incident.
type joined struct{ action *domain.Action }

func (j *joined) Error() string {
	return fmt.Sprintf("joined action %s of incident %d (%s): the same %s of %s", j.action.ID, j.action.IncidentID,
		j.action.Status, j.action.Type, j.action.TargetName)
}

// liveProposal decides a proposal on the policy as it is now, and joins an
// action that already does the same: this incident's own (proposed by
// another playbook or step) or another open incident's. It returns the
// action joined, if any (other is set when it belongs to another
// incident).
func (w *incident) liveProposal(ctx workflow.Context, a *domain.Action) (p *activities.Policy, own *domain.Action, other *domain.Action, err error) {
	for _, b := range w.state.Actions {
		if sameAction(a, b) && joinable(b) {
			return nil, b, nil, w.noteJoined(ctx, b, a)
		}
	}
	p, err = w.readPolicy(ctx, activities.PolicyRequest{Entities: []domain.EntityKey{a.TargetKey}, OpenType: a.Type})
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range p.Open {
		if b := &p.Open[i]; sameAction(a, b) {
			return p, nil, b, w.noteJoined(ctx, b, a)
		}
	}
	return p, nil, nil, nil
}

func (w *incident) noteJoined(ctx workflow.Context, b, a *domain.Action) error {
	w.log.Info("proposal joins an action", "action", b.ID, "incident", b.IncidentID, "by", a.RequestedBy)
	return workflow.ExecuteLocalActivity(localCtx(ctx), acts.NoteAlsoProposed, b, a.RequestedBy+" ("+a.Playbook+"/"+a.Step+")",
		w.in.IncidentID).Get(ctx, nil)
}

// withLivePolicy returns the settings and target tags to decide with.
func withLivePolicy(s policy.Settings, p *activities.Policy) policy.Settings {
	if p == nil {
		return s
	}
	return p.Automation
}

// rememberAlert adds an alert id to the seen list, keeping the most recent
// MaxSeenAlerts in live runs.
func (w *incident) rememberAlert(id string) {
	w.state.SeenAlerts = append(w.state.SeenAlerts, id)
	if w.live >= 1 && len(w.state.SeenAlerts) > MaxSeenAlerts {
		w.state.SeenAlerts = slices.Delete(w.state.SeenAlerts, 0, len(w.state.SeenAlerts)-MaxSeenAlerts)
	}
}

// resolveStops stops a running investigation whose incident was resolved:
// its pending actions are rejected ("incident resolved by …"), actions
// under way finish, and it ends terminatedByUser.
func (w *incident) resolveStops(ctx workflow.Context, ch IncidentChange) {
	for _, f := range ch.Fields() {
		if f.Field != FieldStatus || f.To != string(domain.IncidentResolved) || w.state.ChangeOnly {
			continue
		}
		if err := w.awaitLoaded(ctx); err != nil {
			return
		}
		if err := w.halt(ctx, f.By, "incident resolved by "+f.By); err != nil {
			w.log.Error("stop on resolve", "error", err)
		}
		return
	}
}
