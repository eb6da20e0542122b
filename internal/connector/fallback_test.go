package connector_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// defender answers as Defender for Endpoint does for a few machines: one
// it knows, one it does not (404 ResourceNotFound), one the app may not
// touch (403), one whose service fails (500) and one that never answers in
// time; it also answers as the identity platform, and as a webhook
// receiver that counts deliveries by idempotency key.
type defender struct {
	mu    sync.Mutex
	posts map[string]int // machine → isolate POSTs
	hooks map[string]int // Idempotency-Key → deliveries
}

const (
	known     = "1111111111111111111111111111111111111111"
	unknown   = "2222222222222222222222222222222222222222"
	forbidden = "3333333333333333333333333333333333333333"
	broken    = "4444444444444444444444444444444444444444"
	slow      = "5555555555555555555555555555555555555555"
)

func (d *defender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/hook" {
		d.mu.Lock()
		d.hooks[r.Header.Get("Idempotency-Key")]++
		d.mu.Unlock()
		fmt.Fprint(w, `{"summary":"isolated by the EDR team's SOAR"}`)
		return
	}
	if strings.HasSuffix(p, "/oauth2/v2.0/token") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, accessToken)
		return
	}
	switch {
	case p == "/api/machineactions" && r.Method == http.MethodGet:
		fmt.Fprint(w, `{"value":[]}`)
	case strings.HasPrefix(p, "/api/machines/") && r.Method == http.MethodPost:
		id := strings.Split(strings.TrimPrefix(p, "/api/machines/"), "/")[0]
		d.mu.Lock()
		d.posts[id]++
		d.mu.Unlock()
		switch id {
		case known:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"ma-1","type":"Isolate","status":"Pending","machineId":"`+known+`"}`)
		case unknown:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"ResourceNotFound","message":"Machine `+unknown+` was not found"}}`)
		case forbidden:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"Forbidden","message":"Missing application roles: Machine.Isolate"}}`)
		case broken:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"code":"InternalServerError","message":"Something went wrong"}}`)
		case slow:
			time.Sleep(300 * time.Millisecond) // past the client's timeout
			w.WriteHeader(http.StatusCreated)
		}
	case strings.HasPrefix(p, "/api/machineactions/"):
		fmt.Fprint(w, `{"id":"ma-1","type":"Isolate","status":"Succeeded","machineId":"`+known+`"}`)
	default:
		http.NotFound(w, r)
	}
}

func newDefender(t *testing.T) (*defender, *connector.Router) {
	t.Helper()
	d := &defender{posts: map[string]int{}, hooks: map[string]int{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	cfg := connector.Config{
		MDE: &connector.MDESettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "mde-app",
			ClientSecretEnv: "AIR_MDE", Authority: srv.URL}, BaseURL: srv.URL, PollInterval: time.Millisecond, Timeout: 100 * time.Millisecond},
		Webhooks: map[string]connector.WebhookSettings{"soar": {URL: srv.URL + "/hook", SecretEnv: "AIR_HOOK", Attempts: 1}},
	}
	r, err := connector.NewRouter(context.Background(), cfg, connector.Deps{Store: openStore(t),
		Env: env(map[string]string{"AIR_MDE": mdeSecret, "AIR_HOOK": hookSecret})})
	if err != nil {
		t.Fatal(err)
	}
	return d, r
}

// TestFallbackOnlyWhenTheConnectorDidNotAct runs isolations whose step says
// connectors: [mde, soar] through the real activity: Defender for Endpoint
// carries out what it can; a machine it does not know (404) or may not
// touch (403) goes to the webhook, and the result says why; a 5xx or a
// timeout might hide an isolation, so the attempt fails (and is retried)
// and the webhook is never called — a remediation never runs twice.
func TestFallbackOnlyWhenTheConnectorDidNotAct(t *testing.T) {
	t.Parallel()
	tests := []struct {
		machine   string
		outcome   string // connectortest.Outcome
		connector string // who carried it
		note      string // in the result's Skipped, or the error
		hooks     int    // webhook deliveries
	}{
		{known, "ok", "mde", "", 0},
		{unknown, "ok", "soar", "mde: ", 1},
		{forbidden, "ok", "soar", "Missing application roles", 1},
		{broken, "retry", "", "", 0},
		{slow, "retry", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.machine[:4], func(t *testing.T) {
			t.Parallel()
			d, r := newDefender(t)
			req := remediation.Request{ActionID: "a1", IncidentID: 7, Type: "device.isolate", Target: domain.EntityKey("device:" + tt.machine),
				TargetName: "ws-9", Params: []byte(`{}`), IdempotencyKey: "incident-7/contain/isolate/device:" + tt.machine,
				Connectors: []string{"mde", "soar"}}
			res, err := connectortest.Run(r, req, "", nil)
			if got := connectortest.Outcome(err); got != tt.outcome {
				t.Fatalf("outcome %q (%v), want %q", got, err, tt.outcome)
			}
			if res.Connector != tt.connector {
				t.Errorf("carried by %q, want %q", res.Connector, tt.connector)
			}
			if note := strings.Join(res.Skipped, "; "); tt.note != "" && !strings.Contains(note, tt.note) {
				t.Errorf("skipped %q, want it to say %q", note, tt.note)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if got := d.hooks[req.IdempotencyKey]; got != tt.hooks {
				t.Errorf("webhook deliveries %d, want %d", got, tt.hooks)
			}
			if d.posts[tt.machine] != 1 {
				t.Errorf("Defender for Endpoint asked %d times, want once", d.posts[tt.machine])
			}
		})
	}
}

// TestFallbackChoosesConfiguredConnectors: a connector kind the tenant does
// not configure is passed over, named connectors and kinds resolve to the
// configured ones, the last connector's answer stands when none acts, and
// the error keeps its kind with the notes of what was passed over.
func TestFallbackChoosesConfiguredConnectors(t *testing.T) {
	t.Parallel()
	d, r := newDefender(t)
	run := func(target string, conns ...string) (remediation.Result, error) {
		return r.Execute(context.Background(), remediation.Request{ActionID: "a", IncidentID: 7, Type: "device.isolate",
			Target: domain.EntityKey("device:" + target), Params: []byte(`{}`), IdempotencyKey: "k/" + target + strings.Join(conns, ","),
			Connectors: conns})
	}
	// graph is not configured; webhook (the kind) is the one webhook, soar.
	res, err := run(unknown, "graph", "mde", "webhook")
	if err != nil || res.Connector != "soar" || len(res.Skipped) != 2 || res.Skipped[0] != "graph: not configured" {
		t.Errorf("graph, mde, webhook: %+v, %v", res, err)
	}
	// No connector acts: the last answer's kind stands, with the notes.
	_, err = run(unknown, "mde")
	if domain.KindOf(err) != domain.KindNotFound || !strings.Contains(err.Error(), "no connector of mde carried out device.isolate") {
		t.Errorf("mde alone on an unknown machine: %v, want not_found", err)
	}
	// Nothing configured that can: invalid, naming why.
	_, err = run(known, "nosuch", "graph")
	if domain.KindOf(err) != domain.KindInvalid || !strings.Contains(err.Error(), "nosuch: no connector of that name is configured") {
		t.Errorf("nothing that can: %v", err)
	}
	// A 5xx keeps its retryable nature through the notes.
	_, err = run(broken, "graph", "mde", "soar")
	if err == nil || domain.KindOf(err) != "" || !strings.Contains(err.Error(), "passed over: graph") {
		t.Errorf("a 5xx after a connector passed over: %v, want a plain (retryable) error with the note", err)
	}
	// Without connectors the routes decide, and the result names the
	// connector.
	res, err = run(known)
	if err != nil || res.Connector != "lab" {
		t.Errorf("routed: %+v, %v", res, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.posts[broken] != 1 {
		t.Errorf("broken machine asked %d times", d.posts[broken])
	}
}

// TestCheckConnectors is the worker's start-up check of the playbooks'
// connectors against the configuration.
func TestCheckConnectors(t *testing.T) {
	t.Parallel()
	_, r := newDefender(t)
	if err := r.CheckConnectors("device.isolate", []string{"mde", "soar", "webhook", "graph", "lab"}); err != nil {
		t.Errorf("kinds and a configured webhook: %v", err)
	}
	err := r.CheckConnectors("device.isolate", []string{"mde", "saor"})
	if err == nil || !strings.Contains(err.Error(), `connector "saor" is neither a connector kind`) {
		t.Errorf("a typo: %v", err)
	}
	two, err := connector.NewRouter(context.Background(), connector.Config{Webhooks: map[string]connector.WebhookSettings{
		"a": {URL: "http://127.0.0.1:1/a", SecretEnv: "S"}, "b": {URL: "http://127.0.0.1:1/b", SecretEnv: "S"}}},
		connector.Deps{Env: env(map[string]string{"S": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := two.CheckConnectors("device.isolate", []string{"webhook"}); err == nil || !strings.Contains(err.Error(), "several webhook connectors are configured (a, b): name one") {
		t.Errorf("an ambiguous kind: %v", err)
	}
}

// TestAIRExecutors: case actions go to AIR's own executor by type whatever
// the routes say; one without an executor fails as not configured, and a
// route cannot send other types to air.
func TestAIRExecutors(t *testing.T) {
	t.Parallel()
	var got []string
	exec := executorFunc(func(_ context.Context, req remediation.Request) (remediation.Result, error) {
		got = append(got, req.Type)
		return remediation.Result{Summary: "done"}, nil
	})
	r, err := connector.NewRouter(context.Background(), connector.Config{Routes: map[string]string{"*": "lab"}},
		connector.Deps{Store: openStore(t), AIR: map[string]remediation.Executor{"incident.set_severity": exec}})
	if err != nil {
		t.Fatal(err)
	}
	params := []byte(`{"severity":"high"}`)
	res, err := r.Execute(context.Background(), remediation.Request{Type: "incident.set_severity", IncidentID: 1, Params: params, IdempotencyKey: "k"})
	if err != nil || res.Connector != "air" || len(got) != 1 {
		t.Errorf("set severity: %+v, %v (executor saw %v)", res, err, got)
	}
	_, err = r.Execute(context.Background(), remediation.Request{Type: "incident.assign", IncidentID: 1,
		Params: []byte(`{"assignedTo":"x"}`), IdempotencyKey: "k2"})
	if err == nil || !strings.Contains(err.Error(), "AIR has no executor for incident.assign") {
		t.Errorf("a case action without executor: %v", err)
	}
	_, err = connector.NewRouter(context.Background(), connector.Config{Routes: map[string]string{"device.*": "air"}}, connector.Deps{})
	if err == nil || !strings.Contains(err.Error(), `connectors.routes["device.*"]: air carries out only the actions on AIR's own incident`) {
		t.Errorf("a route to air: %v", err)
	}
	var inv *domain.Error
	if _, err := r.Execute(context.Background(), remediation.Request{Type: "incident.set_severity", Params: []byte(`{"severity":"huge"}`)}); !errors.As(err, &inv) {
		t.Errorf("bad params reach no executor: %v", err)
	}
}

type executorFunc func(context.Context, remediation.Request) (remediation.Result, error)

func (f executorFunc) Execute(ctx context.Context, req remediation.Request) (remediation.Result, error) {
	return f(ctx, req)
}
