package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/records"
)

const containPlaybook = `name: contain
version: 2
inputs:
  containHosts: {type: bool, default: true, description: isolate malicious devices}
  queue: {type: string, default: tier1}
stages:
  containment:
    - id: isolate
      for_each: filter(devices, {.verdict == "malicious"})
      when: inputs.containHosts
      action: device.isolate
`

const subPlaybook = `name: helper
version: 1
kind: sub
inputs: {device: device}
stages:
  containment:
    - id: scan
      target: inputs.device
      action: device.run_av_scan
`

func withInputPlaybooks(t *testing.T, f *fixture) {
	t.Helper()
	var books []*playbook.Playbook
	for name, src := range map[string]string{"contain.yaml": containPlaybook, "helper.yaml": subPlaybook} {
		pb, err := playbook.Parse(name, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, pb)
	}
	f.srv.Playbooks = books
}

// TestPlaybookInputs sets a playbook's tenant switches through the API:
// anyone may read them, an admin sets them, and a value the playbook does
// not declare, or of the wrong type, is refused naming the input.
func TestPlaybookInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	withInputPlaybooks(t, f)
	var got api.PlaybookInputs
	if resp := f.call("vic", "GET", "/api/v1/playbooks/contain/inputs", "", &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: HTTP %d", resp.StatusCode)
	}
	if got.Version != 2 || len(got.Declared) != 2 || got.Declared[0].Name != "containHosts" || got.Declared[0].Type != "bool" ||
		len(got.Inputs) != 0 || got.Effective["containHosts"] != true || got.Effective["queue"] != "tier1" {
		t.Errorf("GET before any value: %+v", got)
	}
	for _, tt := range []struct {
		who, path, body string
		status          int
		field           string
	}{
		{"al", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHosts":false}}`, http.StatusForbidden, ""},
		{"adam", "/api/v1/playbooks/nope/inputs", `{"inputs":{}}`, http.StatusNotFound, ""},
		{"adam", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHost":false}}`, http.StatusBadRequest, "inputs.containHost"},
		{"adam", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHosts":"no"}}`, http.StatusBadRequest, "inputs.containHosts"},
		{"adam", "/api/v1/playbooks/contain/inputs", `{"inputs":{"queue":7}}`, http.StatusBadRequest, "inputs.queue"},
		{"adam", "/api/v1/playbooks/contain/inputs", `{"values":{}}`, http.StatusBadRequest, ""},
		{"adam", "/api/v1/playbooks/helper/inputs", `{"inputs":{"device":"device:ws1"}}`, http.StatusBadRequest, "inputs"},
	} {
		var e errResp
		resp := f.call(tt.who, "PUT", tt.path, tt.body, &e)
		if resp.StatusCode != tt.status || (tt.field != "" && e.Error.Field != tt.field) {
			t.Errorf("PUT %s %s as %s: HTTP %d %+v, want %d naming %q", tt.path, tt.body, tt.who, resp.StatusCode, e.Error, tt.status, tt.field)
		}
	}
	if resp := f.call("adam", "PUT", "/api/v1/playbooks/contain/inputs", `{"inputs":{"containHosts":false}}`, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: HTTP %d", resp.StatusCode)
	}
	if got.Inputs["containHosts"] != false || got.Effective["containHosts"] != false || got.Effective["queue"] != "tier1" {
		t.Errorf("after PUT: %+v", got)
	}
	page, err := f.st.QueryAudit(t.Context(), records.AuditQuery{Verbs: []string{"settings.changed"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(page.Value, func(e records.AuditEntry) bool {
		return e.Actor == "adam" && e.Object == "settings:playbook-inputs:contain" && e.After == `{"containHosts":false}`
	}) {
		t.Errorf("the change is not audited: %+v", page.Value)
	}

	// Plans use the tenant's values; a plan request may try others.
	plans := func(body string) []plan.Step {
		t.Helper()
		var resp api.PlanResponse
		if r := f.call("vic", "POST", "/api/v1/playbooks/plan", body, &resp); r.StatusCode != http.StatusOK || len(resp.Plans) != 1 {
			t.Fatalf("plan %s: HTTP %d %+v", body, r.StatusCode, resp)
		}
		if resp.Plans[0].Inputs["contain"] == nil {
			t.Errorf("plan %s does not say its inputs: %+v", body, resp.Plans[0])
		}
		return resp.Plans[0].Steps
	}
	inc := fmt.Sprint(f.inc1)
	if steps := plans(`{"incidentId":` + inc + `}`); len(steps) != 1 || steps[0].Outcome != plan.OutcomeNone {
		t.Errorf("plan with containHosts false: %+v", steps)
	}
	if steps := plans(`{"incidentId":` + inc + `,"inputs":{"contain":{"containHosts":true}}}`); len(steps) != 1 || steps[0].Action != "device.isolate" || steps[0].Outcome == plan.OutcomeNone {
		t.Errorf("plan with containHosts true: %+v", steps)
	}
	var e errResp
	if r := f.call("vic", "POST", "/api/v1/playbooks/plan", `{"incidentId":`+inc+`,"inputs":{"contain":{"containHosts":1}}}`, &e); r.StatusCode != http.StatusBadRequest || e.Error.Field != "inputs.contain.containHosts" {
		t.Errorf("plan with a bad input: HTTP %d %+v", r.StatusCode, e.Error)
	}
}
