package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// TestNULInput checks, on both stores, that a NUL character — which
// PostgreSQL cannot store — is refused where it arrives, naming the field:
// per item in an ingest batch (207, the valid alerts stored), 400 in query
// parameters, path ids and JSON bodies. Before, PostgreSQL failed the whole
// batch (500, valid alerts dropped) and every query with 500.
func TestNULInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		f := newFixtureOn(t, auth.Rate{PerSecond: -1}, st)
		withIngest(f)

		body := `[{"id":"n-ok","title":"fine","severity":"high","createdDateTime":"2026-03-01T10:00:00Z"},` +
			`{"id":"n-bad","title":"a\u0000b","severity":"high","createdDateTime":"2026-03-01T10:00:00Z"}]`
		var resp api.IngestResponse
		r := f.call("al", http.MethodPost, "/api/v1/alerts", body, &resp)
		if r.StatusCode != http.StatusMultiStatus || resp.Accepted != 1 || resp.Rejected != 1 {
			t.Fatalf("ingest: HTTP %d, %+v; want 207 with 1 accepted, 1 rejected", r.StatusCode, resp)
		}
		if p := resp.Problems[0]; p.Index != 1 || p.ID != "n-bad" || p.Field != "title" || !strings.Contains(p.Reason, "NUL") {
			t.Errorf("problem = %+v, want item 1 (n-bad) naming title and NUL", p)
		}
		if _, err := st.AlertIncident(t.Context(), "n-ok"); err != nil {
			t.Errorf("the valid alert of the batch was not stored: %v", err)
		}

		for _, tt := range []struct{ method, path, body, field string }{
			{"GET", "/api/v1/incidents?q=" + url.QueryEscape("x\x00"), "", "q"},
			{"GET", "/api/v1/incidents?tag=" + url.QueryEscape("\x00"), "", "tag"},
			{"GET", "/api/v1/incidents?status=%00", "", "status"},
			{"GET", "/api/v1/actions?incident=%00", "", "incident"},
			{"GET", "/api/v1/actions/a%00b", "", "path"},
			{"GET", "/api/v1/incidents?q=%ff", "", "q"},
			{"GET", "/api/v1/audit?actor=" + url.QueryEscape("\x00"), "", "actor"},
			{"POST", "/api/v1/alerts/a%00/move", `{"incidentId":1}`, "path"},
			{"POST", "/api/v1/tokens", `{"name":"n\u0000","role":"viewer"}`, "name"},
			{"PUT", "/api/v1/entities/device:ws1/tags", `{"tags":["x\u0000"]}`, "tags[0]"},
			{"POST", "/api/v1/incidents/" + itoa(f.inc1) + "/comments", `{"text":"x\u0000"}`, "text"},
		} {
			var e errResp
			who := "adam"
			r := f.call(who, tt.method, tt.path, tt.body, &e)
			if r.StatusCode != http.StatusBadRequest || e.Error.Field != tt.field {
				t.Errorf("%s %s: HTTP %d %+v; want 400 naming %q", tt.method, tt.path, r.StatusCode, e.Error, tt.field)
			}
		}
	})
}

// TestAlertExportDefusesFormulas checks that an alert id a spreadsheet
// would run as a formula reaches the alerts export defused, as in the
// other exports.
func TestAlertExportDefusesFormulas(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	withIngest(f)
	var resp api.IngestResponse
	if r := f.call("al", http.MethodPost, "/api/v1/alerts",
		`{"id":"=HYPERLINK(\"http://evil\",\"x\")","title":"t","severity":"high","createdDateTime":"2026-03-01T10:00:00Z"}`, &resp); r.StatusCode != http.StatusOK {
		t.Fatalf("ingest: HTTP %d %+v", r.StatusCode, resp)
	}
	var csv string
	f.call("vic", http.MethodGet, "/api/v1/alerts/export", "", &csv)
	if !strings.Contains(csv, "\n\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",") {
		t.Errorf("export does not defuse the formula id:\n%s", csv)
	}
}

// TestTokenNames checks that a token's name — the actor in the audit log
// and the action center — cannot pass for another: unique, not one of
// AIR's own actor names, no control or format characters.
func TestTokenNames(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, tt := range []struct {
		name   string
		status int
		want   string
	}{
		{`"auditor"`, 201, ""},
		{`"Auditor"`, 409, "exists already"},
		{`"rita"`, 409, "exists already"},
		{`"system:investigation"`, 400, "reserved"},
		{`"SYSTEM"`, 400, "reserved"},
		{`"bob\nadmin approved"`, 400, "control or format character"},
		{`"eve\u202egnp.exe"`, 400, "control or format character"},
	} {
		var e errResp
		r := f.call("adam", http.MethodPost, "/api/v1/tokens", `{"role":"viewer","name":`+tt.name+`}`, &e)
		if r.StatusCode != tt.status || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("name %s: HTTP %d %+v; want %d naming %q", tt.name, r.StatusCode, e.Error, tt.status, tt.want)
		}
	}
}

// TestAgesOutOfRange checks that an age past ten years is refused naming
// the parameter: 99999w overflowed time.Duration into a wrong time.
func TestAgesOutOfRange(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	for _, tt := range []struct {
		query  string
		status int
		field  string
	}{
		{"newerThan=99999w", 400, "newerThan"},
		{"olderThan=3651d", 400, "olderThan"},
		{"newerThan=87601h", 400, "newerThan"},
		{"newerThan=9223372036854775807d", 400, "newerThan"},
		{"newerThan=3650d", 200, ""},
		{"olderThan=2w", 200, ""},
	} {
		var e errResp
		r := f.call("vic", http.MethodGet, "/api/v1/actions?"+tt.query, "", &e)
		if r.StatusCode != tt.status || e.Error.Field != tt.field {
			t.Errorf("%s: HTTP %d %+v; want %d naming %q", tt.query, r.StatusCode, e.Error, tt.status, tt.field)
		}
	}
}

// TestPlanCostLimits checks that plan mode refuses more inline alerts than
// PlanMaxAlerts (413) and more concurrent evaluations than PlanConcurrency
// (429 with Retry-After), each saying why: before, one viewer could send
// any number of alerts, as often at once as it liked.
func TestPlanCostLimits(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	f.srv.PlanMaxAlerts, f.srv.PlanConcurrency = 2, 1
	alert := func(id string) string {
		return `{"id":"` + id + `","title":"t","severity":"high","createdDateTime":"2026-03-01T10:00:00Z"}`
	}
	var e errResp
	r := f.call("vic", http.MethodPost, "/api/v1/playbooks/plan", `{"alerts":[`+alert("p1")+`,`+alert("p2")+`,`+alert("p3")+`]}`, &e)
	if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error.Message, "3 alerts to plan for, the most one request may hold is 2") {
		t.Errorf("3 alerts: HTTP %d %+v, want 413 naming the limit", r.StatusCode, e.Error)
	}
	var ok json.RawMessage
	if r := f.call("vic", http.MethodPost, "/api/v1/playbooks/plan", `{"alerts":[`+alert("p1")+`,`+alert("p2")+`]}`, &ok); r.StatusCode != http.StatusOK {
		t.Errorf("2 alerts: HTTP %d %s, want 200", r.StatusCode, ok)
	}

	release, err := f.srv.PlanSlot() // another plan evaluation under way
	if err != nil {
		t.Fatal(err)
	}
	r = f.call("vic", http.MethodPost, "/api/v1/playbooks/plan", `{"alerts":[`+alert("p1")+`]}`, &e)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(e.Error.Message, "plan evaluations are running") {
		t.Errorf("while busy: HTTP %d (Retry-After %q) %+v, want 429 saying why", r.StatusCode, r.Header.Get("Retry-After"), e.Error)
	}
	release()
	if r := f.call("vic", http.MethodPost, "/api/v1/playbooks/plan", `{"alerts":[`+alert("p1")+`]}`, &ok); r.StatusCode != http.StatusOK {
		t.Errorf("after the other ended: HTTP %d %s, want 200", r.StatusCode, ok)
	}
}
