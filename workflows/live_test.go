package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// The tests in this file each show a defect of the pass-snapshot loop
// (issue 21) and fail on it: settings and tags changed mid-investigation,
// stop, resolve, one action per target, four-eyes on undo, bounds.

const fileKey = "file:0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f"

// fileEvidence is a malicious file on ws-042.
func fileEvidence() domain.Evidence {
	return domain.Evidence{Type: "fileEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
		Key: fileKey, Kind: domain.KindFile, Name: "invoice_0314.exe", Verdict: domain.VerdictMalicious,
		Attrs: map[string]string{"fileName": "invoice_0314.exe", "filePath": `C:\Users\alice\AppData\Local\Temp`,
			"sha1": "0b3e5d7f9a1c2e4f6a8b0c1d3e5f7a9b1c2d3e4f", "mdeDeviceId": "dev42", "deviceGroup": "Workstations"}}}
}

// update sends an Update; done receives the refusal or the outcome.
func (f *fixture) update(name string, arg any, done func(any, error)) {
	f.updates++
	f.env.UpdateWorkflow(name, fmt.Sprint(name, "-", f.updates), &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   func(err error) { done(nil, err) },
		OnComplete: done,
	}, arg)
}

// actionOf returns the one recorded action of a type.
func (f *fixture) actionOf(typ string) *domain.Action {
	f.t.Helper()
	var found *domain.Action
	for _, a := range f.actions() {
		if a.Type == typ && a.UndoOf == "" {
			if found != nil {
				f.t.Fatalf("two %s actions: %s and %s", typ, found.ID, a.ID)
			}
			found = &a
		}
	}
	return found
}

// approveIsolation approves the pending isolation of ws-042 at the given
// workflow time.
func (f *fixture) approveIsolationAt(at time.Duration) {
	f.env.RegisterDelayedCallback(func() {
		a := f.actionOf("device.isolate")
		if a == nil || a.Status != domain.ActionPending {
			f.t.Errorf("isolation to approve: %+v", a)
			return
		}
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "bo", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				f.t.Errorf("approve isolation: %v", err)
			}
		})
	}, at)
}

// A file tagged critical after the investigation started is not
// quarantined automatically: the proposal reads the tags of the moment.
func TestTagSetMidInvestigationHoldsTheNextProposal(t *testing.T) {
	f := newFixtureWith(t, deviceEvidence(domain.VerdictSuspicious), fileEvidence())
	f.settings(policy.Settings{Default: policy.Full, Guardrails: policy.Guardrails{ProtectedTags: []string{"critical"}}})
	f.env.RegisterDelayedCallback(func() {
		if err := f.store.SetEntityTags(context.Background(), fileKey, []string{"critical"}, "admin"); err != nil {
			t.Fatal(err)
		}
	}, 30*time.Minute)
	f.approveIsolationAt(time.Hour)
	f.run()
	q := f.actionOf("file.stop_and_quarantine")
	if q == nil {
		t.Fatal("no quarantine proposed")
	}
	if q.DecidedBy == domain.PolicyActor || q.StartedAt != nil || !strings.Contains(q.Reason, "guardrail") {
		t.Errorf("quarantine of a file tagged critical mid-investigation: %s by %q, reason %q; want it held by the guardrail",
			q.Status, q.DecidedBy, q.Reason)
	}
}

// A level lowered mid-investigation makes the next proposal wait.
func TestLevelLoweredMidInvestigationMakesTheNextProposalWait(t *testing.T) {
	f := newFixtureWith(t, deviceEvidence(domain.VerdictSuspicious), fileEvidence())
	f.settings(policy.Settings{Default: policy.Full})
	f.env.RegisterDelayedCallback(func() { f.settings(policy.Settings{Default: policy.SemiAll}) }, 30*time.Minute)
	f.approveIsolationAt(time.Hour)
	f.run()
	q := f.actionOf("file.stop_and_quarantine")
	if q == nil {
		t.Fatal("no quarantine proposed")
	}
	if q.DecidedBy == domain.PolicyActor || q.StartedAt != nil {
		t.Errorf("quarantine after the level was lowered to semi-all: %s by %q (%s); want it waiting", q.Status, q.DecidedBy, q.Reason)
	}
}

// Four-eyes switched on mid-investigation holds at once: the requester of
// a manual action may no longer approve it herself (issue 12, item 2).
func TestFourEyesSwitchedOnMidInvestigation(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	var manual *domain.Action
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateRequest, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "ana", Role: domain.RoleResponder},
			func(v any, err error) {
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				manual = v.(*domain.Action)
			})
	}, 30*time.Minute)
	f.env.RegisterDelayedCallback(func() { f.settings(policy.Settings{FourEyes: true}) }, time.Hour)
	var self error
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: manual.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder},
			func(err error) { self = err })
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: manual.ID, Decision: domain.DecisionApprove, By: "bo", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approval by another responder: %v", err)
			}
		})
	}, 3*time.Hour)
	f.run()
	if !refusal(self, ErrForbidden) {
		t.Errorf("self-approval after four-eyes was switched on: got %v, want forbidden", self)
	}
	if a := f.actionOf("device.run_av_scan"); a == nil || a.DecidedBy != "bo" || a.Status != domain.ActionSucceeded {
		t.Errorf("manual scan: %+v; want approved by bo and run", a)
	}
}

// Four-eyes covers undo: the undo waits for another responder.
func TestFourEyesCoversUndo(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.settings(policy.Settings{Default: policy.Full, FourEyes: true})
	f.env.RegisterDelayedCallback(func() { // keeps the investigation open
		f.update(UpdateRequest, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "cy", Role: domain.RoleResponder},
			func(any, error) {})
	}, 0)
	var undo *domain.Action
	f.env.RegisterDelayedCallback(func() {
		orig := f.actionOf("device.isolate")
		if orig == nil || orig.Status != domain.ActionSucceeded {
			t.Fatalf("isolation before undo: %+v", orig)
		}
		f.update(UpdateUndo, UndoRequest{ActionID: orig.ID, By: "ana", Role: domain.RoleResponder}, func(v any, err error) {
			if err != nil {
				t.Errorf("undo: %v", err)
				return
			}
			undo = v.(*domain.Action)
		})
	}, time.Hour)
	var self error
	f.env.RegisterDelayedCallback(func() {
		if undo == nil || undo.Status != domain.ActionPending {
			t.Fatalf("undo with four-eyes: %+v; want it pending", undo)
		}
		if !f.labIsolated() {
			t.Error("device released before a second responder approved the undo")
		}
		f.decide(DecideRequest{ActionID: undo.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder},
			func(err error) { self = err })
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		f.decide(DecideRequest{ActionID: undo.ID, Decision: domain.DecisionApprove, By: "bo", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approve undo: %v", err)
			}
		})
	}, 3*time.Hour)
	f.run()
	if !refusal(self, ErrForbidden) {
		t.Errorf("undoer approving her own undo: got %v, want forbidden", self)
	}
	if f.labIsolated() {
		t.Error("device still isolated after the approved undo")
	}
	if a := f.actionOf("device.isolate"); a.Status != domain.ActionUndone {
		t.Errorf("isolation after undo: %s", a.Status)
	}
}

// A responder stops an investigation: pending actions are rejected with
// the reason, the stop is audited, the state is terminatedByUser.
func TestStopInvestigation(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	var refusals []error
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateStop, StopRequest{Reason: "test", By: "vic", Role: domain.RoleViewer}, func(_ any, err error) { refusals = append(refusals, err) })
		f.update(UpdateStop, StopRequest{By: "ana", Role: domain.RoleResponder}, func(_ any, err error) { refusals = append(refusals, err) })
		f.update(UpdateStop, StopRequest{Reason: "known pentest", By: "ana", Role: domain.RoleResponder}, func(v any, err error) {
			if err != nil {
				t.Errorf("stop: %v", err)
				return
			}
			if st := v.(*State); st.StoppedBy != "ana" {
				t.Errorf("state after stop: %+v", st)
			}
		})
		f.update(UpdateStop, StopRequest{Reason: "again", By: "bo", Role: domain.RoleResponder}, func(_ any, err error) { refusals = append(refusals, err) })
		f.update(UpdateRequest, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "bo", Role: domain.RoleResponder},
			func(_ any, err error) { refusals = append(refusals, err) })
	}, time.Hour)
	st := f.run()
	if st.Investigation != domain.InvestigationTerminatedByUser || !strings.Contains(st.StopReason, "known pentest") {
		t.Errorf("state %s (%q), want terminatedByUser with the reason", st.Investigation, st.StopReason)
	}
	want := []string{ErrForbidden, ErrInvalid, ErrConflict, ErrConflict}
	if len(refusals) != len(want) {
		t.Fatalf("refusals: %v", refusals)
	}
	for i, w := range want {
		if !refusal(refusals[i], w) {
			t.Errorf("refusal %d: %v, want %s", i, refusals[i], w)
		}
	}
	a := f.actionOf("device.isolate")
	if a.Status != domain.ActionRejected || a.DecidedBy != "ana" || !strings.Contains(a.DecisionComment, "known pentest") {
		t.Errorf("pending isolation after stop: %+v", a)
	}
	if f.labIsolated() {
		t.Error("device isolated")
	}
	inc, _ := f.store.GetIncident(context.Background(), f.incident)
	if inc.InvestigationState != domain.InvestigationTerminatedByUser {
		t.Errorf("projected state %s", inc.InvestigationState)
	}
	page, err := f.store.QueryAudit(context.Background(), records.AuditQuery{IncidentID: f.incident, Verbs: []string{"investigation.stop"}})
	if err != nil || page.Total != 1 || page.Value[0].Actor != "ana" {
		t.Errorf("audit of the stop: %+v, %v", page, err)
	}
}

// Resolving an incident rejects its pending actions and ends the
// investigation terminatedByUser.
func TestResolvingStopsTheInvestigation(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(SignalIncidentChanged, IncidentChange{Field: FieldStatus, From: "active", To: "resolved", By: "ana"})
	}, time.Hour)
	st := f.run()
	if st.Investigation != domain.InvestigationTerminatedByUser {
		t.Errorf("state after resolve: %s", st.Investigation)
	}
	if a := f.actionOf("device.isolate"); a.Status != domain.ActionRejected || !strings.Contains(a.DecisionComment, "incident resolved by ana") {
		t.Errorf("pending isolation after resolve: %+v", a)
	}
}

// Two playbooks that isolate the same device make one action: the second
// proposal joins the first and says so.
func TestOverlappingPlaybooksMakeOneAction(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.settings(policy.Settings{Default: policy.Full})
	f.withPlaybooks("testdata/overlap")
	st := f.run()
	if n := len(f.actions()); n != 1 {
		t.Errorf("%d actions recorded, want 1", n)
	}
	ops, _ := f.store.LabOperations(context.Background())
	if len(ops) != 1 {
		t.Errorf("lab operations: %d, want 1", len(ops))
	}
	if st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("state %s", st.Investigation)
	}
	page, _ := f.store.QueryAudit(context.Background(), records.AuditQuery{IncidentID: f.incident, Verbs: []string{"action.joined"}})
	if page == nil || page.Total != 1 || !strings.Contains(page.Value[0].After, "also proposed by playbook:overlap-b") {
		t.Errorf("audit of the join: %+v", page)
	}
}

// A second incident on the same device joins the first incident's open
// isolation instead of isolating again; the first incident's undo then
// asks before releasing a device the second still relies on.
func TestActionsAcrossIncidentsAndUndoConflict(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.settings(policy.Settings{Default: policy.Full})
	first := f.incident
	f.run()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	res, err := f.store.IngestAlert(ctx, &domain.Alert{
		ID: "alert-other", Title: "Malware again on ws-042", Status: domain.AlertNew, Severity: domain.SeverityHigh,
		Category: "Execution", CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: []domain.Evidence{deviceEvidence(domain.VerdictMalicious)},
	}, correlate.Rules{StopList: []string{"device:*"}})
	if err != nil || res.IncidentID == first {
		t.Fatalf("second incident: %+v, %v", res, err)
	}
	f.incident = res.IncidentID
	f.rerun()
	st := f.run()
	if acts := f.actions(); len(acts) != 0 {
		t.Errorf("second incident proposed %d actions; want it to join the first's isolation", len(acts))
	}
	if !slices.ContainsFunc(st.Steps, func(r StepRecord) bool { return strings.HasPrefix(r.Outcome, "joined action") }) {
		t.Errorf("steps of the second incident: %+v", st.Steps)
	}
	ops, _ := f.store.LabOperations(ctx)
	if len(ops) != 1 {
		t.Errorf("lab operations: %d, want 1", len(ops))
	}

	// The first incident undoes its isolation: refused while the second
	// is open and holds the device… (the second holds nothing of its own
	// here, so make it hold: record an isolation of its own)
	f.incident = first
	f.rerun()
	f.env.RegisterDelayedCallback(func() { // keeps the run open
		f.update(UpdateRequest, ManualRequest{Type: "device.run_av_scan", Target: "device:dev42", By: "cy", Role: domain.RoleResponder},
			func(any, error) {})
	}, 0)
	var plain, forced error
	var undo *domain.Action
	f.env.RegisterDelayedCallback(func() {
		orig := f.actionOf("device.isolate")
		f.update(UpdateUndo, UndoRequest{ActionID: orig.ID, By: "ana", Role: domain.RoleResponder}, func(_ any, err error) { plain = err })
	}, time.Minute)
	f.env.RegisterDelayedCallback(func() {
		orig := f.actionOf("device.isolate")
		f.update(UpdateUndo, UndoRequest{ActionID: orig.ID, By: "ana", Role: domain.RoleResponder, Force: true}, func(v any, err error) {
			forced = err
			if err == nil {
				undo = v.(*domain.Action)
			}
		})
	}, 2*time.Minute)
	holdOther(t, f.store, res.IncidentID)
	f.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{IncidentID: first})
	if !refusal(plain, ErrConflict) || !strings.Contains(plain.Error(), "force") {
		t.Errorf("undo of a device another open incident holds: %v, want a conflict naming force", plain)
	}
	if forced != nil || undo == nil || !strings.Contains(undo.Reason, "force") {
		t.Errorf("forced undo: %+v, %v", undo, forced)
	}
}

// holdOther records a succeeded isolation of ws-042 for another incident.
func holdOther(t *testing.T, st *store.Store, incident int64) {
	t.Helper()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	a := &domain.Action{ID: "other-isolation", IncidentID: incident, Playbook: "manual", Step: "manual", Type: "device.isolate",
		TargetKey: "device:dev42", TargetName: "ws-042", Params: domain.RawJSON(`{}`), ParamsHash: "x", Source: domain.SourceManual,
		RequestedBy: "bo", Status: domain.ActionSucceeded, Reason: "by hand", CreatedAt: now, IdempotencyKey: "other-isolation"}
	if _, err := st.RecordAction(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
}

// After an undo restarts a finished investigation, the playbook's review
// comment is not posted a second time.
func TestReviewCommentPostedOnce(t *testing.T) {
	f := newFixtureWith(t, deviceEvidence(domain.VerdictMalicious), fileEvidence())
	f.settings(policy.Settings{Default: policy.Full})
	f.run()
	f.rerun()
	f.run()
	comments, err := f.store.IncidentComments(context.Background(), f.incident)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range comments {
		seen[c.Comment]++
		if seen[c.Comment] > 1 {
			t.Errorf("comment posted twice: %q", c.Comment)
		}
	}
	if len(comments) == 0 {
		t.Error("no review comment at all")
	}
}

// TestSeenAlertsStayBounded: a flood of alert ids signalled to one
// investigation leaves at most MaxSeenAlerts of them in its state (which
// continue-as-new carries), the most recent ones.
func TestSeenAlertsStayBounded(t *testing.T) {
	f := newFixture(t, domain.VerdictSuspicious)
	for round := range 5 {
		f.env.RegisterDelayedCallback(func() {
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = fmt.Sprintf("flood-%d-%d", round, i)
			}
			f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: ids})
		}, time.Duration(round+1)*time.Minute)
	}
	f.approveIsolationAt(time.Hour)
	st := f.run()
	if len(st.SeenAlerts) > MaxSeenAlerts {
		t.Errorf("%d alert ids in the state, want at most %d", len(st.SeenAlerts), MaxSeenAlerts)
	}
	if !slices.Contains(st.SeenAlerts, "flood-4-999") {
		t.Errorf("the most recent alert id was dropped")
	}
}

// TestAlertsJoiningWhileAnActionWaitsAreAnalysed: while the isolation of
// ws-042 waits for an analyst, an alert of lateral movement joins with a
// second malicious device; that device's containment is proposed at once,
// not after the first decision.
func TestAlertsJoiningWhileAnActionWaitsAreAnalysed(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	second := domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
		Key: "device:dev77", Kind: domain.KindDevice, Name: "ws-077.corp.example", Verdict: domain.VerdictMalicious,
		Attrs: map[string]string{"deviceGroup": "Workstations", "mdeDeviceId": "dev77", "osPlatform": "Windows11"}}}
	f.env.RegisterDelayedCallback(func() {
		if a := f.actionOf("device.isolate"); a == nil || a.Status != domain.ActionPending {
			t.Fatalf("isolation before the new alert: %+v", a)
		}
		now := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
		res, err := f.store.IngestAlert(context.Background(), &domain.Alert{ID: "alert-lateral", Title: "Lateral movement to ws-077",
			Status: domain.AlertNew, Severity: domain.SeverityHigh, Category: "LateralMovement", CreatedDateTime: now, LastUpdateDateTime: now,
			Evidence: []domain.Evidence{deviceEvidence(domain.VerdictMalicious), second}}, correlate.Rules{})
		if err != nil || res.IncidentID != f.incident {
			t.Fatalf("the lateral-movement alert did not join: %+v, %v", res, err)
		}
		f.env.SignalWorkflow(SignalAlertsAdded, AlertsAdded{AlertIDs: []string{"alert-lateral"}})
	}, time.Hour)
	var seenWhileWaiting []string
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			if a.TargetKey == "device:dev77" {
				seenWhileWaiting = append(seenWhileWaiting, a.Type+" "+string(a.Status))
			}
		}
		for _, a := range f.actions() {
			if a.TargetKey == "device:dev42" && a.Status != domain.ActionPending {
				t.Errorf("ws-042's %s was decided before the check: %s", a.Type, a.Status)
			}
		}
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		for _, a := range f.actions() {
			if a.Status == domain.ActionPending {
				f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "bo", Role: domain.RoleResponder}, func(err error) {
					if err != nil {
						t.Errorf("approve %s: %v", a.ID, err)
					}
				})
			}
		}
	}, 3*time.Hour)
	st := f.run()
	if len(seenWhileWaiting) == 0 {
		t.Errorf("no action on ws-077 while ws-042's isolation waited: the new alert was not analysed until the decision")
	}
	if st.Investigation != domain.InvestigationSuccessfullyRemediated {
		t.Errorf("final state %s, want successfullyRemediated once both are approved", st.Investigation)
	}
	t.Logf("while waiting: %v; final %s", seenWhileWaiting, st.Investigation)
}
