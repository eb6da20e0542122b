package sources

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// graphIncidentFake serves a Graph security alert that belongs to incident
// 2972395 and that incident (with $expand=alerts), recording the PATCH
// bodies and comments it is sent, as Graph does: comments are appended to
// the object's comments list.
type graphIncidentFake struct {
	mu       sync.Mutex
	alerts   []string // the incident's alert ids
	status   string
	class    string
	comments []string
	patches  []map[string]any
}

func (f *graphIncidentFake) routes(t *testing.T, mux *http.ServeMux) {
	mux.HandleFunc("GET /v1.0/security/alerts_v2/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		io.WriteString(w, `{"id":"`+r.PathValue("id")+`","incidentId":"2972395","status":"new","classification":null,
		  "determination":null,"assignedTo":null,"lastUpdateDateTime":"2021-05-02T14:19:01Z","comments":[]}`)
	})
	mux.HandleFunc("PATCH /v1.0/security/alerts_v2/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) })
	mux.HandleFunc("POST /v1.0/security/alerts_v2/{id}/comments", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"value":[]}`)
	})
	mux.HandleFunc("GET /v1.0/security/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "2972395" || r.URL.Query().Get("$expand") != "alerts" {
			t.Errorf("GET incident %s ?%s", r.PathValue("id"), r.URL.RawQuery)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		var alerts, comments []map[string]any
		for _, id := range f.alerts {
			alerts = append(alerts, map[string]any{"id": id})
		}
		for _, c := range f.comments {
			comments = append(comments, map[string]any{"comment": c, "createdByDisplayName": "AIR"})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": "2972395", "status": f.status, "classification": f.class,
			"determination": "unknown", "assignedTo": nil, "lastUpdateDateTime": "2021-05-01T10:00:00Z",
			"alerts": alerts, "comments": comments})
	})
	mux.HandleFunc("PATCH /v1.0/security/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.patches = append(f.patches, body)
		if s, ok := body["status"].(string); ok {
			f.status = s
		}
		if s, ok := body["classification"].(string); ok {
			f.class = s
		}
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("POST /v1.0/security/incidents/{id}/comments", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.comments = append(f.comments, body["comment"].(string))
		io.WriteString(w, `{"value":[]}`)
	})
}

func TestGraphWriteBackReachesTheIncidentOnlyWhenAIRHoldsAllItsAlerts(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	fake := &graphIncidentFake{alerts: []string{"da1", "da2"}, status: "active", class: "unknown"}
	fake.routes(t, mux)
	wb, err := NewWriteBacker(context.Background(), Settings{Name: "g", Type: TypeGraph, WriteBack: true, BaseURL: srv.URL, RatePerMinute: 6000,
		TokenURL: srv.URL + "/t/oauth2/v2.0/token", ClientID: "app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	ch := Change{Status: "resolved", Classification: "truePositive", Comment: "contained by AIR",
		Before: map[string]string{"status": "new"}, Seen: time.Date(2021, 5, 2, 14, 19, 1, 0, time.UTC)}

	// AIR holds only da1: the incident also holds da2, so it stays open.
	ch.Siblings = []string{"da1"}
	res, err := wb.WriteBack(context.Background(), "da1", ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.patches) != 0 || len(fake.comments) != 0 {
		t.Fatalf("incident written although AIR does not hold da2: %v %v", fake.patches, fake.comments)
	}
	if !strings.Contains(res.String(), "incident 2972395: left as it is") || !strings.Contains(res.String(), "da2") {
		t.Errorf("result %q does not say why the incident was left", res)
	}

	// AIR holds both: the incident is resolved (Graph's incident word for
	// new is active), and a retry writes nothing twice.
	ch.Siblings = []string{"da1", "da2"}
	for range 2 {
		if res, err = wb.WriteBack(context.Background(), "da1", ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(fake.patches) != 1 || fake.patches[0]["status"] != "resolved" || fake.patches[0]["classification"] != "truePositive" {
		t.Errorf("incident PATCHes %v, want one with status resolved and classification truePositive", fake.patches)
	}
	if len(fake.comments) != 1 || fake.comments[0] != "contained by AIR" {
		t.Errorf("incident comments %q, want the comment once", fake.comments)
	}
	if !strings.Contains(res.String(), "incident 2972395: nothing to write") {
		t.Errorf("retry result %q", res)
	}
}

func TestMDEWriteBackSpellsDefenderEnumsAndSkipsPostedComments(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	var patches []map[string]any
	mux.HandleFunc("GET /api/alerts/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Defender for Endpoint's alert entity: capitalised enums, comments
		// as [{comment, createdBy, createdTime}].
		io.WriteString(w, `{"id":"da637","status":"New","classification":null,"determination":null,"assignedTo":null,
		  "lastUpdateTime":"2021-05-01T10:00:00Z","comments":[{"comment":"already said","createdBy":"soc@corp.example","createdTime":"2021-05-01T10:00:00Z"}]}`)
	})
	mux.HandleFunc("PATCH /api/alerts/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		patches = append(patches, body)
		io.WriteString(w, `{}`)
	})
	wb, err := NewWriteBacker(context.Background(), Settings{Name: "m", Type: TypeMDE, WriteBack: true, BaseURL: srv.URL, RatePerMinute: 6000,
		TokenURL: srv.URL + "/t/oauth2/v2.0/token", ClientID: "app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wb.WriteBack(context.Background(), "da637", Change{Status: "inProgress", Classification: "truePositive",
		Comment: "isolated by AIR"}); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 || patches[0]["status"] != "InProgress" || patches[0]["classification"] != "TruePositive" || patches[0]["comment"] != "isolated by AIR" {
		t.Errorf("PATCH bodies %v", patches)
	}
	if _, err := wb.WriteBack(context.Background(), "da637", Change{Comment: "already said"}); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 {
		t.Errorf("a comment the alert already holds was sent again: %v", patches[1:])
	}
}

// sentinelFake serves the Log Analytics query API (SecurityIncident rows)
// and the Microsoft.SecurityInsights incident, its alerts and comments
// through Azure Resource Manager, with ETags as ARM does.
type sentinelFake struct {
	mu       sync.Mutex
	etag     int
	props    map[string]any
	alerts   []string
	comments map[string]string
	puts     int
	stale    bool // answer the next PUT with 412, as when the incident changed meanwhile
}

const incidentsPath = "/subscriptions/0b3e9a61-0000-4000-8000-000000000001/resourceGroups/soc/providers/Microsoft.OperationalInsights/workspaces/law-sentinel/providers/Microsoft.SecurityInsights/incidents/"

func (f *sentinelFake) routes(t *testing.T, mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/workspaces/ws-1/query", func(w http.ResponseWriter, r *http.Request) {
		var q map[string]string
		json.NewDecoder(r.Body).Decode(&q)
		if !strings.Contains(q["query"], `SecurityIncident | where AlertIds has "a-1"`) {
			io.WriteString(w, `{"tables":[{"name":"PrimaryResult","columns":[{"name":"IncidentName","type":"string"}],"rows":[]}]}`)
			return
		}
		io.WriteString(w, `{"tables":[{"name":"PrimaryResult","columns":[{"name":"IncidentName","type":"string"}],"rows":[["73e01a99-5cd7-4139-a149-9f2736ff2ab5"]]}]}`)
	})
	check := func(r *http.Request) {
		if r.URL.Query().Get("api-version") != sentinelAPIVersion {
			t.Errorf("%s %s without api-version", r.Method, r.URL.Path)
		}
	}
	mux.HandleFunc("GET "+incidentsPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		check(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"name": r.PathValue("id"), "etag": `"` + string(rune('0'+f.etag)) + `"`, "properties": f.props})
	})
	mux.HandleFunc("POST "+incidentsPath+"{id}/alerts", func(w http.ResponseWriter, r *http.Request) {
		check(r)
		var v []map[string]any
		for _, a := range f.alerts {
			v = append(v, map[string]any{"name": a, "kind": "SecurityAlert", "properties": map[string]any{"systemAlertId": a}})
		}
		json.NewEncoder(w).Encode(map[string]any{"value": v})
	})
	mux.HandleFunc("PUT "+incidentsPath+"{id}", func(w http.ResponseWriter, r *http.Request) {
		check(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.stale {
			f.stale = false
			w.WriteHeader(http.StatusPreconditionFailed)
			io.WriteString(w, `{"error":{"code":"PreconditionFailed","message":"etag mismatch"}}`)
			return
		}
		if r.Header.Get("If-Match") != `"`+string(rune('0'+f.etag))+`"` {
			t.Errorf("PUT If-Match %q", r.Header.Get("If-Match"))
		}
		var body struct {
			Properties map[string]any `json:"properties"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		f.props = body.Properties
		f.etag++
		f.puts++
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("PUT "+incidentsPath+"{id}/comments/{cid}", func(w http.ResponseWriter, r *http.Request) {
		check(r)
		var body struct {
			Properties struct{ Message string } `json:"properties"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.comments[r.PathValue("cid")] = body.Properties.Message
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	})
}

func TestSentinelWriteBackChangesTheIncidentThroughResourceManager(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	fake := &sentinelFake{alerts: []string{"a-1"}, comments: map[string]string{},
		props: map[string]any{"title": "Suspicious sign-in", "severity": "High", "status": "Active",
			"lastModifiedTimeUtc": "2021-05-01T10:00:00Z", "owner": map[string]any{"assignedTo": nil}}}
	fake.routes(t, mux)
	s := Settings{Name: "sen", Type: TypeSentinel, WriteBack: true, RatePerMinute: 6000, BaseURL: srv.URL, ManagementURL: srv.URL,
		TokenURL: srv.URL + "/t/oauth2/v2.0/token", ClientID: "app", ClientSecretEnv: "S", WorkspaceID: "ws-1",
		SubscriptionID: "0b3e9a61-0000-4000-8000-000000000001", ResourceGroup: "soc", WorkspaceName: "law-sentinel"}
	wb, err := NewWriteBacker(context.Background(), s, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	ch := Change{Status: "resolved", Classification: "falsePositive", AssignedTo: "rita@corp.example", Comment: "benign admin tool",
		Before: map[string]string{"status": "inProgress"}, Seen: time.Date(2021, 5, 2, 0, 0, 0, 0, time.UTC), Siblings: []string{"a-1"}}

	fake.stale = true // someone changed the incident between AIR's read and write
	if _, err := wb.WriteBack(context.Background(), "a-1", ch); err == nil || !strings.Contains(err.Error(), "412") {
		t.Fatalf("stale ETag: %v, want a retryable 412 error", err)
	} else if isPermanent(err) {
		t.Fatalf("a 412 is final: %v", err)
	}
	for range 2 { // the retry, then a second delivery of the same change
		if _, err := wb.WriteBack(context.Background(), "a-1", ch); err != nil {
			t.Fatal(err)
		}
	}
	if fake.puts != 1 {
		t.Errorf("%d incident PUTs, want 1 (the second delivery has nothing to change)", fake.puts)
	}
	p := fake.props
	if p["status"] != "Closed" || p["classification"] != "FalsePositive" || p["classificationReason"] != "IncorrectAlertLogic" ||
		p["title"] != "Suspicious sign-in" || p["severity"] != "High" {
		t.Errorf("incident after write-back %v", p)
	}
	if o, _ := p["owner"].(map[string]any); o["assignedTo"] != "rita@corp.example" {
		t.Errorf("owner %v", p["owner"])
	}
	if len(fake.comments) != 1 {
		t.Errorf("comments %v, want one (the retried comment reuses its id)", fake.comments)
	}

	// An incident holding an alert AIR keeps elsewhere is left alone.
	fake.alerts = []string{"a-1", "a-9"}
	fake.props["status"] = "Active"
	res, err := wb.WriteBack(context.Background(), "a-1", ch)
	if err != nil || fake.puts != 1 || !strings.Contains(res.String(), "a-9") {
		t.Errorf("foreign alert: %v, %d PUTs, %q", err, fake.puts, res)
	}
	res, err = wb.WriteBack(context.Background(), "a-2", ch)
	if err != nil || !strings.Contains(res.String(), "no Sentinel incident") {
		t.Errorf("alert in no incident: %v %q", err, res)
	}

	s.WorkspaceName = ""
	if err := (Config{Sources: []Settings{s}}).Validate(env(map[string]string{"S": "x"})); err == nil || !strings.Contains(err.Error(), "workspaceName") {
		t.Errorf("sentinel writeBack without a workspace name: %v", err)
	}
}

func isPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func TestFalconWriteBackSendsOneActionRequest(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"access_token":"cs-tok","token_type":"bearer","expires_in":1799}`)
	})
	mux.HandleFunc("POST /alerts/entities/alerts/v2", func(w http.ResponseWriter, r *http.Request) {
		// An analyst assigned it in the Falcon console after AIR read it.
		io.WriteString(w, `{"meta":{},"resources":[{"composite_id":"cid:ind:1","status":"new","assigned_to_uid":"sam@corp.example",
		  "updated_timestamp":"2026-01-02T10:00:00Z"}],"errors":[]}`)
	})
	var patches []map[string]any
	mux.HandleFunc("PATCH /alerts/entities/alerts/v3", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		patches = append(patches, body)
		io.WriteString(w, `{"meta":{},"resources":["cid:ind:1"],"errors":[]}`)
	})
	wb, err := NewWriteBacker(context.Background(), Settings{Name: "cs", Type: TypeCrowdStrike, WriteBack: true, BaseURL: srv.URL,
		RatePerMinute: 6000, ClientID: "cs-app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "cs-secret"})})
	if err != nil {
		t.Fatal(err)
	}
	res, err := wb.WriteBack(context.Background(), "cid:ind:1", Change{Status: "resolved", AssignedTo: "rita@corp.example",
		Comment: "closed by AIR", Before: map[string]string{"status": "new", "assignedTo": ""}, Seen: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 {
		t.Fatalf("%d PATCHes, want one", len(patches))
	}
	got, _ := json.Marshal(patches[0])
	want := `{"action_parameters":[{"name":"update_status","value":"closed"},{"name":"append_comment","value":"closed by AIR"}],"composite_ids":["cid:ind:1"]}`
	if string(got) != want {
		t.Errorf("PATCH body\n %s\nwant\n %s", got, want)
	}
	if res.Outcome != Conflict || len(res.Conflicts) != 1 || res.Conflicts[0] != "assigned_to_uid=sam@corp.example" {
		t.Errorf("result %+v: want the console's newer assignment kept", res)
	}
}
