// Package activities holds the Temporal activities of the incident
// workflow: every read and write of the store, and every call to a
// remediation target. Activities are methods on Activities, which holds
// their dependencies; workflows call them through a nil *Activities.
//
// Activities are where the outside world is touched, so each one is
// idempotent: a retried RecordAction finds the row it wrote, a retried
// ExecuteAction sends the same idempotency key and gets the first result.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// Activities holds the activities' dependencies.
type Activities struct {
	Store      *store.Store
	Executor   remediation.Executor
	Playbooks  []PlaybookSource
	Automation policy.Settings
	Log        logrus.FieldLogger
	// Enrich, when set, adds to a snapshot what alerts do not carry —
	// directory and tenant facts such as a user's manager or a device's
	// isolation state. Playbook tests use it to give such facts.
	Enrich func(ctx context.Context, s *Snapshot) error
	// Vendors are the connectors that enrich entities in analysis steps
	// (internal/enrich; the worker's connector.Router); nil asks none.
	Vendors enrich.Source
	// LabVendors enrich an exercise's entities instead of Vendors (the
	// worker's lab tenant); nil: Vendors enrich those too.
	LabVendors enrich.Source
	// EnrichOptions bound each vendor's look-ups about one entity.
	EnrichOptions enrich.Options
	// Notifier tells users and analysts of the questions ask steps put,
	// and reminds them; nil means no channel is configured (see
	// NotifyQuestion).
	Notifier Notifier

	// pack packs Playbooks once, for LoadPlaybooks.
	pack    sync.Once
	packed  []PlaybookSource
	packErr error
}

// Snapshot is what the workflow knows of its incident at one moment.
type Snapshot struct {
	Incident domain.Incident `json:"incident"`
	// Alerts are the most recently active of the incident's alerts, at
	// most MaxSnapshotAlerts and MaxSnapshotAlertBytes of them (see
	// alertWindow); AlertSummary counts them all.
	Alerts       []domain.Alert      `json:"alerts"`
	AlertSummary *store.AlertSummary `json:"alertSummary,omitempty"`
	Entities     []domain.Entity     `json:"entities"`
	// Actions are the incident's recorded actions: a new run of the
	// investigation (after continue-as-new, or when a finished one is
	// restarted by new alerts or an undo) adopts them instead of proposing
	// them again.
	Actions []domain.Action `json:"actions"`
	// Scope lists the entities earlier passes and runs investigated.
	Scope      []domain.EntityKey `json:"scope"`
	Automation policy.Settings    `json:"automation"`
	// MergedActions are the actions of incidents merged into this one
	// (store.MergedActions): the investigation does not propose the same
	// remediation of the same entity again. Absent in snapshots recorded
	// before merges were considered.
	MergedActions []domain.Action `json:"mergedActions,omitempty"`
	// Questions are the questions the incident's ask steps put, answered
	// or not: a new run adopts them, so an answer given to an earlier run
	// (or to this one before its step is reached again) holds.
	Questions []domain.Question `json:"questions,omitempty"`
	// Inputs are the tenant's values of the playbooks' inputs, by
	// playbook name (LoadInputs); absent when none are set, and in
	// snapshots recorded before playbooks had inputs.
	Inputs map[string]map[string]any `json:"inputs,omitempty"`
	// Facts are what analysis steps learned about the entities so far
	// (intel matches, prevalence): playbook expressions read them as
	// item.intel. Absent in snapshots recorded before they were.
	Facts []domain.Fact `json:"facts,omitempty"`
}

// LoadFacts reads what analysis steps learned about the incident's
// entities: the investigation reads them again after its analysis stage,
// so that the stages after it see this pass's facts.
func (a *Activities) LoadFacts(ctx context.Context, incidentID int64) ([]domain.Fact, error) {
	facts, err := a.Store.Facts(ctx, incidentID)
	if err != nil {
		return nil, classify(err)
	}
	return facts, nil
}

// LoadIncident reads the incident, its alerts and entities, and the
// automation settings in force.
func (a *Activities) LoadIncident(ctx context.Context, incidentID int64) (*Snapshot, error) {
	inc, err := a.Store.GetIncident(ctx, incidentID)
	if err != nil {
		return nil, classify(err)
	}
	alerts, summary, err := a.alertWindow(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	ents, err := a.Store.IncidentEntities(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	keys := make([]domain.EntityKey, len(ents))
	for i, e := range ents {
		keys[i] = e.Key
	}
	tags, err := a.Store.EntityTags(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i := range ents {
		ents[i].Tags = tags[ents[i].Key]
	}
	settings, err := a.settings(ctx)
	if err != nil {
		return nil, err
	}
	recorded, err := a.Store.ListActions(ctx, store.ActionFilter{IncidentID: incidentID, Limit: maxActions})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recorded, func(x, y domain.Action) int { return x.CreatedAt.Compare(y.CreatedAt) })
	scope, err := a.Store.InvestigationScope(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	merged, err := a.Store.MergedActions(ctx, incidentID, maxActions)
	if err != nil {
		return nil, err
	}
	questions, err := a.Store.IncidentQuestions(ctx, incidentID, maxActions)
	if err != nil {
		return nil, err
	}
	facts, err := a.Store.Facts(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	inputs, err := LoadInputs(ctx, a.Store)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Incident: *inc, Alerts: alerts, AlertSummary: summary, Entities: ents, Actions: recorded, Scope: scope, Automation: settings}
	if len(merged) > 0 {
		snap.MergedActions = merged
	}
	if len(questions) > 0 {
		snap.Questions = questions
	}
	if len(inputs) > 0 {
		snap.Inputs = inputs
	}
	if len(facts) > 0 {
		snap.Facts = facts
	}
	if a.Enrich != nil {
		if err := a.Enrich(ctx, snap); err != nil {
			return nil, fmt.Errorf("enrich incident %d: %w", incidentID, err)
		}
	}
	return snap, nil
}

// maxActions bounds the actions a snapshot carries into workflow history.
const maxActions = 1000

// SettingsKey is the store key of the tenant's automation settings.
const SettingsKey = "automation"

// InputsKeyPrefix prefixes the store keys of the tenant's values of
// playbook inputs: "playbook-inputs:NAME" holds playbook NAME's, a JSON
// object of input name to value.
const InputsKeyPrefix = "playbook-inputs:"

// LoadInputs reads the tenant's values of every playbook's inputs, by
// playbook name. The workflow gets them in its snapshot, so that a replay
// sees the values the run saw.
func LoadInputs(ctx context.Context, st *store.Store) (map[string]map[string]any, error) {
	raw, err := st.SettingsWithPrefix(ctx, InputsKeyPrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]any, len(raw))
	for key, b := range raw {
		var vals map[string]any
		if err := json.Unmarshal(b, &vals); err != nil {
			return nil, fmt.Errorf("decode setting %s: %w", key, err)
		}
		if len(vals) > 0 {
			out[strings.TrimPrefix(key, InputsKeyPrefix)] = vals
		}
	}
	return out, nil
}

// settings returns the stored automation settings, or the worker's
// configured default when an administrator never set them.
func (a *Activities) settings(ctx context.Context) (policy.Settings, error) {
	var s policy.Settings
	ok, err := a.Store.Setting(ctx, SettingsKey, &s)
	if err != nil || !ok {
		return a.Automation, err
	}
	return s, nil
}

// LoadPlaybooks returns the playbooks the worker loaded at start, packed
// (see PackPlaybooks) once per worker.
func (a *Activities) LoadPlaybooks(ctx context.Context) ([]PlaybookSource, error) {
	a.pack.Do(func() { a.packed, a.packErr = PackPlaybooks(a.Playbooks) })
	return a.packed, a.packErr
}

// RecordAction writes a proposed action into the action center and returns
// the stored row, which is the earlier one when the action was recorded
// before. An action policy let run on its own is held to the rate
// guardrail of its type (nil: none), atomically with the insert: past it,
// the stored row is pending with the guardrail as reason.
func (a *Activities) RecordAction(ctx context.Context, act *domain.Action, rate *policy.Rate) (*domain.Action, error) {
	var cap *store.RateCap
	if rate != nil {
		cap = &store.RateCap{Max: rate.Max, Per: time.Duration(rate.Per)}
	}
	got, err := a.Store.RecordAction(ctx, act, cap)
	return got, classify(err)
}

// UpdateAction writes an action's new lifecycle state.
func (a *Activities) UpdateAction(ctx context.Context, act *domain.Action) error {
	return classify(a.Store.UpdateAction(ctx, act))
}

// SetInvestigationState projects the investigation state into the store.
func (a *Activities) SetInvestigationState(ctx context.Context, incidentID int64, state domain.InvestigationState) error {
	return classify(a.Store.SetInvestigationState(ctx, incidentID, state))
}

// AddToScope records entities the investigation took into its scope.
func (a *Activities) AddToScope(ctx context.Context, incidentID int64, keys []domain.EntityKey) error {
	return classify(a.Store.AddToScope(ctx, incidentID, keys))
}

// TagIncident adds tags to the incident (the incident.tag step).
func (a *Activities) TagIncident(ctx context.Context, incidentID int64, tags []string) error {
	return classify(a.Store.AddIncidentTags(ctx, incidentID, tags, "system:playbook"))
}

// CommentIncident adds a comment to the incident (the incident.comment
// step), once: a later run of the investigation (after an undo, say) that
// comes to the same words does not post them again.
func (a *Activities) CommentIncident(ctx context.Context, incidentID int64, text string) error {
	comments, err := a.Store.IncidentComments(ctx, incidentID)
	if err != nil {
		return classify(err)
	}
	for _, c := range comments {
		if c.CreatedByDisplayName == "system:playbook" && c.Comment == text {
			return nil
		}
	}
	return classify(a.Store.AddIncidentComment(ctx, incidentID, text, "system:playbook"))
}

// VerdictRequest is a rule verdict step's: the entity, the verdict and
// why, and the playbook and step that decided it.
type VerdictRequest struct {
	IncidentID     int64            `json:"incidentId"`
	Entity         domain.EntityKey `json:"entity"`
	Verdict        domain.Verdict   `json:"verdict"`
	Reason         string           `json:"reason"`
	Playbook, Step string
}

// SetRuleVerdict records a playbook rule's verdict (the <kind>.set_verdict
// steps) and returns the verdict in effect afterwards: the rule's, or an
// analyst's, which stands over it.
func (a *Activities) SetRuleVerdict(ctx context.Context, req VerdictRequest) (domain.Verdict, error) {
	e, err := a.Store.SetRuleVerdict(ctx, req.IncidentID, req.Entity,
		records.VerdictChange{Verdict: req.Verdict, Reason: req.Reason}, req.Playbook, req.Step)
	if err != nil {
		return "", classify(err)
	}
	return e.Verdict, nil
}

// HeartbeatEvery is how often ExecuteAction tells Temporal it is alive.
// The workflow's heartbeat timeout is a few times this, so an execution on a
// worker that died is retried elsewhere within seconds, not at the
// start-to-close timeout.
const HeartbeatEvery = 2 * time.Second

// ExecuteAction carries out an approved remediation. It heartbeats while
// the target works (a Defender machine action can take minutes).
func (a *Activities) ExecuteAction(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	log := a.Log.WithFields(logrus.Fields{"action": req.ActionID, "type": req.Type, "target": req.Target,
		"attempt": activity.GetInfo(ctx).Attempt})
	stop := make(chan struct{})
	defer close(stop)
	go func() { // ends when Execute returns
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	if a.Store != nil {
		// Read at every attempt: an incident never changes exercise, so a
		// retried attempt routes where the first did.
		ex, err := a.Store.IncidentExercise(ctx, req.IncidentID)
		if err != nil {
			return remediation.Result{}, classify(err)
		}
		req.Exercise = ex
	}
	res, err := a.Executor.Execute(ctx, req)
	if err != nil {
		log.WithError(err).Warn("remediation failed")
		return remediation.Result{}, classify(err)
	}
	log.WithFields(logrus.Fields{"result": res.Summary, "connector": res.Connector, "passedOver": res.Skipped}).Info("remediation done")
	return res, nil
}

// classify turns domain errors that retrying cannot fix into non-retryable
// application errors, keeping the kind as the error type so that callers
// (the workflow, the API behind an Update) can translate it. It is the one
// place that decides retryable or not; connectors only say what the vendor
// answered (internal/connector/rest). Anything else is retried.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) && de.Kind != "" {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(de.Kind), nil)
	}
	// A throttled vendor (429 with Retry-After) says when to come back: the
	// next attempt waits that long instead of the retry policy's backoff.
	var ra interface{ RetryDelay() time.Duration }
	if errors.As(err, &ra) && ra.RetryDelay() > 0 {
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrThrottled,
			temporal.ApplicationErrorOptions{NextRetryDelay: ra.RetryDelay()})
	}
	return err
}

// ErrThrottled is the error type of an attempt a vendor throttled.
const ErrThrottled = "throttled"
