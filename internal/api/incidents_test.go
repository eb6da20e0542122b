package api_test

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

func TestParseIncidentQuery(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	parse := func(raw string) (records.IncidentQuery, error) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		return api.ParseIncidentQuery(v, now)
	}
	q, err := parse("")
	if err != nil || !slices.Equal(q.Statuses, api.DefaultIncidentStatuses) || !slices.Equal(q.Severities, api.DefaultIncidentSeverities) ||
		!q.Since.Equal(now.Add(-7*24*time.Hour)) || !q.Until.IsZero() || q.Sort != "" || q.Limit != 0 {
		t.Errorf("defaults: %+v, %v", q, err)
	}
	// Defaults apply filter by filter; "all" lifts one.
	q, _ = parse("status=resolved&assignedTo=ana")
	if !slices.Equal(q.Statuses, []domain.IncidentStatus{domain.IncidentResolved}) || len(q.Severities) != 3 || q.Since.IsZero() {
		t.Errorf("status given: %+v", q)
	}
	q, _ = parse("status=all&severity=all&range=all")
	if q.Statuses != nil || q.Severities != nil || !q.Since.IsZero() {
		t.Errorf("all: %+v", q)
	}
	q, err = parse("status=active,inProgress&status=resolved&severity=high&range=6m&assignedTo=ana,unassigned&tag=a&tag=b" +
		"&serviceSource=microsoftDefenderForEndpoint&detectionSource=antivirus&category=Execution&classification=falsePositive" +
		"&determination=clean&investigationState=running&deviceGroup=Servers,servers&entity=device:ws-1" +
		"&multipleServiceSources=no&search=+ws-1+&sort=-priorityScore&offset=50&limit=25")
	if err != nil {
		t.Fatal(err)
	}
	want := records.IncidentQuery{
		Statuses:   []domain.IncidentStatus{"active", "inProgress", "resolved"},
		Severities: []domain.Severity{"high"}, AssignedTo: []string{"ana", ""}, Tags: []string{"a", "b"},
		ServiceSources: []string{"microsoftDefenderForEndpoint"}, DetectionSources: []string{"antivirus"},
		Categories: []string{"Execution"}, Classifications: []string{"falsePositive"}, Determinations: []string{"notMalicious"},
		InvestigationStates: []domain.InvestigationState{"running"}, DeviceGroups: []string{"Servers"}, Entity: "device:ws-1",
		Search: "ws-1", Sort: "-priorityScore", Offset: 50, Limit: 25, Since: now.AddDate(0, -6, 0)}
	if !reflect.DeepEqual(q, withMSS(want, false)) {
		t.Errorf("every filter:\n got %+v\nwant %+v", q, withMSS(want, false))
	}
	q, _ = parse("since=2026-05-01&until=2026-05-02T00:00:00Z")
	if !q.Since.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) || !q.Until.Equal(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("custom range: %v – %v", q.Since, q.Until)
	}
	q, _ = parse("assignedTo=")
	if !slices.Equal(q.AssignedTo, []string{""}) {
		t.Errorf("assignedTo empty: %q", q.AssignedTo)
	}

	for raw, field := range map[string]string{
		"statu=active":                      "statu",
		"status=open":                       "status",
		"severity=severe":                   "severity",
		"classification=bad":                "classification",
		"determination=evil":                "determination",
		"investigationState=done":           "investigationState",
		"multipleServiceSources=maybe":      "multipleServiceSources",
		"range=2w":                          "range",
		"range=custom":                      "since",
		"range=1w&since=2026-01-01":         "range",
		"since=yesterday":                   "since",
		"since=2026-05-02&until=2026-05-01": "until",
		"sort=-nope":                        "sort",
		"limit=0":                           "limit",
		"limit=1001":                        "limit",
		"offset=-1":                         "offset",
	} {
		_, err := parse(raw)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Field != field {
			t.Errorf("%s: %v, want invalid %s", raw, err, field)
		}
	}
	if _, err := parse("status=open"); err == nil || !strings.HasSuffix(err.Error(), "or all") {
		t.Errorf("status=open: %v; want the refusal to say that all lifts the filter", err)
	}
}

func withMSS(q records.IncidentQuery, v bool) records.IncidentQuery {
	q.MultipleServiceSources = &v
	return q
}

func TestIncidentQueueAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var page records.IncidentPage
	if resp := f.call("vic", "GET", "/api/v1/incidents", "", &page); resp.StatusCode != 200 || page.Total != 2 ||
		page.Limit != 50 || len(page.Value) != 2 || page.Value[0].ID != f.inc2 {
		t.Fatalf("default queue: HTTP %d %+v", resp.StatusCode, page)
	}
	if page.Value[0].PriorityScore == 0 || len(page.Value[0].PriorityFactors) == 0 || page.Value[0].ImpactedAssets.DeviceCount != 1 {
		t.Errorf("row lacks derived fields: %+v", page.Value[0])
	}
	// A scoped principal sees its groups only, counted before paging.
	if f.call("sam", "GET", "/api/v1/incidents?sort=id&limit=1", "", &page); page.Total != 1 || len(page.Value) != 1 || page.Value[0].ID != f.inc2 {
		t.Errorf("scoped queue: %+v", page)
	}
	for path, field := range map[string]string{
		"/api/v1/incidents?colour=red":              "colour",
		"/api/v1/incidents?status=closed":           "status",
		"/api/v1/incidents?sort=bogus":              "sort",
		"/api/v1/incidents/export?determination=no": "determination",
	} {
		var e errResp
		if resp := f.call("vic", "GET", path, "", &e); resp.StatusCode != 400 || e.Error.Field != field {
			t.Errorf("%s: HTTP %d %+v, want 400 naming %s", path, resp.StatusCode, e, field)
		}
	}

	// CSV: header first, every matching row, cells defused.
	if _, _, err := f.st.ManageIncident(t.Context(), f.inc1, records.IncidentChange{DisplayName: ptr("=cmd|' /C calc'!A0")}, "al"); err != nil {
		t.Fatal(err)
	}
	var body string
	resp := f.call("vic", "GET", "/api/v1/incidents/export?status=all&range=all&sort=id", "", &body)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || len(rows) != 3 {
		t.Fatalf("export: HTTP %d %v %q", resp.StatusCode, err, body)
	}
	if !slices.Equal(rows[0], api.IncidentCSVHeader) || rows[1][0] != fmt.Sprint(f.inc1) || rows[1][1] != "'=cmd|' /C calc'!A0" ||
		rows[1][14] != "ws1" {
		t.Errorf("export rows: %q", rows)
	}
	f.call("sam", "GET", "/api/v1/incidents/export?status=all&range=all", "", &body)
	if n := strings.Count(body, "\n"); n != 2 {
		t.Errorf("scoped export: %d lines, want header and one row:\n%s", n, body)
	}
}

func ptr[T any](v T) *T { return &v }

func TestManageIncidentsAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	path := fmt.Sprintf("/api/v1/incidents/%d", f.inc1)

	// Reading roles may not change; analysts and above may.
	for _, who := range []string{"vic"} {
		var e errResp
		if resp := f.call(who, "PATCH", path, `{"assignedTo":"vic"}`, &e); resp.StatusCode != 403 {
			t.Errorf("%s PATCH: HTTP %d %+v, want 403", who, resp.StatusCode, e)
		}
		if resp := f.call(who, "POST", path+"/comments", `{"comment":"hi"}`, &e); resp.StatusCode != 403 {
			t.Errorf("%s comment: HTTP %d, want 403", who, resp.StatusCode)
		}
		if resp := f.call(who, "POST", "/api/v1/incidents/bulk", fmt.Sprintf(`{"ids":[%d],"change":{"comment":"x"}}`, f.inc1), &e); resp.StatusCode != 403 {
			t.Errorf("%s bulk: HTTP %d, want 403", who, resp.StatusCode)
		}
	}
	// The methods refuse too, whoever calls them (the pages do).
	viewer := &auth.Principal{Name: "vic", Role: auth.Viewer}
	if _, err := f.srv.ManageIncidents(t.Context(), viewer, []int64{f.inc1}, records.IncidentChange{Comment: "x"}); domain.KindOf(err) != domain.KindForbidden {
		t.Errorf("ManageIncidents as viewer: %v", err)
	}
	var inc domain.Incident
	if resp := f.call("al", "PATCH", path, `{"assignedTo":"al","classification":"truePositive","determination":"compromisedUser","severity":"low"}`, &inc); resp.StatusCode != 200 ||
		inc.AssignedTo != "al" || inc.Determination != "compromisedAccount" || inc.Severity != domain.SeverityLow || inc.LastModifiedBy != "al" {
		t.Errorf("analyst PATCH: HTTP %d %+v", resp.StatusCode, inc)
	}
	var c domain.Comment
	if resp := f.call("al", "POST", path+"/comments", `{"comment":"on it"}`, &c); resp.StatusCode != 201 || c.Comment != "on it" || c.CreatedByDisplayName != "al" {
		t.Errorf("comment: HTTP %d %+v", resp.StatusCode, c)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"classification":"falsePositive","determination":"malware"}`, "determination"},
		{`{"status":"closed"}`, "status"},
		{`{"status":"redirected"}`, "status"},
		{`{"assignee":"x"}`, "assignee"},
		{`{}`, ""},
	} {
		var e errResp
		if resp := f.call("al", "PATCH", path, tc.body, &e); resp.StatusCode != 400 || e.Error.Field != tc.field {
			t.Errorf("PATCH %s: HTTP %d %+v, want 400 naming %q", tc.body, resp.StatusCode, e, tc.field)
		}
	}
	var e errResp
	if resp := f.call("sam", "PATCH", path, `{"comment":"x"}`, &e); resp.StatusCode != 404 {
		t.Errorf("scoped responder on an incident outside its groups: HTTP %d, want 404", resp.StatusCode)
	}

	// Bulk: one bad id does not spoil the others.
	var bulk api.BulkIncidentResponse
	resp := f.call("al", "POST", "/api/v1/incidents/bulk",
		fmt.Sprintf(`{"ids":[%d,999999,%d],"change":{"status":"resolved","resolvingComment":"contained","addTags":["wave1"]}}`, f.inc1, f.inc2), &bulk)
	if resp.StatusCode != http.StatusMultiStatus || bulk.Updated != 2 || bulk.Failed != 1 || len(bulk.Results) != 3 {
		t.Fatalf("bulk: HTTP %d %+v", resp.StatusCode, bulk)
	}
	if r := bulk.Results[1]; r.OK || r.ID != 999999 || r.Error == nil || r.Error.Kind != "not_found" {
		t.Errorf("bad id's result: %+v", r)
	}
	for _, r := range []api.IncidentResult{bulk.Results[0], bulk.Results[2]} {
		if !r.OK || r.Incident == nil || r.Incident.Status != domain.IncidentResolved || r.Incident.ResolvingComment != "contained" ||
			!slices.Contains(r.Incident.CustomTags, "wave1") {
			t.Errorf("bulk result: %+v", r)
		}
	}
	var d api.IncidentDetail
	f.call("vic", "GET", path, "", &d)
	if d.Derived == nil || d.Derived.ActiveAlerts != 0 || len(d.Alerts) != 1 || d.Alerts[0].Status != domain.AlertResolved ||
		d.Alerts[0].AssignedTo != "al" || len(d.Comments) != 1 {
		t.Errorf("detail after bulk resolve: derived %+v, alerts %+v, comments %+v", d.Derived, d.Alerts, d.Comments)
	}
	verbs := map[string]string{}
	for _, a := range d.Activity {
		verbs[a.Verb] = a.Actor
	}
	for _, v := range []string{"incident.assignedTo", "incident.determination", "incident.severity", "incident.comment",
		"incident.status", "incident.resolvingComment", "incident.tags", "incident.alerts.status"} {
		if verbs[v] != "al" {
			t.Errorf("activity: %s by %q, want al", v, verbs[v])
		}
	}
	// A bad change is refused whole, naming the field inside it.
	if resp := f.call("al", "POST", "/api/v1/incidents/bulk", fmt.Sprintf(`{"ids":[%d],"change":{"severity":"huge"}}`, f.inc1), &e); resp.StatusCode != 400 ||
		e.Error.Field != "change.severity" {
		t.Errorf("bulk with a bad change: HTTP %d %+v", resp.StatusCode, e)
	}
	if resp := f.call("al", "POST", "/api/v1/incidents/bulk", `{"ids":[],"change":{"comment":"x"}}`, &e); resp.StatusCode != 400 || e.Error.Field != "ids" {
		t.Errorf("bulk without ids: HTTP %d %+v", resp.StatusCode, e)
	}
}
