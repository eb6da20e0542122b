package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/remediation"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/internal/store/storetest"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Now().UTC().Truncate(time.Millisecond).Add(time.Millisecond)}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// testConfig has channels s (slack) and m (mail), senders supplied by the
// test, and the given rules.
func testConfig(rules ...Rule) *Config {
	return &Config{BaseURL: "https://air.test", Names: []string{"s", "m"}, Rules: rules,
		Channels: map[string]*Channel{"s": {Name: "s", Type: TypeSlack}, "m": {Name: "m", Type: TypeSMTP}}}
}

func deviceAlert(id, host, group string, sev domain.Severity, at time.Time) *domain.Alert {
	return &domain.Alert{ID: id, Title: "Suspicious process on " + host, Status: domain.AlertNew, Severity: sev,
		Category: "Execution", ServiceSource: "microsoftDefenderForEndpoint", CreatedDateTime: at, LastUpdateDateTime: at,
		Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictSuspicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + host), Kind: domain.KindDevice, Name: host, Verdict: domain.VerdictSuspicious,
			Attrs: map[string]string{"deviceGroup": group}}}}}
}

func history(t *testing.T, s *store.Store, q records.NotificationQuery) []domain.Notification {
	t.Helper()
	q.Limit = 1000
	page, err := s.QueryNotifications(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(page.Value, func(a, b domain.Notification) int { return int(a.ID - b.ID) })
	return page.Value
}

func keysOf(ns []domain.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Rule+" "+n.Channel+" "+n.Key)
	}
	return out
}

// TestRouterNotifiesMatchingRulesOnce: incident events become one message
// per matching rule and channel, by severity, device group and source;
// routing again sends nothing twice.
func TestRouterNotifiesMatchingRulesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := &Service{Store: st, Log: quietLog(), Config: testConfig(
			Rule{Name: "high", On: []string{OnIncidentCreated, OnIncidentEscalated}, MinSeverity: domain.SeverityHigh, Channels: []string{"s"}},
			Rule{Name: "workstations", On: []string{OnIncidentCreated}, DeviceGroups: []string{"workstations"}, Channels: []string{"m", "s"}},
			Rule{Name: "identity", On: []string{OnIncidentCreated}, ServiceSources: []string{"microsoftDefenderForIdentity"}, Channels: []string{"m"}},
			Rule{Name: "servers", On: []string{OnIncidentCreated}, DeviceGroups: []string{"servers"}, Channels: []string{"m"}},
		)}
		t0 := time.Now().UTC().Add(-time.Hour)
		res, err := st.IngestAlerts(ctx, []*domain.Alert{deviceAlert("a1", "ws-1", "Workstations", domain.SeverityLow, t0)}, correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		inc := res[0].IncidentID
		if read, queued, err := svc.RouteEvents(ctx); err != nil || read != 1 || queued != 2 {
			t.Fatalf("route the creation: read %d, queued %d, %v; want 1 and 2", read, queued, err)
		}
		// The same device, a higher severity: the incident escalates.
		if _, err := st.IngestAlerts(ctx, []*domain.Alert{deviceAlert("a2", "ws-1", "Workstations", domain.SeverityHigh, t0.Add(time.Minute))},
			correlate.Rules{}); err != nil {
			t.Fatal(err)
		}
		if _, queued, err := svc.RouteEvents(ctx); err != nil || queued != 1 {
			t.Fatalf("route the escalation: queued %d, %v; want 1", queued, err)
		}
		if read, queued, err := svc.RouteEvents(ctx); err != nil || read != 0 || queued != 0 {
			t.Fatalf("route again: read %d, queued %d, %v; want nothing", read, queued, err)
		}
		got := history(t, st, records.NotificationQuery{})
		want := []string{
			fmt.Sprintf("workstations m incident.created:%d", inc),
			fmt.Sprintf("workstations s incident.created:%d", inc),
			fmt.Sprintf("high s incident.escalated:%d:high", inc),
		}
		if !slices.Equal(keysOf(got), want) {
			t.Fatalf("messages:\n%s\nwant\n%s", strings.Join(keysOf(got), "\n"), strings.Join(want, "\n"))
		}
		esc := got[2]
		if esc.IncidentID == nil || *esc.IncidentID != inc || esc.Status != domain.NotificationQueued ||
			!strings.Contains(esc.Subject, fmt.Sprintf("Incident %d escalated to high", inc)) ||
			!strings.Contains(esc.Text, "Severity: high (was low)") || !strings.Contains(esc.Text, "Device groups: workstations") ||
			!strings.Contains(esc.Text, fmt.Sprintf("Open: https://air.test/incidents/%d", inc)) {
			t.Errorf("escalation message: %+v", esc)
		}
	})
}

// TestDispatcherRetriesHonoursRetryAfterAndGivesUp: a 5xx is retried
// after the backoff, a 429 after its Retry-After without counting as an
// attempt, a permanent 400 is not retried, and a channel that keeps
// failing is given up after the configured attempts.
func TestDispatcherRetriesHonoursRetryAfterAndGivesUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		t0 := clk.now()
		hook, srv := newFakeWebhook(t, answer{status: 500, body: "rollup_error"}, answer{status: 429, retryAfter: "30"}, answer{status: 200, body: "ok"})
		svc := &Service{Store: st, Log: quietLog(), Now: clk.now, Config: testConfig(),
			Senders: map[string]Sender{"s": &Slack{URL: srv.URL, Now: clk.now}}}
		svc.Config.Delivery = Delivery{Attempts: 3, Backoff: 10 * time.Second}
		if _, err := svc.Enqueue(ctx, Message{Key: "report:1", Channels: []string{"s"}, Subject: "weekly report"}); err != nil {
			t.Fatal(err)
		}
		dispatch := func(at time.Time, want int) {
			t.Helper()
			clk.set(at)
			if n, err := svc.Dispatch(ctx); err != nil || n != want {
				t.Fatalf("dispatch at +%s: %d, %v; want %d", at.Sub(t0), n, err, want)
			}
		}
		one := func() domain.Notification {
			t.Helper()
			h := history(t, st, records.NotificationQuery{Key: "report:1"})
			if len(h) != 1 {
				t.Fatalf("history: %+v", h)
			}
			return h[0]
		}
		dispatch(t0, 1) // 500
		if n := one(); n.Status != domain.NotificationQueued || n.Attempts != 1 || !n.NextAttempt.Equal(t0.Add(10*time.Second)) ||
			!strings.Contains(n.LastError, "HTTP 500") {
			t.Fatalf("after a 500: %+v", n)
		}
		dispatch(t0.Add(5*time.Second), 0)
		dispatch(t0.Add(10*time.Second), 1) // 429, Retry-After 30
		if n := one(); n.Attempts != 1 || !n.NextAttempt.Equal(t0.Add(40*time.Second)) || !strings.Contains(n.LastError, "429") {
			t.Fatalf("after a 429: %+v; want the attempt taken back and the next one 30s on", n)
		}
		dispatch(t0.Add(39*time.Second), 0)
		dispatch(t0.Add(40*time.Second), 1) // 200
		if n := one(); n.Status != domain.NotificationSent || n.Attempts != 2 || n.SentAt == nil {
			t.Fatalf("after a 200: %+v", n)
		}
		if len(hook.bodies) != 3 {
			t.Errorf("the webhook got %d posts, want 3", len(hook.bodies))
		}

		// A permanent error: one post, failed.
		bad, badSrv := newFakeWebhook(t, answer{status: 400, body: "invalid_payload"})
		svc.Senders["s"] = &Slack{URL: badSrv.URL}
		svc2 := &Service{Store: st, Log: quietLog(), Now: clk.now, Config: svc.Config, Senders: map[string]Sender{"s": &Slack{URL: badSrv.URL}}}
		if _, err := svc2.Enqueue(ctx, Message{Key: "report:2", Channels: []string{"s"}, Subject: "x"}); err != nil {
			t.Fatal(err)
		}
		clk.set(t0.Add(time.Hour))
		if n, err := svc2.Dispatch(ctx); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if h := history(t, st, records.NotificationQuery{Key: "report:2"}); h[0].Status != domain.NotificationFailed || h[0].Attempts != 1 ||
			!strings.Contains(h[0].LastError, "invalid_payload") {
			t.Errorf("after a 400: %+v", h[0])
		}
		clk.set(t0.Add(2 * time.Hour))
		if n, _ := svc2.Dispatch(ctx); n != 0 || len(bad.bodies) != 1 {
			t.Errorf("a failed message went again: %d claimed, %d posts", n, len(bad.bodies))
		}

		// Always 500: given up after 3 attempts.
		_, downSrv := newFakeWebhook(t, answer{status: 503})
		svc3 := &Service{Store: st, Log: quietLog(), Now: clk.now, Config: svc.Config, Senders: map[string]Sender{"s": &Slack{URL: downSrv.URL}}}
		if _, err := svc3.Enqueue(ctx, Message{Key: "report:3", Channels: []string{"s"}, Subject: "x"}); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(3 * time.Hour)
		for range 3 {
			clk.set(at)
			if n, err := svc3.Dispatch(ctx); err != nil || n != 1 {
				t.Fatal(n, err)
			}
			at = at.Add(time.Hour)
		}
		if h := history(t, st, records.NotificationQuery{Key: "report:3"}); h[0].Status != domain.NotificationFailed || h[0].Attempts != 3 ||
			!strings.Contains(h[0].LastError, "gave up after 3 attempts") {
			t.Errorf("after 3 failures: %+v", h[0])
		}
	})
}

// countingWebhook counts the posts per message (Slack's text carries the
// subject, unique per message in these tests).
type countingWebhook struct {
	mu    sync.Mutex
	count map[string]int
}

func newCountingWebhook(t *testing.T, delay time.Duration) (*countingWebhook, *httptest.Server) {
	c := &countingWebhook{count: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		time.Sleep(delay)
		c.mu.Lock()
		c.count[body.Text]++
		c.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *countingWebhook) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.count {
		out[k] = v
	}
	return out
}

// TestAClaimThatDiesIsSentByAnother: at least once — a dispatcher that
// claimed a message and died leaves it to another once the lease runs out.
func TestAClaimThatDiesIsSentByAnother(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		t0 := clk.now()
		hook, srv := newCountingWebhook(t, 0)
		svc := &Service{Store: st, Log: quietLog(), Now: clk.now, Config: testConfig(), Senders: map[string]Sender{"s": &Slack{URL: srv.URL}}}
		if _, err := svc.Enqueue(ctx, Message{Key: "k", Channels: []string{"s"}, Subject: "orphan"}); err != nil {
			t.Fatal(err)
		}
		lease := svc.Config.Delivery.lease()
		// The dispatcher that dies: it claims, and is never heard of again.
		if got, err := st.ClaimNotifications(ctx, records.NotificationClaim{Token: "dead", Now: t0, Lease: lease, Limit: 10}); err != nil || len(got) != 1 {
			t.Fatalf("claim: %v, %v", got, err)
		}
		clk.set(t0.Add(lease - time.Second))
		if n, err := svc.Dispatch(ctx); err != nil || n != 0 {
			t.Fatalf("inside the lease: %d, %v; want the message left to its holder", n, err)
		}
		clk.set(t0.Add(lease + time.Second))
		if n, err := svc.Dispatch(ctx); err != nil || n != 1 {
			t.Fatalf("after the lease: %d, %v; want it sent", n, err)
		}
		if h := history(t, st, records.NotificationQuery{Key: "k"}); h[0].Status != domain.NotificationSent || h[0].Attempts != 2 {
			t.Errorf("history: %+v", h[0])
		}
		if c := hook.snapshot(); c["orphan"] != 1 {
			t.Errorf("posts: %v", c)
		}
		if ok, _ := st.FinishNotification(ctx, 1, "dead", records.NotificationOutcome{Status: domain.NotificationFailed, At: clk.now()}); ok {
			t.Error("the dead claim recorded an outcome after another sent the message")
		}
	})
}

// TestTwoDispatchersSendEachMessageOnce: two services on one database (on
// PostgreSQL through two connection pools, like two worker processes)
// share the outbox without sending any message twice.
func TestTwoDispatchersSendEachMessageOnce(t *testing.T) {
	run := func(t *testing.T, a, b *store.Store) {
		const n = 60
		hook, srv := newCountingWebhook(t, 3*time.Millisecond)
		var svcs []*Service
		for _, st := range []*store.Store{a, b} {
			svcs = append(svcs, &Service{Store: st, Log: quietLog(), Config: testConfig(), Poll: 20 * time.Millisecond,
				Batch: 5, Concurrency: 2, Senders: map[string]Sender{"s": &Slack{URL: srv.URL}}})
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, svc := range svcs {
			wg.Add(1)
			go func() { defer wg.Done(); svc.Run(ctx) }()
		}
		defer func() { cancel(); wg.Wait() }()
		for i := range n {
			if _, err := svcs[i%2].Enqueue(context.Background(), Message{Key: fmt.Sprint(i), Channels: []string{"s"}, Subject: fmt.Sprintf("m%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			sent := history(t, a, records.NotificationQuery{Statuses: []domain.NotificationStatus{domain.NotificationSent}})
			if len(sent) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d sent after 30s", len(sent), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		got := hook.snapshot()
		if len(got) != n {
			t.Errorf("the webhook saw %d distinct messages, want %d", len(got), n)
		}
		for k, c := range got {
			if c != 1 {
				t.Errorf("message %s posted %d times", k, c)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := storetest.SQLite(t)
		run(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := storetest.SchemaURL(t)
		if dsn == "" {
			t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
		}
		var two [2]*store.Store
		for i := range two {
			s, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			two[i] = s
		}
		run(t, two[0], two[1])
	})
}

// TestActionWaitingNotifiesOnceAfterItsDelay: an action pending longer
// than a rule's after notifies once; a fresher one, or one on an incident
// the rule's filters leave out, does not.
func TestActionWaitingNotifiesOnceAfterItsDelay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := newClock()
		t0 := clk.now()
		svc := &Service{Store: st, Log: quietLog(), Now: clk.now, Config: testConfig(
			Rule{Name: "slow", On: []string{OnActionWaiting}, After: 30 * time.Minute, MinSeverity: domain.SeverityMedium, Channels: []string{"s", "m"}},
			Rule{Name: "any", On: []string{OnActionWaiting}, After: 20 * time.Minute, Channels: []string{"m"}})}
		var incs []int64
		for i, sev := range []domain.Severity{domain.SeverityHigh, domain.SeverityLow} {
			res, err := st.IngestAlerts(ctx, []*domain.Alert{deviceAlert(fmt.Sprintf("w%d", i), fmt.Sprintf("ws-%d", i), "Workstations", sev, t0)},
				correlate.Rules{})
			if err != nil {
				t.Fatal(err)
			}
			incs = append(incs, res[0].IncidentID)
			a := &domain.Action{ID: fmt.Sprintf("act%d", i), IncidentID: res[0].IncidentID, Playbook: "p", PlaybookVersion: 1, Step: "isolate",
				Type: "device.isolate", TargetKey: domain.EntityKey(fmt.Sprintf("device:ws-%d", i)), TargetName: fmt.Sprintf("ws-%d", i),
				Params: []byte(`{}`), Source: domain.SourceAutomated, Status: domain.ActionPending,
				Reason:    "automation level semi-all (tenant default): every remediation waits for approval",
				CreatedAt: t0.Add(-10 * time.Minute), IdempotencyKey: fmt.Sprintf("k%d", i)}
			if _, err := st.RecordAction(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := svc.ScanWaiting(ctx); err != nil || n != 0 {
			t.Fatalf("after 10 minutes: %d, %v; want nothing yet", n, err)
		}
		clk.set(t0.Add(25 * time.Minute))
		if n, err := svc.ScanWaiting(ctx); err != nil || n != 4 {
			t.Fatalf("after 35 minutes: %d, %v; want act0 to both channels of slow (act1's incident is low), both actions to any's", n, err)
		}
		if n, err := svc.ScanWaiting(ctx); err != nil || n != 0 {
			t.Fatalf("scanning again: %d, %v; want nothing new", n, err)
		}
		got := history(t, st, records.NotificationQuery{})
		if !slices.Equal(keysOf(got), []string{"slow s action.waiting:act0", "slow m action.waiting:act0",
			"any m action.waiting:act0", "any m action.waiting:act1"}) {
			t.Fatalf("messages: %v", keysOf(got))
		}
		if m := got[0]; !strings.Contains(m.Subject, "device.isolate on ws-0 has waited 35m0s for approval") ||
			!strings.Contains(m.Text, "Why it waits: automation level semi-all") || !strings.Contains(m.Text, "Decide: https://air.test/actions") ||
			m.IncidentID == nil || *m.IncidentID != incs[0] {
			t.Errorf("message: %+v", m)
		}
	})
}

type joinedNowhere struct{}

func (joinedNowhere) AlertsJoined(context.Context, int64, []string) error { return nil }

// TestIngestIsNotBlockedByAHangingChannel: with the notification service
// running and its only channel a webhook that never answers, ingest takes
// alerts at its usual pace; the messages are queued and the sends hang on
// the service's goroutines, off ingest's path.
func TestIngestIsNotBlockedByAHangingChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		release := make(chan struct{})
		var mu sync.Mutex
		posts := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			posts++
			mu.Unlock()
			select { // never answers while the test runs
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		svc := &Service{Store: st, Log: quietLog(), Poll: 20 * time.Millisecond,
			Config:  testConfig(Rule{Name: "all", On: []string{OnIncidentCreated}, Channels: []string{"s"}}),
			Senders: map[string]Sender{"s": &Slack{URL: srv.URL}}}
		svc.Config.Delivery.Timeout = time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.Run(ctx) }()
		defer func() { cancel(); <-done }()

		pipeline := &ingest.Pipeline{Store: st, Notifier: joinedNowhere{}, Log: quietLog()}
		const alerts = 20
		t0 := time.Now().UTC().Add(-time.Hour)
		start := time.Now()
		for i := range alerts {
			began := time.Now()
			a := deviceAlert(fmt.Sprintf("h%d", i), fmt.Sprintf("host-%d", i), "Servers", domain.SeverityHigh, t0)
			if _, err := pipeline.Ingest(context.Background(), []*domain.Alert{a}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Fatalf("ingesting alert %d took %s while the channel hangs", i, d)
			}
			if i == 0 {
				// Let the first send reach the hanging webhook before the rest.
				waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return posts > 0 })
			}
		}
		took := time.Since(start)
		waitFor(t, func() bool {
			return len(history(t, st, records.NotificationQuery{})) == alerts
		})
		h := history(t, st, records.NotificationQuery{})
		sent := 0
		for _, n := range h {
			if n.Status != domain.NotificationQueued {
				sent++
			}
		}
		if sent != 0 {
			t.Errorf("%d messages left the queue while the channel hangs", sent)
		}
		t.Logf("%d alerts ingested in %s while the channel hung; %d messages queued", alerts, took, len(h))
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExecutorQueuesOncePerAction: incident.notify steps queue their
// message keyed by the action id; again with the same id queues nothing;
// a step without a channel or with an unknown one is invalid.
func TestExecutorQueuesOncePerAction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ex := &Executor{Service: &Service{Store: st, Log: quietLog(), Config: testConfig()}}
		req := remediation.Request{ActionID: "a1b2c3", IncidentID: 42, Type: ActionType,
			Params: domain.RawJSON(`{"channel":"s","channels":["m","s"],"text":"The CFO's account was disabled."}`)}
		res, err := ex.Execute(ctx, req)
		if err != nil || !res.Changed || res.Summary != "queued for s, m" {
			t.Fatalf("execute: %+v, %v", res, err)
		}
		if res, err := ex.Execute(ctx, req); err != nil || res.Changed || !strings.HasPrefix(res.Summary, "already queued") {
			t.Fatalf("execute again: %+v, %v; want nothing new", res, err)
		}
		got := history(t, st, records.NotificationQuery{})
		if !slices.Equal(keysOf(got), []string{" s incident.notify:a1b2c3", " m incident.notify:a1b2c3"}) {
			t.Fatalf("messages: %v", keysOf(got))
		}
		if m := got[0]; m.Subject != "[AIR] Incident 42" || *m.IncidentID != 42 ||
			m.Text != "The CFO's account was disabled.\n\nOpen: https://air.test/incidents/42" {
			t.Errorf("message: %+v", m)
		}
		for _, params := range []string{`{"text":"x"}`, `{"channel":"pager","text":"x"}`, `{"channels":[3],"text":"x"}`} {
			req.ActionID, req.Params = "other", domain.RawJSON(params)
			if _, err := ex.Execute(ctx, req); domain.KindOf(err) != domain.KindInvalid {
				t.Errorf("params %s: %v, want invalid", params, err)
			}
		}
		req.Type = "device.isolate"
		if _, err := ex.Execute(ctx, req); domain.KindOf(err) != domain.KindInvalid {
			t.Errorf("another action type: %v, want invalid", err)
		}
	})
}
