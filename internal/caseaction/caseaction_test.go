package caseaction_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/caseaction"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestDecide is the pre-check of every case action against the incident as
// it is: what changes, what is already so, and what is refused.
func TestDecide(t *testing.T) {
	t.Parallel()
	active := &domain.Incident{ID: 1, Severity: domain.SeverityMedium, Status: domain.IncidentActive,
		Classification: "unknown", Determination: "unknown", AssignedTo: "ana"}
	resolved := &domain.Incident{ID: 1, Status: domain.IncidentResolved, Classification: "truePositive",
		Determination: "malware", LastModifiedBy: "ana"}
	tests := []struct {
		name   string
		typ    string
		params map[string]any
		cur    *domain.Incident
		change bool   // a change to apply
		result string // the result line
		err    string // the field an invalid error names
	}{
		{"raise severity", caseaction.SetSeverity, map[string]any{"severity": "high"}, active, true, "severity medium → high", ""},
		{"severity already", caseaction.SetSeverity, map[string]any{"severity": "medium"}, active, false, "severity already medium", ""},
		{"bad severity", caseaction.SetSeverity, map[string]any{"severity": "severe"}, active, false, "", "severity"},
		{"classify", caseaction.Classify, map[string]any{"classification": "truePositive", "determination": "compromisedUser"}, active, true,
			"classified truePositive (compromisedAccount), was unknown", ""},
		{"classify already", caseaction.Classify, map[string]any{"classification": "truePositive", "determination": "malware"}, resolved, false,
			"already classified truePositive (malware)", ""},
		{"determination that does not fit", caseaction.Classify, map[string]any{"classification": "falsePositive", "determination": "malware"},
			active, false, "", "determination"},
		{"assign", caseaction.Assign, map[string]any{"assignedTo": "tier2"}, active, true, "assigned to tier2, was ana", ""},
		{"unassign", caseaction.Assign, map[string]any{"assignedTo": ""}, active, true, "unassigned, was ana", ""},
		{"assigned already", caseaction.Assign, map[string]any{"assignedTo": "ana"}, active, false, "already assigned to ana", ""},
		{"resolve", caseaction.Resolve, map[string]any{"classification": "falsePositive", "determination": "notMalicious", "comment": "scanner"},
			active, true, "resolved as falsePositive (notMalicious)", ""},
		{"resolved already: left as it is", caseaction.Resolve, map[string]any{"classification": "falsePositive", "determination": "notMalicious"},
			resolved, false, "already resolved (last changed by ana); left as it is", ""},
		{"resolve without determination", caseaction.Resolve, map[string]any{"classification": "falsePositive"}, active, false, "", "determination"},
		{"not a case action", "device.isolate", map[string]any{}, active, false, "", "?"},
	}
	for _, tt := range tests {
		d, err := caseaction.Decide(tt.typ, tt.params, tt.cur)
		if tt.err != "" {
			var field string
			if de, ok := err.(*domain.Error); ok && de.Kind == domain.KindInvalid {
				field = de.Field
				if field == "" {
					field = "?"
				}
			}
			if field != tt.err {
				t.Errorf("%s: got %v, want an invalid error naming %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || (d.Change != nil) != tt.change || d.Result != tt.result {
			t.Errorf("%s: got change %v, result %q, %v; want change %v, result %q", tt.name, d.Change != nil, d.Result, err, tt.change, tt.result)
		}
	}
}

// incident ingests an incident of two alerts on one device, medium.
func incident(t *testing.T, s *store.Store, prefix string) int64 {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var id int64
	for i := range 2 {
		res, err := s.IngestAlert(ctx, &domain.Alert{
			ID: fmt.Sprintf("%s-%d", prefix, i), Title: "Odd scanner on " + prefix, Status: domain.AlertNew, Severity: domain.SeverityMedium,
			Category: "Discovery", CreatedDateTime: now, LastUpdateDateTime: now,
			Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
				Key: domain.EntityKey("device:" + prefix), Kind: domain.KindDevice, Name: prefix}}},
		}, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		id = res.IncidentID
	}
	return id
}

// request records a playbook's case action in the action center (as the
// workflow does before it runs one) and returns the request to execute it.
func request(t *testing.T, s *store.Store, incidentID int64, id, typ string, params map[string]any) remediation.Request {
	t.Helper()
	raw, _ := json.Marshal(params)
	target := domain.IncidentTarget(incidentID)
	a := &domain.Action{ID: id, IncidentID: incidentID, InvestigationID: "incident-x", Playbook: "triage-fp", PlaybookVersion: 1,
		Step: "close", Type: typ, TargetKey: target, TargetName: "the incident", Params: raw,
		ParamsHash: domain.HashParams(typ, target, raw), Source: domain.SourceAutomated, RequestedBy: "playbook:triage-fp",
		Status: domain.ActionApproved, DecidedBy: domain.PolicyActor, Reason: "full", CreatedAt: time.Now(), IdempotencyKey: "key-" + id}
	if _, err := s.RecordAction(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	return remediation.Request{ActionID: id, IncidentID: incidentID, Type: typ, Target: target, Params: raw, IdempotencyKey: a.IdempotencyKey}
}

// TestResolveOnceAndLikeAnAnalyst resolves an incident as a playbook: the
// same cascade as the API's manage path (alerts resolved, classification,
// resolving comment, activity log as the playbook), and a retried attempt
// — even after an analyst reopened the incident — changes nothing.
func TestResolveOnceAndLikeAnAnalyst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := incident(t, s, "scan1")
		var heard []string
		e := &caseaction.Executor{Store: s, Changed: func(_ context.Context, _ int64, before, after *domain.Incident, by string) {
			heard = append(heard, fmt.Sprintf("%s→%s by %s", before.Status, after.Status, by))
		}}
		req := request(t, s, id, "a1", caseaction.Resolve,
			map[string]any{"classification": "falsePositive", "determination": "clean", "comment": "the vulnerability scanner"})
		res, err := e.Execute(ctx, req)
		if err != nil || !res.Changed || res.Summary != "resolved as falsePositive (notMalicious)" {
			t.Fatalf("resolve: %+v, %v", res, err)
		}
		inc, err := s.GetIncident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Status != domain.IncidentResolved || inc.Classification != "falsePositive" || inc.Determination != "notMalicious" ||
			inc.ResolvingComment != "the vulnerability scanner" || inc.LastModifiedBy != "system:playbook:triage-fp" ||
			inc.ResolvedDateTime == nil || inc.AcknowledgedDateTime != nil {
			t.Errorf("incident after the playbook's resolve: %+v", inc)
		}
		alerts, err := s.IncidentAlerts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			if a.Status != domain.AlertResolved {
				t.Errorf("alert %s: %s, want resolved with the incident", a.ID, a.Status)
			}
		}
		log, err := s.IncidentActivity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		verbs := map[string]string{}
		for _, en := range log {
			verbs[en.Verb] = en.Actor
		}
		for _, v := range []string{"incident.status", "incident.classification", "incident.determination", "incident.resolvingComment", "incident.alerts.status"} {
			if verbs[v] != "system:playbook:triage-fp" {
				t.Errorf("activity log %s: actor %q, want the playbook", v, verbs[v])
			}
		}
		if !slices.Equal(heard, []string{"active→resolved by system:playbook:triage-fp"}) {
			t.Errorf("Changed heard %v", heard)
		}

		// An analyst reopens it; the activity retries the same action.
		if _, _, err := s.ManageIncident(ctx, id, records.IncidentChange{Status: ptr(domain.IncidentActive)}, "ana"); err != nil {
			t.Fatal(err)
		}
		res, err = e.Execute(ctx, req)
		if err != nil || res.Changed || res.Summary != "resolved as falsePositive (notMalicious)" {
			t.Errorf("retried resolve: %+v, %v; want the first result, unchanged", res, err)
		}
		if inc, _ := s.GetIncident(ctx, id); inc.Status != domain.IncidentActive {
			t.Errorf("retried resolve: incident %s, want it left active as ana reopened it", inc.Status)
		}
		if len(heard) != 1 {
			t.Errorf("a retry that changed nothing was reported: %v", heard)
		}
	})
}

// TestCaseActionsApplyOnce sets severity, classifies and assigns; each
// retried attempt changes nothing, and a bad request fails as invalid
// (which the activity does not retry).
func TestCaseActionsApplyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := incident(t, s, "ws7")
		e := &caseaction.Executor{Store: s}
		steps := []struct {
			id, typ string
			params  map[string]any
			summary string
		}{
			{"s1", caseaction.SetSeverity, map[string]any{"severity": "high"}, "severity medium → high"},
			{"c1", caseaction.Classify, map[string]any{"classification": "truePositive", "determination": "malware"}, "classified truePositive (malware), was unknown"},
			{"g1", caseaction.Assign, map[string]any{"assignedTo": "tier2"}, "assigned to tier2"},
		}
		for _, st := range steps {
			req := request(t, s, id, st.id, st.typ, st.params)
			before, _ := s.IncidentActivity(ctx, id)
			for attempt := 1; attempt <= 2; attempt++ {
				res, err := e.Execute(ctx, req)
				if err != nil || res.Summary != st.summary || res.Changed != (attempt == 1) {
					t.Errorf("%s attempt %d: %+v, %v; want %q, changed only the first time", st.typ, attempt, res, err, st.summary)
				}
			}
			after, _ := s.IncidentActivity(ctx, id)
			changes := 0
			for _, en := range after[len(before):] {
				if strings.HasPrefix(en.Verb, "incident.") {
					changes++
				}
			}
			if changes == 0 {
				t.Errorf("%s: nothing in the activity log", st.typ)
			}
		}
		inc, _ := s.GetIncident(ctx, id)
		if inc.Severity != domain.SeverityHigh || inc.Classification != "truePositive" || inc.AssignedTo != "tier2" {
			t.Errorf("incident: %+v", inc)
		}
		alerts, _ := s.IncidentAlerts(ctx, id)
		for _, a := range alerts {
			if a.AssignedTo != "tier2" {
				t.Errorf("alert %s assigned to %q, want tier2 with its incident", a.ID, a.AssignedTo)
			}
		}
		// A severity a playbook set stays through later alerts, as one set
		// by hand does.
		if _, err := s.IngestAlert(ctx, &domain.Alert{ID: "ws7-low", Title: "More", Status: domain.AlertNew, Severity: domain.SeverityLow,
			CreatedDateTime: time.Now(), LastUpdateDateTime: time.Now(), Evidence: []domain.Evidence{{Type: "deviceEvidence",
				Entity: &domain.Entity{Key: "device:ws7", Kind: domain.KindDevice, Name: "ws7"}}}}, correlate.Rules{}); err != nil {
			t.Fatal(err)
		}
		if inc, _ := s.GetIncident(ctx, id); inc.Severity != domain.SeverityHigh {
			t.Errorf("after a low alert: severity %s, want high kept", inc.Severity)
		}

		bad := request(t, s, id, "c2", caseaction.Classify, map[string]any{"classification": "falsePositive", "determination": "malware"})
		if _, err := e.Execute(ctx, bad); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("a determination that does not fit: %v, want invalid", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
