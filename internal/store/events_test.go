package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/store"
)

// TestStorePublishesCommittedChanges: the pages re-read on these events,
// so ingest, actions and incident changes each publish once committed.
func TestStorePublishesCommittedChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var hub events.Hub
		s.SetPublisher(&hub)
		ch, cancel := hub.Subscribe()
		defer cancel()
		next := func(what string) events.Event {
			t.Helper()
			select {
			case e := <-ch:
				return e
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no event", what)
				return events.Event{}
			}
		}

		r, err := s.IngestAlert(ctx, alertAt("ev1", time.Now(), domain.SeverityHigh, device("ws-ev", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		if e := next("ingest"); e.Kind != events.Incident || e.IncidentID != r.IncidentID || !e.Created {
			t.Errorf("ingest published %+v, want incident %d created", e, r.IncidentID)
		}
		if _, err := s.IngestAlert(ctx, alertAt("ev1", time.Now().Add(-time.Hour), domain.SeverityHigh), correlate.Rules{}); err != nil {
			t.Fatal(err)
		}
		a := &domain.Action{ID: "ev-act", IncidentID: r.IncidentID, Playbook: "p", PlaybookVersion: 1, Step: "isolate",
			Type: "device.isolate", TargetKey: "device:ws-ev", TargetName: "ws-ev", Source: domain.SourceAutomated,
			Status: domain.ActionPending, Reason: "semi", CreatedAt: time.Now(), IdempotencyKey: "ev-k"}
		if _, err := s.RecordAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		// The older version of ev1 changed nothing, so the next event is the action.
		if e := next("record action"); e.Kind != events.Action || e.ActionID != "ev-act" || !e.Created || e.IncidentID != r.IncidentID {
			t.Errorf("RecordAction published %+v, want action ev-act created on incident %d", e, r.IncidentID)
		}
		a.Status = domain.ActionRejected
		if err := s.UpdateAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if e := next("update action"); e.Kind != events.Action || e.ActionID != "ev-act" || e.Created {
			t.Errorf("UpdateAction published %+v, want action ev-act changed", e)
		}
		if err := s.AddIncidentComment(ctx, r.IncidentID, "looking", "ana"); err != nil {
			t.Fatal(err)
		}
		if e := next("comment"); e.Kind != events.Incident || e.IncidentID != r.IncidentID || e.Created {
			t.Errorf("a comment published %+v, want incident %d changed", e, r.IncidentID)
		}
	})
}
