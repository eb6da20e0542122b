package connector_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// TestFalconAndOktaThroughTheRouter wires both vendors from configuration
// — Falcon's token endpoint under its base URL with member_cid, Okta's
// SSWS token — and runs one action through each; the packages' own tests
// check each contract in depth.
func TestFalconAndOktaThroughTheRouter(t *testing.T) {
	t.Parallel()
	const (
		falconSecret = "falcon-secret-4e4e"
		oktaToken    = "00okta-token-7b7b"
		host         = "4d2c1b0a99887766554433221100ffee"
	)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		switch p := r.URL.Path; {
		case p == "/oauth2/token":
			if r.FormValue("client_secret") != falconSecret || r.FormValue("member_cid") != "child-cid" {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"errors":[{"code":403,"message":"access denied, invalid client"}]}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"access_token":"falcon-access-1","token_type":"bearer","expires_in":1799}`)
		case p == "/devices/entities/devices/v2" && r.Header.Get("Authorization") == "Bearer falcon-access-1":
			fmt.Fprintf(w, `{"meta":{},"errors":[],"resources":[{"device_id":%q,"hostname":"ws-001","status":"contained"}]}`, host)
		case strings.HasPrefix(p, "/api/v1/users/") && r.Header.Get("Authorization") == "SSWS "+oktaToken:
			fmt.Fprint(w, `{"id":"00u1","status":"SUSPENDED","profile":{"login":"ana@contoso.example"}}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`)
		}
	}))
	defer srv.Close()
	var buf bytes.Buffer
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) }))
	cfg := connector.Config{
		Routes: map[string]string{"device.isolate": "falcon", "user.disable": "okta"},
		Falcon: &connector.FalconSettings{BaseURL: srv.URL, ClientID: "falcon-app", ClientSecretEnv: "AIR_FALCON", MemberCID: "child-cid"},
		Okta:   &connector.OktaSettings{OrgURL: srv.URL, APITokenFile: "/run/secrets/okta"},
	}
	r, err := connector.NewRouter(context.Background(), cfg, connector.Deps{Log: log,
		Env: env(map[string]string{"AIR_FALCON": falconSecret, "file:/run/secrets/okta": oktaToken + "\n"})})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range r.Routes() {
		if rt.Type == "device.isolate" && rt.Kind != "falcon" || rt.Type == "user.disable" && rt.Kind != "okta" {
			t.Errorf("route %+v", rt)
		}
	}
	for typ, target := range map[string]string{"device.isolate": "device:" + host, "user.disable": "user:ana@contoso.example"} {
		res, err := connectortest.Run(r, remediation.Request{ActionID: "a1", IncidentID: 1, Type: typ, Target: domain.EntityKey(target),
			Params: []byte(`{}`), IdempotencyKey: "k-" + typ}, "", log)
		if err != nil || res.Changed || !strings.Contains(res.Summary, "already") {
			t.Errorf("%s: got %+v, %v; want an unchanged result from the pre-check", typ, res, err)
		}
		if want := map[string]string{"device.isolate": "falcon", "user.disable": "okta"}[typ]; res.Connector != want {
			t.Errorf("%s: carried by %q, want %q", typ, res.Connector, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{falconSecret, oktaToken, "falcon-access-1"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}
