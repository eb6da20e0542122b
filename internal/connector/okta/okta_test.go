package okta_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/activities/connectortest"
	"github.com/airsoc/air/internal/connector/okta"
	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/remediation"
)

// fakeOkta follows the Okta Management API contract AIR relies on
// (testdata/README.md names the documents): GET /api/v1/users/{id|login};
// POST /api/v1/users/{id}/lifecycle/suspend (ACTIVE users only),
// …/unsuspend (SUSPENDED only), …/expire_password; DELETE
// /api/v1/users/{id}/sessions?oauthTokens=true, 204; errors as
// {"errorCode","errorSummary","errorLink","errorId","errorCauses"}; the
// X-Rate-Limit-Limit/-Remaining/-Reset headers on every answer and 429
// E0000047; API tokens as "SSWS <token>", and OAuth 2.0 client credentials
// with a private_key_jwt client assertion at /oauth2/v1/token.
type fakeOkta struct {
	mu      sync.Mutex
	users   map[string]*okta.User
	calls   []string // lifecycle and session calls, "METHOD path?query"
	tokens  int
	revoked bool
	pub     *rsa.PublicKey
	inject  func(r *http.Request) (int, http.Header, string)
}

const apiToken = "00okta-api-token-x9"

func newFake() *fakeOkta {
	f := &fakeOkta{users: map[string]*okta.User{}}
	for id, s := range map[string]string{"00u1": okta.Active, "00u2": okta.Suspended, "00u3": okta.Deprovisioned,
		"00u4": okta.Staged, "00u5": okta.LockedOut, "00u6": okta.PasswordExpired} {
		u := &okta.User{ID: id, Status: s}
		u.Profile.Login = map[string]string{"00u1": "ana", "00u2": "bo", "00u3": "cy", "00u4": "di", "00u5": "ed", "00u6": "flo"}[id] + "@contoso.example"
		f.users[id] = u
	}
	return f
}

func oktaErr(w http.ResponseWriter, status int, code, summary string, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code,
		"errorId": "oae-1", "errorCauses": []any{}})
}

var lifecycle = regexp.MustCompile(`^/api/v1/users/([^/]+)/(lifecycle/\w+|sessions)$`)

func (f *fakeOkta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("X-Rate-Limit-Limit", "600")
	w.Header().Set("X-Rate-Limit-Remaining", "599")
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	if r.URL.Path == "/oauth2/v1/token" {
		if err := f.checkAssertion(r); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":%q}`, err.Error())
			return
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"at-%d","scope":"okta.users.manage"}`, f.tokens)
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
	auth := r.Header.Get("Authorization")
	if f.revoked || (auth != "SSWS "+apiToken && auth != fmt.Sprintf("Bearer at-%d", f.tokens)) {
		f.revoked = false
		oktaErr(w, http.StatusUnauthorized, "E0000011", "Invalid token provided", nil)
		return
	}
	find := func(idOrLogin string) *okta.User {
		for _, u := range f.users {
			if u.ID == idOrLogin || strings.EqualFold(u.Profile.Login, idOrLogin) {
				return u
			}
		}
		return nil
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/users/") {
		u := find(strings.TrimPrefix(r.URL.Path, "/api/v1/users/"))
		if u == nil {
			oktaErr(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path+" (User)", nil)
			return
		}
		json.NewEncoder(w).Encode(u)
		return
	}
	m := lifecycle.FindStringSubmatch(r.URL.Path)
	if m == nil {
		oktaErr(w, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method", nil)
		return
	}
	f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	u := find(m[1])
	if u == nil || u.ID != m[1] {
		oktaErr(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+m[1]+" (User)", nil)
		return
	}
	notAllowed := func() {
		oktaErr(w, http.StatusForbidden, "E0000038", "This operation is not allowed in the user's current status.", nil)
	}
	switch {
	case r.Method == http.MethodPost && m[2] == "lifecycle/suspend":
		if u.Status != okta.Active {
			notAllowed()
			return
		}
		u.Status = okta.Suspended
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodPost && m[2] == "lifecycle/unsuspend":
		if u.Status != okta.Suspended {
			notAllowed()
			return
		}
		u.Status = okta.Active
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodPost && m[2] == "lifecycle/expire_password":
		if u.Status == okta.Deprovisioned || u.Status == okta.Staged {
			notAllowed()
			return
		}
		u.Status = okta.PasswordExpired
		json.NewEncoder(w).Encode(u)
	case r.Method == http.MethodPost && m[2] == "lifecycle/reset_factors":
		if u.Status == okta.Deprovisioned || u.Status == okta.Staged {
			notAllowed()
			return
		}
		fmt.Fprint(w, `{}`)
	case r.Method == http.MethodDelete && m[2] == "sessions":
		w.WriteHeader(http.StatusNoContent)
	default:
		oktaErr(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method", nil)
	}
}

// checkAssertion verifies a private_key_jwt client-credentials request.
func (f *fakeOkta) checkAssertion(r *http.Request) error {
	if r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != okta.Scope || r.FormValue("client_id") != "0oa-air" ||
		r.FormValue("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || r.FormValue("client_secret") != "" {
		return fmt.Errorf("malformed token request")
	}
	parts := strings.Split(r.FormValue("client_assertion"), ".")
	if len(parts) != 3 {
		return fmt.Errorf("the client_assertion is not a JWT")
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, digest[:], sig) != nil {
		return fmt.Errorf("The client_assertion signature is invalid.")
	}
	var claims map[string]any
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(c, &claims)
	if claims["aud"] != "http://"+r.Host+"/oauth2/v1/token" || claims["iss"] != "0oa-air" || claims["sub"] != "0oa-air" {
		return fmt.Errorf("The audience, issuer or subject claim is invalid.")
	}
	return nil
}

func sswsClient(t *testing.T, f *fakeOkta) *okta.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &okta.Client{API: &rest.Client{Vendor: "okta", BaseURL: srv.URL,
		Token: &rest.StaticToken{Scheme: "SSWS", Value: rest.NewSecret(apiToken)}}}
}

func req(typ, target string) remediation.Request {
	return remediation.Request{ActionID: "act-" + typ, IncidentID: 7, Type: typ, Target: domain.EntityKey(target),
		Params: []byte(`{}`), IdempotencyKey: "k-" + typ + target}
}

var activityNoise = regexp.MustCompile(`activity error \([^)]*\): | \(type: [^,]+, retryable: (true|false)\)$`)

func run(c *okta.Client, rq remediation.Request, resume string) string {
	res, err := connectortest.Run(c, rq, resume, nil)
	if err != nil {
		return connectortest.Outcome(err) + ": " + activityNoise.ReplaceAllString(err.Error(), "")
	}
	return fmt.Sprintf("%v %s", res.Changed, res.Summary)
}

func TestLifecycleContract(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := sswsClient(t, f)
	steps := []struct {
		name, typ, target, resume, want string
		calls                           int
	}{
		{"suspend an active user", "user.disable", "user:Ana@contoso.example", "", "true okta user ana@contoso.example (00u1) is SUSPENDED (was ACTIVE)", 1},
		{"a repeat changes nothing and asks nothing", "user.disable", "user:ana@contoso.example", "", "false okta user ana@contoso.example (00u1) is already SUSPENDED", 1},
		{"a retry after a crash recognises its own", "user.disable", "user:ana@contoso.example", "user.disable:00u1",
			"true okta user ana@contoso.example (00u1) is SUSPENDED, by this action before a retry", 1},
		{"unsuspend", "user.enable", "user:ana@contoso.example", "", "true okta user ana@contoso.example (00u1) is ACTIVE (was SUSPENDED)", 2},
		{"unsuspend again", "user.enable", "user:ana@contoso.example", "", "false okta user ana@contoso.example (00u1) is already ACTIVE", 2},
		{"unsuspend a locked-out user: not suspended", "user.enable", "user:ed@contoso.example", "", "false okta user ed@contoso.example (00u5) is not suspended (status LOCKED_OUT), nothing to undo", 2},
		{"a deactivated user", "user.disable", "user:cy@contoso.example", "", "fail conflict: okta user cy@contoso.example (00u3) is deactivated (DEPROVISIONED)", 2},
		{"a staged user", "user.disable", "user:di@contoso.example", "", "fail conflict: okta user di@contoso.example (00u4) has not been activated", 2},
		{"okta refuses a locked-out user: its reason", "user.disable", "user:ed@contoso.example", "",
			"fail conflict: okta refused to suspend okta user ed@contoso.example (00u5) (status LOCKED_OUT): This operation is not allowed in the user's current status.", 3},
		{"expire a password", "user.reset_password", "user:ana@contoso.example", "", "true okta user ana@contoso.example (00u1) is PASSWORD_EXPIRED (was ACTIVE)", 4},
		{"already expired", "user.reset_password", "user:flo@contoso.example", "", "false okta user flo@contoso.example (00u6) is already PASSWORD_EXPIRED", 4},
		{"revoke sessions", "user.revoke_sessions", "user:bo@contoso.example", "", "true okta user bo@contoso.example (00u2): every session and OAuth token revoked", 5},
		{"reset factors", "user.reset_factors", "user:bo@contoso.example", "", "true okta user bo@contoso.example (00u2): every enrolled factor reset", 6},
		{"an unknown user", "user.disable", "user:zed@contoso.example", "", "fail not_found: okta GET /api/v1/users/zed@contoso.example: HTTP 404 E0000007: Not found", 6},
		{"a device target", "user.disable", "device:ws-1", "", "fail invalid", 6},
	}
	for _, s := range steps {
		if got := run(c, req(s.typ, s.target), s.resume); !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
		if len(f.calls) != s.calls {
			t.Errorf("%s: %d lifecycle calls so far, want %d: %v", s.name, len(f.calls), s.calls, f.calls)
		}
	}
	want := []string{"POST /api/v1/users/00u1/lifecycle/suspend?", "POST /api/v1/users/00u1/lifecycle/unsuspend?",
		"POST /api/v1/users/00u5/lifecycle/suspend?", "POST /api/v1/users/00u1/lifecycle/expire_password?",
		"DELETE /api/v1/users/00u2/sessions?oauthTokens=true", "POST /api/v1/users/00u2/lifecycle/reset_factors?"}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestOktaAnswers(t *testing.T) {
	t.Parallel()
	reset := strconv.FormatInt(time.Now().Add(9*time.Second).Unix(), 10)
	tests := []struct {
		name   string
		inject func(r *http.Request) (int, http.Header, string)
		want   string
	}{
		{"403 without the admin role", func(*http.Request) (int, http.Header, string) {
			return 403, nil, `{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action","errorLink":"E0000006","errorId":"oae2","errorCauses":[]}`
		}, "fail forbidden: okta GET /api/v1/users/ana@contoso.example: HTTP 403 E0000006: You do not have permission to perform the requested action"},
		{"429 until the reset", func(*http.Request) (int, http.Header, string) {
			return 429, http.Header{"X-Rate-Limit-Limit": {"600"}, "X-Rate-Limit-Remaining": {"0"}, "X-Rate-Limit-Reset": {reset}},
				`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorCauses":[]}`
		}, "retry after "},
		{"503", func(*http.Request) (int, http.Header, string) {
			return 503, nil, `{"errorCode":"E0000009","errorSummary":"Internal Server Error","errorCauses":[]}`
		}, "retry: okta GET /api/v1/users/ana@contoso.example: HTTP 503 E0000009: Internal Server Error"},
		{"a suspend that raced someone's: joined", func(r *http.Request) (int, http.Header, string) {
			if r.Method == http.MethodPost {
				return 400, nil, `{"errorCode":"E0000001","errorSummary":"Api validation failed: Cannot suspend a user that is not active","errorCauses":[]}`
			}
			return 0, nil, ""
		}, "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.inject = tt.inject
			got := run(sswsClient(t, f), req("user.disable", "user:ana@contoso.example"), "")
			if tt.want == "conflict" {
				if !strings.HasPrefix(got, "fail conflict: okta refused to suspend okta user ana@contoso.example (00u1) (status ACTIVE): Api validation failed") {
					t.Errorf("got %q", got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(tt.want, "retry after ") {
				d, err := time.ParseDuration(strings.TrimPrefix(got, "retry after ")[:strings.Index(strings.TrimPrefix(got, "retry after "), ":")])
				if err != nil || d < 8*time.Second || d > 11*time.Second {
					t.Errorf("retry delay %q, want about 9s to the reset", got)
				}
			}
		})
	}
	// A wrong API token: forbidden, one call (a static token is not renewed).
	f := newFake()
	c := sswsClient(t, f)
	c.API.Token = &rest.StaticToken{Scheme: "SSWS", Value: rest.NewSecret("wrong-token")}
	if got := run(c, req("user.disable", "user:ana@contoso.example"), ""); !strings.HasPrefix(got, "fail forbidden") || !strings.Contains(got, "Invalid token provided") ||
		strings.Contains(got, "wrong-token") {
		t.Errorf("wrong token: got %q", got)
	}
}

func TestOAuthWithPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	f := newFake()
	f.pub = &key.PublicKey
	srv := httptest.NewServer(f)
	defer srv.Close()
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	sign, err := rest.PrivateKeyJWT("0oa-air", "kid-1", pemKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &okta.Client{API: &rest.Client{Vendor: "okta", BaseURL: srv.URL, Token: &rest.ClientCredentials{
		TokenURL: okta.TokenURL(srv.URL), ClientID: "0oa-air", Scope: okta.Scope, Assertion: sign}}}
	if got := run(c, req("user.disable", "user:ana@contoso.example"), ""); !strings.HasPrefix(got, "true") {
		t.Fatalf("suspend: got %q", got)
	}
	// An expired token: one fresh one, and the call goes through.
	f.revoked = true
	if got := run(c, req("user.enable", "user:ana@contoso.example"), ""); !strings.HasPrefix(got, "true") || f.tokens != 2 {
		t.Errorf("after 401: got %q with %d tokens, want success with 2", got, f.tokens)
	}
	// A key the app does not know: Okta's answer, as forbidden.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	sign, _ = rest.PrivateKeyJWT("0oa-air", "", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), nil)
	c.API.Token = &rest.ClientCredentials{TokenURL: okta.TokenURL(srv.URL), ClientID: "0oa-air", Scope: okta.Scope, Assertion: sign}
	if got := run(c, req("user.enable", "user:ana@contoso.example"), ""); !strings.HasPrefix(got, "fail forbidden") || !strings.Contains(got, "signature is invalid") {
		t.Errorf("unknown key: got %q", got)
	}
}
