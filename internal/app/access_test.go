package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/policy"
)

// devService runs the service as `worker -dev` does, in a temporary
// directory, and returns a client holding its admin token.
func devService(t *testing.T, cfg Config) (apiClient, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	log := logrus.New()
	log.SetOutput(io.Discard)
	urls := make(chan string, 1)
	done := make(chan error, 1)
	cfg.Dev, cfg.DataDir, cfg.HTTPAddr = true, dir, "127.0.0.1:0"
	if cfg.TemporalPort == 0 {
		cfg.TemporalPort = nativestack.FreePort(t)
	}
	if cfg.PlaybookDir == "" {
		cfg.PlaybookDir = "../../playbooks"
	}
	cfg.Log, cfg.Out = log, io.Discard
	cfg.Listening = func(u string) { urls <- u }
	go func() { done <- Run(ctx, cfg) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("service did not start within 2 minutes")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return apiClient{base: base, token: adminToken(t, dir)}, dir
}

// deviceAlert is the sample alert re-keyed to its own device, keeping only
// the device evidence so that each one opens an incident of its own.
func deviceAlert(t *testing.T, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	a["id"] = fmt.Sprintf("access-%d", n)
	a["providerAlertId"] = a["id"]
	// Days apart, so that no correlation rule puts two of them in one
	// incident: each test needs incidents of their own.
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * 72 * time.Hour).Format(time.RFC3339)
	for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
		a[k] = at
	}
	dev := a["evidence"].([]any)[0].(map[string]any)
	dev["mdeDeviceId"] = fmt.Sprintf("access-device-%d", n)
	dev["deviceDnsName"] = fmt.Sprintf("ws-%03d.corp.example", n)
	dev["hostName"] = fmt.Sprintf("WS-%03d", n)
	dev["ipInterfaces"] = []string{}
	dev["loggedOnUsers"] = []any{}
	delete(dev, "lastIpAddress")
	a["evidence"] = []any{dev}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pendingActions ingests n alerts and waits for the n pending isolations
// they lead to, in the order of the alerts.
func pendingActions(t *testing.T, c apiClient, n int) []domain.Action {
	t.Helper()
	incidents := make([]int64, n)
	for i := range n {
		var ing api.IngestResponse
		if code := c.do(t, "POST", "/api/v1/alerts", deviceAlert(t, i), &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest %d: HTTP %d %+v", i, code, ing)
		}
		incidents[i] = ing.Results[0].IncidentID
	}
	return waitFor(t, fmt.Sprintf("%d pending actions", n), func() ([]domain.Action, bool) {
		var page struct{ Value []domain.Action }
		c.do(t, "GET", "/api/v1/actions?view=pending&limit=1000", nil, &page)
		byIncident := map[int64]domain.Action{}
		for _, a := range page.Value {
			byIncident[a.IncidentID] = a
		}
		out := make([]domain.Action, n)
		for i, inc := range incidents {
			a, ok := byIncident[inc]
			if !ok {
				return nil, false
			}
			out[i] = a
		}
		return out, true
	})
}

// TestEveryEndpointWithEveryRole calls every route of the API with no
// token and with a token of each role (and a responder scoped to a device
// group the incidents are not in) on the real service, and checks each
// answer.
func TestEveryEndpointWithEveryRole(t *testing.T) {
	admin, _ := devService(t, Config{Automation: policy.Settings{FourEyes: true}})
	roles := []string{"none", "viewer", "analyst", "responder", "admin", "scoped"}
	clients := map[string]apiClient{"none": {base: admin.base}, "admin": admin}
	for _, who := range roles[1:] {
		if who == "admin" {
			continue
		}
		body := fmt.Sprintf(`{"role":%q,"name":%q}`, who, who)
		if who == "scoped" {
			body = `{"role":"responder","name":"scoped","groups":["Servers"]}`
		}
		var c auth.Created
		if code := admin.do(t, "POST", "/api/v1/tokens", []byte(body), &c); code != http.StatusCreated {
			t.Fatalf("create %s token: HTTP %d", who, code)
		}
		clients[who] = apiClient{base: admin.base, token: c.Secret}
	}
	// Pending isolations, each for one allowed caller of a deciding route
	// (the sample's device is in Workstations, outside "scoped"'s scope).
	acts := pendingActions(t, admin, 9)
	forRole := map[string]map[string]string{
		"approve": {"responder": acts[0].ID, "admin": acts[1].ID},
		"reject":  {"responder": acts[2].ID, "admin": acts[3].ID},
		"bulk":    {"responder": acts[4].ID, "admin": acts[5].ID},
	}
	victim := func(route, who string) string {
		if id, ok := forRole[route][who]; ok {
			return id
		}
		return acts[6].ID // callers refused before the workflow, or out of scope
	}
	var d api.IncidentDetail
	admin.do(t, "GET", "/api/v1/incidents/"+itoa(acts[7].IncidentID), nil, &d)
	var deviceKey domain.EntityKey
	for _, e := range d.Entities {
		if e.Kind == domain.KindDevice {
			deviceKey = e.Key
		}
	}
	spare := map[string]string{} // a token for each admin-ish caller to revoke
	for _, who := range roles {
		var c auth.Created
		admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"viewer","name":"spare-`+who+`"}`), &c)
		spare[who] = c.Token.ID
	}

	type req struct{ path, body string }
	allowed := func(min string, code int) map[string]int {
		want := map[string]int{"none": 401}
		rank := map[string]int{"viewer": 0, "analyst": 1, "responder": 2, "admin": 3, "scoped": 2}
		need := rank[min]
		for _, who := range roles[1:] {
			if rank[who] >= need {
				want[who] = code
			} else {
				want[who] = 403
			}
		}
		return want
	}
	with := func(m map[string]int, who string, code int) map[string]int { m[who] = code; return m }
	open := map[string]int{"none": 200, "viewer": 200, "analyst": 200, "responder": 200, "admin": 200, "scoped": 200}
	inc := itoa(acts[7].IncidentID)
	table := map[string]struct {
		req  func(who string) req
		want map[string]int
	}{
		"GET /healthz":          {func(string) req { return req{"/healthz", ""} }, open},
		"GET /readyz":           {func(string) req { return req{"/readyz", ""} }, open},
		"GET /api/v1/me":        {func(string) req { return req{"/api/v1/me", ""} }, allowed("viewer", 200)},
		"POST /api/v1/alerts":   {func(string) req { return req{"/api/v1/alerts", string(deviceAlert(t, 0))} }, with(allowed("analyst", 200), "scoped", 403)},
		"GET /api/v1/incidents": {func(string) req { return req{"/api/v1/incidents", ""} }, allowed("viewer", 200)},
		"GET /api/v1/incidents/{id}": {func(string) req { return req{"/api/v1/incidents/" + inc, ""} },
			with(allowed("viewer", 200), "scoped", 404)},
		"GET /api/v1/openapi.yaml": {func(string) req { return req{"/api/v1/openapi.yaml", ""} }, allowed("viewer", 200)},
		"GET /api/v1/incidents/{id}/review": {func(string) req { return req{"/api/v1/incidents/" + inc + "/review", ""} },
			with(allowed("viewer", 409), "scoped", 404)}, // open: no review yet
		"GET /api/v1/metrics/summary": {func(string) req { return req{"/api/v1/metrics/summary?range=7d", ""} },
			with(allowed("viewer", 200), "scoped", 403)},
		"GET /metrics": {func(string) req { return req{"/metrics", ""} },
			with(allowed("viewer", 200), "scoped", 403)},
		"GET /api/v1/incidents/export": {func(string) req { return req{"/api/v1/incidents/export?status=all&range=all", ""} }, allowed("viewer", 200)},
		"PATCH /api/v1/incidents/{id}": {func(string) req { return req{"/api/v1/incidents/" + inc, `{"addTags":["matrix"]}`} },
			with(allowed("analyst", 200), "scoped", 404)},
		"POST /api/v1/incidents/{id}/comments": {func(string) req { return req{"/api/v1/incidents/" + inc + "/comments", `{"comment":"matrix"}`} },
			with(allowed("analyst", 201), "scoped", 404)},
		"POST /api/v1/incidents/bulk": {func(string) req {
			return req{"/api/v1/incidents/bulk", `{"ids":[` + inc + `],"change":{"comment":"bulk"}}`}
		},
			with(allowed("analyst", 200), "scoped", 207)}, // scoped: the one incident is out of scope, reported per id
		"GET /api/v1/actions": {func(string) req { return req{"/api/v1/actions?view=pending&type=device.isolate", ""} }, allowed("viewer", 200)},
		"GET /api/v1/actions/{id}": {func(string) req { return req{"/api/v1/actions/" + acts[6].ID, ""} },
			with(allowed("viewer", 200), "scoped", 404)},
		"POST /api/v1/actions/{id}/approve": {func(who string) req {
			return req{"/api/v1/actions/" + victim("approve", who) + "/approve", `{"comment":"matrix"}`}
		}, with(allowed("responder", 200), "scoped", 404)},
		"POST /api/v1/actions/{id}/reject": {func(who string) req {
			return req{"/api/v1/actions/" + victim("reject", who) + "/reject", `{"comment":"matrix"}`}
		}, with(allowed("responder", 200), "scoped", 404)},
		"POST /api/v1/actions/{id}/undo": {func(string) req { return req{"/api/v1/actions/" + acts[6].ID + "/undo", ""} },
			with(allowed("responder", 409), "scoped", 404)}, // pending: nothing to undo yet
		"POST /api/v1/actions/decide": {func(who string) req {
			return req{"/api/v1/actions/decide", fmt.Sprintf(`{"ids":[%q],"decision":"approve"}`, victim("bulk", who))}
		}, with(allowed("responder", 200), "scoped", 404)},
		"POST /api/v1/incidents/{id}/actions": {func(string) req {
			return req{"/api/v1/incidents/" + inc + "/actions", fmt.Sprintf(`{"type":"device.run_av_scan","target":%q}`, deviceKey)}
		}, with(allowed("responder", 201), "scoped", 404)},
		"POST /api/v1/incidents/{id}/stop": {func(string) req { return req{"/api/v1/incidents/" + inc + "/stop", `{"reason":" "}`} },
			with(allowed("responder", 400), "scoped", 404)}, // refused for its blank reason: the role and scope checks passed
		"POST /api/v1/incidents/{id}/verdicts": {func(string) req {
			return req{"/api/v1/incidents/" + inc + "/verdicts", fmt.Sprintf(`{"entity":%q,"verdict":"suspicious","reason":"matrix"}`, deviceKey)}
		}, with(allowed("analyst", 200), "scoped", 404)},
		"GET /api/v1/questions": {func(string) req { return req{"/api/v1/questions?status=all", ""} }, allowed("viewer", 200)},
		"GET /api/v1/questions/{id}": {func(string) req { return req{"/api/v1/questions/no-such-question", ""} },
			allowed("viewer", 404)}, // unknown: the role check passed
		"POST /api/v1/questions/{id}/answer": {func(string) req { return req{"/api/v1/questions/no-such-question/answer", `{"answer":"yes"}`} },
			allowed("analyst", 404)}, // unknown: the role check passed
		"GET /debug/pprof/{profile...}": {func(string) req { return req{"/debug/pprof/heap?debug=1", ""} }, allowed("admin", 200)},
		"GET /api/v1/alerts/export": {func(string) req { return req{"/api/v1/alerts/export", ""} },
			with(allowed("viewer", 200), "scoped", 403)},
		"POST /api/v1/alerts/{id}/move": {func(string) req { return req{"/api/v1/alerts/access-0/move", `{"incidentId":-1}`} },
			allowed("analyst", 400)}, // refused for its body: the route's role check passed
		"PATCH /api/v1/alerts/{id}": {func(string) req { return req{"/api/v1/alerts/access-0", `{"status":"closed"}`} },
			allowed("analyst", 400)}, // refused for its body: the route's role check passed
		"GET /api/v1/incidents/{id}/correlation": {func(string) req { return req{"/api/v1/incidents/" + inc + "/correlation", ""} },
			with(allowed("viewer", 200), "scoped", 404)},
		"GET /api/v1/settings/automation": {func(string) req { return req{"/api/v1/settings/automation", ""} }, allowed("viewer", 200)},
		"GET /api/v1/settings/sla":        {func(string) req { return req{"/api/v1/settings/sla", ""} }, allowed("viewer", 200)},
		"PUT /api/v1/settings/sla": {func(string) req { return req{"/api/v1/settings/sla", `{"acknowledge":{"high":"30m"}}`} },
			allowed("admin", 200)},
		// Scoped callers get their groups' figures: 200 too.
		"GET /api/v1/reports/daily":     {func(string) req { return req{"/api/v1/reports/daily", ""} }, allowed("viewer", 200)},
		"GET /api/v1/reports/monthly":   {func(string) req { return req{"/api/v1/reports/monthly", ""} }, allowed("viewer", 200)},
		"GET /api/v1/reports/quarterly": {func(string) req { return req{"/api/v1/reports/quarterly?quarter=2026-Q1", ""} }, allowed("viewer", 200)},
		"GET /api/v1/reports/schedules": {func(string) req { return req{"/api/v1/reports/schedules", ""} }, allowed("viewer", 200)},
		"POST /api/v1/reports/schedules": {func(string) req {
			return req{"/api/v1/reports/schedules", `{"kind":"monthly","calendar":{"dayOfMonth":"1","hour":"7"}}`}
		},
			allowed("admin", 201)},
		"GET /api/v1/reports/schedules/{id}": {func(string) req { return req{"/api/v1/reports/schedules/no-such-schedule", ""} },
			allowed("viewer", 404)}, // unknown: the role check passed
		"PATCH /api/v1/reports/schedules/{id}": {func(string) req {
			return req{"/api/v1/reports/schedules/no-such-schedule", `{"timeZone":"Europe/Berlin"}`}
		},
			allowed("admin", 404)},
		"DELETE /api/v1/reports/schedules/{id}": {func(string) req { return req{"/api/v1/reports/schedules/no-such-schedule", ""} },
			allowed("admin", 404)},
		"POST /api/v1/reports/schedules/{id}/run": {func(string) req { return req{"/api/v1/reports/schedules/no-such-schedule/run", ""} },
			allowed("admin", 404)},
		// A kept report covers every device group: scoped callers are refused.
		"GET /api/v1/reports/runs": {func(string) req { return req{"/api/v1/reports/runs", ""} }, with(allowed("viewer", 200), "scoped", 403)},
		"POST /api/v1/reports/runs": {func(string) req { return req{"/api/v1/reports/runs", `{"kind":"daily"}`} },
			allowed("admin", 201)},
		"GET /api/v1/reports/runs/{id}": {func(string) req { return req{"/api/v1/reports/runs/999999", ""} },
			with(allowed("viewer", 404), "scoped", 403)},
		// An exercise spans every device group: scoped callers are refused.
		"GET /api/v1/exercises": {func(string) req { return req{"/api/v1/exercises", ""} }, with(allowed("viewer", 200), "scoped", 403)},
		"POST /api/v1/exercises": {func(who string) req { return req{"/api/v1/exercises", `{"name":"drill-` + who + `","speed":60}`} },
			allowed("admin", 201)},
		"GET /api/v1/exercises/{id}": {func(string) req { return req{"/api/v1/exercises/999999", ""} },
			with(allowed("viewer", 404), "scoped", 403)},
		"GET /api/v1/exercises/{id}/score": {func(string) req { return req{"/api/v1/exercises/999999/score", ""} },
			with(allowed("viewer", 404), "scoped", 403)},
		"POST /api/v1/exercises/{id}/alerts": {func(string) req {
			return req{"/api/v1/exercises/999999/alerts", `{"alerts":[{"label":"attack","phase":"x","alert":{"id":"a"}}]}`}
		}, allowed("admin", 404)},
		"POST /api/v1/exercises/{id}/finish": {func(string) req { return req{"/api/v1/exercises/999999/finish", ""} },
			allowed("admin", 404)},
		"PUT /api/v1/settings/automation": {func(string) req { return req{"/api/v1/settings/automation", `{"default":"semi-all","fourEyes":true}`} },
			allowed("admin", 200)},
		"GET /api/v1/entities/{key}": {func(string) req { return req{"/api/v1/entities/" + string(deviceKey), ""} },
			with(allowed("viewer", 200), "scoped", 404)}, // scoped: the device is in Workstations
		"PUT /api/v1/entities/{key}/tags": {func(string) req { return req{"/api/v1/entities/device:lab-1/tags", `{"tags":["lab"]}`} },
			allowed("admin", 200)},
		"POST /api/v1/playbooks/plan": {func(string) req { return req{"/api/v1/playbooks/plan", `{"incidentId":` + inc + `}`} },
			with(allowed("viewer", 200), "scoped", 404)},
		"POST /api/v1/playbooks/backtest": {func(string) req {
			return req{"/api/v1/playbooks/backtest", `{"playbooks":[{"file":"x.yaml","source":"name: x\nversion: 1\nstages:\n  triage:\n    - {id: tag, action: incident.tag, with: {tags: [x]}}\n"}],"limit":5}`}
		}, allowed("viewer", 200)},
		"GET /api/v1/playbooks/{name}/inputs": {func(string) req { return req{"/api/v1/playbooks/device-compromise/inputs", ""} },
			allowed("viewer", 200)},
		"PUT /api/v1/playbooks/{name}/inputs": {func(string) req {
			return req{"/api/v1/playbooks/device-compromise/inputs", `{"inputs":{"containHosts":true}}`}
		}, allowed("admin", 200)},
		"GET /api/v1/sources": {func(string) req { return req{"/api/v1/sources", ""} }, with(allowed("viewer", 200), "scoped", 403)},
		// Open (its HMAC signature is the credential); no webhook source here.
		"POST /api/v1/sources/{name}/alerts": {func(string) req { return req{"/api/v1/sources/siem/alerts", `{}`} },
			map[string]int{"none": 404, "viewer": 404, "analyst": 404, "responder": 404, "admin": 404, "scoped": 404}},
		"GET /api/v1/intel/feeds": {func(string) req { return req{"/api/v1/intel/feeds", ""} }, allowed("viewer", 200)},
		"POST /api/v1/intel/feeds": {func(string) req { return req{"/api/v1/intel/feeds?name=matrix&format=list", "198.51.100.7\n"} },
			with(allowed("admin", 200), "scoped", 403)},
		"DELETE /api/v1/intel/feeds/{name}": {func(string) req { return req{"/api/v1/intel/feeds/no-such-feed", ""} },
			with(allowed("admin", 404), "scoped", 403)}, // refused for the unknown feed: the role check passed
		"GET /api/v1/intel/lookup": {func(string) req { return req{"/api/v1/intel/lookup?kind=ip&value=198.51.100.7", ""} }, allowed("viewer", 200)},
		"GET /api/v1/prevalence": {func(string) req { return req{"/api/v1/prevalence?kind=ip&value=198.51.100.7", ""} },
			with(allowed("viewer", 200), "scoped", 403)},
		"GET /api/v1/incidents/{id}/facts": {func(string) req { return req{"/api/v1/incidents/" + inc + "/facts", ""} },
			with(allowed("viewer", 200), "scoped", 404)},
		"GET /api/v1/audit":         {func(string) req { return req{"/api/v1/audit?verb=action.&limit=5", ""} }, allowed("admin", 200)},
		"GET /api/v1/tokens":        {func(string) req { return req{"/api/v1/tokens", ""} }, allowed("admin", 200)},
		"GET /api/v1/notifications": {func(string) req { return req{"/api/v1/notifications?status=failed", ""} }, allowed("admin", 200)},
		"POST /api/v1/notifications/test": {func(string) req { return req{"/api/v1/notifications/test", `{"channel":"soc-mail"}`} },
			allowed("admin", 400)}, // refused: this worker has no notification channels; the role check passed
		"POST /api/v1/tokens": {func(string) req { return req{"/api/v1/tokens", `{"role":"viewer"}`} },
			with(allowed("admin", 201), "scoped", 403)},
		"DELETE /api/v1/tokens/{id}": {func(who string) req { return req{"/api/v1/tokens/" + spare[who], ""} },
			with(allowed("admin", 200), "scoped", 403)},
	}
	for _, rt := range (&api.Server{}).Routes() {
		tc, ok := table[rt.Pattern]
		if !ok {
			t.Errorf("route %s is not in the access table", rt.Pattern)
			continue
		}
		method, _, _ := strings.Cut(rt.Pattern, " ")
		for _, who := range roles {
			r := tc.req(who)
			var body []byte
			if r.body != "" {
				body = []byte(r.body)
			}
			var got json.RawMessage
			code := clients[who].doRaw(t, method, r.path, body, &got)
			if code != tc.want[who] {
				t.Errorf("%s as %s: HTTP %d, want %d: %.300s", rt.Pattern, who, code, tc.want[who], got)
			}
		}
		delete(table, rt.Pattern)
	}
	for pattern := range table {
		t.Errorf("the access table names %s, which is no route", pattern)
	}

	// Decisions carry the principal's name.
	var a domain.Action
	admin.do(t, "GET", "/api/v1/actions/"+acts[0].ID, nil, &a)
	if a.DecidedBy != "responder" || a.DecisionComment != "matrix" {
		t.Errorf("approved by the responder token: decidedBy %q, comment %q", a.DecidedBy, a.DecisionComment)
	}

	t.Run("concurrent approve and reject: exactly one wins", func(t *testing.T) {
		id := acts[8].ID
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, verb := range []string{"approve", "reject"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out json.RawMessage
				codes[i] = clients["responder"].doRaw(t, "POST", "/api/v1/actions/"+id+"/"+verb, nil, &out)
			}()
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
			t.Errorf("approve and reject at once: HTTP %v, want one 200 and one 409", codes)
		}
	})

	t.Run("four-eyes: the requester cannot approve", func(t *testing.T) {
		var manual domain.Action
		if code := clients["responder"].do(t, "POST", "/api/v1/incidents/"+inc+"/actions",
			[]byte(fmt.Sprintf(`{"type":"device.isolate","target":%q,"params":{"isolationType":"Selective"}}`, deviceKey)), &manual); code != http.StatusCreated {
			t.Fatalf("manual request: HTTP %d %+v", code, manual)
		}
		var e struct{ Error api.ErrorDetail }
		if code := clients["responder"].do(t, "POST", "/api/v1/actions/"+manual.ID+"/approve", nil, &e); code != http.StatusForbidden ||
			!strings.Contains(e.Error.Message, "four-eyes") {
			t.Errorf("requester approving: HTTP %d %+v, want 403 naming four-eyes", code, e)
		}
		if code := admin.do(t, "POST", "/api/v1/actions/"+manual.ID+"/approve", nil, &e); code != http.StatusOK {
			t.Errorf("another responder approving: HTTP %d %+v", code, e)
		}
	})

	t.Run("manual actions: only the incident's entities", func(t *testing.T) {
		var ing api.IngestResponse // another incident, on a device of its own
		if code := admin.do(t, "POST", "/api/v1/alerts", deviceAlert(t, 20), &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest: HTTP %d %+v", code, ing)
		}
		var od api.IncidentDetail
		admin.do(t, "GET", "/api/v1/incidents/"+itoa(ing.Results[0].IncidentID), nil, &od)
		var otherKey domain.EntityKey
		for _, e := range od.Entities {
			if e.Kind == domain.KindDevice {
				otherKey = e.Key
			}
		}
		var e struct{ Error api.ErrorDetail }
		if code := clients["responder"].do(t, "POST", "/api/v1/incidents/"+inc+"/actions",
			[]byte(fmt.Sprintf(`{"type":"device.run_av_scan","target":%q}`, otherKey)), &e); code != http.StatusBadRequest ||
			e.Error.Field != "target" || !strings.Contains(e.Error.Message, "not one of incident") {
			t.Errorf("target of another incident: HTTP %d %+v, want 400 naming target", code, e)
		}
	})

	t.Run("audit log holds every decision", func(t *testing.T) {
		var page struct {
			Value []struct{ Actor, Verb, Object, Before, After string }
		}
		admin.do(t, "GET", "/api/v1/audit?verb=action.status&limit=1000", nil, &page)
		seen := map[string]bool{}
		for _, e := range page.Value {
			if e.Before == "pending" {
				seen[e.Object+" by "+e.Actor] = true
			}
		}
		for _, want := range []string{"action:" + acts[0].ID + " by responder", "action:" + acts[3].ID + " by admin"} {
			if !seen[want] {
				t.Errorf("audit lacks the decision on %s", want)
			}
		}
	})
}

// doRaw is do for answers that may not be JSON (the probes).
func (c apiClient) doRaw(t *testing.T, method, path string, body []byte, out *json.RawMessage) int {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	*out = data
	return resp.StatusCode
}
