package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// TestReportSchedulesAndRuns keeps a schedule (audited, its id unique),
// keeps runs (once per key, however often kept), lists them newest first
// by kind and schedule, reads one with its page, figures and the outbox's
// deliveries, and deletes the schedule (audited) while its runs stay.
func TestReportSchedulesAndRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
		rs := domain.ReportSchedule{ID: "daily-1", Kind: domain.ReportDaily, Cron: "30 6 * * *", Calendar: &domain.ReportCalendar{Hour: "6", Minute: "30"},
			TimeZone: "Europe/Berlin", Channels: []string{"soc-chat"}, CatchupSeconds: 86400, CreatedBy: "root", CreatedAt: at}
		if err := s.CreateReportSchedule(ctx, rs); err != nil {
			t.Fatal(err)
		}
		var de *domain.Error
		if err := s.CreateReportSchedule(ctx, rs); !errors.As(err, &de) || de.Kind != domain.KindConflict {
			t.Errorf("the same id again: %v, want a conflict", err)
		}
		got, err := s.ReportSchedule(ctx, "daily-1")
		if err != nil || got.Calendar == nil || got.Calendar.Minute != "30" || len(got.Channels) != 1 || !got.CreatedAt.Equal(at) || got.TimeZone != "Europe/Berlin" {
			t.Errorf("read back %+v %v", got, err)
		}
		if _, err := s.ReportSchedule(ctx, "nope"); !errors.As(err, &de) || de.Kind != domain.KindNotFound {
			t.Errorf("unknown schedule: %v, want not found", err)
		}

		run := domain.ReportRun{Kind: domain.ReportDaily, Period: "2026-12-04", Since: at.Add(-30 * time.Hour), Until: at.Add(-6 * time.Hour),
			ScheduleID: "daily-1", Channels: []string{"soc-chat"}, GeneratedAt: at, GeneratedBy: "schedule:daily-1",
			HTML: "<!doctype html><h1>Daily</h1>", Data: json.RawMessage(`{"period":{"name":"2026-12-04"}}`)}
		id, created, err := s.AddReportRun(ctx, "schedule:daily-1:2026-12-04", run)
		if err != nil || !created {
			t.Fatalf("keep: %v %v", created, err)
		}
		again, created, err := s.AddReportRun(ctx, "schedule:daily-1:2026-12-04", run)
		if err != nil || created || again != id {
			t.Errorf("kept again: id %d created %v %v, want %d and nothing new", again, created, err, id)
		}
		monthly := run
		monthly.Kind, monthly.Period, monthly.ScheduleID, monthly.GeneratedAt = domain.ReportMonthly, "2026-11", "", at.Add(time.Minute)
		mid, _, err := s.AddReportRun(ctx, "demand:x", monthly)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.ReportRuns(ctx, records.ReportRunQuery{})
		if err != nil || page.Total != 2 || page.Value[0].ID != mid || page.Value[1].ID != id || page.Value[0].HTML != "" || page.Value[0].Data != nil {
			t.Errorf("list: %+v %v, want the monthly first, without page or figures", page, err)
		}
		for _, q := range []records.ReportRunQuery{{Kind: domain.ReportDaily}, {ScheduleID: "daily-1"}} {
			if p, err := s.ReportRuns(ctx, q); err != nil || p.Total != 1 || p.Value[0].ID != id {
				t.Errorf("list %+v: %+v %v", q, p, err)
			}
		}

		if _, err := s.EnqueueNotifications(ctx, []domain.Notification{{Key: domain.ReportDeliveryKey(id), Channel: "soc-chat", Subject: "s", Text: "t"}}); err != nil {
			t.Fatal(err)
		}
		one, err := s.ReportRun(ctx, id)
		if err != nil || one.HTML != run.HTML || string(one.Data) != string(run.Data) || !one.Since.Equal(run.Since) ||
			len(one.Deliveries) != 1 || one.Deliveries[0].Channel != "soc-chat" || one.Deliveries[0].Status != domain.NotificationQueued {
			t.Errorf("read back %+v %v", one, err)
		}
		if byKey, err := s.ReportRunByKey(ctx, "demand:x"); err != nil || byKey == nil || byKey.ID != mid {
			t.Errorf("by key: %+v %v", byKey, err)
		}
		if none, err := s.ReportRunByKey(ctx, "demand:y"); err != nil || none != nil {
			t.Errorf("unknown key: %+v %v, want none", none, err)
		}

		if err := s.DeleteReportSchedule(ctx, "daily-1", "root"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteReportSchedule(ctx, "daily-1", "root"); !errors.As(err, &de) || de.Kind != domain.KindNotFound {
			t.Errorf("delete again: %v, want not found", err)
		}
		if list, err := s.ReportSchedules(ctx); err != nil || len(list) != 0 {
			t.Errorf("after delete: %+v %v", list, err)
		}
		if _, err := s.ReportRun(ctx, id); err != nil {
			t.Errorf("the run is gone with its schedule: %v", err)
		}
		audit, err := s.QueryAudit(ctx, records.AuditQuery{Verbs: []string{"report.schedule."}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		verbs := map[string]string{}
		for _, e := range audit.Value {
			verbs[e.Verb] = e.Actor
		}
		if verbs["report.schedule.created"] != "root" || verbs["report.schedule.deleted"] != "root" {
			t.Errorf("audit: %+v", audit.Value)
		}
	})
}
