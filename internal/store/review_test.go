package store_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestMetricQueries runs the response-metric queries on both dialects:
// milestones, executed and automated actions, pending times (read and
// aggregated in SQL, where the dialects compute time differences each
// their own way) and counts by status.
func TestMetricQueries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		start := time.Now().UTC()
		res, err := s.IngestAlert(ctx, alertAt("m1", start, domain.SeverityHigh, device("ws-m1", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		inc := res.IncidentID
		t0 := start.Add(-8 * 24 * time.Hour).Truncate(time.Second)
		at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
		record := func(a domain.Action, updates ...func(*domain.Action)) {
			t.Helper()
			a.IncidentID, a.TargetKey, a.TargetName, a.Playbook, a.PlaybookVersion, a.Step = inc, "device:ws-m1", "ws-m1", "p", 1, "s"
			a.Params, a.RequestedBy, a.Reason, a.IdempotencyKey, a.CreatedAt = []byte(`{}`), "playbook", "test", a.ID, t0
			if a.Source == "" {
				a.Source = domain.SourceAutomated
			}
			if _, err := s.RecordAction(ctx, &a, nil); err != nil {
				t.Fatal(err)
			}
			for _, u := range updates {
				u(&a)
				if err := s.UpdateAction(ctx, &a); err != nil {
					t.Fatal(err)
				}
			}
		}
		run := func(started, finished time.Duration) func(*domain.Action) {
			return func(a *domain.Action) {
				a.Status, a.StartedAt, a.FinishedAt = domain.ActionSucceeded, at(started), at(finished)
			}
		}
		// Approved by policy at creation, ran: automated, waited for nobody.
		record(domain.Action{ID: "auto", Type: "device.isolate", Status: domain.ActionApproved, DecidedBy: domain.PolicyActor, DecidedAt: at(0)},
			run(time.Second, 2*time.Second))
		// Waited ten minutes for ana, ran.
		record(domain.Action{ID: "human", Type: "device.run_av_scan", Status: domain.ActionPending},
			func(a *domain.Action) {
				a.Status, a.DecidedBy, a.DecidedAt = domain.ActionApproved, "ana", at(10*time.Minute)
			},
			run(11*time.Minute, 12*time.Minute))
		// Waited almost a week, then expired.
		record(domain.Action{ID: "expired", Type: "user.disable", Status: domain.ActionPending},
			func(a *domain.Action) {
				a.Status, a.DecidedBy, a.DecidedAt = domain.ActionExpired, "system:expiry", at(7*24*time.Hour-time.Minute)
			})
		// An undo, approved by whoever asked: it waited for nobody.
		record(domain.Action{ID: "undo", Type: "device.release", Source: domain.SourceManual, Status: domain.ActionApproved,
			DecidedBy: "ana", DecidedAt: at(0), UndoOf: "auto"})
		// Still pending: in no figure but the counts.
		record(domain.Action{ID: "waiting", Type: "device.isolate", Status: domain.ActionPending})

		prog, res2 := domain.IncidentInProgress, domain.IncidentResolved
		if _, _, err := s.ManageIncident(ctx, inc, records.IncidentChange{Status: &prog}, "ana"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ManageIncident(ctx, inc, records.IncidentChange{Status: &res2}, "ana"); err != nil {
			t.Fatal(err)
		}

		got, err := s.ExecutedActions(ctx, time.Time{})
		if err != nil || got.Executed != 2 || got.Automated != 1 {
			t.Errorf("executed actions: %+v, %v; want 2 executed, 1 automated", got, err)
		}
		if got, err := s.ExecutedActions(ctx, t0.Add(time.Minute)); err != nil || got.Executed != 1 || got.Automated != 0 {
			t.Errorf("executed since t0+1m: %+v, %v; want the human one", got, err)
		}

		secs, expired, err := s.PendingSeconds(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(secs)
		want := []float64{600, 7*86400 - 60}
		if len(secs) != 2 || math.Abs(secs[0]-want[0]) > 0.01 || math.Abs(secs[1]-want[1]) > 0.01 || expired != 1 {
			t.Errorf("pending seconds: %v, expired %d; want %v, 1 expired", secs, expired, want)
		}
		if secs, _, _ := s.PendingSeconds(ctx, t0.Add(time.Hour)); len(secs) != 1 {
			t.Errorf("pending seconds decided in the last week: %v, want the expired one", secs)
		}

		h, err := s.PendingHistogram(ctx, []float64{60, 900, 86400, 7 * 86400})
		if err != nil {
			t.Fatal(err)
		}
		if h.Count != 2 || math.Abs(h.Sum-(want[0]+want[1])) > 0.1 || !slices.Equal(h.Counts, []uint64{0, 1, 1, 2}) {
			t.Errorf("histogram: %+v", h)
		}

		times, err := s.ResponseTimes(ctx, start.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(times) != 1 || times[0].ID != inc || times[0].AcknowledgedAt == nil || times[0].ResolvedAt == nil ||
			times[0].ContainedAt == nil || times[0].ResolvedAt.Before(*times[0].AcknowledgedAt) {
			t.Fatalf("response times: %+v", times)
		}
		if times, _ := s.ResponseTimes(ctx, time.Now().Add(time.Hour)); len(times) != 0 {
			t.Errorf("response times from the future: %+v", times)
		}

		counts, err := s.CountByStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts.Incidents["resolved"] != 1 || counts.Actions["succeeded"] != 2 || counts.Actions["pending"] != 1 ||
			counts.Actions["expired"] != 1 || counts.Alerts["resolved"] != 1 {
			t.Errorf("counts: %+v", counts)
		}
	})
}
