package workflows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// fixture is a real SQLite store holding one incident with a malicious
// device, the shipped playbooks, and a test workflow environment whose
// activities write to that store and to the lab tenant.
type fixture struct {
	t        *testing.T
	store    *store.Store
	env      *testsuite.TestWorkflowEnvironment
	incident int64
	updates  int // ids of the Updates sent
	// notifier, when set before withPlaybooks, tells of questions.
	notifier activities.Notifier
	// vendors, when set before withPlaybooks, enrich entities in analysis
	// steps, within enrichOpts.
	vendors    enrich.Source
	enrichOpts enrich.Options
}

func newFixture(t *testing.T, verdict domain.Verdict) *fixture {
	t.Helper()
	return newFixtureWith(t, deviceEvidence(verdict))
}

// deviceEvidence is the fixture's device, ws-042, with a verdict.
func deviceEvidence(verdict domain.Verdict) domain.Evidence {
	return domain.Evidence{Type: "deviceEvidence", Verdict: verdict, Entity: &domain.Entity{
		Key: "device:dev42", Kind: domain.KindDevice, Name: "ws-042.corp.example", Verdict: verdict,
		Attrs: map[string]string{"deviceGroup": "Workstations", "mdeDeviceId": "dev42", "osPlatform": "Windows11"}}}
}

// newFixtureWith makes the fixture's incident from one alert with the
// given evidence.
func newFixtureWith(t *testing.T, evidence ...domain.Evidence) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	res, err := st.IngestAlert(ctx, &domain.Alert{
		ID: "alert-1", Title: "Malware on ws-042", Status: domain.AlertNew, Severity: domain.SeverityHigh,
		Category: "Execution", CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: evidence,
	}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: st, incident: res.IncidentID}
	f.withPlaybooks("../playbooks")
	return f
}

// withPlaybooks gives the fixture a fresh test environment whose
// activities use its store, the lab tenant and the playbooks of dir: the
// next run of the incident's workflow.
func (f *fixture) withPlaybooks(dir string) {
	f.t.Helper()
	books, err := playbook.LoadDir(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	var sources []activities.PlaybookSource
	for _, b := range books {
		sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
	}
	var suite testsuite.WorkflowTestSuite
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel) // the test environment's debug chatter hides failures
	suite.SetLogger(logging.NewTemporal(log))
	f.env = suite.NewTestWorkflowEnvironment()
	f.env.SetWorkerOptions(WorkerOptions)
	f.env.RegisterWorkflow(IncidentWorkflow)
	f.env.RegisterActivity(&activities.Activities{Store: f.store, Executor: &labtenant.Tenant{Store: f.store}, Playbooks: sources, Log: log,
		Notifier: f.notifier, Vendors: f.vendors, EnrichOptions: f.enrichOpts})
}

// pendingAction queries the running workflow for its one pending action.
func (f *fixture) pendingAction() *domain.Action {
	f.t.Helper()
	v, err := f.env.QueryWorkflow(QueryState)
	if err != nil {
		f.t.Fatalf("query state: %v", err)
	}
	var st State
	if err := v.Get(&st); err != nil {
		f.t.Fatal(err)
	}
	for _, a := range st.Actions {
		if a.Status == domain.ActionPending {
			return a
		}
	}
	f.t.Fatalf("no pending action; state %+v", st)
	return nil
}

// decide sends the decide Update; done receives the validator's refusal or
// the handler's outcome when it arrives (the handler runs activities, so
// completion comes after the callback that sent it).
func (f *fixture) decide(req DecideRequest, done func(error)) {
	f.updates++
	f.env.UpdateWorkflow(UpdateDecide, fmt.Sprint("decide-", f.updates), &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   done,
		OnComplete: func(_ any, err error) { done(err) },
	}, req)
}

// refusal reports whether err is a validator refusal of the given type.
func refusal(err error, typ string) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == typ
}

func (f *fixture) run() *State {
	f.t.Helper()
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: f.incident})
	if !f.env.IsWorkflowCompleted() {
		f.t.Fatal("workflow did not complete")
	}
	if err := f.env.GetWorkflowError(); err != nil {
		f.t.Fatalf("workflow error: %v", err)
	}
	var st State
	if err := f.env.GetWorkflowResult(&st); err != nil {
		f.t.Fatal(err)
	}
	return &st
}

func (f *fixture) labIsolated() bool {
	devs, err := f.store.LabDevices(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return len(devs) == 1 && devs[0].Isolated
}

func TestApprovePathIsolatesAndRemediates(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.env.RegisterDelayedCallback(func() {
		a := f.pendingAction()
		if a.Type != "device.isolate" || a.TargetKey != "device:dev42" {
			t.Errorf("pending action: got %s on %s, want device.isolate on device:dev42", a.Type, a.TargetKey)
		}
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder, Comment: "go"}, func(err error) {
			if err != nil {
				t.Errorf("approve: %v", err)
			}
		})
	}, time.Hour)
	st := f.run()
	if st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("investigation: got %s, want successfullyRemediated", st.Investigation)
	}
	if !f.labIsolated() {
		t.Error("lab device not isolated after approval")
	}
	acts, err := f.store.ListActions(context.Background(), store.ActionFilter{IncidentID: f.incident})
	if err != nil || len(acts) != 1 {
		t.Fatalf("actions: got %d, %v; want 1", len(acts), err)
	}
	if a := acts[0]; a.Status != domain.ActionSucceeded || a.DecidedBy != "ana" || a.Result != "isolated" || a.FinishedAt == nil {
		t.Errorf("recorded action: got %+v", a)
	}
	inc, err := f.store.GetIncident(context.Background(), f.incident)
	if err != nil || inc.InvestigationState != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("projected state: got %+v, %v", inc, err)
	}
	if len(inc.CustomTags) == 0 {
		t.Error("triage step did not tag the incident")
	}
}

func TestRejectPathRecordsRejection(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	f.env.RegisterDelayedCallback(func() {
		a := f.pendingAction()
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder, Comment: "server"}, func(err error) {
			if err != nil {
				t.Errorf("reject: %v", err)
			}
		})
		// A second decision in the same breath: the validator already sees
		// the action decided, so exactly one decision wins.
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "cy", Role: domain.RoleAdmin}, func(err error) {
			if !refusal(err, ErrConflict) {
				t.Errorf("approving a rejected action: got %v, want a %s refusal", err, ErrConflict)
			}
		})
	}, time.Hour)
	st := f.run()
	if st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("investigation: got %s, want partiallyRemediated", st.Investigation)
	}
	if f.labIsolated() {
		t.Error("lab device isolated although the action was rejected")
	}
	acts, _ := f.store.ListActions(context.Background(), store.ActionFilter{IncidentID: f.incident})
	if len(acts) != 1 || acts[0].Status != domain.ActionRejected || acts[0].DecidedBy != "bo" || acts[0].DecisionComment != "server" {
		t.Errorf("recorded action: got %+v", acts)
	}
}

func TestValidatorRefusesUnknownActionAndBadInput(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	var refused int
	var hash string
	f.env.RegisterDelayedCallback(func() {
		a := f.pendingAction()
		tests := []struct {
			name string
			req  DecideRequest
			want string
		}{
			{"unknown action", DecideRequest{ActionID: "nope", Decision: domain.DecisionApprove, Role: domain.RoleResponder}, ErrNotFound},
			{"unknown decision", DecideRequest{ActionID: a.ID, Decision: "maybe", Role: domain.RoleResponder}, ErrInvalid},
			{"stale params hash", DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, ParamsHash: "0000", Role: domain.RoleAdmin}, ErrConflict},
			{"viewer", DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, Role: domain.RoleViewer}, ErrForbidden},
			{"analyst", DecideRequest{ActionID: a.ID, Decision: domain.DecisionReject, Role: domain.RoleAnalyst}, ErrForbidden},
			{"no role", DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove}, ErrForbidden},
		}
		for _, tt := range tests {
			f.decide(tt.req, func(err error) {
				refused++
				if !refusal(err, tt.want) {
					t.Errorf("%s: got %v, want a %s refusal", tt.name, err, tt.want)
				}
			})
		}
		hash = a.ParamsHash
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		if a := f.pendingAction(); a.Status != domain.ActionPending {
			t.Errorf("refused updates changed the action: %+v", a)
		}
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionApprove, ParamsHash: hash, By: "ana", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approve with the right hash: %v", err)
			}
		})
	}, 2*time.Hour)
	if st := f.run(); st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("investigation: got %s", st.Investigation)
	}
	if refused != 6 {
		t.Errorf("%d of 6 bad updates answered", refused)
	}
}

func TestPendingActionExpires(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	st := f.run() // no decision: the test environment skips the 7 days
	if st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("investigation: got %s, want partiallyRemediated", st.Investigation)
	}
	acts, _ := f.store.ListActions(context.Background(), store.ActionFilter{IncidentID: f.incident})
	if len(acts) != 1 || acts[0].Status != domain.ActionExpired {
		t.Errorf("action: got %+v, want expired", acts)
	}
	if f.labIsolated() {
		t.Error("expired action ran")
	}
}

func TestNoThreatsIsBenign(t *testing.T) {
	f := newFixture(t, domain.VerdictNoThreatsFound)
	if st := f.run(); st.Investigation != domain.InvestigationBenign || len(st.Actions) != 0 {
		t.Errorf("got %s with %d actions, want benign with none", st.Investigation, len(st.Actions))
	}
}

// rerun starts a fresh test environment on the same store: the next run of
// the incident's workflow, as after a restart by new alerts or an Update.
func (f *fixture) rerun() { f.withPlaybooks("../playbooks") }

func (f *fixture) actions() []domain.Action {
	f.t.Helper()
	acts, err := f.store.ListActions(context.Background(), store.ActionFilter{IncidentID: f.incident})
	if err != nil {
		f.t.Fatal(err)
	}
	return acts
}

func (f *fixture) settings(s policy.Settings) {
	f.t.Helper()
	if err := f.store.PutSetting(context.Background(), activities.SettingsKey, s, "test"); err != nil {
		f.t.Fatal(err)
	}
}

func TestUndo(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	// A manual request nobody decides keeps the investigation open while
	// the isolation runs and is undone.
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(UpdateRequest, "hold", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {},
		}, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "ana", Role: domain.RoleResponder})
	}, 30*time.Minute)
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			if a.Type == "device.isolate" {
				f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("approve: %v", err)
					}
				})
			}
		}
	}, time.Hour)
	var orig domain.Action
	var undo *domain.Action
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			if a.Type == "device.isolate" {
				orig = a
			}
		}
		if orig.Status != domain.ActionSucceeded || !f.labIsolated() {
			t.Fatalf("before undo: %+v, isolated %v", orig, f.labIsolated())
		}
		f.env.UpdateWorkflow(UpdateUndo, "undo-viewer", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("a viewer's undo was accepted") }, OnReject: func(error) {}, OnComplete: func(any, error) {},
		}, UndoRequest{ActionID: orig.ID, By: "vic", Role: domain.RoleViewer})
		f.env.UpdateWorkflow(UpdateUndo, "undo-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { t.Errorf("undo refused: %v", err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Errorf("undo: %v", err)
					return
				}
				undo = v.(*domain.Action)
			},
		}, UndoRequest{ActionID: orig.ID, By: "ana", Role: domain.RoleResponder, Comment: "false positive"})
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(UpdateUndo, "undo-2", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("undoing twice was accepted") }, OnReject: func(error) {}, OnComplete: func(any, error) {},
		}, UndoRequest{ActionID: orig.ID, By: "ana", Role: domain.RoleResponder})
	}, 3*time.Hour)
	st := f.run()
	if undo == nil || undo.Type != "device.release" || undo.UndoOf != orig.ID || undo.Source != domain.SourceManual {
		t.Fatalf("undo action: %+v", undo)
	}
	if f.labIsolated() {
		t.Error("device still isolated after the undo")
	}
	byID := map[string]domain.Action{}
	for _, a := range f.actions() {
		byID[a.ID] = a
	}
	if byID[orig.ID].Status != domain.ActionUndone || byID[undo.ID].Status != domain.ActionSucceeded {
		t.Errorf("after undo: original %s, undo %s; want undone, succeeded", byID[orig.ID].Status, byID[undo.ID].Status)
	}
	if st.Investigation != domain.InvestigationPartiallyRemediated { // the scan expired
		t.Errorf("state: %s", st.Investigation)
	}
}

func TestLaterRunAdoptsRecordedActions(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.settings(policy.Settings{Default: policy.Full})
	if st := f.run(); st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Fatalf("first run: %s", st.Investigation)
	}
	f.rerun() // new alerts restarted the finished investigation
	st := f.run()
	if n := len(f.actions()); n != 1 || len(st.Actions) != 1 {
		t.Errorf("second run: %d recorded, %d in state; want the one action, adopted, not proposed again", n, len(st.Actions))
	}
	ops, _ := f.store.LabOperations(context.Background())
	if len(ops) != 1 {
		t.Errorf("lab operations: %d, want 1", len(ops))
	}
	if st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("second run: %s", st.Investigation)
	}
}

func TestManualActionFourEyes(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious) // the playbook's own isolation waits, and is rejected below
	f.settings(policy.Settings{FourEyes: true})
	var manual *domain.Action
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(UpdateRequest, "req-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { t.Errorf("request refused: %v", err) },
			OnComplete: func(v any, err error) {
				if err == nil {
					manual = v.(*domain.Action)
				}
			},
		}, ManualRequest{Type: "device.isolate", Target: "device:dev42", Params: []byte(`{"isolationType":"Selective"}`),
			By: "ana", Role: domain.RoleResponder, Comment: "lateral movement"})
		f.env.UpdateWorkflow(UpdateRequest, "req-bad", &testsuite.TestUpdateCallback{
			OnAccept:   func() { t.Error("request for a user action on a device accepted") },
			OnReject:   func(error) {},
			OnComplete: func(any, error) {},
		}, ManualRequest{Type: "user.disable", Target: "device:dev42", By: "ana", Role: domain.RoleResponder})
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		if manual == nil {
			t.Fatal("no manual action")
		}
		f.decide(DecideRequest{ActionID: manual.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}, func(err error) {
			if !refusal(err, ErrForbidden) {
				t.Errorf("self-approval with four-eyes: got %v, want forbidden", err)
			}
		})
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: manual.ID, Decision: domain.DecisionApprove, By: "bo", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("second pair of eyes: %v", err)
			}
		})
		for _, a := range f.actions() {
			if a.Source == domain.SourceAutomated {
				f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("reject: %v", err)
					}
				})
			}
		}
	}, 3*time.Hour)
	st := f.run()
	if !f.labIsolated() || st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("after approval by another: isolated %v, state %s", f.labIsolated(), st.Investigation)
	}
	if manual != nil && (manual.Status != domain.ActionPending || !strings.Contains(manual.Reason, "lateral movement")) {
		t.Errorf("manual action as requested: %+v", manual)
	}
}

func TestGuardrailsHoldBackFullAutomation(t *testing.T) {
	tests := []struct {
		name     string
		settings policy.Settings
		tag      string
	}{
		{"rate cap", policy.Settings{Default: policy.Full, Guardrails: policy.Guardrails{
			Rates: map[string]policy.Rate{"device.isolate": {Max: 0, Per: policy.Duration(time.Hour)}}}}, ""},
		{"protected tag", policy.Settings{Default: policy.Full, Guardrails: policy.Guardrails{ProtectedTags: []string{"critical"}}}, "critical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.VerdictMalicious)
			f.settings(tt.settings)
			if tt.tag != "" {
				if err := f.store.SetEntityTags(context.Background(), "device:dev42", []string{tt.tag}, "admin"); err != nil {
					t.Fatal(err)
				}
			}
			st := f.run() // nobody decides: the held-back action expires
			acts := f.actions()
			if len(acts) != 1 || acts[0].Status != domain.ActionExpired || !strings.Contains(acts[0].Reason, "guardrail") {
				t.Errorf("actions: %+v; want one held back by a guardrail, then expired", acts)
			}
			if f.labIsolated() || st.Investigation != domain.InvestigationPartiallyRemediated {
				t.Errorf("isolated %v, state %s", f.labIsolated(), st.Investigation)
			}
		})
	}
}

func TestContinuesAsNewWhenHistoryIsLong(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{"alert-2"}})
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder}, func(error) {})
	}, 2*time.Hour)
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: f.incident, MaxSignals: 1, SeenAlerts: []string{"alert-1"}})
	var can *workflow.ContinueAsNewError
	if err := f.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("got %v, want continue-as-new", err)
	}
	var next IncidentInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.IncidentID != f.incident || !slices.Equal(next.SeenAlerts, []string{"alert-1", "alert-2"}) {
		t.Errorf("carried forward: %+v", next)
	}
}

func TestLargeScopeExpansionWaitsForApproval(t *testing.T) {
	for _, decision := range []domain.Decision{domain.DecisionApprove, domain.DecisionReject} {
		t.Run(string(decision), func(t *testing.T) {
			f := newFixture(t, domain.VerdictSuspicious)
			f.env.RegisterDelayedCallback(func() {
				// An alert joins with the incident's device and ten new ones.
				ev := []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
					Key: "device:dev42", Kind: domain.KindDevice, Name: "ws-042", Verdict: domain.VerdictSuspicious}}}
				for i := range ScopeApprovalDevices {
					id := fmt.Sprintf("new%d", i)
					ev = append(ev, domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
						Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
						Attrs: map[string]string{"osPlatform": "Windows11"}}})
				}
				at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
				r, err := f.store.IngestAlert(context.Background(), &domain.Alert{ID: "alert-2", Title: "Worm", Status: domain.AlertNew,
					Severity: domain.SeverityHigh, Category: "LateralMovement", CreatedDateTime: at, LastUpdateDateTime: at, Evidence: ev},
					correlate.Rules{})
				if err != nil || r.IncidentID != f.incident {
					t.Fatalf("second alert: %+v, %v", r, err)
				}
				f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{"alert-2"}})
				f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder}, func(error) {})
			}, time.Hour)
			f.env.RegisterDelayedCallback(func() {
				a := f.pendingAction()
				if a.Type != ExpandScope || !strings.Contains(a.Reason, "10 new devices") {
					t.Fatalf("pending after the alert joined: %+v, want the scope expansion", a)
				}
				f.decide(DecideRequest{ActionID: a.ID, Decision: decision, By: "bo", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Error(err)
					}
				})
			}, 2*time.Hour)
			f.run()
			isolations := 0
			for _, a := range f.actions() {
				if a.Type == "device.isolate" && a.TargetKey != "device:dev42" {
					isolations++
				}
			}
			want := map[domain.Decision]int{domain.DecisionApprove: ScopeApprovalDevices, domain.DecisionReject: 0}[decision]
			if isolations != want {
				t.Errorf("isolations proposed for the new devices: %d, want %d", isolations, want)
			}
		})
	}
}

func TestApprovalRuleRunsAutomatically(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious) // semi-all would make it wait
	f.settings(policy.Settings{Rules: []policy.Rule{{Name: "contain high-severity workstations",
		When: `action.type == "device.isolate" and incident.severity == "high" and target.deviceGroup == "Workstations"`, Then: policy.Run}}})
	if st := f.run(); st.Investigation != domain.InvestigationSuccessfullyRemediated || !f.labIsolated() {
		t.Errorf("state %s, isolated %v", st.Investigation, f.labIsolated())
	}
	if a := f.actions()[0]; !strings.Contains(a.Reason, "contain high-severity workstations") || a.DecidedBy != domain.PolicyActor {
		t.Errorf("action: reason %q, decided by %q", a.Reason, a.DecidedBy)
	}
}

// failingTarget answers every remediation with a permanent error, as a
// target that does not know the device would.
type failingTarget struct{}

func (failingTarget) Execute(context.Context, remediation.Request) (remediation.Result, error) {
	return remediation.Result{}, domain.Errorf(domain.KindNotFound, "machine not found")
}

func TestPermanentStepFailureFailsTheInvestigation(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	books, err := playbook.LoadDir("testdata/strict")
	if err != nil {
		t.Fatal(err)
	}
	var sources []activities.PlaybookSource
	for _, b := range books {
		sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
	}
	var suite testsuite.WorkflowTestSuite
	log := logrus.New()
	log.SetOutput(io.Discard)
	suite.SetLogger(logging.NewTemporal(log))
	f.env = suite.NewTestWorkflowEnvironment()
	f.env.SetWorkerOptions(WorkerOptions)
	f.env.RegisterWorkflow(IncidentWorkflow)
	f.env.RegisterActivity(&activities.Activities{Store: f.store, Executor: failingTarget{}, Playbooks: sources, Log: log})
	st := f.run() // never stuck: the workflow completes
	if st.Investigation != domain.InvestigationFailed || !strings.Contains(st.Error, "machine not found") {
		t.Errorf("state %s, error %q; want failed with the target's error", st.Investigation, st.Error)
	}
	inc, err := f.store.GetIncident(context.Background(), f.incident)
	if err != nil || inc.InvestigationState != domain.InvestigationFailed {
		t.Errorf("projected: %+v, %v", inc, err)
	}
	if a := f.actions(); len(a) != 1 || a[0].Status != domain.ActionFailed || a[0].Error == "" {
		t.Errorf("action: %+v", a)
	}
}

// TestMaliciousLeftUncontainedIsNotBenign: an investigation that proposes
// nothing is benign only if no malicious evidence is left uncontained
// (SPEC "Facts and verdicts"): a malicious device nothing isolated makes it
// partiallyRemediated; one the provider reports remediated, or a device
// reported isolated, is contained; suspicious evidence alone stays benign.
func TestMaliciousLeftUncontainedIsNotBenign(t *testing.T) {
	const noteOnly = "name: note-only\nversion: 1\nstages:\n  analysis:\n    - id: note\n      action: incident.comment\n      with: {text: looked}\n"
	remediated := deviceEvidence(domain.VerdictMalicious)
	remediated.RemediationStatus = "remediated"
	isolated := deviceEvidence(domain.VerdictMalicious)
	isolated.Entity.Attrs["isolationState"] = "Isolated"
	for _, c := range []struct {
		name string
		ev   domain.Evidence
		want domain.InvestigationState
		// analyst, when set, is an analyst's verdict on the device before
		// the investigation runs.
		analyst domain.Verdict
	}{
		{"malicious, nothing contained it", deviceEvidence(domain.VerdictMalicious), domain.InvestigationPartiallyRemediated, ""},
		{"malicious, but an analyst found no threats", deviceEvidence(domain.VerdictMalicious), domain.InvestigationBenign, domain.VerdictNoThreatsFound},
		{"malicious, remediated by the provider", remediated, domain.InvestigationBenign, ""},
		{"malicious, the device already isolated", isolated, domain.InvestigationBenign, ""},
		{"suspicious only", deviceEvidence(domain.VerdictSuspicious), domain.InvestigationBenign, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, c.ev)
			if c.analyst != "" {
				if _, err := f.store.SetVerdict(context.Background(), f.incident, "device:dev42",
					records.VerdictChange{Verdict: c.analyst, Reason: "re-imaged"}, "ana"); err != nil {
					t.Fatal(err)
				}
			}
			f.withBook(noteOnly)
			if st := f.run(); st.Investigation != c.want || len(st.Actions) != 0 {
				t.Errorf("got %s with %d actions, want %s with none", st.Investigation, len(st.Actions), c.want)
			}
		})
	}
}
