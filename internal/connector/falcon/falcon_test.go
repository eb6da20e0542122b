package falcon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/falcon"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// fakeFalcon follows the CrowdStrike Falcon API contract AIR relies on
// (testdata/README.md names the documents): POST /oauth2/token with form
// client_id and client_secret, 201 {"access_token","token_type":"bearer",
// "expires_in"}; the Hosts API (GET /devices/queries/devices/v1?filter=,
// GET /devices/entities/devices/v2?ids=, POST
// /devices/entities/devices-actions/v2?action_name= with {"ids": […]}, 202
// with the affected ids, 409 when the host is already in or on its way to
// that state); the IOC Management API (GET /iocs/combined/indicator/v1,
// POST/PATCH /iocs/entities/indicators/v1 with {"indicators": […]}, DELETE
// …?ids=); every answer shaped {"meta","resources","errors"}; 429 with
// X-RateLimit-RetryAfter (epoch seconds) and X-RateLimit-Remaining 0.
type fakeFalcon struct {
	mu        sync.Mutex
	tokens    int
	revoked   bool // the next API call answers 401 (an expired token)
	hosts     map[string]*falcon.Device
	reads     map[string]int // host → status reads since its last action
	settle    int            // reads a pending status lasts
	posts     []map[string]any
	actions   []string
	iocs      []*falcon.IOC
	iocWrites []map[string]any
	deletes   []string
	// inject answers a request instead, when it returns a status.
	inject func(r *http.Request) (int, http.Header, string)
}

const (
	aid    = "4d2c1b0a99887766554433221100ffee"
	other  = "00112233445566778899aabbccddeeff"
	secret = "falcon-secret-ab12"
	sha    = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
)

func newFake() *fakeFalcon {
	return &fakeFalcon{settle: 1, reads: map[string]int{}, hosts: map[string]*falcon.Device{
		aid:   {DeviceID: aid, Hostname: "ws-001", Status: falcon.Normal, LastSeen: "2026-03-01T09:00:00Z"},
		other: {DeviceID: other, Hostname: "ws-001", Status: falcon.Normal, LastSeen: "2025-01-01T09:00:00Z"},
	}}
}

func reply(w http.ResponseWriter, status int, resources any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-RateLimit-Limit", "6000")
	w.Header().Set("X-RateLimit-Remaining", "5999")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"meta": map[string]any{"query_time": 0.01, "trace_id": "t-1"},
		"resources": resources, "errors": []any{}})
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"meta": map[string]any{"trace_id": "t-1"}, "resources": []any{},
		"errors": []map[string]any{{"code": status, "message": msg}}})
}

var fql = regexp.MustCompile(`(\w+):'((?:[^'\\]|\\.)*)'`)

func filter(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, m := range fql.FindAllStringSubmatch(r.URL.Query().Get("filter"), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (f *fakeFalcon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/oauth2/token" {
		if r.Method != http.MethodPost || r.FormValue("client_id") != "falcon-app" || r.FormValue("client_secret") != secret {
			fail(w, http.StatusForbidden, "access denied, invalid client")
			return
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer","expires_in":1799}`, f.tokens)
		return
	}
	if f.inject != nil {
		if status, h, body := f.inject(r); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
	}
	if f.revoked || r.Header.Get("Authorization") != fmt.Sprintf("Bearer tok-%d", f.tokens) {
		f.revoked = false
		fail(w, http.StatusUnauthorized, "access denied, authorization failed")
		return
	}
	q := r.URL.Query()
	switch p := r.URL.Path; {
	case p == "/devices/queries/devices/v1" && r.Method == http.MethodGet:
		name := filter(r)["hostname"]
		var ids []string
		for _, id := range []string{aid, other} { // sorted by last_seen.desc
			if f.hosts[id] != nil && f.hosts[id].Hostname == name {
				ids = append(ids, id)
			}
		}
		if q.Get("sort") != "last_seen.desc" {
			ids = slices.Clone(ids)
			slices.Reverse(ids)
		}
		reply(w, http.StatusOK, ids)
	case p == "/devices/entities/devices/v2" && r.Method == http.MethodGet:
		var out []falcon.Device
		for _, id := range q["ids"] {
			h := f.hosts[id]
			if h == nil {
				continue
			}
			if strings.HasSuffix(h.Status, "_pending") {
				if f.reads[id]++; f.reads[id] > f.settle {
					h.Status = map[string]string{falcon.ContainmentPending: falcon.Contained, falcon.LiftContainmentPending: falcon.Normal}[h.Status]
				}
			}
			out = append(out, *h)
		}
		if len(out) == 0 {
			fail(w, http.StatusNotFound, "Device not found.")
			return
		}
		reply(w, http.StatusOK, out)
	case p == "/devices/entities/devices-actions/v2" && r.Method == http.MethodPost:
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.posts = append(f.posts, body)
		action := q.Get("action_name")
		f.actions = append(f.actions, action)
		ids, _ := body["ids"].([]any)
		if len(body) != 1 || len(ids) != 1 {
			fail(w, http.StatusBadRequest, "Invalid body: want {\"ids\": [...]}")
			return
		}
		id, _ := ids[0].(string)
		h := f.hosts[id]
		if h == nil {
			fail(w, http.StatusNotFound, "Device not found.")
			return
		}
		next := map[string][2]string{"contain": {falcon.ContainmentPending, falcon.Contained},
			"lift_containment": {falcon.LiftContainmentPending, falcon.Normal}}[action]
		if next[0] == "" {
			fail(w, http.StatusBadRequest, "Invalid action_name")
			return
		}
		if h.Status == next[0] || h.Status == next[1] {
			fail(w, http.StatusConflict, "Device is already "+h.Status)
			return
		}
		h.Status, f.reads[id] = next[0], 0
		reply(w, http.StatusAccepted, []map[string]string{{"id": id, "path": ""}})
	case p == "/iocs/combined/indicator/v1" && r.Method == http.MethodGet:
		m := filter(r)
		var out []falcon.IOC
		for _, in := range f.iocs {
			if in.Type == m["type"] && in.Value == m["value"] {
				out = append(out, *in)
			}
		}
		reply(w, http.StatusOK, out)
	case p == "/iocs/entities/indicators/v1" && (r.Method == http.MethodPost || r.Method == http.MethodPatch):
		var body struct{ Indicators []map[string]any }
		json.NewDecoder(r.Body).Decode(&body)
		if len(body.Indicators) != 1 {
			fail(w, http.StatusBadRequest, "want one indicator")
			return
		}
		in := body.Indicators[0]
		f.iocWrites = append(f.iocWrites, in)
		var b []byte
		b, _ = json.Marshal(in)
		var got falcon.IOC
		json.Unmarshal(b, &got)
		if r.Method == http.MethodPatch {
			for _, have := range f.iocs {
				if have.ID == got.ID {
					have.Action, have.Description, have.Expiration, have.Source = got.Action, got.Description, got.Expiration, got.Source
					reply(w, http.StatusOK, []falcon.IOC{*have})
					return
				}
			}
			fail(w, http.StatusNotFound, "indicator not found")
			return
		}
		for _, have := range f.iocs {
			if have.Type == got.Type && have.Value == got.Value {
				fail(w, http.StatusBadRequest, fmt.Sprintf("Duplicate type: '%s' and value: '%s' combination.", got.Type, got.Value))
				return
			}
		}
		if (got.Type == "domain" || strings.HasPrefix(got.Type, "ipv")) && got.Action != "detect" && got.Action != "no_action" {
			fail(w, http.StatusBadRequest, "Action '"+got.Action+"' is not supported for type '"+got.Type+"'")
			return
		}
		got.ID, got.CreatedBy = fmt.Sprintf("ioc-%d", len(f.iocs)+1), "falcon-app"
		f.iocs = append(f.iocs, &got)
		reply(w, http.StatusCreated, []falcon.IOC{got})
	case p == "/iocs/entities/indicators/v1" && r.Method == http.MethodDelete:
		id := q.Get("ids")
		f.deletes = append(f.deletes, id)
		i := slices.IndexFunc(f.iocs, func(in *falcon.IOC) bool { return in.ID == id })
		if i < 0 {
			fail(w, http.StatusNotFound, "indicator not found")
			return
		}
		f.iocs = slices.Delete(f.iocs, i, i+1)
		reply(w, http.StatusOK, []string{id})
	default:
		fail(w, http.StatusNotFound, "no route "+r.Method+" "+p)
	}
}

func newClient(t *testing.T, f *fakeFalcon) *falcon.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &falcon.Client{API: &rest.Client{Vendor: "falcon", BaseURL: srv.URL, Token: &rest.ClientCredentials{
		TokenURL: falcon.TokenURL(srv.URL), ClientID: "falcon-app", Secret: rest.NewSecret(secret)}},
		PollInterval: time.Millisecond, PollTimeout: 2 * time.Second,
		Now: func() time.Time { return time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) }}
}

func req(typ, target, params string) remediation.Request {
	return remediation.Request{ActionID: "act-" + typ, IncidentID: 12, Type: typ, Target: domain.EntityKey(target),
		Params: []byte(params), IdempotencyKey: "k-" + typ + target}
}

func run(c *falcon.Client, rq remediation.Request, resume string) string {
	res, err := connectortest.Run(c, rq, resume, nil)
	if err != nil {
		return connectortest.Outcome(err) + ": " + plain(err)
	}
	return fmt.Sprintf("%v %s", res.Changed, res.Summary)
}

var activityNoise = regexp.MustCompile(`activity error \([^)]*\): | \(type: [^,]+, retryable: (true|false)\)$`)

// plain is the connector's own error text, without the activity wrapping.
func plain(err error) string { return activityNoise.ReplaceAllString(err.Error(), "") }

func TestContainmentContract(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newClient(t, f)
	steps := []struct {
		name, typ, target, resume, want string
		posts                           int
	}{
		{"contain by agent id", "device.isolate", "device:" + aid, "", "true ws-001 (" + aid + ") is contained", 1},
		{"a repeat changes nothing and asks nothing", "device.isolate", "device:" + aid, "", "false ws-001 (" + aid + ") is already contained", 1},
		{"lift", "device.release", "device:" + aid, "", "true ws-001 (" + aid + ") is normal", 2},
		{"by host name: the one seen last", "device.isolate", "device:ws-001", "", "true ws-001 (" + aid + ") is contained, (2 hosts are named ws-001; acted on the one seen last)", 3},
		{"unknown host name", "device.isolate", "device:ws-404", "", "fail not_found: crowdstrike falcon has no host named ws-404", 3},
		{"unknown agent id", "device.isolate", "device:ffffffffffffffffffffffffffffffff", "", "fail not_found", 3},
		{"wrong target kind", "device.isolate", "user:ana@contoso.example", "", "fail invalid", 3},
		{"selective isolation is not Falcon's", "device.isolate", "device:" + aid, "", "fail invalid: params.isolationType: crowdstrike falcon contains a host fully", 3},
	}
	for _, s := range steps {
		params := `{"isolationType":"Full","comment":"from the playbook"}`
		if strings.HasPrefix(s.name, "selective") {
			params = `{"isolationType":"Selective"}`
		}
		got := run(c, req(s.typ, s.target, params), s.resume)
		if !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
		if len(f.posts) != s.posts {
			t.Errorf("%s: %d POSTs so far, want %d", s.name, len(f.posts), s.posts)
		}
	}
	if !slices.Equal(f.actions, []string{"contain", "lift_containment", "contain"}) {
		t.Errorf("action names: %v", f.actions)
	}
	for _, b := range f.posts {
		if ids, _ := b["ids"].([]any); len(b) != 1 || len(ids) != 1 || ids[0] != aid {
			t.Errorf("request body %v, want exactly {\"ids\": [%q]}", b, aid)
		}
	}
}

func TestContainmentJoinsAndResumes(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newClient(t, f)
	// Someone else asked: the host is on its way; AIR joins, asks nothing.
	f.hosts[aid].Status = falcon.ContainmentPending
	if got := run(c, req("device.isolate", "device:"+aid, `{}`), ""); !strings.HasPrefix(got, "false ws-001 ("+aid+") is contained, already containment_pending: joined") {
		t.Errorf("pending: got %q", got)
	}
	// A retry of an attempt that asked before it crashed: its own pending state.
	f.hosts[aid].Status, f.reads[aid] = falcon.LiftContainmentPending, 0
	if got := run(c, req("device.release", "device:"+aid, `{}`), aid); !strings.HasPrefix(got, "true ws-001 ("+aid+") is normal, asked by this action before a retry") {
		t.Errorf("resume: got %q", got)
	}
	// A race: normal at the pre-check, pending by the POST (409): joined.
	f.inject = func(r *http.Request) (int, http.Header, string) {
		if r.Method == http.MethodPost {
			f.hosts[aid].Status, f.reads[aid] = falcon.ContainmentPending, 0
			f.inject = nil
		}
		return 0, nil, ""
	}
	got := run(c, req("device.isolate", "device:"+aid, `{}`), "")
	if !strings.HasPrefix(got, "false ws-001 ("+aid+") is contained, already containment_pending (Falcon answered: Device is already containment_pending): joined") {
		t.Errorf("409: got %q", got)
	}
	if len(f.posts) != 1 {
		t.Errorf("POSTs: %d, want 1 (the raced one)", len(f.posts))
	}
	// The opposite action pending: no POST now, a retry later.
	f.hosts[other].Status = falcon.LiftContainmentPending
	f.settle = 1 << 30
	if got := run(c, req("device.isolate", "device:"+other, `{}`), ""); !strings.HasPrefix(got, "retry: falcon host ws-001 ("+other+") is lift_containment_pending") {
		t.Errorf("opposite pending: got %q", got)
	}
	// A host that stays pending: the attempt ends retryable, the next resumes.
	f.hosts[other].Status = falcon.Normal
	c.PollTimeout = 20 * time.Millisecond
	if got := run(c, req("device.isolate", "device:"+other, `{}`), ""); !strings.HasPrefix(got, "retry: falcon host ws-001 ("+other+") still containment_pending after 20ms") {
		t.Errorf("still pending: got %q", got)
	}
	if got := run(c, req("device.isolate", "device:"+other, `{}`), other); !strings.HasPrefix(got, "retry: falcon host ws-001 ("+other+") still containment_pending") || len(f.posts) != 2 {
		t.Errorf("resumed wait: got %q after %d POSTs, want no second POST", got, len(f.posts))
	}
}

func TestFalconAnswers(t *testing.T) {
	t.Parallel()
	epoch := strconv.FormatInt(time.Now().Add(7*time.Second).Unix(), 10)
	tests := []struct {
		name   string
		inject func(r *http.Request) (int, http.Header, string)
		want   string
	}{
		{"403 missing scope", func(*http.Request) (int, http.Header, string) {
			return 403, nil, `{"meta":{},"resources":[],"errors":[{"code":403,"message":"access denied, scope not permitted"}]}`
		}, "fail forbidden: falcon GET /devices/entities/devices/v2?ids=" + aid + ": HTTP 403: access denied, scope not permitted"},
		{"429 with the vendor's retry instant", func(*http.Request) (int, http.Header, string) {
			return 429, http.Header{"X-Ratelimit-Retryafter": {epoch}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Limit": {"6000"}},
				`{"meta":{},"resources":[],"errors":[{"code":429,"message":"API rate limit exceeded."}]}`
		}, "retry after "},
		{"500", func(*http.Request) (int, http.Header, string) {
			return 500, nil, `{"meta":{},"resources":[],"errors":[{"code":500,"message":"internal error, trace t-9"}]}`
		}, "retry: falcon GET /devices/entities/devices/v2?ids=" + aid + ": HTTP 500: internal error, trace t-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.inject = tt.inject
			got := run(newClient(t, f), req("device.isolate", "device:"+aid, `{}`), "")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if len(f.posts) != 0 {
				t.Errorf("a failed pre-check still POSTed")
			}
		})
	}
	// 401 (an expired token): one new token, the call goes through.
	f := newFake()
	c := newClient(t, f)
	run(c, req("device.isolate", "device:"+aid, `{}`), "")
	f.revoked = true
	if got := run(c, req("device.release", "device:"+aid, `{}`), ""); !strings.HasPrefix(got, "true") || f.tokens != 2 {
		t.Errorf("after 401: got %q with %d tokens, want success with 2", got, f.tokens)
	}
	// A wrong secret: forbidden, with what Falcon said, without the secret.
	c.API.Token = &rest.ClientCredentials{TokenURL: c.API.BaseURL + "/oauth2/token", ClientID: "falcon-app", Secret: rest.NewSecret("nope")}
	got := run(c, req("device.release", "device:"+aid, `{}`), "")
	if !strings.HasPrefix(got, "fail forbidden") || !strings.Contains(got, "access denied, invalid client") || strings.Contains(got, "nope") {
		t.Errorf("wrong secret: got %q", got)
	}
}
