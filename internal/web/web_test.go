package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/reportrun"
	"github.com/airsoc/air/internal/store/storetest"
	"github.com/airsoc/air/internal/web"
)

const evil = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`

type site struct {
	url    string
	client *http.Client
	tokens map[auth.Role]string
	// scoped is a viewer token scoped to a device group.
	scoped string
	st     *storetest.Store
	// inc is the incident of the script-bearing alert and action.
	inc int64
	// hub is the change feed the store publishes to and the pages follow.
	hub *events.Hub
	// keeper keeps reports the pages list (no PDF printer).
	keeper *reportrun.Keeper
}

// newSite serves the pages over a real store holding an incident whose
// alert title, target name and reason carry markup.
func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, nil)
}

// newSiteWith is newSite serving the API beside the pages, as the service
// does, when limiter is set: the two share it.
func newSiteWith(t *testing.T, limiter *auth.Limiter) *site {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	now := time.Now()
	r, err := st.IngestAlert(ctx, &domain.Alert{ID: "a1", Title: evil, Status: domain.AlertNew, Severity: domain.SeverityHigh,
		Category: "CredentialAccess", MitreTechniques: []string{"T1003.001"}, ServiceSource: "microsoftDefenderForEndpoint",
		CreatedDateTime: now, LastUpdateDateTime: now, Evidence: []domain.Evidence{{Type: "deviceEvidence",
			Verdict: domain.VerdictMalicious, Entity: &domain.Entity{Key: "device:ws1", Kind: domain.KindDevice, Name: "ws1",
				Verdict: domain.VerdictMalicious}}}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordAction(ctx, &domain.Action{ID: "act1", IncidentID: r.IncidentID, Playbook: "p", PlaybookVersion: 1,
		Step: "s", Type: "device.isolate", TargetKey: "device:ws1", TargetName: evil, Params: []byte(`{}`),
		Source: domain.SourceAutomated, RequestedBy: evil, Status: domain.ActionPending, Reason: evil, CreatedAt: now,
		IdempotencyKey: "k1"}, nil); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	docs, err := web.NewReportDocuments("https://air.example")
	if err != nil {
		t.Fatal(err)
	}
	keeper := &reportrun.Keeper{Store: st, Render: docs, BaseURL: "https://air.example"}
	center := &api.Server{Store: st, Auth: access, Log: log, Limiter: limiter, Keeper: keeper}
	hub := &events.Hub{}
	st.SetPublisher(hub)
	t.Cleanup(hub.Close)
	h, err := (&web.Server{Center: center, Incidents: center, Reviews: center, Reports: center, Kept: center, Entities: center, Auth: access, Log: log, Limiter: limiter,
		Feed: hub, Scope: center, Notes: center}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	if limiter != nil {
		center.Pages = h
		h = center.Handler()
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	s := &site{url: hs.URL, tokens: map[auth.Role]string{}, st: st, inc: r.IncidentID, hub: hub, keeper: keeper}
	for _, role := range []auth.Role{auth.Viewer, auth.Analyst, auth.Responder} {
		c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: string(role), Role: role})
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = c.Secret
	}
	c, err := access.CreateToken(ctx, "test", auth.NewToken{Name: "scoped", Role: auth.Viewer, Groups: []string{"Servers"}})
	if err != nil {
		t.Fatal(err)
	}
	s.scoped = c.Secret
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar}
	return s
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (s *site) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *site) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := s.client.PostForm(s.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *site) signIn(t *testing.T, role auth.Role) string {
	t.Helper()
	return s.signInWith(t, s.tokens[role])
}

func (s *site) signInWith(t *testing.T, token string) string {
	t.Helper()
	_, page := s.get(t, "/signin")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in page has no anti-forgery field:\n%s", page)
	}
	resp, page := s.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {token}})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/incidents" {
		t.Fatalf("sign in: HTTP %d at %s\n%s", resp.StatusCode, resp.Request.URL.Path, page)
	}
	return page
}

func TestPagesEscapeEverything(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.signIn(t, auth.Responder)
	_, page := s.get(t, "/actions")
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Fatalf("the pending page carries raw markup from an alert:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
		t.Errorf("the escaped title is not shown:\n%s", page)
	}
	if !strings.Contains(page, `value="approve:act1"`) {
		t.Errorf("a responder sees no approve button")
	}
	checkPage(t, "the pending page", page)
	_, hist := s.get(t, "/actions/history?type=device.isolate&deviceGroup="+url.QueryEscape(evil))
	checkPage(t, "the history page", hist)
	if strings.Contains(hist, "<script>alert") || strings.Contains(hist, "<img src=x") {
		t.Errorf("the history page reflects markup from the query:\n%s", hist)
	}
}

func TestSessionsCookiesAndForgery(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	resp, _ := s.get(t, "/actions")
	if resp.Request.URL.Path != "/signin" {
		t.Errorf("signed out: landed on %s, want /signin", resp.Request.URL.Path)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	resp, page := s.post(t, "/signin", url.Values{"token": {s.tokens[auth.Responder]}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's anti-forgery token: HTTP %d, want 403", resp.StatusCode)
	}
	if m := csrfField.FindStringSubmatch(page); m != nil {
		if resp, _ := s.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {"air_wrong"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with a wrong token: HTTP %d, want 401", resp.StatusCode)
		}
	}
	s.signIn(t, auth.Viewer)
	_, page = s.get(t, "/actions")
	u, _ := url.Parse(s.url)
	var session *http.Cookie
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == "air_session" {
			session = c
		}
	}
	if session == nil || strings.Contains(session.Value, s.tokens[auth.Viewer]) {
		t.Fatalf("session cookie: %+v; want one that is not the token", session)
	}
	if strings.Contains(page, `value="approve:act1"`) {
		t.Errorf("a viewer is offered approve buttons")
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	for _, tt := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no anti-forgery token", url.Values{"one": {"approve:act1"}}, http.StatusForbidden},
		{"wrong anti-forgery token", url.Values{"one": {"approve:act1"}, "csrf": {strings.Repeat("0", 64)}}, http.StatusForbidden},
	} {
		if resp, _ := s.post(t, "/actions/decide", tt.form); resp.StatusCode != tt.want {
			t.Errorf("%s: HTTP %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	// A viewer with a valid form is refused by the action center itself.
	resp, page = s.post(t, "/actions/decide", url.Values{"one": {"approve:act1"}, "csrf": {csrf}})
	if resp.StatusCode != 200 || !strings.Contains(page, "needs the responder role") {
		t.Errorf("viewer approving: HTTP %d, want the refusal shown\n%s", resp.StatusCode, page)
	}
	resp, _ = s.post(t, "/signout", url.Values{"csrf": {csrf}})
	if resp.Request.URL.Path != "/signin" {
		t.Errorf("sign out: landed on %s", resp.Request.URL.Path)
	}
	if resp, _ := s.get(t, "/actions"); resp.Request.URL.Path != "/signin" {
		t.Errorf("after sign-out the pages still open")
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(s.url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pre *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "air_signin" {
			pre = c
		}
	}
	m := csrfField.FindStringSubmatch(string(b))
	if pre == nil || m == nil {
		t.Fatal("sign-in page sets no anti-forgery cookie or field")
	}
	req, _ := http.NewRequest("POST", s.url+"/signin", strings.NewReader(url.Values{"csrf": {m[1]}, "token": {s.tokens[auth.Viewer]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(pre)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "air_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", sess)
	}
	if sess != nil && sess.Secure {
		t.Errorf("session cookie over plain HTTP marked Secure (only with TLS or SecureCookies)")
	}
	// A cross-site form post is refused even with a valid token.
	req, _ = http.NewRequest("POST", s.url+"/signout", strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(sess)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: HTTP %d, want 403", resp.StatusCode)
	}
}

// TestFailedAPIAuthDoesNotLockOutSignIn checks that failed API calls and
// failed sign-ins from one address are throttled apart, and that signing
// in with a valid token is never charged: before, one forwarder retrying a
// revoked token locked every analyst behind the same proxy out of the
// pages.
func TestFailedAPIAuthDoesNotLockOutSignIn(t *testing.T) {
	t.Parallel()
	s := newSiteWith(t, &auth.Limiter{Rate: auth.Rate{PerSecond: 0.001, Burst: 3}})
	last := 0
	for range 5 {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer air_revoked")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("failed API calls: last HTTP %d, want 429", last)
	}
	// As many as the burst: if successes were charged, the failures below
	// would meet 429 at once.
	for _, role := range []auth.Role{auth.Viewer, auth.Analyst, auth.Responder} {
		s.fresh().signIn(t, role)
	}
	o := s.fresh()
	for i := range 4 {
		_, page := o.get(t, "/signin")
		m := csrfField.FindStringSubmatch(page)
		resp, _ := o.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {"air_wrong"}})
		want := http.StatusUnauthorized
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Errorf("failed sign-in %d: HTTP %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// TestPagesShowTheConnector: the history and incident pages say which
// connector carried an action out and why the step's earlier ones were
// passed over.
func TestPagesShowTheConnector(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	a, err := s.st.GetAction(ctx, "act1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.Status, a.DecidedBy, a.DecidedAt, a.FinishedAt, a.Result = domain.ActionSucceeded, "ana", &now, &now, "isolated"
	a.Connector, a.ConnectorNote = "soar", "mde: not found: no machine named ws1"
	if err := s.st.UpdateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	s.signIn(t, auth.Viewer)
	for _, path := range []string{"/actions/history", fmt.Sprintf("/incidents/%d", s.inc)} {
		_, page := s.get(t, path)
		if !strings.Contains(page, "via soar (mde: not found: no machine named ws1)") {
			t.Errorf("%s does not say the connector:\n%s", path, page)
		}
	}
}
