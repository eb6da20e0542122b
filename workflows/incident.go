// Package workflows holds AIR's Temporal workflow code: IncidentWorkflow, the
// one durable investigation of each incident.
//
// Everything here is deterministic: time comes from workflow.Now, concurrency
// from workflow.Go, every outside read or write from an activity. Playbook
// expressions are evaluated here too; the playbook package guarantees they
// are pure. Changes to this code must keep the recorded histories in
// testdata/ replaying (replay_test.go) or be guarded with workflow.GetVersion.
//
// The workflow is the authority on an action's lifecycle; the store holds a
// projection written only through activities. A new run of an incident's
// workflow (continue-as-new, or a restart by new alerts, an undo or a
// decision after the previous run finished) adopts the recorded actions from
// the store, so nothing is proposed twice and nothing decided is lost.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/msgauth"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
)

// Names the outside world uses to reach an incident workflow.
const (
	TaskQueue         = "air-incidents"
	SignalAlertsAdded = "alerts-added"
	UpdateDecide      = "decide"
	UpdateUndo        = "undo"
	UpdateRequest     = "request"
	QueryState        = "state"
	// SignalIncidentChanged tells the investigation that a person changed
	// the incident (status, assignment, classification); the change lands
	// in the workflow history, where the post-incident review reads when
	// the incident was acknowledged and resolved.
	SignalIncidentChanged = "incident-changed"
)

// WorkerOptions are the settings of workers polling TaskQueue: more task
// pollers than the SDK's default, which keep workflow and activity tasks
// flowing when hundreds of incidents are in flight (docs/engine.md), and a
// deadlock detector at 5 s instead of 1 s: the first task of an
// investigation compiles its pinned playbooks (milliseconds), which a
// loaded two-core machine can stretch past a second; expressions are
// bounded at load, so nothing legitimate runs longer.
var WorkerOptions = worker.Options{
	MaxConcurrentWorkflowTaskPollers: 8,
	MaxConcurrentActivityTaskPollers: 8,
	DeadlockDetectionTimeout:         5 * time.Second,
}

// DefaultApprovalExpiry is how long a pending action waits before it expires
// (and counts as rejected).
const DefaultApprovalExpiry = 7 * 24 * time.Hour

// DefaultMaxHistory is the history length past which an investigation
// continues as new between passes (Temporal's own suggestion comes later).
const DefaultMaxHistory = 5000

// DefaultMaxSignals is how many alerts-added signals one run takes before it
// continues as new (each costs a few history events).
const DefaultMaxSignals = 1000

// IncidentInput starts an incident workflow.
type IncidentInput struct {
	IncidentID int64 `json:"incidentId"`
	// ApprovalExpiry overrides DefaultApprovalExpiry when positive.
	ApprovalExpiry time.Duration `json:"approvalExpiry,omitempty"`
	// MaxHistory overrides DefaultMaxHistory when positive.
	MaxHistory int `json:"maxHistory,omitempty"`
	// MaxSignals overrides DefaultMaxSignals when positive.
	MaxSignals int `json:"maxSignals,omitempty"`
	// SeenAlerts carries, across continue-as-new, the alerts the
	// investigation already heard of (Temporal's request-id dedup does not).
	SeenAlerts []string `json:"seenAlerts,omitempty"`
	// ChangeOnly marks a run that an incident change started after the
	// investigation had finished (the engine sets it): the run records the
	// change and completes, without running the playbooks again or touching
	// the projected investigation state — unless alerts it has not seen or
	// an Update arrive with it, when it investigates like any run.
	ChangeOnly bool `json:"changeOnly,omitempty"`
}

// AlertsAdded is the signal ingest sends when alerts join the incident.
type AlertsAdded struct {
	AlertIDs []string `json:"alertIds"`
}

// IncidentChange is the payload of SignalIncidentChanged: a person's change
// to one field of the incident, and in More the other fields they changed
// at once (one signal per change by hand, not one per field).
type IncidentChange struct {
	Field string           `json:"field"` // status, assignedTo, classification, determination
	From  string           `json:"from,omitempty"`
	To    string           `json:"to,omitempty"`
	By    string           `json:"by"`
	More  []IncidentChange `json:"more,omitempty"`
	// Auth authenticates the change (see auth.go); the engine sets it.
	Auth *msgauth.Stamp `json:"auth,omitempty"`
}

// Fields lists the change's field changes one by one, each with its By.
func (ch IncidentChange) Fields() []IncidentChange {
	out := []IncidentChange{{Field: ch.Field, From: ch.From, To: ch.To, By: ch.By}}
	for _, m := range ch.More {
		if m.By == "" {
			m.By = ch.By
		}
		out = append(out, m.Fields()...)
	}
	return out
}

// Incident fields whose changes the API signals (IncidentChange.Field).
const (
	FieldStatus         = "status"
	FieldAssignedTo     = "assignedTo"
	FieldClassification = "classification"
	FieldDetermination  = "determination"
)

// ChangeRecord is one field's change as the investigation received it.
type ChangeRecord struct {
	Field string    `json:"field"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// State is the investigation as the workflow knows it; the state query
// returns it.
type State struct {
	IncidentID    int64                     `json:"incidentId"`
	Investigation domain.InvestigationState `json:"investigationState"`
	Stage         playbook.Stage            `json:"stage,omitempty"`
	Playbooks     []PinnedPlaybook          `json:"playbooks"`
	// NotRun are the playbooks that matched but did not run (an exclusive
	// playbook ran alone, a fallback yielded), with why; one that runs on
	// a later pass leaves the list.
	NotRun     []NotRunPlaybook `json:"notRun,omitempty"`
	Actions    []*domain.Action `json:"actions"`
	Steps      []StepRecord     `json:"steps"`
	Error      string           `json:"error,omitempty"`
	SeenAlerts []string         `json:"seenAlerts,omitempty"`
	// Changes are the incident changes this run received, in order.
	Changes []ChangeRecord `json:"changes,omitempty"`
	// ChangeOnly says the run only recorded incident changes (see
	// IncidentInput.ChangeOnly): the investigation itself is an earlier
	// run's, and this state has neither its actions nor its steps.
	ChangeOnly bool `json:"changeOnly,omitempty"`
	// StoppedBy and StopReason say who stopped the investigation and why
	// (the stop Update, or resolving the incident).
	StoppedBy  string `json:"stoppedBy,omitempty"`
	StopReason string `json:"stopReason,omitempty"`
	// Questions are the questions the investigation's ask steps put (and
	// those earlier runs put, adopted), open or not.
	Questions []*domain.Question `json:"questions,omitempty"`
	// Waits are the conditions wait steps wait, or waited, for.
	Waits []*WaitRecord `json:"waits,omitempty"`
}

// PinnedPlaybook names a playbook version an investigation runs with.
type PinnedPlaybook struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// NotRunPlaybook is a playbook that matched the incident but did not run
// (playbook.Choose).
type NotRunPlaybook struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Reason  string `json:"reason"`
}

// StepRecord is what one step did, for the investigation's timeline.
type StepRecord struct {
	Playbook string         `json:"playbook"`
	Stage    playbook.Stage `json:"stage"`
	Step     string         `json:"step"`
	Item     string         `json:"item,omitempty"`
	Outcome  string         `json:"outcome"`
	// ActionID is the action the step proposed, or the merged incident's
	// action that covered it.
	ActionID string `json:"actionId,omitempty"`
	// At is when the step ran (workflow time); zero in runs recorded
	// before steps were timed.
	At time.Time `json:"at,omitempty"`
}

// Action returns the id of the action a step record names: ActionID, or
// for records made before it existed, the id in an "action ID: status"
// outcome.
func (r StepRecord) Action() string {
	if r.ActionID != "" {
		return r.ActionID
	}
	if rest, ok := strings.CutPrefix(r.Outcome, "action "); ok {
		id, _, _ := strings.Cut(rest, ":")
		return id
	}
	return ""
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
	// changed receives SignalIncidentChanged.
	changed workflow.ReceiveChannel
	// updated is set when an Update handler starts: a change-only run then
	// investigates after all, so that the handler gets its snapshot.
	updated bool
	// loaded is set once the first snapshot is in: until then the Update
	// validators cannot know the actions and leave the checks to the
	// handlers, which wait for it.
	loaded   bool
	settings policy.Settings
	// recording marks actions whose decision is being written to the store.
	recording map[string]bool
	// following counts the coroutines taking actions to a final state; the
	// workflow does not complete while one runs.
	following int
	// signals counts the alerts-added signals this run received.
	signals int
	// steps maps the actions this run proposed to their playbook step, for
	// the step's timeout and retry policy.
	steps map[string]*playbook.Step
	// live is the run's liveVersion: decisions read the present.
	live workflow.Version
	// stop is set once the investigation is stopped.
	stop *stopped
	// deciding marks actions whose decision or undo is reading the policy:
	// a second one is refused meanwhile.
	deciding map[string]bool
	// eventful is the run's eventfulVersion: alerts that join while an
	// action waits are analysed at once, in a side pass (see await).
	eventful workflow.Version
	// books are the run's compiled playbooks, for side passes.
	books []*playbook.Playbook
	// malicious are the entities the evidence calls malicious and nothing
	// had contained when the last snapshot was read (see uncontained): an
	// investigation that leaves one so is not benign.
	malicious []domain.EntityKey
	// side is set while a side pass runs; sideErr is how it failed; sides
	// counts the side passes started.
	side    bool
	sideErr error
	sides   int
	// baseline is the run's baselineVersion: from 1 on, every change it
	// covers is in force without a marker of its own (see version).
	baseline workflow.Version
	// people is the run's peopleVersion: ask and wait steps run.
	people workflow.Version
	// followed marks the questions whose follower runs in this run.
	followed map[string]bool
	// waits are the run's wait steps' waits, by id.
	waits map[string]*condWait
	// epoch counts what may change a wait step's condition: incident
	// changes received and alerts joining.
	epoch int
	// found is set when a hunt step brought new evidence into the
	// incident: the investigation runs another pass to look at it.
	found bool
	// failing is set when the investigation fails: questions and waits
	// then end, cancelled.
	failing string
}

var acts *activities.Activities // nil: only its method values are used, to name activities

// IncidentWorkflow investigates one incident: it pins the playbooks that
// match, runs their stages in order, turns remediation steps into actions
// that run or wait for a decision, and ends with the investigation state.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (*State, error) {
	w := &incident{in: in, recording: map[string]bool{}, steps: map[string]*playbook.Step{}, deciding: map[string]bool{},
		followed: map[string]bool{}, waits: map[string]*condWait{},
		state: State{IncidentID: in.IncidentID, Investigation: domain.InvestigationQueued, SeenAlerts: in.SeenAlerts}}
	w.log = log.With(workflow.GetLogger(ctx), "IncidentID", in.IncidentID)
	w.baseline = workflow.GetVersion(ctx, baselineVersion, workflow.DefaultVersion, 1)
	w.live = w.version(ctx, liveVersion)
	w.eventful = w.version(ctx, eventfulVersion)
	w.people = w.version(ctx, peopleVersion)
	if err := w.register(ctx); err != nil {
		return nil, err
	}
	w.added = workflow.GetSignalChannel(ctx, SignalAlertsAdded)
	w.listenChanges(ctx)
	fresh := w.drainSignals()
	if in.ChangeOnly && w.recordOnly(fresh) {
		w.drainChanges(ctx)
		w.log.Info("incident change recorded", "changes", len(w.state.Changes))
		return &w.state, nil
	}

	w.setState(ctx, domain.InvestigationRunning)
	var sources []activities.PlaybookSource
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), acts.LoadPlaybooks).Get(ctx, &sources); err != nil {
		return w.fail(ctx, fmt.Errorf("load playbooks: %w", err))
	}
	sources, err := activities.UnpackPlaybooks(sources)
	if err != nil {
		return w.fail(ctx, err)
	}
	set := make([]playbook.Source, len(sources))
	for i, src := range sources {
		set[i] = playbook.Source{File: src.File, Source: src.Source}
	}
	books, err := playbook.CompileSet(set)
	if err != nil {
		return w.fail(ctx, fmt.Errorf("compile pinned playbooks: %w", err))
	}
	w.books = books

	for pass := 0; ; pass++ {
		sides := w.sides
		if err := w.investigate(ctx, books, pass == 0); err != nil && !errors.Is(err, errStopped) {
			return w.fail(ctx, err)
		}
		if err := w.awaitSide(ctx); err != nil {
			return w.fail(ctx, err)
		}
		// Alerts that joined meanwhile may bring new entities: run again.
		// Steps already recorded are recognised by their action ids and not
		// proposed twice. Side passes took some of them already; the
		// history they made still counts toward continue-as-new.
		more := w.drainSignals()
		if w.found {
			// A hunt step brought evidence: look at it in another pass.
			w.found, more = false, true
		}
		if w.stop != nil || !more && w.sides == sides {
			break
		}
		if w.historyFull(ctx) {
			if err := w.quiesce(ctx); err != nil {
				return nil, err
			}
			w.log.Info("continuing as new", "history", workflow.GetInfo(ctx).GetCurrentHistoryLength())
			next := w.in
			next.SeenAlerts, next.ChangeOnly = w.state.SeenAlerts, false
			return nil, workflow.NewContinueAsNewError(ctx, IncidentWorkflow, next)
		}
		if !more {
			break
		}
	}
	if err := w.quiesce(ctx); err != nil {
		return nil, err
	}
	// A signal that raced the last pass: draining right before completing
	// means Temporal retries this task with the signal present rather than
	// losing it, and the investigation runs once more.
	if w.drainSignals() && w.stop == nil {
		if err := w.investigate(ctx, books, false); err != nil && !errors.Is(err, errStopped) {
			return w.fail(ctx, err)
		}
		if err := w.awaitSide(ctx); err != nil {
			return w.fail(ctx, err)
		}
		if err := w.quiesce(ctx); err != nil {
			return nil, err
		}
	}
	w.closeOrphans(ctx)
	w.setState(ctx, w.finalState())
	w.drainChanges(ctx)
	w.log.Info("investigation finished", "state", w.state.Investigation)
	return &w.state, nil
}

// baselineVersion marks runs started by code that knows every change
// guarded before it: liveVersion, eventfulVersion, peopleVersion,
// truthfulOutcomeVersion, mergedAwayVersion, scopeVersion, inputsVersion,
// summaryVersion, factsVersion, waitSeesChanges and versionSignedChanges.
// Such a run records this one version marker and takes each of those as
// version 1. Before it, a new run recorded a marker per change, and
// Temporal turned each into a search-attribute upsert, a visibility write:
// nine per investigation, eighteen of its forty events. Runs recorded before it
// find no baseline marker and read each change's own, as they did.
//
// A change made after it is guarded with workflow.GetVersion as usual.
const baselineVersion = "baseline-2026-12"

// version is the run's version of a change baselineVersion covers.
func (w *incident) version(ctx workflow.Context, changeID string) workflow.Version {
	if w.baseline >= 1 {
		return 1
	}
	return workflow.GetVersion(ctx, changeID, workflow.DefaultVersion, 1)
}

// listenChanges records incident changes as they arrive, in a coroutine
// that lives as long as the run. It creates no commands, so histories
// recorded before the signal existed replay unchanged.
func (w *incident) listenChanges(ctx workflow.Context) {
	w.changed = workflow.GetSignalChannel(ctx, SignalIncidentChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ch IncidentChange
			if !w.changed.Receive(ctx, &ch) {
				return
			}
			if w.recordChange(ctx, ch) && w.live >= 1 {
				w.resolveStops(ctx, ch)
			}
		}
	})
}

// drainChanges records the changes received but not yet taken, right
// before the run completes: none is left behind unrecorded in the state.
// (One that arrives while the run completes makes Temporal retry the
// completing task with it.)
func (w *incident) drainChanges(ctx workflow.Context) {
	for {
		var ch IncidentChange
		if !w.changed.ReceiveAsync(&ch) {
			return
		}
		w.recordChange(ctx, ch)
	}
}

// recordChange records an authentic change in the state and reports
// whether it was authentic: a dropped one must not act either.
func (w *incident) recordChange(ctx workflow.Context, ch IncidentChange) bool {
	if !w.authentic(ctx, ch) {
		return false
	}
	for _, f := range ch.Fields() {
		w.state.Changes = append(w.state.Changes, ChangeRecord{Field: f.Field, From: f.From, To: f.To, By: f.By, At: workflow.Now(ctx)})
		w.log.Info("incident changed", "field", f.Field, "from", f.From, "to", f.To, "by", f.By)
	}
	w.epoch++
	return true
}

// recordOnly reports whether a change-only run may complete now, having
// recorded the change: it may unless alerts it had not seen (fresh) or an
// Update came with it. Those make it investigate like any run — an Update
// handler waits for the snapshot, which only an investigation loads, and
// must never be left hanging. The handlers of Updates delivered with the
// first workflow task have started by now: registering a handler yields to
// the Updates waiting for it (the SDK's priority update handling), so
// w.updated is known. One that arrives while the run completes makes
// Temporal retry the completing task with it.
func (w *incident) recordOnly(fresh bool) bool {
	if fresh || w.updated {
		w.log.Info("change-only run investigates", "alerts", fresh, "update", w.updated)
		return false
	}
	w.state.ChangeOnly, w.state.Investigation = true, ""
	return true
}

// quiesce waits until every action reached a final state and every Update
// handler returned, so that completing loses nothing in flight.
func (w *incident) quiesce(ctx workflow.Context) error {
	return workflow.Await(ctx, func() bool { return w.following == 0 && !w.side && workflow.AllHandlersFinished(ctx) })
}

// historyFull reports whether the history should be cut with
// continue-as-new before the next pass.
func (w *incident) historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	maxHistory, maxSignals := w.in.MaxHistory, w.in.MaxSignals
	if maxHistory <= 0 {
		maxHistory = DefaultMaxHistory
	}
	if maxSignals <= 0 {
		maxSignals = DefaultMaxSignals
	}
	if w.live >= 1 && info.GetCurrentHistorySize() >= DefaultMaxHistoryBytes {
		return true
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= maxHistory || w.signals >= maxSignals
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
		w.signals++
		for _, id := range sig.AlertIDs {
			if !slices.Contains(w.state.SeenAlerts, id) {
				w.rememberAlert(id)
				fresh = true
			}
		}
		if fresh {
			w.epoch++
		}
	}
}

// refreshState shows pendingApproval while any action or question waits
// for a person, running otherwise.
func (w *incident) refreshState(ctx workflow.Context) {
	st := domain.InvestigationRunning
	if slices.ContainsFunc(w.state.Actions, func(a *domain.Action) bool { return a.Status == domain.ActionPending }) ||
		slices.ContainsFunc(w.state.Questions, func(q *domain.Question) bool { return q.Status == domain.QuestionOpen && w.followed[q.ID] }) {
		st = domain.InvestigationPendingApproval
	}
	w.setState(ctx, st)
}

// finalState follows SPEC §1: no remediation needed → benign; every action
// ran (undo actions and undone ones count as done) → successfullyRemediated;
// some rejected, expired or failed → partiallyRemediated.
//
// Case actions (severity, classification, assignment, resolution) are no
// remediation: they do not count. A playbook that resolved the incident
// stopped the investigation, yet it ends with the state its remediations
// earned, not terminatedByUser.
func (w *incident) finalState() domain.InvestigationState {
	if w.stop != nil && !w.stop.byPlaybook {
		return domain.InvestigationTerminatedByUser
	}
	remediations := 0
	for _, a := range w.state.Actions {
		if caseAction(a.Type) {
			continue
		}
		remediations++
		if a.Status != domain.ActionSucceeded && a.Status != domain.ActionUndone {
			return domain.InvestigationPartiallyRemediated
		}
	}
	if remediations == 0 {
		// SPEC "Facts and verdicts": malicious evidence left uncontained
		// is never benign.
		for _, k := range w.malicious {
			if !slices.ContainsFunc(w.state.Actions, func(a *domain.Action) bool {
				return a.TargetKey == k && a.Status == domain.ActionSucceeded
			}) {
				return domain.InvestigationPartiallyRemediated
			}
		}
		return domain.InvestigationBenign
	}
	return domain.InvestigationSuccessfullyRemediated
}

// verdictChanged follows a verdict decided during the pass: an entity
// no longer malicious leaves the uncontained ones, one newly malicious
// joins them, so that finalState judges by the verdict in effect. The
// playbooks' environments see it from the next pass on.
func (w *incident) verdictChanged(key domain.EntityKey, v domain.Verdict) {
	has := slices.Contains(w.malicious, key)
	switch {
	case v == domain.VerdictMalicious && !has:
		w.malicious = append(w.malicious, key)
	case v != domain.VerdictMalicious && has:
		w.malicious = slices.DeleteFunc(w.malicious, func(k domain.EntityKey) bool { return k == key })
	}
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
// never leaves a workflow stuck. Actions already handed to their followers
// still finish first.
func (w *incident) fail(ctx workflow.Context, err error) (*State, error) {
	w.state.Error = rootMessage(err)
	w.log.Error("investigation failed", "error", w.state.Error)
	if w.people >= 1 {
		w.failing = w.state.Error // open questions and waits end
	}
	if qerr := w.quiesce(ctx); qerr != nil {
		return nil, qerr
	}
	w.closeOrphans(ctx)
	w.setState(ctx, domain.InvestigationFailed)
	w.drainChanges(ctx)
	return &w.state, nil
}
