package report

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	// The schedules' time zones must resolve on a host without a zone
	// database (a distroless image): the binary carries its own.
	_ "time/tzdata"

	"github.com/airsoc/air/internal/domain"
)

// ScheduleRequest is an administrator's new report schedule, as the API
// takes it (POST /api/v1/reports/schedules).
type ScheduleRequest struct {
	Kind domain.ReportKind `json:"kind"`
	// Cron is the schedule as cron (minute hour day-of-month month
	// day-of-week, or @daily, @weekly, @monthly); give Cron or Calendar.
	Cron     string                 `json:"cron,omitempty"`
	Calendar *domain.ReportCalendar `json:"calendar,omitempty"`
	// TimeZone reads the schedule in an IANA zone; empty means UTC.
	TimeZone string `json:"timeZone,omitempty"`
	// Channels are notification channels to send each run to.
	Channels []string `json:"channels,omitempty"`
	// CatchupWindow is how late a missed run may still start ("2d");
	// empty means DefaultCatchup of the kind.
	CatchupWindow string `json:"catchupWindow,omitempty"`
}

// DefaultCatchup is how late a missed run may still start when the
// schedule does not say: a day for the daily report, a week for the
// monthly and quarterly ones.
func DefaultCatchup(k domain.ReportKind) time.Duration {
	if k == domain.ReportDaily {
		return 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// Catch-up windows allowed: Temporal wants at least ten seconds; a year is
// its default and more makes no sense for a report.
const (
	MinCatchup = time.Minute
	MaxCatchup = 366 * 24 * time.Hour
)

// cronField is one field of a cron expression as Temporal reads them:
// numbers, names (MON, JAN), ranges, lists, steps and *.
var cronField = regexp.MustCompile(`^[0-9A-Za-z*,/\-?]+$`)

var cronMacros = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// Schedule checks the request and returns the schedule it describes
// (without id, author and time). hasChannel says whether a notification
// channel is configured; nil means none is.
func (r ScheduleRequest) Schedule(hasChannel func(string) bool) (domain.ReportSchedule, error) {
	s := domain.ReportSchedule{Kind: r.Kind, TimeZone: strings.TrimSpace(r.TimeZone)}
	if r.Kind == "" {
		return s, domain.Invalid("kind", "want daily, monthly or quarterly")
	}
	if !r.Kind.Valid() {
		return s, domain.Invalid("kind", "unknown report %q; want daily, monthly or quarterly", r.Kind)
	}
	cron, err := r.spec()
	if err != nil {
		return s, err
	}
	s.Cron, s.Calendar = cron, r.Calendar
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
		return s, domain.Invalid("timeZone", "unknown time zone %q; want an IANA name such as UTC or Europe/Berlin", r.TimeZone)
	}
	if s.Channels, err = CheckChannels(r.Channels, hasChannel); err != nil {
		return s, err
	}
	catchup := DefaultCatchup(r.Kind)
	if r.CatchupWindow != "" {
		if catchup, err = ParseDuration(r.CatchupWindow); err != nil {
			return s, domain.Invalid("catchupWindow", "%v", err)
		}
		if catchup < MinCatchup || catchup > MaxCatchup {
			return s, domain.Invalid("catchupWindow", "want between 1m and 366d, got %s", r.CatchupWindow)
		}
	}
	s.CatchupSeconds = int64(catchup / time.Second)
	return s, nil
}

// CheckChannels checks notification channel names against the configured
// ones (hasChannel; nil means none is configured) and returns them without
// repeats.
func CheckChannels(names []string, hasChannel func(string) bool) ([]string, error) {
	out := []string{}
	for i, ch := range names {
		ch = strings.TrimSpace(ch)
		switch {
		case ch == "":
			return nil, domain.Invalid(fmt.Sprintf("channels[%d]", i), "empty channel name")
		case hasChannel == nil:
			return nil, domain.Invalid(fmt.Sprintf("channels[%d]", i), "no notification channels are configured (docs/notifications.md), so %q is none", ch)
		case !hasChannel(ch):
			return nil, domain.Invalid(fmt.Sprintf("channels[%d]", i), "no notification channel %q is configured", ch)
		}
		if !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	return out, nil
}

// spec is the cron expression of the request's cron or calendar.
func (r ScheduleRequest) spec() (string, error) {
	cron := strings.Join(strings.Fields(r.Cron), " ")
	switch {
	case cron != "" && r.Calendar != nil:
		return "", domain.Invalid("cron", "give cron or calendar, not both")
	case cron == "" && r.Calendar == nil:
		return "", domain.Invalid("cron", "want when to run: cron (e.g. \"0 6 * * *\") or calendar (e.g. {\"hour\": \"6\"})")
	case r.Calendar != nil:
		c := r.Calendar
		fields := []struct{ name, v, def string }{{"minute", c.Minute, "0"}, {"hour", c.Hour, "0"},
			{"dayOfMonth", c.DayOfMonth, "*"}, {"month", c.Month, "*"}, {"dayOfWeek", c.DayOfWeek, "*"}}
		parts := make([]string, len(fields))
		for i, f := range fields {
			v := strings.TrimSpace(f.v)
			if v == "" {
				v = f.def
			}
			if !cronField.MatchString(v) {
				return "", domain.Invalid("calendar."+f.name, "want a value, range, list or step such as 5, 1-5, 1,15 or */2, got %q", f.v)
			}
			parts[i] = v
		}
		return strings.Join(parts, " "), nil
	}
	if strings.HasPrefix(cron, "@") {
		if !slices.Contains(cronMacros, strings.ToLower(cron)) {
			return "", domain.Invalid("cron", "unknown %q; want %s or five fields", cron, strings.Join(cronMacros, ", "))
		}
		return strings.ToLower(cron), nil
	}
	fields := strings.Fields(cron)
	if len(fields) != 5 {
		return "", domain.Invalid("cron", "want five fields (minute hour day-of-month month day-of-week), got %d in %q", len(fields), r.Cron)
	}
	for _, f := range fields {
		if !cronField.MatchString(f) {
			return "", domain.Invalid("cron", "field %q is not a value, range, list or step", f)
		}
	}
	return cron, nil
}

// PeriodBefore is the last whole period of a kind that ended at or before
// t: the UTC day, month or quarter before the one t is in. A scheduled run
// reports on it, whenever it actually runs, so that a run caught up late
// reports on the period it was meant for.
func PeriodBefore(k domain.ReportKind, t time.Time) (Period, error) {
	t = t.UTC()
	switch k {
	case domain.ReportDaily:
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		return ParseDate(day.Format(time.DateOnly), t)
	case domain.ReportMonthly:
		m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
		return ParseMonth(m.Format("2006-01"), t)
	case domain.ReportQuarterly:
		q := time.Date(t.Year(), time.Month(3*((int(t.Month())-1)/3)+1), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -3, 0)
		return ParseQuarter(fmt.Sprintf("%d-Q%d", q.Year(), (int(q.Month())-1)/3+1), t)
	}
	return Period{}, domain.Invalid("kind", "unknown report %q", k)
}

// ParsePeriod reads a period of a kind as the API names it (date, month
// or quarter); empty means the current one.
func ParsePeriod(k domain.ReportKind, v string, now time.Time) (Period, error) {
	switch k {
	case domain.ReportDaily:
		return ParseDate(v, now)
	case domain.ReportMonthly:
		return ParseMonth(v, now)
	case domain.ReportQuarterly:
		return ParseQuarter(v, now)
	}
	return Period{}, domain.Invalid("kind", "unknown report %q; want daily, monthly or quarterly", k)
}

// Settings reads stored settings; *store.Store is one.
type Settings interface {
	Setting(ctx context.Context, key string, out any) (bool, error)
}

// LoadSLA returns the tenant's SLA setting, or DefaultSLA while none is
// stored.
func LoadSLA(ctx context.Context, s Settings) (SLA, error) {
	var sla SLA
	ok, err := s.Setting(ctx, SLAKey, &sla)
	if err != nil {
		return sla, err
	}
	if !ok {
		return DefaultSLA(), nil
	}
	return sla, nil
}

// Make computes a report of a kind over a period for every device group:
// *Daily, *Monthly or *Quarterly.
func Make(ctx context.Context, st Store, set Settings, k domain.ReportKind, p Period, now time.Time) (any, error) {
	switch k {
	case domain.ReportDaily:
		sla, err := LoadSLA(ctx, set)
		if err != nil {
			return nil, err
		}
		return DailyReport(ctx, st, p, sla, nil, now)
	case domain.ReportMonthly:
		return MonthlyReport(ctx, st, p, nil, now)
	case domain.ReportQuarterly:
		return QuarterlyReport(ctx, st, p, nil, now)
	}
	return nil, domain.Invalid("kind", "unknown report %q", k)
}

// Title is a report's title for people: "Daily report 2026-12-04".
func Title(k domain.ReportKind, p Period) string {
	switch k {
	case domain.ReportMonthly:
		return "Automation review " + p.Name
	case domain.ReportQuarterly:
		return "Quarterly report " + p.Name
	}
	return "Daily report " + p.Name
}

// Summary is a report's headline figures in a few lines, for a chat
// message or a mail that links to the whole report.
func Summary(rep any) string {
	var b strings.Builder
	switch r := rep.(type) {
	case *Daily:
		fmt.Fprintf(&b, "Open incidents: %d\n", r.Open.Total)
		for _, c := range r.Open.BySeverity {
			if c.Count > 0 {
				fmt.Fprintf(&b, "  %s: %d\n", c.Label, c.Count)
			}
		}
		fmt.Fprintf(&b, "Actions waiting for a decision: %d\n", r.Pending.Total)
		fmt.Fprintf(&b, "SLA breaches: %d\n", len(r.Breaches))
	case *Monthly:
		fmt.Fprintf(&b, "Automation rate: %.0f%% of %d remediation actions\n", 100*r.Automation.Ratio, r.Automation.Executed)
		fmt.Fprintf(&b, "Actions undone: %d\n", len(r.Undone))
		fmt.Fprintf(&b, "Suggestions: %d\n", len(r.Suggestions))
		for _, s := range r.Suggestions {
			fmt.Fprintf(&b, "  - %s\n", s.Text)
		}
	case *Quarterly:
		for _, m := range r.Months {
			fmt.Fprintf(&b, "%s: %d incidents, automation %.0f%%\n", m.Period.Name, m.Incidents, 100*m.Automation.Ratio)
		}
		fmt.Fprintf(&b, "Biggest incidents listed: %d\n", len(r.Biggest))
	}
	return b.String()
}

// ScheduleChange is the body of PATCH /api/v1/reports/schedules/{id}:
// what to change of a schedule; a field left out keeps its value. Cron
// replaces a calendar and a calendar replaces cron; the kind cannot change
// (make a new schedule).
type ScheduleChange struct {
	Cron          *string                `json:"cron,omitempty"`
	Calendar      *domain.ReportCalendar `json:"calendar,omitempty"`
	TimeZone      *string                `json:"timeZone,omitempty"`
	Channels      *[]string              `json:"channels,omitempty"`
	CatchupWindow *string                `json:"catchupWindow,omitempty"`
}

// Apply returns old changed by c, checked as a new schedule is
// (Schedule); id, author and creation time stay.
func (c ScheduleChange) Apply(old domain.ReportSchedule, hasChannel func(string) bool) (domain.ReportSchedule, error) {
	if c == (ScheduleChange{}) {
		return old, domain.Invalid("", "nothing to change: give cron, calendar, timeZone, channels or catchupWindow")
	}
	req := ScheduleRequest{Kind: old.Kind, Calendar: old.Calendar, TimeZone: old.TimeZone, Channels: old.Channels,
		CatchupWindow: fmt.Sprintf("%ds", old.CatchupSeconds)}
	if old.Calendar == nil {
		req.Cron = old.Cron
	}
	switch {
	case c.Cron != nil && c.Calendar != nil:
		return old, domain.Invalid("cron", "give cron or calendar, not both")
	case c.Cron != nil:
		req.Cron, req.Calendar = *c.Cron, nil
	case c.Calendar != nil:
		req.Cron, req.Calendar = "", c.Calendar
	}
	if c.TimeZone != nil {
		req.TimeZone = *c.TimeZone
	}
	if c.Channels != nil {
		req.Channels = *c.Channels
	}
	if c.CatchupWindow != nil {
		req.CatchupWindow = *c.CatchupWindow
	}
	s, err := req.Schedule(hasChannel)
	if err != nil {
		return old, err
	}
	s.ID, s.CreatedBy, s.CreatedAt = old.ID, old.CreatedBy, old.CreatedAt
	return s, nil
}
