package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/store/storetest"
)

// stream opens GET /live with the site's session and returns the change
// events as they come.
func (s *site) stream(t *testing.T) <-chan events.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/live", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /live: HTTP %d, %s; want 200, text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan events.Event, 16)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		kind := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && kind == "change":
				var e events.Event
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
				out <- e
			case line == "":
				kind = ""
			}
		}
	}()
	return out
}

func ingestOn(t *testing.T, st *storetest.Store, id, host, group string) int64 {
	t.Helper()
	now := time.Now()
	r, err := st.IngestAlert(context.Background(), &domain.Alert{ID: id, Title: "Web shell dropped on " + host,
		Status: domain.AlertNew, Severity: domain.SeverityHigh, Category: "Persistence", ServiceSource: "microsoftDefenderForEndpoint",
		CreatedDateTime: now, LastUpdateDateTime: now, Evidence: []domain.Evidence{{Type: "deviceEvidence",
			Verdict: domain.VerdictMalicious, Entity: &domain.Entity{Key: domain.EntityKey("device:" + host), Kind: domain.KindDevice,
				Name: host, Verdict: domain.VerdictMalicious, Attrs: map[string]string{"deviceGroup": group}}}}}, correlate.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	return r.IncidentID
}

// TestLiveStreamIsScoped: a principal scoped to device groups hears of
// changes to incidents in their groups only — the id of a hidden
// incident never reaches them — while an unscoped one hears of both.
func TestLiveStreamIsScoped(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.signInWith(t, s.scoped)
	scoped := s.stream(t)
	other := s.fresh()
	other.signIn(t, auth.Responder)
	all := other.stream(t)

	hidden := ingestOn(t, s.st, "live-hidden", "ws-live", "Workstations")
	shown := ingestOn(t, s.st, "live-shown", "srv-live", "Servers")
	next := func(ch <-chan events.Event, who string) events.Event {
		t.Helper()
		select {
		case e := <-ch:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("%s heard nothing within 10 s", who)
			return events.Event{}
		}
	}
	if e := next(scoped, "the scoped viewer"); e.IncidentID != shown || !e.Created {
		t.Errorf("the scoped viewer heard %+v first, want incident %d (Servers) created; incident %d (Workstations) is hidden", e, shown, hidden)
	}
	if e := next(all, "the responder"); e.IncidentID != hidden {
		t.Errorf("the responder heard %+v first, want incident %d", e, hidden)
	}
	if e := next(all, "the responder"); e.IncidentID != shown {
		t.Errorf("the responder heard %+v second, want incident %d", e, shown)
	}
}

// TestLiveNeedsASession: without a session the stream is the sign-in
// redirect, like every page, and the pending count is refused.
func TestLiveNeedsASession(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/live", "/actions/count"} {
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
			t.Errorf("GET %s signed out: HTTP %d to %q, want 303 to /signin", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	s.signIn(t, auth.Viewer)
	_, body := s.get(t, "/actions/count")
	if strings.TrimSpace(body) != `{"pending":1}` {
		t.Errorf("GET /actions/count: %s, want {\"pending\":1}", body)
	}
	_, page := s.get(t, "/incidents")
	if !strings.Contains(page, `id="live-count"`) || !strings.Contains(page, `data-live-follow="incidents"`) {
		t.Errorf("the queue lacks the live count or what it follows")
	}
}
