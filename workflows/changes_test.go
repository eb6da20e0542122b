package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/internal/domain"
)

// TestRunningInvestigationRecordsIncidentChanges: changes signalled while
// the investigation runs land in its state with the workflow time they
// arrived, and change nothing else.
func TestRunningInvestigationRecordsIncidentChanges(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	start := f.env.Now()
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(SignalIncidentChanged, IncidentChange{Field: FieldStatus, From: "active", To: "inProgress", By: "ana"})
	}, 10*time.Minute)
	f.env.RegisterDelayedCallback(func() {
		// One change by hand of two fields is one signal.
		f.env.SignalWorkflow(SignalIncidentChanged, IncidentChange{Field: FieldAssignedTo, To: "bo", By: "ana",
			More: []IncidentChange{{Field: FieldClassification, From: "unknown", To: "truePositive"}}})
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approve: %v", err)
			}
		})
	}, time.Hour)
	st := f.run()
	if st.Investigation != domain.InvestigationSuccessfullyRemediated || st.ChangeOnly {
		t.Errorf("investigation: %s (change-only %v), want successfullyRemediated", st.Investigation, st.ChangeOnly)
	}
	if len(st.Changes) != 3 {
		t.Fatalf("changes: %+v, want 3", st.Changes)
	}
	if c := st.Changes[0]; c.Field != FieldStatus || c.To != "inProgress" || c.By != "ana" || c.At.Sub(start) != 10*time.Minute {
		t.Errorf("first change: %+v, want status → inProgress by ana 10 minutes in", c)
	}
	if c := st.Changes[1]; c.Field != FieldAssignedTo || c.To != "bo" || c.At.Sub(start) != time.Hour {
		t.Errorf("second change: %+v, want the assignment an hour in", c)
	}
	if c := st.Changes[2]; c.Field != FieldClassification || c.To != "truePositive" || c.By != "ana" || c.At.Sub(start) != time.Hour {
		t.Errorf("third change: %+v, want the classification by ana, with the assignment", c)
	}
	for _, s := range st.Steps {
		if s.At.IsZero() {
			t.Errorf("step %s/%s has no time", s.Playbook, s.Step)
		}
	}
}

// TestChangeOnlyRunRecordsWithoutInvestigating: a run started by an
// incident change after the investigation finished runs no activity at all
// (no playbooks, no snapshot, no projection of the investigation state)
// and completes at once.
func TestChangeOnlyRunRecordsWithoutInvestigating(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	ctx := context.Background()
	before, err := f.store.GetIncident(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	f.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		ran = append(ran, info.ActivityType.Name)
	})
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		ran = append(ran, info.ActivityType.Name)
	})
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: f.incident, ChangeOnly: true})
	if !f.env.IsWorkflowCompleted() || f.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", f.env.IsWorkflowCompleted(), f.env.GetWorkflowError())
	}
	var st State
	if err := f.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if !st.ChangeOnly || len(st.Actions) != 0 || len(st.Steps) != 0 || st.Investigation != "" {
		t.Errorf("state: %+v, want a change-only state without investigation", st)
	}
	if len(ran) != 0 {
		t.Errorf("activities ran: %v, want none", ran)
	}
	after, err := f.store.GetIncident(ctx, f.incident)
	if err != nil {
		t.Fatal(err)
	}
	if after.InvestigationState != before.InvestigationState || len(f.actions()) != 0 {
		t.Errorf("investigation state %s → %s, %d actions; want untouched", before.InvestigationState, after.InvestigationState, len(f.actions()))
	}
}

// TestChangeOnlyRunTakesUpdatesAfterAll: an Update that reaches a
// change-only run (it attached to the run an incident change had just
// started) is not left waiting for a snapshot that never comes: the run
// investigates like any other and the Update completes.
func TestChangeOnlyRunTakesUpdatesAfterAll(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	var manual *domain.Action
	// The test environment delivers a zero-delay callback before the first
	// workflow task; the Update then arrives with it, as it does when an
	// Update-with-start attaches to a run just started.
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(UpdateRequest, "req-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { t.Errorf("request refused: %v", err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				manual = v.(*domain.Action)
			},
		}, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "ana", Role: domain.RoleResponder})
	}, 0)
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			if a.Status == domain.ActionPending {
				f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionReject, By: "bo", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("reject %s: %v", a.Type, err)
					}
				})
			}
		}
	}, time.Hour)
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: f.incident, ChangeOnly: true})
	if !f.env.IsWorkflowCompleted() || f.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", f.env.IsWorkflowCompleted(), f.env.GetWorkflowError())
	}
	var st State
	if err := f.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if manual == nil || manual.Type != "device.run_av_scan" {
		t.Fatalf("manual action: %+v", manual)
	}
	if st.ChangeOnly || st.Investigation != domain.InvestigationPartiallyRemediated {
		t.Errorf("state: change-only %v, %s; want an investigation, partiallyRemediated", st.ChangeOnly, st.Investigation)
	}
}

// TestChangeOnlyRunInvestigatesNewAlerts: alerts the run had not seen,
// signalled with the change, make it investigate as usual.
func TestChangeOnlyRunInvestigatesNewAlerts(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{"alert-1"}})
	}, 0)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: f.pendingAction().ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approve: %v", err)
			}
		})
	}, time.Hour)
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: f.incident, ChangeOnly: true})
	var st State
	if err := f.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if st.ChangeOnly || st.Investigation != domain.InvestigationSuccessfullyRemediated || !f.labIsolated() {
		t.Errorf("state: change-only %v, %s, isolated %v; want an investigation that isolated", st.ChangeOnly, st.Investigation, f.labIsolated())
	}
}
