package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// TestManualActionTargets checks that a manual action names one of its
// incident's entities (400 otherwise) that the caller's device-group scope
// covers (403 otherwise). Before, any entity key of any group was passed to
// the workflow: a responder scoped to Servers could isolate a workstation
// through a Servers incident.
func TestManualActionTargets(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	dev := func(id, group string) domain.Evidence {
		return domain.Evidence{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + id), Kind: domain.KindDevice, Name: id, Verdict: domain.VerdictMalicious,
			Attrs: map[string]string{"deviceGroup": group}}}
	}
	user := domain.Evidence{Type: "userEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
		Key: "user:bob@contoso.com", Kind: domain.KindUser, Name: "bob@contoso.com", Verdict: domain.VerdictSuspicious}}
	now := time.Now()
	res, err := f.st.IngestAlert(context.Background(), &domain.Alert{ID: "mixed", Title: "mixed", Status: domain.AlertNew,
		Severity: domain.SeverityHigh, Category: "Execution", CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: []domain.Evidence{dev("srv2", "Servers"), dev("ws9", "Workstations"), user}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	mixed := itoa(res.IncidentID)

	tests := []struct {
		name, who, incident, target string
		status                      int
		want                        string
	}{
		{"not the incident's entity", "rita", mixed, "device:srv1", 400, "not one of incident"},
		{"another incident's device", "rita", itoa(f.inc1), "device:srv2", 400, "not one of incident"},
		{"scoped: device of another group", "sam", mixed, "device:ws9", 403, `device group "Workstations", outside sam's scope`},
		{"scoped: a user is in no group", "sam", mixed, "user:bob@contoso.com", 403, "in no device group"},
		// Passed on to the workflow, which this test has none of.
		{"scoped: device of its group", "sam", mixed, "device:srv2", 500, ""},
		{"unscoped: any entity of the incident", "rita", mixed, "DEVICE:WS9", 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errResp
			r := f.call(tt.who, http.MethodPost, "/api/v1/incidents/"+tt.incident+"/actions",
				`{"type":"device.run_av_scan","target":"`+tt.target+`"}`, &e)
			if r.StatusCode != tt.status || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("HTTP %d %+v; want %d naming %q", r.StatusCode, e.Error, tt.status, tt.want)
			}
			if tt.status == 400 && e.Error.Field != "target" {
				t.Errorf("field %q, want target", e.Error.Field)
			}
		})
	}
}
