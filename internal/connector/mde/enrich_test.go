package mde_test

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

	"github.com/airsoc/air/internal/connector/mde"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/enrich"
)

// vendor is an httptest Defender for Endpoint API answering the enrichment
// calls as the API reference documents them (testdata/README.md): the
// token endpoint, then each path's handler; it records every API call.
type vendor struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	calls    []string // "GET /api/…?query" in order
	tokens   int
	handlers map[string]http.HandlerFunc // by path
}

func newVendor(t *testing.T, handlers map[string]http.HandlerFunc) *vendor {
	v := &vendor{t: t, handlers: handlers}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			v.mu.Lock()
			v.tokens++
			n := v.tokens
			v.mu.Unlock()
			if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != mde.Scope {
				http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-" + string(rune('0'+n))})
			return
		}
		v.mu.Lock()
		v.calls = append(v.calls, r.Method+" "+r.URL.RequestURI())
		v.mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			writeError(w, http.StatusUnauthorized, "Unauthorized", "no token")
			return
		}
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "enrichment only reads")
			return
		}
		h, ok := v.handlers[r.URL.Path]
		if !ok {
			writeError(w, http.StatusNotFound, "ResourceNotFound", "no such resource "+r.URL.Path)
			return
		}
		h(w, r)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) client() *mde.Client {
	return &mde.Client{API: &rest.Client{Vendor: "mde", BaseURL: v.srv.URL, HTTP: &http.Client{Timeout: 5 * time.Second},
		Token: &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(v.srv.URL, "contoso"), ClientID: "app-1",
			Secret: rest.NewSecret("s3cret"), Scope: mde.Scope, HTTP: v.srv.Client()}}}
}

func (v *vendor) seen() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.calls...)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "target": "00000000-0000-0000-0000-000000000000"}})
}

// file answers with a testdata body.
func file(t *testing.T, name string) http.HandlerFunc {
	data, err := os.ReadFile("testdata/enrich/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		w.Write(data)
	}
}

const (
	docSHA1    = "0991a395da64e1c5fbe8732ed11e6be064081d9f"
	docMachine = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
)

var at = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func fastOptions() enrich.Options {
	return enrich.Options{Budget: 3 * time.Second, Backoff: 5 * time.Millisecond}
}

func factOf[T any](t *testing.T, r enrich.Result, kind string) T {
	t.Helper()
	var v T
	for _, f := range r.Facts {
		if f.Kind == kind {
			if f.Source != "mde" || !f.ObservedAt.Equal(at) {
				t.Errorf("fact %s: source %q at %s", kind, f.Source, f.ObservedAt)
			}
			if err := json.Unmarshal(f.Value, &v); err != nil {
				t.Fatalf("fact %s: %v", kind, err)
			}
			return v
		}
	}
	t.Fatalf("no %s fact in %+v (failures %+v)", kind, r.Facts, r.Failures)
	return v
}

func TestFileStatsContract(t *testing.T) {
	t.Parallel()
	v := newVendor(t, map[string]http.HandlerFunc{"/api/files/" + docSHA1 + "/stats": file(t, "file-stats.json")})
	e := domain.Entity{Key: domain.EntityKey("file:" + strings.Repeat("ab", 32)), Kind: domain.KindFile, Name: "MREC.exe",
		Attrs: map[string]string{"sha1": strings.ToUpper(docSHA1), "sha256": strings.Repeat("ab", 32)}}
	r := enrich.Run(context.Background(), v.client(), e, at, fastOptions())
	s := factOf[enrich.FileStats](t, r, domain.FactVendorFileStats)
	if s.OrgPrevalence != 14850 || s.GlobalPrevalence != 705012 || s.SHA1 != docSHA1 || len(s.TopFileNames) != 1 || s.TopFileNames[0] != "MREC.exe" {
		t.Errorf("file stats %+v", s)
	}
	if s.OrgFirstSeen == nil || !s.OrgFirstSeen.Equal(time.Date(2019, 12, 7, 13, 44, 16, 0, time.UTC)) || s.GlobalFirstSeen == nil || s.GlobalFirstSeen.Year() != 2015 {
		t.Errorf("first seen %v, global %v", s.OrgFirstSeen, s.GlobalFirstSeen)
	}
	if got := v.seen(); len(got) != 1 || got[0] != "GET /api/files/"+docSHA1+"/stats" {
		t.Errorf("calls %q", got)
	}
	if len(r.Failures) != 0 || len(r.Facts) != 1 {
		t.Errorf("facts %d, failures %+v", len(r.Facts), r.Failures)
	}

	// A file known by its SHA-256 only is asked by it; one known by its MD5
	// only is not asked at all: Defender keeps no statistics by MD5.
	sha256 := strings.Repeat("cd", 32)
	v2 := newVendor(t, map[string]http.HandlerFunc{"/api/files/" + sha256 + "/stats": file(t, "file-stats.json")})
	r = enrich.Run(context.Background(), v2.client(), domain.Entity{Key: domain.EntityKey("file:" + sha256), Kind: domain.KindFile}, at, fastOptions())
	if len(r.Failures) != 0 || len(v2.seen()) != 1 {
		t.Errorf("by sha256: calls %q, failures %+v", v2.seen(), r.Failures)
	}
	md5 := domain.Entity{Key: domain.EntityKey("file:" + strings.Repeat("ef", 16)), Kind: domain.KindFile, Attrs: map[string]string{"md5": strings.Repeat("ef", 16)}}
	if l := v2.client().Lookups(md5); len(l) != 0 {
		t.Errorf("an MD5-only file has lookups %+v", l)
	}
}

func TestIPStatsContract(t *testing.T) {
	t.Parallel()
	v := newVendor(t, map[string]http.HandlerFunc{
		"/api/ips/10.209.67.177/stats": file(t, "ip-stats.json"),
		// A valid address Defender never saw: organizationPrevalence 0.
		"/api/ips/198.51.100.7/stats": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"@odata.context":"https://api.security.microsoft.com/api/$metadata#microsoft.windowsDefenderATP.api.InOrgIPStats","ipAddress":"198.51.100.7","organizationPrevalence":0,"orgFirstSeen":null,"orgLastSeen":null}`))
		},
	})
	r := enrich.Run(context.Background(), v.client(), domain.Entity{Key: "ip:10.209.67.177", Kind: domain.KindIP}, at, fastOptions())
	s := factOf[enrich.IPStats](t, r, domain.FactVendorIPStats)
	if s.OrgPrevalence != 63515 || s.IP != "10.209.67.177" || s.OrgLastSeen == nil || s.OrgLastSeen.Year() != 2017 {
		t.Errorf("ip stats %+v", s)
	}
	r = enrich.Run(context.Background(), v.client(), domain.Entity{Key: "ip:198.51.100.7", Kind: domain.KindIP}, at, fastOptions())
	if s := factOf[enrich.IPStats](t, r, domain.FactVendorIPStats); s.OrgPrevalence != 0 || s.OrgFirstSeen != nil {
		t.Errorf("unseen ip stats %+v", s)
	}
	// Not an address: nothing is asked.
	if l := v.client().Lookups(domain.Entity{Key: "ip:not-an-ip", Kind: domain.KindIP}); len(l) != 0 {
		t.Errorf("lookups for a bad address: %+v", l)
	}
}

func TestDeviceEnrichmentContract(t *testing.T) {
	t.Parallel()
	handlers := map[string]http.HandlerFunc{
		"/api/machines/" + docMachine + "/logonusers": file(t, "logonusers.json"),
		"/api/machines/" + docMachine + "/alerts":     file(t, "alerts.json"),
		"/api/machines": func(w http.ResponseWriter, r *http.Request) {
			if f := r.URL.Query().Get("$filter"); f != "computerDnsName eq 'ws-042.corp.example'" {
				writeError(w, http.StatusBadRequest, "InvalidRequestBody", "unexpected filter "+f)
				return
			}
			w.Write([]byte(`{"@odata.context":"https://api.security.microsoft.com/api/$metadata#Machines","value":[{"id":"` + docMachine + `","computerDnsName":"ws-042.corp.example"}]}`))
		},
	}
	v := newVendor(t, handlers)
	// Known by DNS name: looked up once for both calls.
	e := domain.Entity{Key: "device:ws-042.corp.example", Kind: domain.KindDevice, Name: "ws-042.corp.example"}
	r := enrich.Run(context.Background(), v.client(), e, at, fastOptions())
	users := factOf[enrich.LoggedOnUsers](t, r, domain.FactVendorLoggedOnUsers)
	if users.Machine != docMachine || len(users.Users) != 1 || users.Users[0].Account != `contoso\user1` || !users.Users[0].DomainAdmin ||
		users.Users[0].LogonTypes != "Interactive" || users.Users[0].LastSeen == nil {
		t.Errorf("logged-on users %+v", users)
	}
	alerts := factOf[enrich.RelatedAlerts](t, r, domain.FactVendorRelatedAlerts)
	if len(alerts.Alerts) != 1 || alerts.Active != 1 || alerts.HighSeverity != 0 ||
		alerts.Alerts[0].ID != "da637472900382838869_1364969609" || alerts.Alerts[0].Severity != "Low" || alerts.Alerts[0].Category != "Execution" {
		t.Errorf("related alerts %+v", alerts)
	}
	want := []string{
		"GET /api/machines?%24filter=computerDnsName+eq+%27ws-042.corp.example%27",
		"GET /api/machines/" + docMachine + "/logonusers",
		"GET /api/machines/" + docMachine + "/alerts",
	}
	if got := v.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The machine id in the evidence is used as it is.
	v2 := newVendor(t, handlers)
	e = domain.Entity{Key: "device:ws-042", Kind: domain.KindDevice, Attrs: map[string]string{"mdeDeviceId": docMachine}}
	r = enrich.Run(context.Background(), v2.client(), e, at, fastOptions())
	if len(r.Failures) != 0 || len(v2.seen()) != 2 {
		t.Errorf("by machine id: calls %q, failures %+v", v2.seen(), r.Failures)
	}
}

// TestEnrichmentFailures: whatever the API answers, Run returns, and a
// look-up that gives no fact is in one vendor.error fact that says what was
// answered; only what may pass is retried.
func TestEnrichmentFailures(t *testing.T) {
	t.Parallel()
	path := "/api/files/" + docSHA1 + "/stats"
	e := domain.Entity{Key: domain.EntityKey("file:" + docSHA1), Kind: domain.KindFile}
	tests := []struct {
		name      string
		answer    func(n int, w http.ResponseWriter)
		opts      enrich.Options
		wantFact  bool
		wantCalls int
		errorKind domain.ErrorKind
		timedOut  bool
		says      string
	}{
		{name: "404 unknown file", wantCalls: 1, errorKind: domain.KindNotFound, says: "HTTP 404 ResourceNotFound",
			answer: func(_ int, w http.ResponseWriter) { writeError(w, 404, "ResourceNotFound", "File not found") }},
		{name: "403 missing File.Read.All", wantCalls: 1, errorKind: domain.KindForbidden, says: "HTTP 403 Forbidden",
			answer: func(_ int, w http.ResponseWriter) {
				writeError(w, 403, "Forbidden", "The application does not have any of the required application permissions (File.Read.All)")
			}},
		{name: "401 after a fresh token", wantCalls: 2, errorKind: domain.KindForbidden, says: "HTTP 401",
			answer: func(_ int, w http.ResponseWriter) {
				writeError(w, 401, "Unauthorized", "Authorization token is invalid")
			}},
		{name: "429 then the answer", wantCalls: 2, wantFact: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					writeError(w, 429, "TooManyRequests", "Rate limit is exceeded. Try again in 1 seconds.")
					return
				}
				data, _ := os.ReadFile("testdata/enrich/file-stats.json")
				w.Write(data)
			}},
		{name: "429 longer than the budget", wantCalls: 1, says: "retry after 1m0s",
			answer: func(_ int, w http.ResponseWriter) {
				w.Header().Set("Retry-After", "60")
				writeError(w, 429, "TooManyRequests", "Rate limit is exceeded. Try again in 60 seconds.")
			}},
		{name: "503 every time", wantCalls: 3, says: "HTTP 503",
			answer: func(_ int, w http.ResponseWriter) { writeError(w, 503, "ServiceUnavailable", "Service is unavailable") }},
		{name: "500 once", wantCalls: 2, wantFact: true,
			answer: func(n int, w http.ResponseWriter) {
				if n == 1 {
					writeError(w, 500, "InternalServerError", "An unexpected error occurred")
					return
				}
				data, _ := os.ReadFile("testdata/enrich/file-stats.json")
				w.Write(data)
			}},
		{name: "no answer in time", opts: enrich.Options{Budget: 300 * time.Millisecond, Backoff: 5 * time.Millisecond},
			wantCalls: 1, timedOut: true,
			answer: func(_ int, w http.ResponseWriter) { time.Sleep(2 * time.Second) }},
		{name: "an answer that is not the documented shape", wantCalls: 1, errorKind: domain.KindInvalid, says: "no organizationPrevalence",
			answer: func(_ int, w http.ResponseWriter) { w.Write([]byte(`{"sha1":"` + docSHA1 + `"}`)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			n := 0
			v := newVendor(t, map[string]http.HandlerFunc{path: func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				k := n
				mu.Unlock()
				tc.answer(k, w)
			}})
			opts := tc.opts
			if opts.Budget == 0 {
				opts = enrich.Options{Budget: 5 * time.Second, Backoff: 5 * time.Millisecond}
			}
			start := time.Now()
			r := enrich.Run(context.Background(), v.client(), e, at, opts)
			if time.Since(start) > opts.Budget+time.Second {
				t.Errorf("Run took %s with a budget of %s", time.Since(start), opts.Budget)
			}
			if got := len(v.seen()); got != tc.wantCalls {
				t.Errorf("%d calls, want %d: %q", got, tc.wantCalls, v.seen())
			}
			if tc.wantFact {
				factOf[enrich.FileStats](t, r, domain.FactVendorFileStats)
				if len(r.Failures) != 0 {
					t.Errorf("failures %+v", r.Failures)
				}
				return
			}
			if len(r.Facts) != 1 || r.Facts[0].Kind != domain.FactVendorError || r.Facts[0].Source != "mde" || r.Facts[0].Entity != e.Key {
				t.Fatalf("facts %+v, want one vendor.error", r.Facts)
			}
			var ef enrich.ErrorFact
			if err := json.Unmarshal(r.Facts[0].Value, &ef); err != nil || ef.Vendor != "mde" || len(ef.Failures) != 1 {
				t.Fatalf("error fact %s (%v)", r.Facts[0].Value, err)
			}
			f := ef.Failures[0]
			if f.Kind != domain.FactVendorFileStats || f.Call != "GET "+path || f.ErrorKind != tc.errorKind || f.TimedOut != tc.timedOut ||
				!strings.Contains(f.Error, tc.says) {
				t.Errorf("failure %+v, want kind %q, timedOut %v, saying %q", f, tc.errorKind, tc.timedOut, tc.says)
			}
		})
	}
}
