package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/heapsplit"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/workflows"
)

// Review returns the post-incident review of a resolved incident (viewer
// role). An incident outside a scoped principal's device groups is not
// found, and their report lists only the actions they may see; an
// incident that is not resolved is a conflict that says so.
func (s *Server) Review(ctx context.Context, p *auth.Principal, id int64) (*review.Report, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	inc, err := s.Store.GetIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, id); err != nil {
		return nil, err
	}
	if inc.Status != domain.IncidentResolved {
		return nil, review.NotResolved(inc)
	}
	var scope []string
	if p.Scoped() {
		scope = p.Groups
	}
	f, err := review.Load(ctx, s.Store, s.History, id, scope)
	if err != nil {
		return nil, err
	}
	if f.HistoryErr != nil {
		s.Log.WithError(f.HistoryErr).WithField("incident", id).Warn("post-incident review without workflow history")
	}
	return review.Build(f, time.Now())
}

// Dashboard returns the response figures across incidents since a time
// (viewer role). They cover every device group, so a principal scoped to
// some may not see them.
func (s *Server) Dashboard(ctx context.Context, p *auth.Principal, since time.Time) (*review.Metrics, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	if p.Scoped() {
		return nil, domain.Errorf(domain.KindForbidden, "the dashboard covers every device group; a token scoped to some may not see it")
	}
	now := time.Now()
	if since.IsZero() || since.After(now) {
		return nil, domain.Invalid("range", "want a time range that starts in the past")
	}
	return review.ComputeMetrics(ctx, s.Store, since, now)
}

// DefaultDashboardRange is the dashboard's default range.
const DefaultDashboardRange = "30d"

// ParseDashboardRange reads the dashboard's range: an age such as 24h, 7d,
// 30d or 2w (default 30d), and returns where it starts.
func ParseDashboardRange(v string, now time.Time) (time.Time, error) {
	if v == "" {
		v = DefaultDashboardRange
	}
	d, err := parseAge("range", v)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}

// getReview answers GET /api/v1/incidents/{id}/review.
func (s *Server) getReview(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := s.Review(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// getMetricsSummary answers GET /api/v1/metrics/summary?range=30d.
func (s *Server) getMetricsSummary(w http.ResponseWriter, r *http.Request) error {
	for name := range r.URL.Query() {
		if name != "range" {
			return domain.Invalid(name, "unknown parameter; want range (e.g. 24h, 7d, 30d)")
		}
	}
	since, err := ParseDashboardRange(r.URL.Query().Get("range"), time.Now())
	if err != nil {
		return err
	}
	m, err := s.Dashboard(r.Context(), auth.FromContext(r.Context()), since)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

// prometheusMetrics answers GET /metrics in the Prometheus exposition
// format: AIR's figures (review.Collector) and the process's Go runtime
// metrics. It needs a viewer token like the rest of the API; see
// docs/review-and-metrics.md for Prometheus' authorization settings. The
// figures cover every device group, so a scoped token may not read them.
func (s *Server) prometheusMetrics(w http.ResponseWriter, r *http.Request) error {
	if p := auth.FromContext(r.Context()); p != nil && p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "metrics cover every device group; a token scoped to some may not read them")
	}
	// A registry per scrape: the collector reads the store each time, and
	// nothing is kept between scrapes.
	reg := prometheus.NewRegistry()
	reg.MustRegister(&review.Collector{Store: s.Store}, sourceCollector{s}, heapsplit.Collector{}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: promLog{s}}).ServeHTTP(w, r)
	return nil
}

// promLog sends the exposition's errors to the API's log.
type promLog struct{ s *Server }

func (l promLog) Println(v ...any) { l.s.Log.Warn(v...) }

// incidentChanged tells the incident's investigation about a change by
// hand to its status, assignment or classification, so that the workflow
// history — which post-incident review measures — has it. The change is
// committed already: a failed signal is logged, and the review falls back
// to the activity log for it.
func (s *Server) incidentChanged(ctx context.Context, id int64, before, after *domain.Incident, by string) {
	s.writeBack(ctx, id, before, after, "", by)
	if s.Engine == nil || before == nil || after == nil {
		return
	}
	var sig *workflows.IncidentChange
	for _, ch := range []workflows.IncidentChange{
		{Field: workflows.FieldStatus, From: string(before.Status), To: string(after.Status)},
		{Field: workflows.FieldAssignedTo, From: before.AssignedTo, To: after.AssignedTo},
		{Field: workflows.FieldClassification, From: before.Classification, To: after.Classification},
		{Field: workflows.FieldDetermination, From: before.Determination, To: after.Determination},
	} {
		switch {
		case ch.From == ch.To:
		case sig == nil:
			ch.By = by
			sig = &ch
		default:
			sig.More = append(sig.More, ch)
		}
	}
	if sig == nil {
		return
	}
	// One signal for the whole change, so that a change of four fields
	// does not start four runs of a finished investigation.
	if err := s.Engine.IncidentChanged(ctx, id, *sig); err != nil {
		s.Log.WithError(err).WithField("incident", id).WithField("field", sig.Field).
			Warn("signal the investigation of a change by hand; post-incident review falls back to the activity log")
	}
}
