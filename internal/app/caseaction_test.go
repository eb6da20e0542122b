package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/nativestack"
)

// TestCaseActionsEndToEnd runs the service as `worker -dev` does with the
// shipped playbooks: an admin sets device-compromise's escalation queue
// through the API (no file edited) and full automation; a medium alert
// with a malicious device is raised to high and assigned to the queue by
// the playbook — actions carried out by AIR's own connector, audited as the
// playbook — and the device is isolated in the lab tenant.
func TestCaseActionsEndToEnd(t *testing.T) {
	temporalPort := nativestack.FreePort(t)
	c, _ := devService(t, Config{TemporalPort: temporalPort})
	if code := c.do(t, "PUT", "/api/v1/settings/automation", []byte(`{"default":"full"}`), nil); code != http.StatusOK {
		t.Fatalf("automation: HTTP %d", code)
	}
	var in api.PlaybookInputs
	if code := c.do(t, "PUT", "/api/v1/playbooks/device-compromise/inputs", []byte(`{"inputs":{"escalateTo":"tier2-ir"}}`), &in); code != http.StatusOK ||
		in.Effective["escalateTo"] != "tier2-ir" || in.Effective["containHosts"] != true {
		t.Fatalf("inputs: HTTP %d %+v", code, in)
	}
	var a map[string]any
	if err := json.Unmarshal(deviceAlert(t, 41), &a); err != nil {
		t.Fatal(err)
	}
	a["severity"] = "medium"
	alert, _ := json.Marshal(a)
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", alert, &ing); code != http.StatusOK || len(ing.Results) != 1 {
		t.Fatalf("ingest: HTTP %d %+v", code, ing)
	}
	incident := ing.Results[0].IncidentID
	d := waitFor(t, "the investigation to finish", func() (api.IncidentDetail, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+itoa(incident), nil, &d)
		return d, d.InvestigationState == domain.InvestigationSuccessfullyRemediated
	})
	if d.Severity != domain.SeverityHigh || d.AssignedTo != "tier2-ir" || d.LastModifiedBy != "system:playbook:device-compromise" {
		t.Errorf("incident: severity %s, assigned to %q, last modified by %q", d.Severity, d.AssignedTo, d.LastModifiedBy)
	}
	byType := map[string]domain.Action{}
	for _, a := range d.Actions {
		byType[a.Type] = a
	}
	for typ, connector := range map[string]string{"incident.set_severity": "air", "incident.assign": "air", "device.isolate": "lab"} {
		a, ok := byType[typ]
		if !ok || a.Status != domain.ActionSucceeded || a.Connector != connector || a.DecidedBy != domain.PolicyActor {
			t.Errorf("%s: %+v, want succeeded through %s on its own", typ, a, connector)
		}
	}
	if a := byType["incident.set_severity"]; a.TargetKey != domain.IncidentTarget(incident) || a.Result != "severity medium → high" {
		t.Errorf("set severity: target %s, result %q", a.TargetKey, a.Result)
	}
	var page struct {
		Value []struct{ Actor, Verb, After string }
	}
	c.do(t, "GET", fmt.Sprintf("/api/v1/audit?incidentId=%d&verb=incident.", incident), nil, &page)
	found := false
	for _, e := range page.Value {
		if e.Verb == "incident.severity" && e.Actor == "system:playbook:device-compromise" && strings.Contains(e.After, "high") {
			found = true
		}
	}
	if !found {
		t.Errorf("the audit log has no severity change by the playbook: %+v", page.Value)
	}
	recordHistory(t, fmt.Sprintf("127.0.0.1:%d", temporalPort), incident, "case-actions-escalate")
}
