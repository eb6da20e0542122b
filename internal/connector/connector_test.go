package connector_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/connector/exo"
	"github.com/airsoc/air/internal/connector/falcon"
	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/okta"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
)

// env is a fake process environment: variables and files.
func env(vars map[string]string) connector.Env {
	return connector.Env{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(name string) ([]byte, error) {
			if v, ok := vars["file:"+name]; ok {
				return []byte(v), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

// oneLineKey is a PEM private key with its newlines written as \n, as
// one environment variable line holds it.
func oneLineKey(t *testing.T) string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	return strings.ReplaceAll(string(p), "\n", `\n`)
}

var creds = connector.Credentials{TenantID: "contoso", ClientID: "app", ClientSecretEnv: "AIR_SECRET"}

func TestConfigValidationNamesTheSetting(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"AIR_SECRET": "s", "AIR_HOOK": "h", "AIR_OKTA_KEY": oneLineKey(t), "file:/run/secrets/empty": "\n", "file:/run/secrets/graph": "g\n"}
	tests := []struct {
		name string
		cfg  connector.Config
		want []string // each must appear in the error; none means valid
	}{
		{name: "zero value is valid", cfg: connector.Config{}},
		{name: "everything configured", cfg: connector.Config{
			Routes: map[string]string{"device.*": "mde", "file.stop_and_quarantine": "mde", "user.*": "graph",
				"mailbox.remove_inbox_rule": "graph", "email.*": "soar", "*": "lab"},
			MDE:      &connector.MDESettings{Credentials: creds, RateLimit: 50},
			Graph:    &connector.GraphSettings{Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecretFile: "/run/secrets/graph"}},
			Webhooks: map[string]connector.WebhookSettings{"soar": {URL: "https://soar.example/hooks/air", SecretEnv: "AIR_HOOK"}},
		}},
		{name: "exchange online", cfg: connector.Config{
			Routes: map[string]string{"email.block_sender": "exo", "email.unblock_sender": "exo", "mailbox.disable_external_forwarding": "exo"},
			EXO: &connector.EXOSettings{Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecretFile: "/run/secrets/graph"},
				Organization: "contoso.onmicrosoft.com"}}},
		{name: "exchange online without its organization", cfg: connector.Config{
			Routes: map[string]string{"email.*": "exo"},
			EXO:    &connector.EXOSettings{Credentials: creds, BaseURL: "outlook.office365.com", RateLimit: -1}},
			want: []string{"connectors.exo.organization: required (the tenant's initial domain",
				`connectors.exo.baseURL: want an absolute http or https URL, got "outlook.office365.com"`,
				"connectors.exo.rateLimit: the rate limit and timeout must not be negative",
				`connectors.routes["email.*"]: exo (exo) cannot carry out email.move_to_inbox, which only lab, graph, webhook can`}},
		{name: "exchange online route without its section", cfg: connector.Config{Routes: map[string]string{"email.block_sender": "exo"}},
			want: []string{`connectors.routes["email.block_sender"]: connector "exo" is not configured: add a connectors.exo section`}},
		{name: "typo in a connector name", cfg: connector.Config{Routes: map[string]string{"device.isolate": "mdee"}},
			want: []string{`connectors.routes["device.isolate"]: unknown connector "mdee", want one of lab`}},
		{name: "route to an unconfigured vendor", cfg: connector.Config{Routes: map[string]string{"user.disable": "graph"}},
			want: []string{`connectors.routes["user.disable"]: connector "graph" is not configured: add a connectors.graph section`}},
		{name: "unknown action type", cfg: connector.Config{Routes: map[string]string{"device.isolat": "lab", "incident.tag": "lab", "dev.*": "lab"}},
			want: []string{`connectors.routes["device.isolat"]: unknown action type`, `connectors.routes["incident.tag"]: unknown action type`,
				`connectors.routes["dev.*"]: unknown action type`}},
		{name: "a connector that cannot carry the type",
			cfg:  connector.Config{Routes: map[string]string{"*": "mde"}, MDE: &connector.MDESettings{Credentials: creds}},
			want: []string{`connectors.routes["*"]: mde (mde) cannot carry out user.disable, which only lab, graph, okta, webhook can`}},
		{name: "missing credentials", cfg: connector.Config{MDE: &connector.MDESettings{}},
			want: []string{"connectors.mde.tenantId: required", "connectors.mde.clientId: required",
				"connectors.mde.clientSecretEnv: required: name the environment variable"}},
		{name: "secret variable unset", cfg: connector.Config{Graph: &connector.GraphSettings{
			Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecretEnv: "AIR_NOPE"}}},
			want: []string{"connectors.graph.clientSecretEnv: environment variable AIR_NOPE is not set or empty"}},
		{name: "secret file empty or missing", cfg: connector.Config{
			Graph: &connector.GraphSettings{Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecretFile: "/run/secrets/empty"}},
			MDE:   &connector.MDESettings{Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecretFile: "/nope"}}},
			want: []string{"connectors.graph.clientSecretFile: /run/secrets/empty is empty", "connectors.mde.clientSecretFile: open /nope"}},
		{name: "both env and file", cfg: connector.Config{MDE: &connector.MDESettings{Credentials: connector.Credentials{
			TenantID: "t", ClientID: "c", ClientSecretEnv: "AIR_SECRET", ClientSecretFile: "/run/secrets/graph"}}},
			want: []string{"connectors.mde.clientSecretEnv: give clientSecretEnv or clientSecretFile, not both"}},
		{name: "secret in the config text", cfg: connector.Config{
			MDE:      &connector.MDESettings{Credentials: connector.Credentials{TenantID: "t", ClientID: "c", ClientSecret: "oops-leaked"}},
			Webhooks: map[string]connector.WebhookSettings{"soar": {URL: "https://x.example", Secret: "oops-leaked"}}},
			want: []string{"connectors.mde.clientSecret: secrets are not read from the configuration",
				`connectors.webhooks["soar"].secret: secrets are not read from the configuration`}},
		{name: "bad URLs", cfg: connector.Config{
			MDE: &connector.MDESettings{Credentials: creds, BaseURL: "api.security.microsoft.com"},
			Webhooks: map[string]connector.WebhookSettings{
				"plain": {URL: "http://soar.example/hook", SecretEnv: "AIR_HOOK"},
				"local": {URL: "http://127.0.0.1:9000/hook", SecretEnv: "AIR_HOOK"},
				"creds": {URL: "https://u:p@soar.example/", SecretEnv: "AIR_HOOK"},
				"none":  {SecretEnv: "AIR_HOOK"}}},
			want: []string{`connectors.mde.baseURL: want an absolute http or https URL, got "api.security.microsoft.com"`,
				`connectors.webhooks["plain"].url: want https (plain http only to a loopback address)`,
				`connectors.webhooks["creds"].url: credentials in the URL are not allowed`,
				`connectors.webhooks["none"].url: required`}},
		{name: "webhook named like a built-in", cfg: connector.Config{Webhooks: map[string]connector.WebhookSettings{
			"lab": {URL: "https://x.example", SecretEnv: "AIR_HOOK"}, "Bad Name": {URL: "https://x.example", SecretEnv: "AIR_HOOK"}}},
			want: []string{`connectors.webhooks["lab"]: "lab" is a built-in connector's name`,
				`connectors.webhooks["Bad Name"]: a webhook name is lower-case letters`}},
		{name: "poll settings", cfg: connector.Config{MDE: &connector.MDESettings{Credentials: creds,
			PollInterval: time.Minute, PollTimeout: time.Second}},
			want: []string{"connectors.mde.pollInterval: 1m0s must be shorter than pollTimeout 1s"}},
		{name: "lab faults", cfg: connector.Config{Lab: connector.LabSettings{Faults: []labtenant.Fault{
			{Type: "device.isolat", Answer: "throttled"}, {Type: "*", Answer: "sometimes"}}}},
			want: []string{`connectors.lab.faults[0].type: unknown action type "device.isolat"`,
				`connectors.lab.faults[1].answer: unknown answer "sometimes", want one of inProgress, throttled, unavailable`}},
		{name: "falcon and okta configured", cfg: connector.Config{
			Routes: map[string]string{"device.*": "falcon", "device.isolate": "falcon", "device.release": "falcon",
				"device.run_av_scan": "lab", "device.restrict_app_execution": "lab", "device.unrestrict_app_execution": "lab",
				"device.collect_investigation_package": "lab", "file.block": "falcon", "ip.*": "falcon", "user.*": "okta",
				"user.confirm_compromised": "lab", "user.dismiss_risk": "lab"},
			Falcon: &connector.FalconSettings{Cloud: "eu-1", ClientID: "c", ClientSecretEnv: "AIR_SECRET"},
			Okta:   &connector.OktaSettings{OrgURL: "https://contoso.okta.com", APITokenFile: "/run/secrets/graph"}}},
		{name: "falcon settings", cfg: connector.Config{Falcon: &connector.FalconSettings{Cloud: "mars-1", ClientSecret: "oops-leaked",
			Platforms: []string{"windows", "ios"}, PollInterval: time.Minute, PollTimeout: time.Second}},
			want: []string{`connectors.falcon.cloud: unknown cloud "mars-1", want one of eu-1, us-1, us-2, us-gov-1`,
				"connectors.falcon.clientId: required", "connectors.falcon.clientSecret: secrets are not read from the configuration",
				"connectors.falcon.clientSecretEnv: required", `connectors.falcon.platforms[1]: unknown platform "ios"`,
				"connectors.falcon.pollInterval: 1m0s must be shorter than pollTimeout 1s"}},
		{name: "a route to falcon for what it cannot carry", cfg: connector.Config{Routes: map[string]string{"device.*": "falcon"},
			Falcon: &connector.FalconSettings{ClientID: "c", ClientSecretEnv: "AIR_SECRET"}},
			want: []string{`connectors.routes["device.*"]: falcon (falcon) cannot carry out device.run_av_scan, which only lab, mde, webhook can`}},
		{name: "route to unconfigured okta", cfg: connector.Config{Routes: map[string]string{"user.disable": "okta"}},
			want: []string{`connectors.routes["user.disable"]: connector "okta" is not configured: add a connectors.okta section`}},
		{name: "okta settings", cfg: connector.Config{Okta: &connector.OktaSettings{OrgURL: "http://contoso.okta.com", APIToken: "oops-leaked"}},
			want: []string{`connectors.okta.orgURL: want https`, "connectors.okta.apiToken: secrets are not read from the configuration",
				"connectors.okta.apiTokenEnv: required"}},
		{name: "okta: token and app both", cfg: connector.Config{Okta: &connector.OktaSettings{OrgURL: "https://c.okta.com",
			APITokenEnv: "AIR_SECRET", ClientID: "0oa1", PrivateKeyFile: "/run/secrets/graph"}},
			want: []string{"connectors.okta.apiTokenEnv: give an API token or an OAuth 2.0 service app"}},
		{name: "okta: a private key that is none", cfg: connector.Config{Okta: &connector.OktaSettings{OrgURL: "https://c.okta.com",
			ClientID: "0oa1", PrivateKeyFile: "/run/secrets/graph"}},
			want: []string{"connectors.okta.privateKeyFile: no PEM block in the private key"}},
		{name: "okta: a key in one line of the environment", cfg: connector.Config{Okta: &connector.OktaSettings{
			OrgURL: "https://c.okta.com", ClientID: "0oa1", PrivateKeyEnv: "AIR_OKTA_KEY"}}},
		{name: "okta: a key without a client", cfg: connector.Config{Okta: &connector.OktaSettings{OrgURL: "https://c.okta.com",
			PrivateKeyEnv: "AIR_SECRET"}},
			want: []string{"connectors.okta.clientId: required with a private key"}},
		{name: "lab seed file missing", cfg: connector.Config{Lab: connector.LabSettings{SeedFile: "/nope.yaml"}},
			want: []string{"connectors.lab.seedFile: open /nope.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate(env(vars))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got valid, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "oops-leaked") || strings.Contains(err.Error(), `"s"`) {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("c.yaml", `tenant: contoso
routes:
  device.*: mde
  "*": lab
mde:
  tenantId: contoso.onmicrosoft.com
  clientId: 00000000-0000-0000-0000-000000000001
  clientSecretEnv: AIR_MDE_SECRET
  pollInterval: 10s
lab:
  faults:
    - {type: device.isolate, answer: throttled, times: 1, retryAfter: 3s}
`)
	c, err := connector.LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "contoso" || c.Routes["device.*"] != "mde" || c.MDE.ClientSecretEnv != "AIR_MDE_SECRET" ||
		c.MDE.PollInterval != 10*time.Second || c.Lab.Faults[0].RetryAfter != 3*time.Second {
		t.Errorf("decoded: %+v / %+v / %+v", c, c.MDE, c.Lab)
	}
	asJSON := write("c.json", `{"routes": {"user.*": "graph"}, "graph": {"tenantId": "t", "clientId": "c", "clientSecretFile": "/run/s"}}`)
	if c, err := connector.LoadFile(asJSON); err != nil || c.Graph.ClientSecretFile != "/run/s" {
		t.Errorf("json: %+v, %v", c, err)
	}
	if c, err := connector.LoadFile(write("empty.yaml", "")); err != nil || c.MDE != nil {
		t.Errorf("empty file: %+v, %v", c, err)
	}
	_, err = connector.LoadFile(write("typo.yaml", "mde:\n  tenantId: t\n  clientSecretEnvv: X\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "clientSecretEnvv") {
		t.Errorf("unknown key: got %v, want the line and the key", err)
	}
}

func TestRoutesResolveMostSpecificFirst(t *testing.T) {
	t.Parallel()
	r, err := connector.NewRouter(context.Background(), connector.Config{
		Routes: map[string]string{"device.*": "mde", "device.run_av_scan": "lab", "*": "soar", "user.*": "lab"},
		MDE:    &connector.MDESettings{Credentials: creds},
		Webhooks: map[string]connector.WebhookSettings{
			"soar": {URL: "https://soar.example/hook", SecretEnv: "AIR_SECRET"}},
	}, connector.Deps{Env: env(map[string]string{"AIR_SECRET": "s"})})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rt := range r.Routes() {
		got[rt.Type] = rt.Connector + "/" + rt.Kind + " by " + rt.By
	}
	want := map[string]string{
		"device.isolate":           "mde/mde by device.*",
		"device.run_av_scan":       "lab/lab by device.run_av_scan",
		"user.disable":             "lab/lab by user.*",
		"email.soft_delete":        "soar/webhook by *",
		"file.stop_and_quarantine": "soar/webhook by *",
	}
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("%s: got %q, want %q", typ, got[typ], w)
		}
	}
	n := 0
	for _, s := range actions.All() {
		if s.Remediation {
			n++
		}
	}
	if len(got) != n {
		t.Errorf("routes: got %d, want one per remediation type (%d)", len(got), n)
	}
	_, err = r.Execute(context.Background(), remediation.Request{Type: "incident.tag"})
	if domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("routing a non-remediation: got %v, want invalid", err)
	}
}

// TestRegistryMatchesConnectors keeps the registry's declared connectors
// and what each connector implements in step.
func TestRegistryMatchesConnectors(t *testing.T) {
	t.Parallel()
	impl := map[string][]string{actions.MDE: mde.Types(), actions.Graph: msgraph.Types(), actions.Lab: labtenant.Types(),
		actions.Falcon: falcon.Types(), actions.Okta: okta.Types(), actions.EXO: exo.Types()}
	for _, s := range actions.All() {
		for kind, types := range impl {
			has := false
			for _, t := range types {
				has = has || t == s.Type
			}
			if has != s.CarriedBy(kind) {
				t.Errorf("%s: registry says %s carries it: %v; the connector implements it: %v", s.Type, kind, s.CarriedBy(kind), has)
			}
		}
		if s.CaseAction() {
			if !slices.Equal(s.Connectors, []string{actions.AIR}) {
				t.Errorf("%s: a case action is carried by AIR alone, got %v", s.Type, s.Connectors)
			}
			continue
		}
		if s.Remediation && !s.CarriedBy(actions.Webhook) {
			t.Errorf("%s: a webhook can carry any remediation", s.Type)
		}
		if s.Undo != "" {
			u, ok := actions.Lookup(s.Undo)
			if !ok || u.Target != s.Target || !s.Reversible {
				t.Errorf("%s: undo %s must exist, act on the same target kind, and make it reversible", s.Type, s.Undo)
			}
		}
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// vendors is one httptest server answering as the identity platform,
// Defender for Endpoint, Graph and a webhook receiver at once, enough for a
// full call path; the packages' own tests check each contract in depth.
type vendors struct {
	mu     sync.Mutex
	tokens int
	// failGraph makes Graph answer 401 (a revoked app) to exercise the
	// error paths' logs too.
	failGraph bool
	hooks     int
}

const (
	mdeSecret   = "mde-client-secret-9f8e7d"
	graphSecret = "graph-client-secret-1a2b3c"
	hookSecret  = "webhook-signing-secret-77aa"
	accessToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-5566"
	machine     = "0123456789abcdef0123456789abcdef01234567"
)

func (v *vendors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		if s := r.FormValue("client_secret"); s != mdeSecret && s != graphSecret {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		v.tokens++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, accessToken)
	case p == "/hook":
		v.hooks++
		fmt.Fprint(w, `{"summary":"ticket opened"}`)
	case r.Header.Get("Authorization") != "Bearer "+accessToken:
		w.WriteHeader(http.StatusUnauthorized)
	case strings.HasPrefix(p, "/v1.0/") && v.failGraph:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}`)
	case strings.HasPrefix(p, "/v1.0/users/") && r.Method == http.MethodGet:
		fmt.Fprint(w, `{"id":"u-1","userPrincipalName":"ana@contoso.example","accountEnabled":true}`)
	case strings.HasPrefix(p, "/v1.0/users/"):
		w.WriteHeader(http.StatusNoContent)
	case p == "/api/machineactions" && r.Method == http.MethodGet:
		fmt.Fprint(w, `{"value":[]}`)
	case strings.HasPrefix(p, "/api/machines/") && r.Method == http.MethodPost:
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"ma-1","type":"Isolate","status":"Pending","machineId":"m"}`)
	case strings.HasPrefix(p, "/api/machineactions/"):
		fmt.Fprint(w, `{"id":"ma-1","type":"Isolate","status":"Succeeded","machineId":"m","computerDnsName":"ws1"}`)
	default:
		http.NotFound(w, r)
	}
}

// TestSecretsNeverLogged runs a full configuration — Defender for
// Endpoint, Graph, a webhook and the lab — through the activity at debug
// level, successes and failures, and scans everything logged (and every
// result and error) for the secrets and the access token.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	v := &vendors{}
	srv := httptest.NewServer(v)
	defer srv.Close()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}))
	vars := map[string]string{"AIR_MDE": mdeSecret, "AIR_HOOK": hookSecret, "file:/run/secrets/graph": graphSecret + "\n"}
	cfg := connector.Config{
		Tenant: "contoso",
		Routes: map[string]string{"device.isolate": "mde", "user.*": "graph", "process.kill": "soar"},
		MDE: &connector.MDESettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "mde-app",
			ClientSecretEnv: "AIR_MDE", Authority: srv.URL}, BaseURL: srv.URL, PollInterval: time.Millisecond},
		Graph: &connector.GraphSettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "graph-app",
			ClientSecretFile: "/run/secrets/graph", Authority: srv.URL}, BaseURL: srv.URL},
		Webhooks: map[string]connector.WebhookSettings{"soar": {URL: srv.URL + "/hook", SecretEnv: "AIR_HOOK"}},
	}
	r, err := connector.NewRouter(context.Background(), cfg, connector.Deps{Store: openStore(t), Log: log, Env: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	req := func(typ, target string) remediation.Request {
		return remediation.Request{ActionID: "a-" + typ, IncidentID: 1, Type: typ, Target: domain.EntityKey(target),
			TargetName: target, Params: []byte(`{}`), IdempotencyKey: "k-" + typ}
	}
	var outputs []string
	for _, rq := range []remediation.Request{
		req("device.isolate", "device:"+machine), req("user.disable", "user:ana@contoso.example"),
		req("process.kill", "process:m:1:2026-03-01T00:00:00Z"), req("device.release", "device:"+machine),
	} {
		res, err := connectortest.Run(r, rq, "", log)
		if err != nil {
			t.Fatalf("%s: %v", rq.Type, err)
		}
		outputs = append(outputs, res.Summary)
	}
	v.mu.Lock()
	v.failGraph = true
	v.mu.Unlock()
	if _, err := connectortest.Run(r, req("user.revoke_sessions", "user:ana@contoso.example"), "", log); connectortest.Outcome(err) != "fail forbidden" {
		t.Fatalf("revoked app: got %v, want forbidden", err)
	} else {
		outputs = append(outputs, err.Error())
	}
	// A wrong secret: the identity platform refuses, the error is logged.
	vars["AIR_MDE"] = "not-the-" + mdeSecret
	bad, err := connector.NewRouter(context.Background(), cfg, connector.Deps{Store: openStore(t), Log: log, Env: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = connectortest.Run(bad, req("device.isolate", "device:"+machine), "", log)
	if connectortest.Outcome(err) != "fail forbidden" {
		t.Fatalf("wrong secret: got %v, want forbidden", err)
	}
	outputs = append(outputs, err.Error())
	b, _ := json.Marshal(cfg)
	outputs = append(outputs, fmt.Sprintf("%+v %#v %s", r, r, b))

	mu.Lock()
	logged := buf.String()
	mu.Unlock()
	if !strings.Contains(logged, "level=debug") || !strings.Contains(logged, "vendor call") {
		t.Fatalf("the test logged nothing at debug level; it proves nothing:\n%s", logged)
	}
	if os.Getenv("SHOW_LOG") != "" {
		t.Log(logged)
	}
	for _, secret := range []string{mdeSecret, graphSecret, hookSecret, accessToken, "access-token-5566"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the logs contain %q:\n%s", secret, logged)
		}
		for _, o := range outputs {
			if strings.Contains(o, secret) {
				t.Errorf("a result or error contains %q: %s", secret, o)
			}
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

func TestLabThroughTheRouter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	os.WriteFile(seed, []byte(`devices: [{id: dev1, name: ws-001}]
users: [{id: ana@contoso.example, name: Ana, enabled: true}]
mailboxes: [{address: ana@contoso.example, name: Ana, externalForwarding: evil@example.net,
             inboxRules: [{id: r1, name: fwd, forwardTo: evil@example.net}]}]
messages: [{id: m1, mailbox: ana@contoso.example, subject: invoice, sender: evil@example.net}]
`), 0o600)
	st := openStore(t)
	r, err := connector.NewRouter(context.Background(), connector.Config{Lab: connector.LabSettings{Strict: true, SeedFile: seed,
		Faults: []labtenant.Fault{{Type: "user.*", Answer: labtenant.Throttled, Times: 1, RetryAfter: 3 * time.Second}}}},
		connector.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	run := func(typ, target, params string) string {
		res, err := connectortest.Run(r, remediation.Request{ActionID: typ, IncidentID: 1, Type: typ,
			Target: domain.EntityKey(target), Params: []byte(params), IdempotencyKey: "k/" + typ + "/" + target}, "", nil)
		if err != nil {
			return connectortest.Outcome(err)
		}
		return fmt.Sprintf("%v %s", res.Changed, res.Summary)
	}
	steps := []struct{ typ, target, params, want string }{
		{"device.isolate", "device:dev1", `{"isolationType":"Selective"}`, "true isolated"},
		{"device.isolate", "device:dev9", `{}`, "fail not_found"}, // strict: not seeded
		{"user.disable", "user:ana@contoso.example", `{}`, "retry after 3s"},
		{"user.disable", "user:ana@contoso.example", `{}`, "true disabled"}, // the retry: same key
		{"mailbox.disable_external_forwarding", "mailbox:ana@contoso.example", `{}`, "true forwarding to evil@example.net disabled"},
		{"mailbox.remove_inbox_rule", "mailbox:ana@contoso.example", `{"ruleId":"r1"}`, "true inbox rule r1 removed"},
		{"email.soft_delete", "message:m1", `{}`, "true message moved to Deleted Items"},
	}
	for _, s := range steps {
		if got := run(s.typ, s.target, s.params); got != s.want {
			t.Errorf("%s on %s: got %q, want %q", s.typ, s.target, got, s.want)
		}
	}
	dev, err := st.LabDeviceByID(context.Background(), "dev1")
	if err != nil || !dev.Isolated || dev.IsolationType != "Selective" {
		t.Errorf("device: %+v, %v", dev, err)
	}
	if _, err := st.LabDeviceByID(context.Background(), "dev9"); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("unseeded device: %v", err)
	}
}
