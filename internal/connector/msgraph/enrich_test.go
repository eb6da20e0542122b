package msgraph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/connector/msgraph"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

const (
	riskyID  = "c2b6c2b9-dddc-acd0-2b39-d519d803dbc3"
	signInID = "26be570a-ae82-4189-b4e2-a37c6808512d"
)

var at = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// graphAPI is an httptest Microsoft Graph answering the enrichment calls
// as the v1.0 reference documents them (testdata/README.md).
type graphAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	calls    []string
	handlers map[string]http.HandlerFunc
}

func newGraph(t *testing.T, handlers map[string]http.HandlerFunc) *graphAPI {
	g := &graphAPI{handlers: handlers}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"graph-token"}`))
			return
		}
		g.mu.Lock()
		g.calls = append(g.calls, r.Method+" "+r.URL.RequestURI())
		g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer graph-token" {
			graphError(w, 401, "InvalidAuthenticationToken", "Access token is empty.")
			return
		}
		h, ok := g.handlers[r.URL.Path]
		if !ok {
			graphError(w, 404, "Request_ResourceNotFound", "Resource '"+r.URL.Path+"' does not exist")
			return
		}
		h(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graphAPI) client() *msgraph.Client {
	return &msgraph.Client{API: &rest.Client{Vendor: "graph", BaseURL: g.srv.URL, HTTP: &http.Client{Timeout: 5 * time.Second},
		Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(g.srv.URL, "contoso"), ClientID: "app-1",
			Secret: rest.NewSecret("s3cret"), Scope: msgraph.Scope, HTTP: g.srv.Client()}}}
}

func (g *graphAPI) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-12-05T10:00:00", "request-id": "5e1c7a52-0000-0000-0000-000000000000"}}})
}

func body(t *testing.T, name string) http.HandlerFunc {
	data, err := os.ReadFile("testdata/enrich/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	}
}

func graphFact[T any](t *testing.T, r enrich.Result, kind string) T {
	t.Helper()
	var v T
	for _, f := range r.Facts {
		if f.Kind == kind && f.Source == "graph" {
			if err := json.Unmarshal(f.Value, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s fact in %+v (failures %+v)", kind, r.Facts, r.Failures)
	return v
}

// signInsFilter checks the documented query: the user's sign-ins, newest
// first by default, at most $top.
func signInsFilter(t *testing.T, id string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("$filter") != "userId eq '"+id+"'" || q.Get("$top") != "20" {
			graphError(w, 400, "BadRequest", "unexpected query "+r.URL.RawQuery)
			return
		}
		next(w, r)
	}
}

func TestRiskyUserAndSignInsContract(t *testing.T) {
	t.Parallel()
	g := newGraph(t, map[string]http.HandlerFunc{
		"/v1.0/identityProtection/riskyUsers/" + riskyID: body(t, "riskyuser.json"),
		"/v1.0/auditLogs/signIns":                        signInsFilter(t, riskyID, body(t, "signins.json")),
	})
	e := domain.Entity{Key: "user:alexw@contoso.com", Kind: domain.KindUser, Name: "alexw@contoso.com",
		Attrs: map[string]string{"upn": "alexw@contoso.com", "azureAdUserId": riskyID}}
	r := enrich.Run(context.Background(), g.client(), e, at, enrich.Options{Budget: 3 * time.Second})
	risk := graphFact[enrich.RiskyUser](t, r, domain.FactVendorRiskyUser)
	if !risk.Listed || risk.RiskLevel != "high" || risk.RiskState != "atRisk" || risk.RiskDetail != "adminConfirmedSigninCompromised" ||
		risk.RiskLastUpdated == nil || risk.RiskLastUpdated.Year() != 2016 || risk.UserID != riskyID {
		t.Errorf("risky user %+v", risk)
	}
	s := graphFact[enrich.SignIns](t, r, domain.FactVendorSignIns)
	if len(s.SignIns) != 1 || s.Failed != 0 || s.Risky != 0 || len(s.Countries) != 1 || s.Countries[0] != "US" {
		t.Errorf("sign-ins %+v", s)
	}
	if si := s.SignIns[0]; si.App != "Graph explorer" || si.IP != "131.107.159.37" || si.City != "Redmond" || !si.Interactive || si.At == nil || si.RiskLevel != "none" {
		t.Errorf("sign-in %+v", si)
	}
	want := []string{
		"GET /v1.0/identityProtection/riskyUsers/" + riskyID,
		"GET /v1.0/auditLogs/signIns?%24filter=userId+eq+%27" + riskyID + "%27&%24top=20",
	}
	if got := g.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A user known by UPN only is read once for the object id; one Identity
// Protection never flagged has no riskyUser (404): risk none, not listed,
// which is a fact and no failure.
func TestUnlistedUserByUPN(t *testing.T) {
	t.Parallel()
	failed := `{"id":"1","createdDateTime":"2026-12-05T09:00:00Z","appDisplayName":"Office 365 Exchange Online","ipAddress":"203.0.113.9","isInteractive":true,` +
		`"riskLevelDuringSignIn":"medium","status":{"errorCode":50126,"failureReason":"Invalid username or password or Invalid on-premise username or password."},` +
		`"location":{"city":"Lagos","state":null,"countryOrRegion":"NG"}}`
	g := newGraph(t, map[string]http.HandlerFunc{
		"/v1.0/users/testaccount1@contoso.com": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"id":"` + signInID + `","userPrincipalName":"testaccount1@contoso.com","accountEnabled":true}`))
		},
		"/v1.0/auditLogs/signIns": signInsFilter(t, signInID, func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"value":[` + failed + `]}`))
		}),
	})
	e := domain.Entity{Key: "user:testaccount1@contoso.com", Kind: domain.KindUser, Attrs: map[string]string{"upn": "testaccount1@contoso.com"}}
	r := enrich.Run(context.Background(), g.client(), e, at, enrich.Options{Budget: 3 * time.Second})
	if len(r.Failures) != 0 {
		t.Fatalf("failures %+v", r.Failures)
	}
	if risk := graphFact[enrich.RiskyUser](t, r, domain.FactVendorRiskyUser); risk.Listed || risk.RiskLevel != "none" || risk.UserID != signInID {
		t.Errorf("unlisted user %+v", risk)
	}
	s := graphFact[enrich.SignIns](t, r, domain.FactVendorSignIns)
	if s.Failed != 1 || s.Risky != 1 || s.SignIns[0].ErrorCode != 50126 || !strings.HasPrefix(s.SignIns[0].Failure, "Invalid username") || s.Countries[0] != "NG" {
		t.Errorf("sign-ins %+v", s)
	}
	users := 0
	for _, c := range g.seen() {
		if strings.HasPrefix(c, "GET /v1.0/users/") {
			users++
		}
	}
	if users != 1 {
		t.Errorf("the user was read %d times: %q", users, g.seen())
	}
	// An account Graph cannot address (DOMAIN\name only) is not asked.
	if l := g.client().Lookups(domain.Entity{Key: `user:corp\bob`, Kind: domain.KindUser, Attrs: map[string]string{"accountName": "bob"}}); len(l) != 0 {
		t.Errorf("lookups %+v", l)
	}
}

func TestGraphEnrichmentFailures(t *testing.T) {
	t.Parallel()
	e := domain.Entity{Key: "user:alexw@contoso.com", Kind: domain.KindUser, Attrs: map[string]string{"azureAdUserId": riskyID}}
	var mu sync.Mutex
	risky := 0
	g := newGraph(t, map[string]http.HandlerFunc{
		// Throttled twice with Retry-After (1s), then the answer.
		"/v1.0/identityProtection/riskyUsers/" + riskyID: func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			risky++
			n := risky
			mu.Unlock()
			if n <= 2 {
				w.Header().Set("Retry-After", "1")
				graphError(w, 429, "TooManyRequests", "Too many requests")
				return
			}
			body(t, "riskyuser.json")(w, r)
		},
		// Missing AuditLog.Read.All: 403 Authorization_RequestDenied.
		"/v1.0/auditLogs/signIns": func(w http.ResponseWriter, _ *http.Request) {
			graphError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		},
	})
	r := enrich.Run(context.Background(), g.client(), e, at, enrich.Options{Budget: 6 * time.Second, Backoff: 5 * time.Millisecond})
	if risk := graphFact[enrich.RiskyUser](t, r, domain.FactVendorRiskyUser); risk.RiskLevel != "high" {
		t.Errorf("risky user %+v", risk)
	}
	if len(r.Failures) != 1 || r.Failures[0].Kind != domain.FactVendorSignIns || r.Failures[0].Call != "GET /v1.0/auditLogs/signIns?$filter=userId eq '"+riskyID+"'" || r.Failures[0].ErrorKind != domain.KindForbidden ||
		!strings.Contains(r.Failures[0].Error, "Authorization_RequestDenied") || r.Failures[0].Attempts != 1 {
		t.Errorf("failures %+v", r.Failures)
	}
	var ef enrich.ErrorFact
	for _, f := range r.Facts {
		if f.Kind == domain.FactVendorError {
			json.Unmarshal(f.Value, &ef)
		}
	}
	if ef.Vendor != "graph" || len(ef.Failures) != 1 {
		t.Errorf("error fact %+v", ef)
	}
	if risky != 3 {
		t.Errorf("riskyUsers asked %d times, want 3 (two throttled)", risky)
	}
}
