// Package report computes the SOC's periodic reports: the daily report
// (the open queue by severity and age, the actions waiting for a
// decision, the incidents breaching the tenant's time-to-acknowledge
// SLA), the monthly automation review (automation rate by action type and
// device group, decisions and their reasons, undos, the noisiest
// detectors, settings changes, and suggestions the counts support) and
// the quarterly report for a CISO (incidents, MTTA, time to contain, MTTR
// and automation rate per month, top ATT&CK tactics and techniques, the
// biggest incidents).
//
// Figures are read through Store (the store's report queries, scoped to
// a reader's device groups) and computed by pure functions; the response
// times and automation rate are internal/review's, so a report and the
// dashboard agree on what MTTA or "automated" means. Every section
// carries one sentence on how it was computed. Periods are calendar days,
// months and quarters in UTC; a period not over yet ends now.
//
// docs/reports.md says what each report shows and how.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Store is what the reports read; *store.Store is one.
type Store interface {
	OpenAt(ctx context.Context, at, ackSince time.Time, scope []string) ([]store.ReportIncident, error)
	PendingAt(ctx context.Context, at time.Time, scope []string) ([]records.ActionRow, error)
	ResponseTimesIn(ctx context.Context, w store.ReportWindow) ([]store.IncidentTimes, error)
	ExecutedIn(ctx context.Context, w store.ReportWindow) ([]store.ExecutedCount, error)
	DecidedIn(ctx context.Context, w store.ReportWindow) ([]store.DecidedAction, error)
	UndoneIn(ctx context.Context, w store.ReportWindow) ([]store.UndoneAction, error)
	DetectorsIn(ctx context.Context, w store.ReportWindow) ([]store.DetectorIncident, error)
	CountCreated(ctx context.Context, w store.ReportWindow) (int, error)
	BiggestIn(ctx context.Context, w store.ReportWindow, n int) ([]store.ReportIncident, error)
	AlertKindsIn(ctx context.Context, w store.ReportWindow) ([]store.AlertKinds, error)
	QueryAudit(ctx context.Context, q records.AuditQuery) (*records.AuditPage, error)
	AttackKnowledge(ctx context.Context, tactics, techniques []string) (*store.Attack, error)
}

var _ Store = (*store.Store)(nil)

// Count is one bar of a chart: a label and how many.
type Count struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

// Period is the calendar span a report covers, [Since, Until), in UTC.
type Period struct {
	// Name is the period as asked: 2026-12-05, 2026-11 or 2026-Q4.
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
	// Until is the period's end, or the time the report was made when
	// the period is not over (ToDate).
	Until  time.Time `json:"until"`
	ToDate bool      `json:"toDate,omitempty"`
}

// window is the period as the store's window for a reader.
func (p Period) window(scope []string) store.ReportWindow {
	return store.ReportWindow{Since: p.Since, Until: p.Until, Scope: scope}
}

func period(name string, since, end, now time.Time) Period {
	p := Period{Name: name, Since: since, Until: end}
	if now.Before(end) {
		p.Until, p.ToDate = now.UTC(), true
	}
	return p
}

// ParseDate reads a daily report's date (YYYY-MM-DD, UTC); empty means
// today. A day in the future is refused.
func ParseDate(v string, now time.Time) (Period, error) {
	now = now.UTC()
	if v == "" {
		v = now.Format(time.DateOnly)
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return Period{}, domain.Invalid("date", "want a day as YYYY-MM-DD, got %q", v)
	}
	if d.After(now) {
		return Period{}, domain.Invalid("date", "%s is in the future", v)
	}
	return period(v, d, d.AddDate(0, 0, 1), now), nil
}

// ParseMonth reads a monthly report's month (YYYY-MM, UTC); empty means
// this month. A month in the future is refused.
func ParseMonth(v string, now time.Time) (Period, error) {
	now = now.UTC()
	if v == "" {
		v = now.Format("2006-01")
	}
	m, err := time.Parse("2006-01", v)
	if err != nil {
		return Period{}, domain.Invalid("month", "want a month as YYYY-MM, e.g. 2026-11, got %q", v)
	}
	if m.After(now) {
		return Period{}, domain.Invalid("month", "%s is in the future", v)
	}
	return period(v, m, m.AddDate(0, 1, 0), now), nil
}

// ParseQuarter reads a quarterly report's quarter (YYYY-Qn, UTC); empty
// means this quarter. A quarter in the future is refused.
func ParseQuarter(v string, now time.Time) (Period, error) {
	now = now.UTC()
	if v == "" {
		v = fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())-1)/3+1)
	}
	y, q, ok := strings.Cut(strings.ToUpper(v), "-Q")
	year, err1 := strconv.Atoi(y)
	n, err2 := strconv.Atoi(q)
	if !ok || err1 != nil || err2 != nil || len(y) != 4 || n < 1 || n > 4 {
		return Period{}, domain.Invalid("quarter", "want a quarter as YYYY-Qn, e.g. 2026-Q4, got %q", v)
	}
	since := time.Date(year, time.Month(3*(n-1)+1), 1, 0, 0, 0, 0, time.UTC)
	if since.After(now) {
		return Period{}, domain.Invalid("quarter", "%s is in the future", v)
	}
	return period(fmt.Sprintf("%d-Q%d", year, n), since, since.AddDate(0, 3, 0), now), nil
}

// SLAKey is the store key of the tenant's SLA setting.
const SLAKey = "sla"

// SLA is the tenant's service-level agreement on incidents: how soon a
// person must acknowledge one of each severity. It is stored under SLAKey
// (GET and PUT /api/v1/settings/sla).
type SLA struct {
	// Acknowledge is the time to acknowledge per severity; a severity
	// left out has no SLA.
	Acknowledge map[domain.Severity]Duration `json:"acknowledge"`
}

// DefaultSLA is the SLA until an administrator sets one: high 1 h,
// medium 4 h, low 24 h; informational and unknown none.
func DefaultSLA() SLA {
	return SLA{Acknowledge: map[domain.Severity]Duration{
		domain.SeverityHigh:   Duration(time.Hour),
		domain.SeverityMedium: Duration(4 * time.Hour),
		domain.SeverityLow:    Duration(24 * time.Hour),
	}}
}

// SLALine is the SLA of one severity.
type SLALine struct {
	Severity domain.Severity `json:"severity"`
	Within   Duration        `json:"within"`
}

// Lines are the SLA's times, highest severity first.
func (s SLA) Lines() []SLALine {
	var out []SLALine
	for i := len(domain.Severities) - 1; i >= 0; i-- {
		if d, ok := s.Acknowledge[domain.Severities[i]]; ok {
			out = append(out, SLALine{Severity: domain.Severities[i], Within: d})
		}
	}
	return out
}

// Validate checks the severities and that each time is positive.
func (s SLA) Validate() error {
	for sev, d := range s.Acknowledge {
		if sev.Rank() < 0 {
			return domain.Invalid("acknowledge", "unknown severity %q; want one of high, medium, low, informational, unknown", sev)
		}
		if d <= 0 {
			return domain.Invalid("acknowledge", "the time to acknowledge %s incidents must be positive, got %s", sev, d)
		}
	}
	return nil
}

// Duration is a time span written as people do in JSON: "30m", "4h",
// "2d", or any time.ParseDuration form.
type Duration time.Duration

// String writes the span in whole days, hours or minutes where it is one.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0"
	case td%(24*time.Hour) == 0 && td >= 48*time.Hour:
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	case td%time.Hour == 0:
		return strconv.FormatInt(int64(td/time.Hour), 10) + "h"
	case td%time.Minute == 0:
		return strconv.FormatInt(int64(td/time.Minute), 10) + "m"
	}
	return td.String()
}

// MarshalJSON writes the span as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "30m", "4h", "2d" or "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"4h\" or \"2d\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads "2d" (days) or any time.ParseDuration form.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q; want e.g. 30m, 4h or 2d", s)
	}
	return v, nil
}

// human writes a span for people, to the second ("1h4m12s").
func human(d time.Duration) string { return d.Round(time.Second).String() }
