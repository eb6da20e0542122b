package report_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
)

// TestPeriodBefore: a run reports on the whole UTC period before the time
// it was scheduled for.
func TestPeriodBefore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind domain.ReportKind
		at   string
		want string
	}{
		{domain.ReportDaily, "2026-12-05T06:00:00Z", "2026-12-04"},
		{domain.ReportDaily, "2026-12-05T00:00:00Z", "2026-12-04"},
		{domain.ReportDaily, "2026-12-05T05:30:00+01:00", "2026-12-04"}, // 04:30 UTC
		{domain.ReportDaily, "2026-12-05T00:30:00+01:00", "2026-12-03"}, // still the 4th in UTC
		{domain.ReportDaily, "2027-01-01T06:00:00Z", "2026-12-31"},
		{domain.ReportMonthly, "2026-12-01T07:00:00Z", "2026-11"},
		{domain.ReportMonthly, "2027-01-15T07:00:00Z", "2026-12"},
		{domain.ReportQuarterly, "2027-01-02T07:00:00Z", "2026-Q4"},
		{domain.ReportQuarterly, "2026-05-31T07:00:00Z", "2026-Q1"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		p, err := report.PeriodBefore(tc.kind, at)
		if err != nil || p.Name != tc.want || p.ToDate {
			t.Errorf("%s before %s: %+v %v, want %s, whole", tc.kind, tc.at, p, err, tc.want)
		}
	}
}

// TestScheduleRequest checks a new schedule: its spec (cron, or a
// calendar made into cron), zone, channels and catch-up window, each
// refusal naming its field.
func TestScheduleRequest(t *testing.T) {
	t.Parallel()
	has := func(n string) bool { return n == "soc-chat" || n == "soc-mail" }
	ok := []struct {
		req               report.ScheduleRequest
		cron, zone, chans string
		catchup           int64
	}{
		{report.ScheduleRequest{Kind: "daily", Cron: " 0  6 * * * "}, "0 6 * * *", "UTC", "", 86400},
		{report.ScheduleRequest{Kind: "monthly", Calendar: &domain.ReportCalendar{DayOfMonth: "1", Hour: "7"}, TimeZone: "Europe/Berlin",
			Channels: []string{"soc-chat", "soc-mail", "soc-chat"}}, "0 7 1 * *", "Europe/Berlin", "soc-chat,soc-mail", 7 * 86400},
		{report.ScheduleRequest{Kind: "quarterly", Cron: "@Monthly", CatchupWindow: "2d"}, "@monthly", "UTC", "", 2 * 86400},
		{report.ScheduleRequest{Kind: "daily", Cron: "*/30 8-17 * * MON-FRI", CatchupWindow: "90m"}, "*/30 8-17 * * MON-FRI", "UTC", "", 5400},
	}
	for _, tc := range ok {
		s, err := tc.req.Schedule(has)
		if err != nil || s.Cron != tc.cron || s.TimeZone != tc.zone || strings.Join(s.Channels, ",") != tc.chans || s.CatchupSeconds != tc.catchup {
			t.Errorf("%+v: got %+v %v", tc.req, s, err)
		}
	}
	bad := []struct {
		req   report.ScheduleRequest
		has   func(string) bool
		field string
	}{
		{report.ScheduleRequest{Cron: "0 6 * * *"}, has, "kind"},
		{report.ScheduleRequest{Kind: "weekly", Cron: "0 6 * * *"}, has, "kind"},
		{report.ScheduleRequest{Kind: "daily"}, has, "cron"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", Calendar: &domain.ReportCalendar{}}, has, "cron"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * *"}, has, "cron"},
		{report.ScheduleRequest{Kind: "daily", Cron: "@fortnightly"}, has, "cron"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * ;rm"}, has, "cron"},
		{report.ScheduleRequest{Kind: "daily", Calendar: &domain.ReportCalendar{DayOfWeek: "mon tue"}}, has, "calendar.dayOfWeek"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", TimeZone: "Local"}, has, "timeZone"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", TimeZone: "Nowhere/Else"}, has, "timeZone"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", Channels: []string{"soc-chat", "pager"}}, has, "channels[1]"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", Channels: []string{" "}}, has, "channels[0]"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", Channels: []string{"soc-chat"}}, nil, "channels[0]"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", CatchupWindow: "soon"}, has, "catchupWindow"},
		{report.ScheduleRequest{Kind: "daily", Cron: "0 6 * * *", CatchupWindow: "400d"}, has, "catchupWindow"},
	}
	for _, tc := range bad {
		_, err := tc.req.Schedule(tc.has)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || de.Field != tc.field {
			t.Errorf("%+v: got %v, want invalid %s", tc.req, err, tc.field)
		}
	}
}
