package sources

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
)

func env(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// msToken serves the Microsoft identity platform's client-credentials
// token endpoint and counts the tokens it gave.
func msToken(t *testing.T, mux *http.ServeMux, tenant string, issued *atomic.Int32) {
	mux.HandleFunc("POST /"+tenant+"/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("token request: %v", err)
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			t.Errorf("grant_type = %q", r.PostForm.Get("grant_type"))
		}
		if s := r.PostForm.Get("scope"); !strings.HasSuffix(s, "/.default") {
			t.Errorf("scope = %q, want …/.default", s)
		}
		issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"tok-1"}`)
	})
}

func readFixture(t *testing.T, name, base string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "{{BASE}}", base)
}

func TestGraphPollsPagesWithACheckpoint(t *testing.T) {
	var issued atomic.Int32
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	msToken(t, mux, "tenant-1", &issued)
	var filters []string
	mux.HandleFunc("GET /v1.0/security/alerts_v2", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
			t.Errorf("Authorization = %q", got)
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("$skiptoken") == "page2" {
			io.WriteString(w, readFixture(t, "graph-alerts-page2.json", srv.URL))
			return
		}
		filters = append(filters, r.URL.Query().Get("$filter"))
		if r.URL.Query().Get("$top") != "2" {
			t.Errorf("$top = %q, want 2", r.URL.Query().Get("$top"))
		}
		io.WriteString(w, readFixture(t, "graph-alerts-page1.json", srv.URL))
	})
	s := Settings{Name: "g", Type: TypeGraph, BaseURL: srv.URL, TokenURL: srv.URL + "/tenant-1/oauth2/v2.0/token",
		ClientID: "app", ClientSecretEnv: "S", PageSize: 2, Overlap: 5 * time.Minute}
	p, err := New(context.Background(), s, Options{Env: env(map[string]string{"S": "secret"})})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)
	page, err := p.Poll(context.Background(), Checkpoint{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if want := "lastUpdateDateTime ge 2021-03-31T23:55:00Z"; len(filters) != 1 || filters[0] != want {
		t.Errorf("filters = %q, want [%q] (checkpoint minus overlap)", filters, want)
	}
	if len(page.Alerts) != 1 || len(page.Problems) != 1 || !page.More {
		t.Fatalf("page 1: %d alerts, %d problems, more %v; want 1, 1 (the item without id), true", len(page.Alerts), len(page.Problems), page.More)
	}
	if !strings.Contains(page.Problems[0].Reason, "id") {
		t.Errorf("problem %q does not name the id", page.Problems[0].Reason)
	}
	if page.Next.Cursor == "" || !page.Next.Since.Equal(since) {
		t.Errorf("mid-sweep checkpoint %+v: want the next link and Since unchanged", page.Next)
	}
	keys := entityKeys(page.Alerts[0])
	if !strings.Contains(keys, "device:73e7e2de709dff64ef64b1d0c30e67fab63279db") {
		t.Errorf("entities %s lack the MDE device", keys)
	}
	page2, err := p.Poll(context.Background(), page.Next)
	if err != nil {
		t.Fatal(err)
	}
	if len(page2.Alerts) != 1 || page2.More || page2.Next.Cursor != "" {
		t.Fatalf("page 2: %d alerts, more %v, cursor %q", len(page2.Alerts), page2.More, page2.Next.Cursor)
	}
	if want := time.Date(2021, 6, 1, 11, 40, 12, 876666700, time.UTC); !page2.Next.Since.Equal(want) {
		t.Errorf("sweep end Since = %v, want the newest lastUpdateDateTime %v", page2.Next.Since, want)
	}
	if issued.Load() != 1 {
		t.Errorf("%d tokens issued for 2 pages, want 1 (cached)", issued.Load())
	}
}

func entityKeys(a *domain.Alert) string {
	var ks []string
	for _, e := range a.Evidence {
		if e.Entity != nil {
			ks = append(ks, string(e.Entity.Key))
		}
	}
	return strings.Join(ks, " ")
}

func TestThrottlingAndRefusals(t *testing.T) {
	status := http.StatusTooManyRequests
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	mux.HandleFunc("GET /v1.0/security/alerts_v2", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`)
	})
	p, err := New(context.Background(), Settings{Name: "g", Type: TypeGraph, BaseURL: srv.URL, TokenURL: srv.URL + "/t/oauth2/v2.0/token",
		ClientID: "app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Poll(context.Background(), Checkpoint{})
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.Delay != 7*time.Second {
		t.Fatalf("429: err = %v, want RetryAfterError of 7s", err)
	}
	status = http.StatusForbidden
	_, err = p.Poll(context.Background(), Checkpoint{})
	var perm *PermanentError
	if !errors.As(err, &perm) || perm.Status != 403 {
		t.Fatalf("403: err = %v, want PermanentError 403", err)
	}
	status = http.StatusBadGateway
	_, err = p.Poll(context.Background(), Checkpoint{})
	if err == nil || errors.As(err, &perm) || errors.As(err, &ra) {
		t.Fatalf("502: err = %v, want a plain (retryable) error", err)
	}
	// A next link to another host never gets the token.
	_, err = p.Poll(context.Background(), Checkpoint{Cursor: "https://attacker.example/steal"})
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("foreign next link: err = %v, want refused", err)
	}
}

func TestRetryDelayHeaders(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"X-Rate-Limit-Reset": {"1700000045"}}, 45 * time.Second},
		{http.Header{}, time.Minute},
	} {
		if got := retryDelay(c.h, now); got != c.want {
			t.Errorf("retryDelay(%v) = %v, want %v", c.h, got, c.want)
		}
	}
}

func TestMDEAlertsMapOntoGraphEntities(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	mux.HandleFunc("GET /api/alerts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("$expand") != "evidence" || !strings.HasPrefix(q.Get("$filter"), "lastUpdateTime ge ") {
			t.Errorf("query %v: want $expand=evidence and a lastUpdateTime filter", q)
		}
		io.WriteString(w, `{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Alerts","value":[{
		  "id":"da637472900382838869_1364969609","incidentId":1126093,"investigationId":null,"assignedTo":null,
		  "severity":"Low","status":"New","classification":null,"determination":null,"investigationState":"Queued",
		  "detectionSource":"WindowsDefenderAv","detectorId":"17e10bbc-3a68-474a-8aad-faef14d43952","category":"Execution",
		  "threatFamilyName":null,"title":"Low-reputation arbitrary code executed by signed executable","description":"Binaries signed by Microsoft can be used to run low-reputation arbitrary code.",
		  "alertCreationTime":"2021-01-26T20:33:57.7220239Z","firstEventTime":"2021-01-26T20:31:32.9562661Z","lastEventTime":"2021-01-26T20:31:33.0577322Z",
		  "lastUpdateTime":"2021-01-26T20:33:59.2Z","resolvedTime":null,"machineId":"111e6dd8c833c8a052ea231ec1b19adaf497b625",
		  "computerDnsName":"temp123.middleeast.corp.microsoft.com","rbacGroupName":"A","aadTenantId":"a839b112-1253-6432-9bf6-94542403f21c",
		  "threatName":null,"mitreTechniques":["T1064","T1085","T1220"],
		  "relatedUser":{"userName":"temp123","domainName":"DOMAIN"},"comments":[],
		  "evidence":[{"entityType":"User","evidenceCreationTime":"2021-01-26T20:33:58.42Z","sha1":null,"sha256":null,"fileName":null,"filePath":null,
		    "processId":null,"processCommandLine":null,"accountName":"name","domainName":"DOMAIN","userSid":"S-1-5-21-11111607-1111760036-109187956-75141",
		    "aadUserId":"11118379-2a59-1111-ac3c-a51eb4a3c627","userPrincipalName":"temp123@microsoft.com","detectionStatus":null},
		   {"entityType":"File","sha1":"5f1e8acedc065031aad553b710838eb366cfee9a","sha256":"8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec",
		    "fileName":"MsSense.exe","filePath":"C:\\Program Files\\temp"},
		   {"entityType":"Ip","ipAddress":"203.0.113.9"}]}]}`)
	})
	p, err := New(context.Background(), Settings{Name: "m", Type: TypeMDE, BaseURL: srv.URL, TokenURL: srv.URL + "/t/oauth2/v2.0/token",
		ClientID: "app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	page, err := p.Poll(context.Background(), Checkpoint{Since: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || len(page.Problems) != 0 {
		t.Fatalf("%d alerts, problems %v", len(page.Alerts), page.Problems)
	}
	a := page.Alerts[0]
	if a.ID != "mde-da637472900382838869_1364969609" || a.Severity != domain.SeverityLow || a.Status != domain.AlertNew {
		t.Errorf("alert %s severity %s status %s", a.ID, a.Severity, a.Status)
	}
	keys := entityKeys(a)
	for _, want := range []string{"device:111e6dd8c833c8a052ea231ec1b19adaf497b625", "file:8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec", "ip:203.0.113.9"} {
		if !strings.Contains(keys, want) {
			t.Errorf("entities %s lack %s", keys, want)
		}
	}
	if !strings.Contains(string(a.Raw), "machineId") {
		t.Error("the vendor's own document is not kept as the raw alert")
	}
}

func TestSentinelPagesByRowNumber(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	var queries []string
	mux.HandleFunc("POST /v1/workspaces/ws-1/query", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Query string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		queries = append(queries, body.Query)
		row := func(id, t string) string {
			return `["` + id + `","` + t + `","Suspicious logon","High","New","Azure Sentinel","[{\"$id\":\"2\",\"HostName\":\"web01\",\"Type\":\"host\"}]",1]`
		}
		rows := row("a1", "2024-05-01T10:00:00Z") + "," + row("a2", "2024-05-01T10:05:00Z")
		if strings.Contains(body.Query, "rn > 2") {
			rows = row("a3", "2024-05-01T10:09:00Z")
		}
		io.WriteString(w, `{"tables":[{"name":"PrimaryResult","columns":[{"name":"SystemAlertId","type":"string"},{"name":"TimeGenerated","type":"datetime"},
		  {"name":"AlertName","type":"string"},{"name":"AlertSeverity","type":"string"},{"name":"Status","type":"string"},{"name":"ProductName","type":"string"},
		  {"name":"Entities","type":"string"},{"name":"rn","type":"long"}],"rows":[`+rows+`]}]}`)
	})
	p, err := New(context.Background(), Settings{Name: "s", Type: TypeSentinel, BaseURL: srv.URL, TokenURL: srv.URL + "/t/oauth2/v2.0/token",
		ClientID: "app", ClientSecretEnv: "S", WorkspaceID: "ws-1", PageSize: 2, Query: `ProductName == "Azure Sentinel"`}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Since: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	page, err := p.Poll(context.Background(), cp)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 2 || !page.More || page.Next.Cursor != "2" {
		t.Fatalf("page 1: %d alerts, more %v, cursor %q (problems %v)", len(page.Alerts), page.More, page.Next.Cursor, page.Problems)
	}
	page, err = p.Poll(context.Background(), page.Next)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || page.More || !page.Next.Since.Equal(time.Date(2024, 5, 1, 10, 9, 0, 0, time.UTC)) {
		t.Fatalf("page 2: %d alerts, more %v, next %+v", len(page.Alerts), page.More, page.Next)
	}
	for _, want := range []string{"TimeGenerated >= datetime(2024-04-30T23:55:00Z)", `where ProductName == "Azure Sentinel"`, "rn > 0 | take 2"} {
		if !strings.Contains(queries[0], want) {
			t.Errorf("query %q lacks %q", queries[0], want)
		}
	}
}

func TestCrowdStrikeQueriesThenFetches(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("client_id") != "cs-app" || r.PostForm.Get("client_secret") != "cs-secret" {
			t.Errorf("token form %v: want client_id and client_secret in the body", r.PostForm)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated) // Falcon answers 201
		io.WriteString(w, `{"access_token":"cs-tok","token_type":"bearer","expires_in":1799}`)
	})
	mux.HandleFunc("GET /alerts/queries/alerts/v2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer cs-tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		q := r.URL.Query()
		if !strings.HasPrefix(q.Get("filter"), "updated_timestamp:>='") || q.Get("sort") != "updated_timestamp.asc" {
			t.Errorf("query %v", q)
		}
		if q.Get("offset") == "1" {
			io.WriteString(w, `{"meta":{"query_time":0.01,"pagination":{"offset":1,"limit":1,"total":2}},"resources":["cid:ind:2"],"errors":[]}`)
			return
		}
		io.WriteString(w, `{"meta":{"query_time":0.01,"pagination":{"offset":0,"limit":1,"total":2}},"resources":["cid:ind:1"],"errors":[]}`)
	})
	mux.HandleFunc("POST /alerts/entities/alerts/v2", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			CompositeIDs []string `json:"composite_ids"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if len(body.CompositeIDs) != 1 {
			t.Errorf("composite_ids %v", body.CompositeIDs)
		}
		id := body.CompositeIDs[0]
		io.WriteString(w, `{"meta":{},"resources":[{"composite_id":"`+id+`","display_name":"CredentialDumping","description":"A process accessed LSASS memory.",
		  "severity":70,"severity_name":"High","status":"new","tactic":"Credential Access","technique_id":"T1003","product":"epp","pattern_id":51142,
		  "created_timestamp":"2024-06-01T10:00:00Z","updated_timestamp":"2024-06-01T10:0`+id[len(id)-1:]+`:00Z","timestamp":"2024-06-01T09:59:00Z",
		  "device":{"device_id":"abc123","hostname":"FIN-WS-07","local_ip":"10.1.2.3"},"user_name":"jdoe",
		  "sha256":"8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec","filename":"procdump.exe","filepath":"\\Device\\HarddiskVolume3\\Tools\\procdump.exe"}],"errors":[]}`)
	})
	p, err := New(context.Background(), Settings{Name: "cs", Type: TypeCrowdStrike, BaseURL: srv.URL, ClientID: "cs-app",
		ClientSecretEnv: "S", PageSize: 1}, Options{Env: env(map[string]string{"S": "cs-secret"})})
	if err != nil {
		t.Fatal(err)
	}
	page, err := p.Poll(context.Background(), Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || !page.More || page.Next.Cursor != "1" {
		t.Fatalf("page 1: %d alerts, more %v, cursor %q, problems %v", len(page.Alerts), page.More, page.Next.Cursor, page.Problems)
	}
	if a := page.Alerts[0]; a.Severity != domain.SeverityHigh || a.Category != "CredentialAccess" || !strings.Contains(entityKeys(a), "file:8963a19f") {
		t.Errorf("alert %+v", a)
	}
	page, err = p.Poll(context.Background(), page.Next)
	if err != nil || page.More || len(page.Alerts) != 1 {
		t.Fatalf("page 2: %v more %v", err, page.More)
	}
}

func TestOktaFollowsLinkAndHonoursReset(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	throttle := false
	mux.HandleFunc("GET /api/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "SSWS okta-tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		if throttle {
			w.Header().Set("X-Rate-Limit-Reset", "1700000030")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}`)
			return
		}
		q := r.URL.Query()
		if q.Get("after") == "" {
			if !strings.Contains(q.Get("filter"), `eventType eq "user.account.lock"`) || q.Get("sortOrder") != "ASCENDING" {
				t.Errorf("query %v", q)
			}
			w.Header().Add("Link", `<`+srv.URL+`/api/v1/logs?limit=1>; rel="self"`)
			w.Header().Add("Link", `<`+srv.URL+`/api/v1/logs?limit=1&after=1>; rel="next"`)
			io.WriteString(w, `[{"uuid":"dc9fd3c0-598c-11ef-8478-2b7584bf8d5a","published":"2024-08-13T15:58:20.353Z","eventType":"user.account.lock",
			  "displayMessage":"Max sign in attempts exceeded","severity":"WARN","actor":{"id":"00u1","type":"User","alternateId":"jane@example.com","displayName":"Jane"},
			  "client":{"ipAddress":"198.51.100.7"},"outcome":{"result":"FAILURE","reason":"LOCKED_OUT"}}]`)
			return
		}
		io.WriteString(w, `[]`)
	})
	p, err := New(context.Background(), Settings{Name: "o", Type: TypeOkta, BaseURL: srv.URL, APITokenEnv: "T", PageSize: 1},
		Options{Env: env(map[string]string{"T": "okta-tok"}), Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	page, err := p.Poll(context.Background(), Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || !page.More {
		t.Fatalf("page 1: %d alerts more %v problems %v", len(page.Alerts), page.More, page.Problems)
	}
	if a := page.Alerts[0]; a.Severity != domain.SeverityMedium || !strings.Contains(entityKeys(a), "jane@example.com") || !strings.Contains(entityKeys(a), "ip:198.51.100.7") {
		t.Errorf("alert %s %s entities %s", a.ID, a.Severity, entityKeys(a))
	}
	if u, _ := url.Parse(page.Next.Cursor); u == nil || u.Query().Get("after") != "1" {
		t.Errorf("cursor %q: want the rel=next link", page.Next.Cursor)
	}
	page, err = p.Poll(context.Background(), page.Next)
	if err != nil || page.More || len(page.Alerts) != 0 {
		t.Fatalf("page 2: %v, %d alerts, more %v", err, len(page.Alerts), page.More)
	}
	throttle = true
	_, err = p.Poll(context.Background(), Checkpoint{})
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.Delay != 30*time.Second {
		t.Fatalf("throttled: %v, want retry after 30s from X-Rate-Limit-Reset", err)
	}
}

func TestSimulatedSourceGeneratesAndReplays(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	p, err := New(context.Background(), Settings{Name: "lab", Type: TypeSimulated, PerPoll: 3}, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	page, err := p.Poll(context.Background(), Checkpoint{})
	if err != nil || len(page.Alerts) != 3 || len(page.Problems) != 0 {
		t.Fatalf("generate: %v, %d alerts, %v", err, len(page.Alerts), page.Problems)
	}
	again, _ := p.Poll(context.Background(), page.Next)
	if again.Alerts[0].ID != "sim-lab-3" {
		t.Errorf("second poll starts at %s, want sim-lab-3 (the cursor counts what was raised)", again.Alerts[0].ID)
	}
	// Replay: the shared sample alert file, all at once when Speed is 0.
	rp, err := New(context.Background(), Settings{Name: "r", Type: TypeSimulated, File: "../graph/testdata/sample-alert.json"}, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	page, err = rp.Poll(context.Background(), Checkpoint{})
	if err != nil || len(page.Alerts) != 1 || page.More {
		t.Fatalf("replay: %v, %d alerts, more %v", err, len(page.Alerts), page.More)
	}
	page, _ = rp.Poll(context.Background(), page.Next)
	if len(page.Alerts) != 0 {
		t.Errorf("replay repeated %d alerts after its end", len(page.Alerts))
	}
}

func TestConfigValidationNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sources.yaml")
	os.WriteFile(path, []byte(`sources:
  - name: graph-prod
    type: graph
    tenantId: t
    clientId: c
    clientSecretEnv: GRAPH_SECRET
  - name: graph-prod
    type: okta
    apiToken: inline-secret
  - name: x
    type: splunk
`), 0o600)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(env(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"GRAPH_SECRET is not set", `"graph-prod" is used by another source`, "secrets are not kept", "baseURL: required for okta", `type: "splunk"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	os.WriteFile(path, []byte("sources:\n  - name: a\n    type: graph\n    bogus: 1\n"), 0o600)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestStateRecordsLagAndRate(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC)
	var s State
	a := &domain.Alert{ID: "x", LastUpdateDateTime: now.Add(-2 * time.Minute)}
	s.Record(now, Checkpoint{Since: now}, &Page{Alerts: []*domain.Alert{a, a}, Problems: []Problem{{Reason: "bad"}}}, nil)
	s.Record(now.Add(time.Second), Checkpoint{}, nil, errors.New("boom"))
	if s.Alerts != 2 || s.Rejected != 1 || s.Errors != 1 || s.LastError != "boom" || s.Polls != 2 {
		t.Errorf("state %+v", s)
	}
	if lag := s.Lag(now); lag != 2*time.Minute {
		t.Errorf("lag %v", lag)
	}
	if r := s.PerMinute(now, 10*time.Minute); r != 0.2 {
		t.Errorf("rate %v/min, want 0.2", r)
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	body := []byte(`{"id":"a"}`)
	now := time.Unix(1_700_000_000, 0)
	h := Sign(secret, body, now)
	if err := Verify(secret, h, body, now.Add(time.Minute)); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	for name, c := range map[string]struct {
		header string
		body   []byte
		at     time.Time
		want   string
	}{
		"missing":   {"", body, now, "missing"},
		"tampered":  {h, []byte(`{"id":"b"}`), now, "does not match"},
		"replayed":  {h, body, now.Add(10 * time.Minute), "more than"},
		"other key": {Sign([]byte("another-key-0123456"), body, now), body, now, "does not match"},
		"no time":   {"v1=abc", body, now, "want t="},
	} {
		if err := Verify(secret, c.header, c.body, c.at); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestGraphWriteBackKeepsTheProvidersNewerChange(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var issued atomic.Int32
	msToken(t, mux, "t", &issued)
	var patched map[string]any
	var comment map[string]string
	mux.HandleFunc("GET /v1.0/security/alerts_v2/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "da637551227677560813_-961444813" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":"NotFound","message":"alert not found"}}`)
			return
		}
		// Someone classified it in the Defender portal after AIR last read it.
		io.WriteString(w, `{"id":"da637551227677560813_-961444813","status":"new","classification":"falsePositive","determination":null,
		  "assignedTo":null,"lastUpdateDateTime":"2021-05-03T10:00:00Z"}`)
	})
	mux.HandleFunc("PATCH /v1.0/security/alerts_v2/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("PATCH content type %q", r.Header.Get("Content-Type"))
		}
		json.NewDecoder(r.Body).Decode(&patched)
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("POST /v1.0/security/alerts_v2/{id}/comments", func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&comment)
		io.WriteString(w, `{"value":[]}`)
	})
	wb, err := NewWriteBacker(context.Background(), Settings{Name: "g", Type: TypeGraph, WriteBack: true, BaseURL: srv.URL,
		TokenURL: srv.URL + "/t/oauth2/v2.0/token", ClientID: "app", ClientSecretEnv: "S"}, Options{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	res, err := wb.WriteBack(context.Background(), "da637551227677560813_-961444813", Change{
		Status: "resolved", Classification: "truePositive", Determination: "malware", AssignedTo: "rita@corp.example",
		Comment: "contained by AIR", Before: map[string]string{"status": "new"}, Seen: time.Date(2021, 5, 2, 14, 19, 1, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Conflict || len(res.Conflicts) != 1 || res.Conflicts[0] != "classification=falsePositive" {
		t.Errorf("result %+v: want a conflict on classification only", res)
	}
	if patched["status"] != "resolved" || patched["determination"] != "malware" || patched["assignedTo"] != "rita@corp.example" {
		t.Errorf("PATCH body %v", patched)
	}
	if _, ok := patched["classification"]; ok {
		t.Errorf("PATCH overwrote the provider's newer classification: %v", patched)
	}
	if comment["comment"] != "contained by AIR" {
		t.Errorf("comment body %v", comment)
	}
	_, err = wb.WriteBack(context.Background(), "missing", Change{Status: "resolved"})
	var perm *PermanentError
	if !errors.As(err, &perm) || perm.Status != 404 {
		t.Errorf("unknown alert: %v, want a permanent 404", err)
	}
	if _, err := NewWriteBacker(context.Background(), Settings{Name: "o", Type: TypeOkta, WriteBack: true}, Options{}); err == nil {
		t.Error("write-back to Okta's log accepted")
	}
}
