package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
)

// SLA returns the tenant's SLA setting, or report.DefaultSLA while none
// is stored.
func (s *Server) SLA(ctx context.Context) (report.SLA, error) {
	return report.LoadSLA(ctx, s.Store)
}

// scopeOf is the device groups a principal is limited to (nil: all).
func scopeOf(p *auth.Principal) []string {
	if p.Scoped() {
		return p.Groups
	}
	return nil
}

// DailyReport returns the daily report of a day, YYYY-MM-DD in UTC, ""
// for today (viewer role; a scoped principal's report covers their device
// groups only).
func (s *Server) DailyReport(ctx context.Context, p *auth.Principal, date string) (*report.Daily, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	now := s.now()
	per, err := report.ParseDate(date, now)
	if err != nil {
		return nil, err
	}
	sla, err := s.SLA(ctx)
	if err != nil {
		return nil, err
	}
	return report.DailyReport(ctx, s.Store, per, sla, scopeOf(p), now)
}

// MonthlyReport returns the automation review of a month, YYYY-MM, ""
// for this month (viewer role, scoped as DailyReport).
func (s *Server) MonthlyReport(ctx context.Context, p *auth.Principal, month string) (*report.Monthly, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	now := s.now()
	per, err := report.ParseMonth(month, now)
	if err != nil {
		return nil, err
	}
	return report.MonthlyReport(ctx, s.Store, per, scopeOf(p), now)
}

// QuarterlyReport returns the quarterly report of a quarter, YYYY-Qn, ""
// for this quarter (viewer role, scoped as DailyReport).
func (s *Server) QuarterlyReport(ctx context.Context, p *auth.Principal, quarter string) (*report.Quarterly, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	now := s.now()
	per, err := report.ParseQuarter(quarter, now)
	if err != nil {
		return nil, err
	}
	return report.QuarterlyReport(ctx, s.Store, per, scopeOf(p), now)
}

// onlyParam returns the one query parameter a report takes, refusing any
// other by name.
func onlyParam(q url.Values, name, example string) (string, error) {
	for k := range q {
		if k != name {
			return "", domain.Invalid(k, "unknown parameter; want %s (e.g. %s)", name, example)
		}
	}
	if len(q[name]) > 1 {
		return "", domain.Invalid(name, "give it once")
	}
	return q.Get(name), nil
}

// getDailyReport answers GET /api/v1/reports/daily?date=2026-12-05.
func (s *Server) getDailyReport(w http.ResponseWriter, r *http.Request) error {
	v, err := onlyParam(r.URL.Query(), "date", "2026-12-05")
	if err != nil {
		return err
	}
	rep, err := s.DailyReport(r.Context(), auth.FromContext(r.Context()), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// getMonthlyReport answers GET /api/v1/reports/monthly?month=2026-11.
func (s *Server) getMonthlyReport(w http.ResponseWriter, r *http.Request) error {
	v, err := onlyParam(r.URL.Query(), "month", "2026-11")
	if err != nil {
		return err
	}
	rep, err := s.MonthlyReport(r.Context(), auth.FromContext(r.Context()), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// getQuarterlyReport answers GET /api/v1/reports/quarterly?quarter=2026-Q4.
func (s *Server) getQuarterlyReport(w http.ResponseWriter, r *http.Request) error {
	v, err := onlyParam(r.URL.Query(), "quarter", "2026-Q4")
	if err != nil {
		return err
	}
	rep, err := s.QuarterlyReport(r.Context(), auth.FromContext(r.Context()), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// getSLA answers GET /api/v1/settings/sla.
func (s *Server) getSLA(w http.ResponseWriter, r *http.Request) error {
	sla, err := s.SLA(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sla)
}

// putSLA replaces the SLA setting after checking it; the change is
// audited and counts from the next report.
func (s *Server) putSLA(w http.ResponseWriter, r *http.Request) error {
	var sla report.SLA
	if err := decodeBody(w, r, &sla, true); err != nil {
		return err
	}
	if sla.Acknowledge == nil {
		return domain.Invalid("acknowledge", "want the time to acknowledge per severity, e.g. {\"high\": \"1h\"}")
	}
	if err := sla.Validate(); err != nil {
		return err
	}
	if err := s.Store.PutSetting(r.Context(), report.SLAKey, sla, principalName(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sla)
}
