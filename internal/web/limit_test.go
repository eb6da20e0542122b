package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/store/storetest"
	"github.com/airsoc/air/internal/web"
)

// apiProcess serves the API and the pages over st with a limiter of its
// own counting in st, as one `worker -role api` process does.
func apiProcess(t *testing.T, st *storetest.Store, rt auth.Rate) *site {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	access := &auth.Service{Store: st}
	limiter := &auth.Limiter{Rate: rt, Shared: st}
	center := &api.Server{Store: st, Auth: access, Log: log, Limiter: limiter}
	h, err := (&web.Server{Center: center, Incidents: center, Reviews: center, Entities: center, Auth: access, Log: log,
		Limiter: limiter}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	center.Pages = h
	hs := httptest.NewServer(center.Handler())
	t.Cleanup(hs.Close)
	jar, _ := cookiejar.New(nil)
	return &site{url: hs.URL, client: &http.Client{Jar: jar}, tokens: map[auth.Role]string{}, st: st}
}

// TestLimitsHoldAcrossAPIProcesses: two API processes on one database
// give a token one budget, and failed sign-ins and failed API calls in one
// lock the address out in the other (before, each process had its own).
func TestLimitsHoldAcrossAPIProcesses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *storetest.Store) {
		rt := auth.Rate{PerSecond: 0.001, Burst: 3}
		p1, p2 := apiProcess(t, st, rt), apiProcess(t, st, rt)
		c, err := (&auth.Service{Store: st}).CreateToken(context.Background(), "test", auth.NewToken{Name: "vic", Role: auth.Viewer})
		if err != nil {
			t.Fatal(err)
		}
		call := func(p *site, secret string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, p.url+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		for i, p := range []*site{p1, p2, p1} {
			if resp := call(p, c.Secret); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d within the burst: HTTP %d", i+1, resp.StatusCode)
			}
		}
		if resp := call(p2, c.Secret); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1000" {
			t.Errorf("4th request, on the other process: HTTP %d, Retry-After %q; want 429, 1000", resp.StatusCode, resp.Header.Get("Retry-After"))
		}

		for range 3 {
			call(p1, "air_revoked")
		}
		if resp := call(p2, "air_revoked"); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("failed API calls after 3 on the other process: HTTP %d, want 429", resp.StatusCode)
		}

		// Sign-in has buckets of its own: the API's failures above do not
		// count, three failures on p1 do, and p2 then refuses the fourth.
		for i, p := range []*site{p1, p1, p1, p2} {
			_, page := p.get(t, "/signin")
			m := csrfField.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("sign-in page %d has no anti-forgery field", i+1)
			}
			resp, _ := p.post(t, "/signin", url.Values{"csrf": {m[1]}, "token": {"air_wrong"}})
			want := http.StatusUnauthorized
			if i == 3 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Errorf("failed sign-in %d: HTTP %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})
}
