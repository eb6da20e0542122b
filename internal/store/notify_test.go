package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestIncidentChangesFeedNotifications: every path that creates an
// incident or raises its severity (ingest, an analyst's change) leaves
// one event in the same transaction; lowering it leaves none.
func TestIncidentChangesFeedNotifications(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().UTC().Add(-time.Hour)
		r1 := mustIngest(t, s, correlate.Rules{}, alertAt("n1", t0, domain.SeverityLow, device("ws-1", domain.VerdictSuspicious)))
		inc := r1[0].IncidentID
		// Same device, higher severity: the incident escalates.
		mustIngest(t, s, correlate.Rules{}, alertAt("n2", t0.Add(time.Minute), domain.SeverityHigh, device("ws-1", domain.VerdictMalicious)))
		// By hand: down (no event), then up again.
		for _, sev := range []domain.Severity{domain.SeverityMedium, domain.SeverityHigh} {
			if _, _, err := s.ManageIncident(ctx, inc, records.IncidentChange{Severity: &sev}, "ana"); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := s.IncidentEvents(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		type ev struct {
			kind          string
			sev, previous domain.Severity
		}
		var got []ev
		for _, e := range evs {
			if e.IncidentID != inc {
				t.Errorf("event of incident %d, want %d", e.IncidentID, inc)
			}
			got = append(got, ev{e.Kind, e.Severity, e.Previous})
		}
		want := []ev{
			{store.EventIncidentCreated, domain.SeverityLow, ""},
			{store.EventIncidentEscalated, domain.SeverityHigh, domain.SeverityLow},
			{store.EventIncidentEscalated, domain.SeverityHigh, domain.SeverityMedium},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("events: got %+v, want %+v", got, want)
		}

		briefs, err := s.IncidentBriefs(ctx, []int64{inc, inc, 99999})
		if err != nil {
			t.Fatal(err)
		}
		b := briefs[inc]
		if len(briefs) != 1 || b == nil || !slices.Equal(b.DeviceGroups, []string{"workstations"}) ||
			!slices.Equal([]string(b.ServiceSources), []string{"microsoftDefenderForEndpoint"}) || b.Severity != domain.SeverityHigh {
			t.Fatalf("briefs: got %+v", briefs)
		}

		// Routing queues the messages and removes the events in one
		// transaction; routing the same messages again queues nothing.
		id := inc
		ns := []domain.Notification{{Key: fmt.Sprintf("incident.created:%d", inc), Rule: "r", Channel: "mail", IncidentID: &id,
			Subject: "new", Text: "body"}}
		ids := []int64{evs[0].ID, evs[1].ID, evs[2].ID}
		if n, err := s.RouteIncidentEvents(ctx, ids, ns); err != nil || n != 1 {
			t.Fatalf("route: %d, %v; want 1 queued", n, err)
		}
		if n, err := s.RouteIncidentEvents(ctx, ids, ns); err != nil || n != 0 {
			t.Fatalf("route again: %d, %v; want 0 queued", n, err)
		}
		if left, _ := s.IncidentEvents(ctx, 100); len(left) != 0 {
			t.Errorf("events left after routing: %+v", left)
		}
	})
}

func queue(t *testing.T, s *store.Store, n int, channel string) {
	t.Helper()
	var ns []domain.Notification
	for i := range n {
		ns = append(ns, domain.Notification{Key: fmt.Sprintf("k%d", i), Channel: channel, Subject: "s", Text: "t"})
	}
	if got, err := s.EnqueueNotifications(context.Background(), ns); err != nil || got != n {
		t.Fatalf("enqueue: %d, %v; want %d", got, err, n)
	}
}

// TestNotificationClaimsLeaseAndOutcomes: a claim holds its rows for its
// lease; after it, another claim takes them (a dispatcher that died), and
// the first claim can no longer record an outcome.
func TestNotificationClaimsLeaseAndOutcomes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		queue(t, s, 3, "slack")
		t0 := time.Now().UTC().Truncate(time.Millisecond).Add(time.Millisecond) // PostgreSQL keeps microseconds
		claim := func(token string, at time.Time, limit int, skip ...string) []domain.Notification {
			t.Helper()
			got, err := s.ClaimNotifications(ctx, records.NotificationClaim{Token: token, Now: at, Lease: time.Minute, Limit: limit, SkipChannels: skip})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		a := claim("A", t0, 2)
		if len(a) != 2 || a[0].Attempts != 1 || a[0].Claim != "A" || !a[0].NextAttempt.After(t0) {
			t.Fatalf("claim A: %+v", a)
		}
		if b := claim("B", t0, 10); len(b) != 1 || b[0].ID == a[0].ID || b[0].ID == a[1].ID {
			t.Fatalf("claim B took %+v, want only the row A does not hold", b)
		}
		if got := claim("X", t0.Add(30*time.Second), 10); len(got) != 0 {
			t.Fatalf("inside the leases nothing is due, got %+v", got)
		}
		if got := claim("Y", t0.Add(2*time.Minute), 10, "slack"); len(got) != 0 {
			t.Fatalf("a skipped channel is not claimed, got %+v", got)
		}
		c := claim("C", t0.Add(2*time.Minute), 2)
		if len(c) != 2 || c[0].Attempts != 2 {
			t.Fatalf("after the lease, claim C: %+v; want A's two rows at attempt 2", c)
		}
		ok, err := s.FinishNotification(ctx, a[0].ID, "A", records.NotificationOutcome{Status: domain.NotificationSent, At: t0})
		if err != nil || ok {
			t.Fatalf("A finishing a row C took: %v, %v; want refused", ok, err)
		}
		sentAt := t0.Add(2 * time.Minute)
		if ok, err := s.FinishNotification(ctx, c[0].ID, "C", records.NotificationOutcome{Status: domain.NotificationSent, At: sentAt}); err != nil || !ok {
			t.Fatalf("C finishing: %v, %v", ok, err)
		}
		next := t0.Add(10 * time.Minute)
		if ok, err := s.FinishNotification(ctx, c[1].ID, "C", records.NotificationOutcome{Status: domain.NotificationQueued,
			At: sentAt, Next: next, Error: "HTTP 500", Uncount: true}); err != nil || !ok {
			t.Fatalf("C retrying: %v, %v", ok, err)
		}
		if ok, _ := s.FinishNotification(ctx, c[0].ID, "C", records.NotificationOutcome{Status: domain.NotificationFailed, At: sentAt}); ok {
			t.Error("a finished row took a second outcome")
		}
		page, err := s.QueryNotifications(ctx, records.NotificationQuery{})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[int64]domain.Notification{}
		for _, n := range page.Value {
			byID[n.ID] = n
		}
		if n := byID[c[0].ID]; n.Status != domain.NotificationSent || n.SentAt == nil || !n.SentAt.Equal(sentAt) || n.Attempts != 2 {
			t.Errorf("sent row: %+v", n)
		}
		if n := byID[c[1].ID]; n.Status != domain.NotificationQueued || n.LastError != "HTTP 500" || n.Attempts != 1 || !n.NextAttempt.Equal(next) {
			t.Errorf("retried row (throttled: the attempt is taken back): %+v", n)
		}
		if got := claim("D", next, 10); len(got) != 2 {
			t.Errorf("at the retry time, B's expired row and the retried one are due: got %d", len(got))
		}
	})
}

// TestClaimersNeverShareARow: dispatchers claiming at once each get
// distinct rows, and together every row once; on PostgreSQL from two
// connection pools on one schema, like two worker processes.
func TestClaimersNeverShareARow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := OpenSQLite(t)
		claimAllOnce(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := postgresSchemaURL(t)
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
		claimAllOnce(t, two[0], two[1])
	})
}

func claimAllOnce(t *testing.T, a, b *store.Store) {
	const rows = 300
	queue(t, a, rows, "mail")
	stores := []*store.Store{a, b}
	now := time.Now().UTC()
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("w%d", w)
			for {
				got, err := stores[w%2].ClaimNotifications(context.Background(), records.NotificationClaim{Token: token, Now: now,
					Lease: time.Hour, Limit: 7})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, n := range got {
					if prev, dup := seen[n.ID]; dup {
						t.Errorf("row %d claimed by %s and %s", n.ID, prev, token)
					}
					seen[n.ID] = token
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != rows {
		t.Errorf("claimed %d rows, want %d", len(seen), rows)
	}
}

// TestWaitingActionsAndHistory: the pending actions a rule has not told of
// yet, and the history's filters and paging.
func TestWaitingActionsAndHistory(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r, err := s.IngestAlert(ctx, alertAt("w1", time.Now(), domain.SeverityHigh, device("ws-9", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().UTC().Add(-2 * time.Hour)
		for i, at := range []time.Time{old, time.Now().UTC()} {
			a := &domain.Action{ID: fmt.Sprintf("act%d", i), IncidentID: r.IncidentID, Playbook: "p", PlaybookVersion: 1, Step: "s",
				Type: "device.isolate", TargetKey: "device:ws-9", TargetName: "ws-9", Params: []byte(`{}`), Source: domain.SourceAutomated,
				Status: domain.ActionPending, Reason: "semi-all", CreatedAt: at, IdempotencyKey: fmt.Sprintf("k%d", i)}
			if _, err := s.RecordAction(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
		}
		waiting := func(rule string) []string {
			t.Helper()
			acts, err := s.WaitingActions(ctx, rule, "action.waiting:", time.Now().Add(-30*time.Minute), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range acts {
				ids = append(ids, a.ID)
			}
			return ids
		}
		if got := waiting("slow"); !slices.Equal(got, []string{"act0"}) {
			t.Fatalf("waiting: %v, want [act0] (act1 is recent)", got)
		}
		id := r.IncidentID
		if _, err := s.EnqueueNotifications(ctx, []domain.Notification{
			{Key: "action.waiting:act0", Rule: "slow", Channel: "mail", IncidentID: &id, Subject: "waiting"},
			{Key: "action.waiting:act0", Rule: "slow", Channel: "teams", IncidentID: &id, Subject: "waiting"},
		}); err != nil {
			t.Fatal(err)
		}
		if got := waiting("slow"); len(got) != 0 {
			t.Errorf("waiting after the rule told of act0: %v, want none", got)
		}
		if got := waiting("other"); !slices.Equal(got, []string{"act0"}) {
			t.Errorf("another rule still sees act0: got %v", got)
		}

		page, err := s.QueryNotifications(ctx, records.NotificationQuery{Channels: []string{"teams"}})
		if err != nil || page.Total != 1 || len(page.Value) != 1 || page.Value[0].Channel != "teams" || *page.Value[0].IncidentID != id {
			t.Fatalf("channel filter: %+v, %v", page, err)
		}
		page, err = s.QueryNotifications(ctx, records.NotificationQuery{Statuses: []domain.NotificationStatus{domain.NotificationQueued},
			IncidentID: id, Limit: 1, Offset: 1})
		if err != nil || page.Total != 2 || len(page.Value) != 1 || page.Value[0].Channel != "mail" {
			t.Fatalf("second page of the incident's queued messages: %+v, %v", page, err)
		}
		if page, err := s.QueryNotifications(ctx, records.NotificationQuery{Statuses: []domain.NotificationStatus{domain.NotificationSent}}); err != nil || page.Total != 0 {
			t.Errorf("sent filter: %+v, %v", page, err)
		}
	})
}
