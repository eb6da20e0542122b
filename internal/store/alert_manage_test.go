package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func TestManageAlertAndItsIncident(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		r := mustIngest(t, s, correlate.Rules{}, alertAt("m1", t0, domain.SeverityHigh, host("ws1")),
			alertAt("m2", t0, domain.SeverityLow, host("ws1")))
		inc := r[0].IncidentID
		if r[1].IncidentID != inc {
			t.Fatalf("alerts in incidents %d and %d, want one", inc, r[1].IncidentID)
		}
		ptr := func(s string) *string { return &s }
		status := func(st domain.AlertStatus) *domain.AlertStatus { return &st }

		// Bad changes name the field, and change nothing.
		for _, c := range []struct {
			ch    records.AlertChange
			field string
		}{
			{records.AlertChange{}, ""},
			{records.AlertChange{Status: status("closed")}, "status"},
			{records.AlertChange{Classification: ptr("falsePositive"), Determination: ptr("malware")}, "determination"},
			{records.AlertChange{Classification: ptr("maybe")}, "classification"},
		} {
			_, err := s.ManageAlert(ctx, "m1", c.ch, "ana")
			var de *domain.Error
			if !asDomain(err, &de) || de.Kind != domain.KindInvalid || de.Field != c.field {
				t.Errorf("%+v: %v, want invalid naming %q", c.ch, err, c.field)
			}
		}
		if _, err := s.ManageAlert(ctx, "nope", records.AlertChange{Comment: "x"}, "ana"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown alert: %v, want not found", err)
		}

		m, err := s.ManageAlert(ctx, "m1", records.AlertChange{Status: status(domain.AlertResolved), Classification: ptr("truePositive"),
			Determination: ptr("malware"), AssignedTo: ptr("ana@corp.example"), Comment: "payload gone"}, "ana")
		if err != nil {
			t.Fatal(err)
		}
		if m.After.Status != domain.AlertResolved || m.After.ResolvedDateTime == nil || m.After.Classification != "truePositive" ||
			m.After.AssignedTo != "ana@corp.example" || m.Before.Status != domain.AlertNew || m.IncidentAfter != nil {
			t.Errorf("after: %+v (incident change %v)", m.After, m.IncidentAfter)
		}
		alerts, _ := s.IncidentAlerts(ctx, inc)
		i := slices.IndexFunc(alerts, func(a domain.Alert) bool { return a.ID == "m1" })
		if i < 0 || alerts[i].Status != domain.AlertResolved || alerts[i].Determination != "malware" {
			t.Errorf("stored alert %+v", alerts)
		}
		got, _ := s.GetIncident(ctx, inc)
		if got.Status != domain.IncidentActive {
			t.Errorf("incident %s with one alert still new, want active", got.Status)
		}
		log, _ := s.IncidentActivity(ctx, inc)
		for _, verb := range []string{"alert.status", "alert.classification", "alert.determination", "alert.assignedTo", "alert.comment"} {
			if !slices.ContainsFunc(log, func(e records.AuditEntry) bool { return e.Verb == verb && e.Object == "alert:m1" && e.Actor == "ana" }) {
				t.Errorf("activity lacks %s on alert:m1", verb)
			}
		}

		// Resolving the last open alert resolves the incident; reopening one reopens it.
		m, err = s.ManageAlert(ctx, "m2", records.AlertChange{Status: status(domain.AlertResolved)}, "ana")
		if err != nil || m.IncidentAfter == nil || m.IncidentAfter.Status != domain.IncidentResolved {
			t.Fatalf("last alert resolved: %v, incident %+v", err, m)
		}
		m, err = s.ManageAlert(ctx, "m1", records.AlertChange{Status: status(domain.AlertInProgress)}, "bo")
		if err != nil || m.IncidentAfter == nil || m.IncidentAfter.Status != domain.IncidentActive || m.After.ResolvedDateTime != nil {
			t.Fatalf("alert reopened: %v, %+v", err, m)
		}
		if sum, _ := s.GetIncident(ctx, inc); sum.Status != domain.IncidentActive {
			t.Errorf("incident after reopening an alert: %s", sum.Status)
		}
		// A classification alone that needs a determination says so.
		if _, err := s.ManageAlert(ctx, "m2", records.AlertChange{Classification: ptr("falsePositive")}, "ana"); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("classification without its determination: %v", err)
		}
	})
}

func asDomain(err error, de **domain.Error) bool {
	e, ok := err.(*domain.Error)
	*de = e
	return ok
}
