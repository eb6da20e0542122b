package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/connector/rest"
	"github.com/airsoc/air/internal/domain"
)

func TestStatusErrorMeaning(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		status     int
		header     string
		body       string
		wantKind   domain.ErrorKind
		wantDelay  time.Duration
		wantInText string
	}{
		{400, "", `{"error":{"code":"InvalidInput","message":"Invalid input IsolationType."}}`, domain.KindInvalid, 0, "InvalidInput: Invalid input IsolationType."},
		{401, "", `{"error":{"code":"Unauthorized","message":"Unauthorized"}}`, domain.KindForbidden, 0, "HTTP 401"},
		{403, "", `{"error":{"code":"Forbidden","message":"Missing role"}}`, domain.KindForbidden, 0, "Missing role"},
		{404, "", `{"error":{"code":"ResourceNotFound","message":"Machine x was not found"}}`, domain.KindNotFound, 0, "was not found"},
		{409, "", ``, domain.KindConflict, 0, "conflict"},
		{410, "", `gone for good`, domain.KindNotFound, 0, "gone for good"},
		{422, "", `{"message":"bad field"}`, domain.KindInvalid, 0, "bad field"},
		{408, "", ``, "", 0, "HTTP 408"},
		{429, "7", `{"error":{"code":"TooManyRequests","message":"slow down"}}`, "", 7 * time.Second, "retry after 7s"},
		{429, "", ``, "", rest.DefaultRetryAfter, "HTTP 429"},
		{429, now.Add(90 * time.Second).Format(http.TimeFormat), ``, "", 90 * time.Second, "HTTP 429"},
		{500, "", `<html>oops</html>`, "", 0, "internal server error"},
		{503, "30", ``, "", 30 * time.Second, "HTTP 503"},
		{503, "", ``, "", 0, "HTTP 503"},
		{400, "", `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`,
			domain.KindInvalid, 0, "invalid_client: AADSTS7000215: Invalid client secret provided."},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.header), func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			err := rest.ErrorFromResponse("mde", "POST", "/api/machines/x/isolate", resp, []byte(tt.body), now)
			if got := domain.KindOf(err); got != tt.wantKind {
				t.Errorf("kind: got %q, want %q", got, tt.wantKind)
			}
			if got := err.RetryDelay(); got != tt.wantDelay {
				t.Errorf("retry delay: got %s, want %s", got, tt.wantDelay)
			}
			if !strings.Contains(err.Error(), tt.wantInText) || !strings.HasPrefix(err.Error(), "mde POST /api/machines/x/isolate: ") {
				t.Errorf("message: got %q, want it to contain %q", err, tt.wantInText)
			}
		})
	}
}

func TestLimiterSlidingWindows(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	var waits []time.Duration
	l := rest.NewLimiter(rest.Window{Calls: 3, Per: time.Minute}, rest.Window{Calls: 5, Per: time.Hour})
	l.Now = func() time.Time { return now }
	l.Sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}
	ctx := context.Background()
	call := func() time.Duration {
		t.Helper()
		before := now
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		return now.Sub(before)
	}
	// Three calls pass at once, the fourth waits for the first to be a minute old.
	for i := range 3 {
		if d := call(); d != 0 {
			t.Fatalf("call %d waited %s, want 0", i+1, d)
		}
	}
	if d := call(); d != time.Minute {
		t.Fatalf("call 4 waited %s, want 1m", d)
	}
	now = now.Add(10 * time.Second)
	if d := call(); d != 0 {
		t.Fatalf("call 5 waited %s, want 0 (the minute window has room)", d)
	}
	// The hourly window (5 calls) now binds: call 6 waits until an hour after call 1.
	if d := call(); d != t0.Add(time.Hour).Sub(t0.Add(70*time.Second)) {
		t.Fatalf("call 6 waited %s, want until an hour after the first call", d)
	}
	// A Retry-After pauses everything.
	l.PauseFor(42 * time.Second)
	before := len(waits)
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if len(waits) != before+1 || waits[before] < 42*time.Second {
		t.Fatalf("after a pause: waits %v, want one of at least 42s", waits[before:])
	}
	// A deadline the turn cannot meet fails at once.
	dctx, cancel := context.WithDeadline(ctx, now.Add(time.Second))
	defer cancel()
	l.PauseFor(time.Minute)
	if err := l.Wait(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past the deadline: got %v, want deadline exceeded", err)
	}
}

func TestClientCredentialsCachesAndRenews(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/contoso/oauth2/v2.0/token" || r.FormValue("grant_type") != "client_credentials" ||
			r.FormValue("client_id") != "app" || r.FormValue("scope") != "https://graph.microsoft.com/.default" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		if r.FormValue("client_secret") != "right" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		hits++
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": fmt.Sprintf("t%d", hits)})
	}))
	defer srv.Close()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cc := &rest.ClientCredentials{TokenURL: rest.MicrosoftTokenURL(srv.URL, "contoso"), ClientID: "app",
		Secret: rest.NewSecret("right"), Scope: "https://graph.microsoft.com/.default", Now: func() time.Time { return now }}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := cc.Token(ctx); err != nil || tok != "t1" {
				t.Errorf("concurrent token: got %q, %v; want t1", tok, err)
			}
		}()
	}
	wg.Wait()
	now = now.Add(50 * time.Minute)
	if tok, _ := cc.Token(ctx); tok != "t1" {
		t.Errorf("token after 50m: got %q, want the cached t1", tok)
	}
	now = now.Add(5 * time.Minute) // 55m: inside the renewal margin of a 1h token
	if tok, _ := cc.Token(ctx); tok != "t2" {
		t.Errorf("token after 55m: got %q, want a renewed t2", tok)
	}
	cc.Invalidate()
	if tok, _ := cc.Token(ctx); tok != "t3" {
		t.Errorf("token after invalidate: got %q, want t3", tok)
	}

	bad := &rest.ClientCredentials{TokenURL: cc.TokenURL, ClientID: "app", Secret: rest.NewSecret("wrong"), Scope: cc.Scope}
	_, err := bad.Token(ctx)
	if domain.KindOf(err) != domain.KindForbidden || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: got %v (kind %q), want a forbidden error quoting the identity platform", err, domain.KindOf(err))
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error repeats the secret: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := rest.NewSecret("hunter2")
	holder := struct {
		Name   string
		secret rest.Secret
		Shown  rest.Secret
	}{"x", s, s}
	b, _ := json.Marshal(holder)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", holder, holder, holder), string(b)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "hunter2" || s.IsZero() || !(rest.Secret{}).IsZero() {
		t.Error("Reveal or IsZero wrong")
	}
}

func TestDoRetriesOnceWithAFreshTokenAfter401(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	issued, calls := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/token") {
			issued++
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"t%d"}`, issued)
			return
		}
		calls++
		if r.Header.Get("Authorization") != "Bearer t2" { // the first token was revoked
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"value":true}`)
	}))
	defer srv.Close()
	c := &rest.Client{Vendor: "graph", BaseURL: srv.URL, Token: &rest.ClientCredentials{
		TokenURL: srv.URL + "/t/oauth2/v2.0/token", ClientID: "app", Secret: rest.NewSecret("s")}}
	var out struct{ Value bool }
	if err := c.Do(context.Background(), http.MethodPost, "/v1.0/users/x/revokeSignInSessions", nil, &out); err != nil || !out.Value {
		t.Fatalf("do: got %+v, %v", out, err)
	}
	if issued != 2 || calls != 2 {
		t.Errorf("tokens issued %d, calls %d; want 2 and 2", issued, calls)
	}
}

// TestDoWithHeadersAndDetails: DoWith sends the caller's headers but keeps
// the ones the client owns, and an error's details (Exchange Online's
// cmdlet errors) are kept in order after its message.
func TestDoWithHeadersAndDetails(t *testing.T) {
	t.Parallel()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"Error executing cmdlet","details":[{"code":"Context","message":"Ex1|Some.Exception|first"},{"message":"Error executing cmdlet"},{"message":"second"}]}}`)
	}))
	defer srv.Close()
	c := &rest.Client{Vendor: "exo", BaseURL: srv.URL}
	err := c.DoWith(context.Background(), http.MethodPost, "/x", http.Header{"X-Cmdletname": {"Get-Mailbox"}, "Accept": {"text/plain"}}, map[string]int{"a": 1}, nil)
	if got.Get("X-CmdletName") != "Get-Mailbox" || got.Get("Accept") != "application/json" || got.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got)
	}
	var se *rest.StatusError
	if !errors.As(err, &se) || !slices.Equal(se.Details, []string{"Ex1|Some.Exception|first", "second"}) {
		t.Fatalf("got %#v", err)
	}
	if want := "exo POST /x: HTTP 400 BadRequest: Error executing cmdlet; Ex1|Some.Exception|first; second"; err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}
