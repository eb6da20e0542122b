package web

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
)

// Reports are the SOC's daily, monthly and quarterly reports the pages
// show; *api.Server is one.
type Reports interface {
	DailyReport(ctx context.Context, p *auth.Principal, date string) (*report.Daily, error)
	MonthlyReport(ctx context.Context, p *auth.Principal, month string) (*report.Monthly, error)
	QuarterlyReport(ctx context.Context, p *auth.Principal, quarter string) (*report.Quarterly, error)
}

// KeptReports are the report schedules and the reports kept; *api.Server
// is one.
type KeptReports interface {
	ReportSchedules(ctx context.Context, p *auth.Principal) ([]api.ReportScheduleView, error)
	KeptReports(ctx context.Context, p *auth.Principal, q records.ReportRunQuery) (*records.ReportRunPage, error)
	KeptReport(ctx context.Context, p *auth.Principal, id int64) (*domain.ReportRun, error)
	KeptReportPDF(ctx context.Context, p *auth.Principal, id int64) ([]byte, *domain.ReportRun, error)
}

// keptOnPage is how many kept reports the reports page lists.
const keptOnPage = 20

// reportView is what a report page shows: one of the three reports and
// its charts.
type reportView struct {
	Daily     *report.Daily
	Monthly   *report.Monthly
	Quarterly *report.Quarterly
	// Charts are the report's bar charts by name.
	Charts map[string][]bar
	// Value is the period as asked (for the form).
	Value string
	// Schedules and Runs are the report schedules and the latest kept
	// reports (the reports page); KeptNote says why they are not shown.
	Schedules []api.ReportScheduleView
	Runs      *records.ReportRunPage
	KeptNote  string
}

// bars turns counts into bars, each as wide as its share of the largest.
func bars(counts []report.Count, class func(i int) string) []bar {
	most := 0
	for _, c := range counts {
		most = max(most, c.Count)
	}
	out := []bar{}
	for i, c := range counts {
		w := 0.0
		if most > 0 {
			w = math.Round(float64(c.Count)/float64(most)*1000) / 10
		}
		cl := ""
		if class != nil {
			cl = class(i)
		}
		out = append(out, bar{Label: c.Label, Count: c.Count, Width: w, Class: cl})
	}
	return out
}

// reportParam reads the one parameter a report page takes, refusing
// others by name as the API does.
func reportParam(q url.Values, name string) (string, error) {
	for k := range q {
		if k != name {
			return "", domain.Invalid(k, "unknown parameter; want %s", name)
		}
	}
	return q.Get(name), nil
}

func (p *pages) reportsFor(r *http.Request) (Reports, *auth.Principal, error) {
	if p.Reports == nil {
		return nil, nil, domain.Errorf(domain.KindNotFound, "no page %s", r.URL.Path)
	}
	return p.Reports, auth.FromContext(r.Context()), nil
}

func (p *pages) renderReport(w http.ResponseWriter, r *http.Request, name, title string, pr *auth.Principal, v *reportView) {
	p.render(w, r, http.StatusOK, name, &view{Title: title, Nav: "reports", Principal: pr,
		CSRF: auth.CSRFToken(secretOf(r)), Report: v})
}

// reports is GET /reports: the reports, with a period picker each.
func (p *pages) reports(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := p.reportsFor(r); err != nil {
		return err
	}
	pr := auth.FromContext(r.Context())
	v := &reportView{}
	if p.Kept != nil {
		if pr.Scoped() {
			v.KeptNote = "Kept reports cover every device group; your session is limited to " + strings.Join(pr.Groups, ", ") + "."
		} else {
			var err error
			if v.Schedules, err = p.Kept.ReportSchedules(r.Context(), pr); err != nil {
				return err
			}
			if v.Runs, err = p.Kept.KeptReports(r.Context(), pr, records.ReportRunQuery{Limit: keptOnPage}); err != nil {
				return err
			}
		}
	}
	p.renderReport(w, r, "reports", "Reports", pr, v)
	return nil
}

// keptReport is GET /reports/runs/{id}: the kept report's page as it was
// made, or with .pdf its PDF.
func (p *pages) keptReport(w http.ResponseWriter, r *http.Request) error {
	if p.Kept == nil {
		return domain.Errorf(domain.KindNotFound, "no page %s", r.URL.Path)
	}
	raw, pdf := strings.CutSuffix(r.PathValue("id"), ".pdf")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return domain.Invalid("id", "want a kept report's number, got %q", raw)
	}
	pr := auth.FromContext(r.Context())
	if !pdf {
		run, err := p.Kept.KeptReport(r.Context(), pr, id)
		if err != nil {
			return err
		}
		api.WriteReportHTML(w, run)
		return nil
	}
	b, run, err := p.Kept.KeptReportPDF(r.Context(), pr, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+api.ReportFileName(run)+`.pdf"`)
	_, err = w.Write(b)
	return err
}

// dailyReport is GET /reports/daily?date=YYYY-MM-DD.
func (p *pages) dailyReport(w http.ResponseWriter, r *http.Request) error {
	rs, pr, err := p.reportsFor(r)
	if err != nil {
		return err
	}
	v, err := reportParam(r.URL.Query(), "date")
	if err != nil {
		return err
	}
	d, err := rs.DailyReport(r.Context(), pr, v)
	if err != nil {
		return err
	}
	p.renderReport(w, r, "report_daily", report.Title(domain.ReportDaily, d.Period), pr, dailyView(d))
	return nil
}

// monthlyReport is GET /reports/monthly?month=YYYY-MM.
func (p *pages) monthlyReport(w http.ResponseWriter, r *http.Request) error {
	rs, pr, err := p.reportsFor(r)
	if err != nil {
		return err
	}
	v, err := reportParam(r.URL.Query(), "month")
	if err != nil {
		return err
	}
	m, err := rs.MonthlyReport(r.Context(), pr, v)
	if err != nil {
		return err
	}
	p.renderReport(w, r, "report_monthly", report.Title(domain.ReportMonthly, m.Period), pr, monthlyView(m))
	return nil
}

// quarterlyReport is GET /reports/quarterly?quarter=YYYY-Qn.
func (p *pages) quarterlyReport(w http.ResponseWriter, r *http.Request) error {
	rs, pr, err := p.reportsFor(r)
	if err != nil {
		return err
	}
	v, err := reportParam(r.URL.Query(), "quarter")
	if err != nil {
		return err
	}
	q, err := rs.QuarterlyReport(r.Context(), pr, v)
	if err != nil {
		return err
	}
	p.renderReport(w, r, "report_quarterly", report.Title(domain.ReportQuarterly, q.Period), pr, quarterlyView(q))
	return nil
}

// dailyView is the daily report's page: its figures and charts.
func dailyView(d *report.Daily) *reportView {
	sev := func(i int) string {
		if i < len(d.Open.BySeverity) && d.Open.BySeverity[i].Label == string(domain.SeverityHigh) {
			return "expired"
		}
		return ""
	}
	age := func(i int) string {
		switch {
		case i >= 3:
			return "expired"
		case i == 2:
			return "late"
		}
		return ""
	}
	return &reportView{Daily: d, Value: d.Period.Name,
		Charts: map[string][]bar{"severity": bars(d.Open.BySeverity, sev), "age": bars(d.Open.ByAge, age)}}
}

// monthlyView is the automation review's page.
func monthlyView(m *report.Monthly) *reportView {
	var byType, det []report.Count
	for _, l := range m.ByType {
		byType = append(byType, report.Count{Label: actions.Label(l.Type), Count: int(math.Round(100 * l.Ratio))})
	}
	for _, d := range m.Detectors {
		det = append(det, report.Count{Label: d.Detector, Count: d.Incidents})
	}
	// Rates are drawn against 100 %, not against the largest.
	rates := bars(append(byType, report.Count{Label: "", Count: 100}), nil)
	rates = rates[:len(rates)-1]
	for i := range rates {
		rates[i].Unit = "%"
	}
	return &reportView{Monthly: m, Value: m.Period.Name,
		Charts: map[string][]bar{"automation": rates, "detectors": bars(det, nil)}}
}

// quarterlyView is the quarterly report's page.
func quarterlyView(q *report.Quarterly) *reportView {
	var incs, tactics, techniques []report.Count
	for _, m := range q.Months {
		incs = append(incs, report.Count{Label: m.Period.Name, Count: m.Incidents})
	}
	for _, t := range q.Tactics {
		label := t.Category
		if t.Name != "" {
			label = t.Name
		}
		tactics = append(tactics, report.Count{Label: label, Count: t.Alerts})
	}
	for _, t := range q.Techniques {
		label := t.ID
		if t.Name != "" {
			label += " " + t.Name
		}
		techniques = append(techniques, report.Count{Label: label, Count: t.Alerts})
	}
	return &reportView{Quarterly: q, Value: q.Period.Name,
		Charts: map[string][]bar{"incidents": bars(incs, nil), "tactics": bars(tactics, nil), "techniques": bars(techniques, nil)}}
}
