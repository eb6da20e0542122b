package workflows

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/playbook"
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
}

func newFixture(t *testing.T, verdict domain.Verdict) *fixture {
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
		Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: verdict, Entity: &domain.Entity{
			Key: "device:dev42", Kind: domain.KindDevice, Name: "ws-042.corp.example", Verdict: verdict,
			Attrs: map[string]string{"deviceGroup": "Workstations", "mdeDeviceId": "dev42"}}}},
	}, store.CorrelationRules{})
	if err != nil {
		t.Fatal(err)
	}
	books, err := playbook.LoadDir("../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	var sources []activities.PlaybookSource
	for _, b := range books {
		sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
	}
	var suite testsuite.WorkflowTestSuite
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel) // the test environment's debug chatter hides failures
	suite.SetLogger(logging.NewTemporal(log))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(IncidentWorkflow)
	env.RegisterActivity(&activities.Activities{Store: st, Executor: &labtenant.Tenant{Store: st},
		Playbooks: sources, Log: log})
	return &fixture{t: t, store: st, env: env, incident: res.IncidentID}
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
	f.env.UpdateWorkflow(UpdateDecide, req.ActionID+string(req.Decision)+req.ParamsHash, &testsuite.TestUpdateCallback{
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
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "ana", Comment: "go"}, func(err error) {
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
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionReject, By: "bo", Comment: "server"}, func(err error) {
			if err != nil {
				t.Errorf("reject: %v", err)
			}
		})
		// A second decision in the same breath: the validator already sees
		// the action decided, so exactly one decision wins.
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "cy"}, func(err error) {
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
			{"unknown action", DecideRequest{ActionID: "nope", Decision: domain.DecisionApprove}, ErrNotFound},
			{"unknown decision", DecideRequest{ActionID: a.ID, Decision: "maybe"}, ErrInvalid},
			{"stale params hash", DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, ParamsHash: "0000"}, ErrConflict},
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
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionApprove, ParamsHash: hash, By: "ana"}, func(err error) {
			if err != nil {
				t.Errorf("approve with the right hash: %v", err)
			}
		})
	}, 2*time.Hour)
	if st := f.run(); st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("investigation: got %s", st.Investigation)
	}
	if refused != 3 {
		t.Errorf("%d of 3 bad updates answered", refused)
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
