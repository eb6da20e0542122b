package mde_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// fakeMDE follows Defender for Endpoint's documented machine action
// contract: POST /api/machines/{id}/{action} with a JSON body whose Comment
// is required, 201 with a MachineAction; GET /api/machineactions/{id};
// GET /api/machineactions?$filter=…; GET /api/machines?$filter=…; errors as
// {"error": {"code", "message", "target"}}; 400 ActiveRequestAlreadyExists
// "Action is already in progress" while an action of the same type is
// pending on the machine; 404 for an unknown machine or action.
type fakeMDE struct {
	mu       sync.Mutex
	token    string            // the bearer token the API accepts
	machines map[string]string // id → computerDnsName
	actions  []*mde.MachineAction
	polls    map[string]int // action id → GETs so far
	// finishAfter is how many polls an action stays Pending/InProgress;
	// final is the status it ends in.
	finishAfter int
	final       string
	// inject, when it returns a status, answers a request instead.
	inject func(r *http.Request) (status int, header http.Header, body string)
	// slow blocks answers until the request's context ends.
	slow bool

	posts     []post
	tokenHits int
	// indicators are the tenant's custom indicators (indicators_test.go).
	indicators []*mde.Indicator
	deletes    []string
	calls     int
}

type post struct {
	path string
	body map[string]any
}

const machineID = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"

func newFake() *fakeMDE {
	return &fakeMDE{token: "tok-1", machines: map[string]string{machineID: "ws-042.corp.example"},
		polls: map[string]int{}, finishAfter: 2, final: mde.Succeeded}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg, "target": "req-1"}})
}

var (
	postPath    = regexp.MustCompile(`^/api/machines/([^/]+)/([A-Za-z]+)$`)
	actionPath  = regexp.MustCompile(`^/api/machineactions/([^/]+)$`)
	filterMatch = regexp.MustCompile(`(\w+) eq '([^']*)'`)
)

var bodies = map[string]struct {
	maType string
	fields map[string][]string // field → allowed values (nil: any non-empty)
}{
	"isolate":                     {"Isolate", map[string][]string{"IsolationType": {"Full", "Selective"}}},
	"unisolate":                   {"Unisolate", nil},
	"restrictCodeExecution":       {"RestrictCodeExecution", nil},
	"unrestrictCodeExecution":     {"UnrestrictCodeExecution", nil},
	"runAntiVirusScan":            {"RunAntiVirusScan", map[string][]string{"ScanType": {"Quick", "Full"}}},
	"collectInvestigationPackage": {"CollectInvestigationPackage", nil},
	"StopAndQuarantineFile":       {"StopAndQuarantineFile", map[string][]string{"Sha1": nil}},
}

func (f *fakeMDE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		f.tokenHits++
		if r.FormValue("grant_type") != "client_credentials" || r.FormValue("client_secret") != "s3cret" ||
			r.FormValue("scope") != mde.Scope {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, f.token)
		return
	}
	f.calls++
	if f.slow {
		f.mu.Unlock()
		<-r.Context().Done()
		f.mu.Lock()
		return
	}
	if f.inject != nil {
		if status, h, body := f.inject(r); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeErr(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	switch m := postPath.FindStringSubmatch(r.URL.Path); {
	case r.Method == http.MethodPost && m != nil:
		f.post(w, r, m[1], m[2])
	case r.Method == http.MethodGet && r.URL.Path == "/api/machineactions":
		filter := filters(r)
		var out []*mde.MachineAction
		for _, a := range slices.Backward(f.actions) { // newest first
			if (filter["machineId"] == "" || a.MachineID == filter["machineId"]) && (filter["type"] == "" || a.Type == filter["type"]) {
				out = append(out, a)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"value": out})
	case r.Method == http.MethodGet && actionPath.MatchString(r.URL.Path):
		id := actionPath.FindStringSubmatch(r.URL.Path)[1]
		i := slices.IndexFunc(f.actions, func(a *mde.MachineAction) bool { return a.ID == id })
		if i < 0 {
			writeErr(w, http.StatusNotFound, "ResourceNotFound", "MachineAction "+id+" was not found")
			return
		}
		a := f.actions[i]
		f.polls[id]++
		switch n := f.polls[id]; {
		case a.Status != mde.Pending && a.Status != mde.InProgress:
		case f.finishAfter >= 0 && n > f.finishAfter:
			a.Status = f.final
		default:
			a.Status = mde.InProgress
		}
		json.NewEncoder(w).Encode(a)
	case r.Method == http.MethodGet && r.URL.Path == "/api/machines":
		var out []map[string]string
		for id, name := range f.machines {
			if name == filters(r)["computerDnsName"] {
				out = append(out, map[string]string{"id": id, "computerDnsName": name})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"value": out})
	case r.URL.Path == "/api/indicators" || strings.HasPrefix(r.URL.Path, "/api/indicators/"):
		f.indicatorRoute(w, r)
	default:
		writeErr(w, http.StatusNotFound, "NotFound", "no route")
	}
}

func filters(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, m := range filterMatch.FindAllStringSubmatch(r.URL.Query().Get("$filter"), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (f *fakeMDE) post(w http.ResponseWriter, r *http.Request, machine, action string) {
	spec, ok := bodies[action]
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound", "no such action")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidRequestBody", "Invalid request body.")
		return
	}
	f.posts = append(f.posts, post{path: action, body: body})
	if c, _ := body["Comment"].(string); c == "" {
		writeErr(w, http.StatusBadRequest, "MissingRequiredParameter", "Parameter Comment is missing.")
		return
	}
	for field, allowed := range spec.fields {
		v, _ := body[field].(string)
		if v == "" || (allowed != nil && !slices.Contains(allowed, v)) {
			writeErr(w, http.StatusBadRequest, "InvalidInput", "Invalid input "+field+".")
			return
		}
	}
	name, ok := f.machines[machine]
	if !ok {
		writeErr(w, http.StatusNotFound, "ResourceNotFound", "Machine "+machine+" was not found")
		return
	}
	for _, a := range f.actions {
		if a.MachineID == machine && a.Type == spec.maType && (a.Status == mde.Pending || a.Status == mde.InProgress) {
			writeErr(w, http.StatusBadRequest, "ActiveRequestAlreadyExists", "Action is already in progress")
			return
		}
	}
	a := f.add(machine, name, spec.maType, body["Comment"].(string), mde.Pending)
	if s, ok := body["IsolationType"].(string); ok {
		a.Scope = s
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(a)
}

func (f *fakeMDE) add(machine, name, maType, comment, status string) *mde.MachineAction {
	a := &mde.MachineAction{ID: fmt.Sprintf("ma-%d", len(f.actions)+1), Type: maType, Requestor: "air@contoso.example",
		RequestorComment: comment, Status: status, MachineID: machine, ComputerDNSName: name,
		CreationDateTimeUtc: "2026-03-01T10:00:00Z"}
	f.actions = append(f.actions, a)
	return a
}

// client builds a connector against the fake, as connector.NewRouter does.
func client(srv *httptest.Server, timeout time.Duration) *mde.Client {
	return &mde.Client{
		API: &rest.Client{Vendor: "mde", BaseURL: srv.URL, HTTP: &http.Client{Timeout: timeout},
			Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(srv.URL, "contoso"), ClientID: "app-1",
				Secret: rest.NewSecret("s3cret"), Scope: mde.Scope, HTTP: srv.Client()}},
		PollInterval: time.Millisecond, PollTimeout: 2 * time.Second,
	}
}

func request(typ, target string, params string) remediation.Request {
	return remediation.Request{ActionID: "3f1c2a9b0d11", IncidentID: 12, Type: typ, Target: domain.EntityKey(target),
		TargetName: "ws-042", Params: []byte(params), IdempotencyKey: "incident-12/p/s/" + target}
}

func TestMachineActionsContract(t *testing.T) {
	t.Parallel()
	dev := "device:" + machineID
	tests := []struct {
		name     string
		req      remediation.Request
		setup    func(f *fakeMDE)
		timeout  time.Duration
		poll     time.Duration // the poll budget; 0 means 2s
		resume   string
		want     string // connectortest.Outcome
		changed  bool
		summary  string // substring of the result summary or the error
		wantPost string // the action path POSTed, "" for none
		wantBody map[string]any
	}{
		{name: "isolate full", req: request("device.isolate", dev, `{"isolationType":"Full","comment":"malware"}`),
			want: "ok", changed: true, summary: "Isolate (Full) succeeded on ws-042.corp.example",
			wantPost: "isolate", wantBody: map[string]any{"IsolationType": "Full",
				"Comment": "AIR incident 12 action 3f1c2a9b0d11 (device.isolate): malware"}},
		{name: "isolate selective", req: request("device.isolate", dev, `{"isolationType":"Selective"}`),
			want: "ok", changed: true, wantPost: "isolate", wantBody: map[string]any{"IsolationType": "Selective"}},
		{name: "unisolate", req: request("device.release", dev, `{}`), want: "ok", changed: true, wantPost: "unisolate"},
		{name: "restrict", req: request("device.restrict_app_execution", dev, `{}`), want: "ok", changed: true,
			wantPost: "restrictCodeExecution"},
		{name: "unrestrict", req: request("device.unrestrict_app_execution", dev, `{}`), want: "ok", changed: true,
			wantPost: "unrestrictCodeExecution"},
		{name: "full scan", req: request("device.run_av_scan", dev, `{"scanType":"Full"}`), want: "ok", changed: true,
			wantPost: "runAntiVirusScan", wantBody: map[string]any{"ScanType": "Full"}},
		{name: "scan defaults to quick", req: request("device.run_av_scan", dev, `{}`), want: "ok", changed: true,
			wantPost: "runAntiVirusScan", wantBody: map[string]any{"ScanType": "Quick"}},
		{name: "investigation package", req: request("device.collect_investigation_package", dev, `{}`), want: "ok",
			changed: true, wantPost: "collectInvestigationPackage"},
		{name: "stop and quarantine by sha1 key",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("ab", 20), `{"deviceId":"`+machineID+`"}`),
			want: "ok", changed: true, wantPost: "StopAndQuarantineFile", wantBody: map[string]any{"Sha1": strings.Repeat("ab", 20)}},
		{name: "stop and quarantine needs sha1 for a sha256 key",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("cd", 32), `{"deviceId":"`+machineID+`"}`),
			want: "fail invalid", summary: "params.sha1"},
		{name: "stop and quarantine needs the device",
			req:  request("file.stop_and_quarantine", "file:"+strings.Repeat("ab", 20), `{}`),
			want: "fail invalid", summary: "params.deviceId"},
		{name: "device by dns name", req: request("device.isolate", "device:ws-042.corp.example", `{}`),
			want: "ok", changed: true, wantPost: "isolate"},
		{name: "unknown dns name", req: request("device.isolate", "device:ws-999.corp.example", `{}`),
			want: "fail not_found", summary: "no machine named ws-999"},

		{name: "already in progress joins the running action", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.add(machineID, "ws-042.corp.example", "Isolate", "isolated by an analyst", mde.Pending)
			},
			want: "ok", changed: false, summary: "already in progress: joined machine action ma-1", wantPost: "isolate"},
		{name: "a post before a crash is found, not repeated", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.add(machineID, "ws-042.corp.example", "Isolate", mde.Marker(12, "3f1c2a9b0d11")+" (device.isolate)", mde.InProgress)
			},
			want: "ok", changed: true, summary: "found after a retry"},
		{name: "a retry resumes the heartbeat's machine action", req: request("device.isolate", dev, `{}`),
			setup:  func(f *fakeMDE) { f.add(machineID, "ws-042.corp.example", "Isolate", "AIR…", mde.InProgress) },
			resume: "ma-1", want: "ok", changed: true, summary: "resumed after a retry"},

		{name: "a retry resumes a joined machine action", req: request("device.isolate", dev, `{}`),
			setup:  func(f *fakeMDE) { f.add(machineID, "ws-042.corp.example", "Isolate", "by an analyst", mde.InProgress) },
			resume: "joined:ma-1", want: "ok", changed: false, summary: "joined machine action ma-1 requested by air@contoso.example; Isolate succeeded on ws-042.corp.example, resumed after a retry"},
		{name: "machine action failed", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.final = mde.Failed }, want: "fail conflict", summary: "ended Failed", wantPost: "isolate"},
		{name: "machine action timed out", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.final = mde.TimeOut }, want: "fail conflict", summary: "ended TimeOut", wantPost: "isolate"},
		{name: "machine action cancelled", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.final = mde.Cancelled }, want: "fail conflict", summary: "ended Cancelled", wantPost: "isolate"},
		{name: "still pending when the poll budget ends", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.finishAfter = -1 }, poll: 50 * time.Millisecond,
			want: "retry", summary: "still InProgress after 50ms; the next attempt resumes it", wantPost: "isolate"},

		{name: "400 invalid input", req: request("device.isolate", dev, `{"isolationType":"Partial"}`),
			want: "fail invalid", summary: "InvalidInput", wantPost: "isolate"},
		{name: "401 with a fresh token still refused", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.inject = answer("", http.StatusUnauthorized, "", `{"error":{"code":"Unauthorized","message":"Unauthorized"}}`)
			},
			want: "fail forbidden", summary: "HTTP 401"},
		{name: "403 missing permission", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.inject = answer(http.MethodPost, http.StatusForbidden, "", `{"error":{"code":"Forbidden","message":"Missing application roles: Machine.Isolate"}}`)
			},
			want: "fail forbidden", summary: "Machine.Isolate"},
		{name: "404 machine not found", req: request("device.isolate", "device:"+strings.Repeat("0", 40), `{}`),
			want: "fail not_found", summary: "was not found", wantPost: "isolate"},
		{name: "429 with retry-after", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.inject = answer(http.MethodPost, http.StatusTooManyRequests, "7", `{"error":{"code":"TooManyRequests","message":"Too many requests"}}`)
			},
			want: "retry after 7s"},
		{name: "500", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) {
				f.inject = answer(http.MethodPost, http.StatusInternalServerError, "", `{"error":{"code":"InternalServerError","message":""}}`)
			},
			want: "retry", summary: "HTTP 500"},
		{name: "503 with retry-after", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.inject = answer(http.MethodPost, http.StatusServiceUnavailable, "30", "") },
			want:  "retry after 30s"},
		{name: "slow answer times out", req: request("device.isolate", dev, `{}`),
			setup: func(f *fakeMDE) { f.slow = true }, timeout: 50 * time.Millisecond, want: "retry", summary: "timed out"},
		{name: "not a device action", req: request("user.disable", "user:ana@contoso.example", `{}`),
			want: "fail invalid", summary: "cannot carry out user.disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			if tt.setup != nil {
				tt.setup(f)
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			c := client(srv, timeout)
			if tt.poll > 0 {
				c.PollTimeout = tt.poll
			}
			res, err := connectortest.Run(c, tt.req, tt.resume, nil)
			if got := connectortest.Outcome(err); got != tt.want {
				t.Fatalf("outcome: got %q (%v), want %q", got, err, tt.want)
			}
			if err == nil && res.Changed != tt.changed {
				t.Errorf("changed: got %v, want %v (%s)", res.Changed, tt.changed, res.Summary)
			}
			text := res.Summary
			if err != nil {
				text = err.Error()
			}
			if !strings.Contains(text, tt.summary) {
				t.Errorf("result: got %q, want it to contain %q", text, tt.summary)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.wantPost == "" {
				if len(f.posts) != 0 && tt.want == "ok" {
					t.Errorf("posts: got %+v, want none", f.posts)
				}
				return
			}
			if len(f.posts) != 1 || f.posts[0].path != tt.wantPost {
				t.Fatalf("posts: got %+v, want one to %s", f.posts, tt.wantPost)
			}
			if !strings.HasPrefix(fmt.Sprint(f.posts[0].body["Comment"]), "AIR incident 12 action 3f1c2a9b0d11 ("+tt.req.Type+")") {
				t.Errorf("comment: got %q, want it to name the incident and the action", f.posts[0].body["Comment"])
			}
			for k, v := range tt.wantBody {
				if f.posts[0].body[k] != v {
					t.Errorf("body %s: got %v, want %v", k, f.posts[0].body[k], v)
				}
			}
		})
	}
}

// answer injects one answer to every request of a method ("" for all).
func answer(method string, status int, retryAfter, body string) func(r *http.Request) (int, http.Header, string) {
	return func(r *http.Request) (int, http.Header, string) {
		if method != "" && r.Method != method {
			return 0, nil, ""
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return status, h, body
	}
}

func TestTokenIsCachedAndRenewedOn401(t *testing.T) {
	t.Parallel()
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := client(srv, 5*time.Second)
	ctx := context.Background()
	for i := range 3 {
		req := request("device.run_av_scan", "device:"+machineID, `{}`)
		req.ActionID = fmt.Sprintf("a%d", i)
		if _, err := c.Execute(ctx, req); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	f.mu.Lock()
	if f.tokenHits != 1 {
		t.Errorf("token requests for three actions: got %d, want 1 (cached)", f.tokenHits)
	}
	f.token = "tok-2" // the API now refuses the cached token
	f.mu.Unlock()
	if _, err := c.Execute(ctx, request("device.collect_investigation_package", "device:"+machineID, `{}`)); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenHits != 2 {
		t.Errorf("token requests after a 401: got %d, want 2", f.tokenHits)
	}
}

func TestLimiterHoldsCallsToTheConfiguredRate(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.finishAfter = 0 // every machine action is done at its first poll: list + post + poll = 3 calls
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := client(srv, 5*time.Second)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var slept []time.Duration
	lim := rest.NewLimiter(rest.Window{Calls: 100, Per: time.Minute})
	lim.Now = func() time.Time { return now }
	lim.Sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	c.API.Limiter = lim
	for i := range 34 { // 102 calls
		req := request("device.run_av_scan", "device:"+machineID, `{}`)
		req.ActionID = fmt.Sprintf("a%d", i)
		if _, err := c.Execute(context.Background(), req); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	// The 101st call waits a minute for the first one to leave the window;
	// the 102nd then finds the second one gone too.
	if len(slept) != 1 || slept[0] != time.Minute {
		t.Errorf("waits: got %v, want one wait of 1m at the 101st call", slept)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls != 102 {
		t.Errorf("calls: got %d, want 102", f.calls)
	}
}
