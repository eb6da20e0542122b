package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/stored"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/records"
)

// TestMergedIncidentIsNotRemediatedTwice: an incident whose device was
// isolated merges into a bigger one; the bigger one's investigation sees
// the device and would isolate it, but the merged incident's action covers
// it — no second isolation, and plan mode says the same.
func TestMergedIncidentIsNotRemediatedTwice(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	f.env.RegisterDelayedCallback(func() {
		a := f.pendingAction()
		f.decide(DecideRequest{ActionID: a.ID, Decision: domain.DecisionApprove, By: "ana", Role: domain.RoleResponder}, func(err error) {
			if err != nil {
				t.Errorf("approve: %v", err)
			}
		})
	}, time.Hour)
	f.run()
	isolated := f.actions()
	if len(isolated) != 1 || isolated[0].Type != "device.isolate" || isolated[0].Status != domain.ActionSucceeded {
		t.Fatalf("first incident's actions: %+v", isolated)
	}

	// Two alerts on bob make a bigger incident; a third names both bob and
	// the device, joins it, and merges the first incident into it.
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 9, 5, 0, 0, time.UTC)
	bob := func() domain.Evidence {
		return domain.Evidence{Type: "userEvidence", Verdict: domain.VerdictNoThreatsFound, Entity: &domain.Entity{
			Key: "user:bob@corp.example", Kind: domain.KindUser, Name: "bob@corp.example", Verdict: domain.VerdictNoThreatsFound}}
	}
	var bigger int64
	var merged []int64
	for i, ev := range [][]domain.Evidence{{bob()}, {bob()}, {bob(), {Type: "deviceEvidence", Verdict: domain.VerdictMalicious,
		Entity: &domain.Entity{Key: "device:dev42", Kind: domain.KindDevice, Name: "ws-042.corp.example", Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": "Workstations", "mdeDeviceId": "dev42", "osPlatform": "Windows11"}}}}} {
		at := now.Add(time.Duration(i) * time.Minute)
		res, err := f.store.IngestAlert(ctx, &domain.Alert{ID: "bob-" + string(rune('a'+i)), Title: "Odd sign-in by bob",
			Status: domain.AlertNew, Severity: domain.SeverityMedium, Category: "InitialAccess", CreatedDateTime: at,
			LastUpdateDateTime: at, Evidence: ev}, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		bigger, merged = res.IncidentID, append(merged, res.Merged...)
	}
	if bigger == f.incident || !slices.Contains(merged, f.incident) {
		t.Fatalf("incident %d was not merged into %d (merged: %v)", f.incident, bigger, merged)
	}

	f.incident = bigger
	f.rerun()
	st := f.run()
	if acts := f.actions(); slices.ContainsFunc(acts, func(a domain.Action) bool { return a.Type == "device.isolate" }) {
		t.Errorf("the bigger incident isolates the device again: %+v", acts)
	}
	covered := "covered by action " + isolated[0].ID + " of merged incident "
	if !slices.ContainsFunc(st.Steps, func(s StepRecord) bool { return strings.HasPrefix(s.Outcome, covered) }) {
		t.Errorf("no step says it is covered by %s: %+v", isolated[0].ID, st.Steps)
	}
	if !f.labIsolated() {
		t.Error("the device is no longer isolated")
	}

	books, err := playbook.LoadDir("../playbooks")
	if err != nil {
		t.Fatal(err)
	}
	in, err := stored.Load(ctx, f.store, bigger, policy.Settings{Default: policy.SemiAll})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(books, *in)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Action == "device.isolate" })
	if i < 0 || p.Steps[i].Outcome != plan.OutcomeCovered || !strings.Contains(p.Steps[i].Reason, isolated[0].ID) {
		t.Errorf("plan for the bigger incident: %+v", p.Steps)
	}
}

// TestMergedAwayIncidentRunsNoPlaybook: an incident merged into another
// (a hunt found its device) runs no playbook when its workflow next looks:
// the other's investigation carries on, and the empty shell is neither
// tagged nor remediated.
func TestMergedAwayIncidentRunsNoPlaybook(t *testing.T) {
	f := newFixture(t, domain.VerdictMalicious)
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	res, err := f.store.IngestAlert(ctx, &domain.Alert{ID: "other-1", Title: "Odd logon", Status: domain.AlertNew,
		Severity: domain.SeverityLow, Category: "InitialAccess", CreatedDateTime: at, LastUpdateDateTime: at,
		Evidence: []domain.Evidence{{Type: "deviceEvidence", Entity: &domain.Entity{Key: "device:ws77", Kind: domain.KindDevice, Name: "ws77"}}}},
		correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if merged, err := f.store.MergeFound(ctx, res.IncidentID, f.incident, records.EvidenceLink{IncidentID: res.IncidentID,
		Entity: "device:dev42", From: "device:ws77", Step: "analyze-evidence/hunt_files", Reason: "test"}); err != nil || !merged {
		t.Fatalf("merge: %v, %v", merged, err)
	}
	st := f.run()
	if len(st.Actions) != 0 || len(f.actions()) != 0 {
		t.Errorf("the merged-away incident proposed %+v", st.Actions)
	}
	if !slices.ContainsFunc(st.Steps, func(s StepRecord) bool {
		return s.Step == "merged" && strings.Contains(s.Outcome, fmt.Sprintf("merged into incident %d", res.IncidentID))
	}) {
		t.Errorf("steps %+v do not say the incident was merged", st.Steps)
	}
}
