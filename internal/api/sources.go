package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
)

// SourceView is one configured source as GET /api/v1/sources shows it.
type SourceView struct {
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Polled    bool          `json:"polled"`
	Interval  string        `json:"interval,omitempty"`
	WriteBack bool          `json:"writeBack"`
	State     sources.State `json:"state"`
	// LagSeconds is now minus the newest alert's update time.
	LagSeconds float64 `json:"lagSeconds"`
	// AlertsPerMinute is over the last ten minutes.
	AlertsPerMinute float64 `json:"alertsPerMinute"`
}

// SourcesResponse is GET /api/v1/sources.
type SourcesResponse struct {
	Sources    []SourceView           `json:"sources"`
	WriteBacks []store.WriteBackEntry `json:"writeBacks"`
}

// sourceViews reads the configured sources' states.
func (s *Server) sourceViews(ctx context.Context) ([]SourceView, error) {
	states, err := s.Store.SourceStates(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]SourceView, 0, len(s.Sources.Sources))
	for _, c := range s.Sources.Sources {
		v := SourceView{Name: c.Name, Type: c.Type, Polled: c.Polled(), WriteBack: c.WriteBack,
			State: sources.State{Name: c.Name, Type: c.Type}}
		if c.Polled() {
			v.Interval = c.Interval.String()
		}
		if b, ok := states[c.Name]; ok {
			if err := json.Unmarshal(b, &v.State); err != nil {
				return nil, err
			}
		}
		v.LagSeconds = v.State.Lag(now).Seconds()
		v.AlertsPerMinute = v.State.PerMinute(now, 10*time.Minute)
		out = append(out, v)
	}
	return out, nil
}

// listSources answers GET /api/v1/sources: each source's checkpoint, lag,
// alerts per minute, errors, and the newest write-backs.
func (s *Server) listSources(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.SourceReport(r.Context(), auth.FromContext(r.Context()), r.URL.Query().Get("alert"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// SourceReport is the configured sources' states and the newest write-backs (of
// one alert, when named), for the API and the sources page.
func (s *Server) SourceReport(ctx context.Context, p *auth.Principal, alert string) (*SourcesResponse, error) {
	// Write-backs name alerts of every device group.
	if p != nil && p.Scoped() {
		return nil, domain.Errorf(domain.KindForbidden, "sources cover every device group; a token scoped to some may not read them")
	}
	views, err := s.sourceViews(ctx)
	if err != nil {
		return nil, err
	}
	wbs, err := s.Store.WriteBacks(ctx, alert, 100)
	if err != nil {
		return nil, err
	}
	if wbs == nil {
		wbs = []store.WriteBackEntry{}
	}
	return &SourcesResponse{Sources: views, WriteBacks: wbs}, nil
}

// pushAlerts answers POST /api/v1/sources/{name}/alerts: a webhook source
// pushes alerts signed with its HMAC key (SignatureHeader) instead of a
// token. The body takes every format POST /api/v1/alerts does, with the
// same per-item answer.
func (s *Server) pushAlerts(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	secret, ok := s.WebhookSecrets[name]
	if !ok {
		return domain.Errorf(domain.KindNotFound, "no webhook source %q", name)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody()))
	if err != nil {
		return jsonError(err)
	}
	if err := sources.Verify(secret, r.Header.Get(sources.SignatureHeader), body, time.Now()); err != nil {
		// The signature is the webhook's credential: 401, as a bad token is.
		return writeJSON(w, http.StatusUnauthorized, errorBody{Error: ErrorDetail{Kind: "unauthenticated",
			Field: sources.SignatureHeader, Message: err.Error()}})
	}
	return s.ingestBody(w, r, bytes.NewReader(body), 0, func(ctx context.Context, ids []string) error {
		return s.Store.SetAlertSource(ctx, name, ids)
	})
}

// writeBack sends a change made in AIR to the providers of the incident's
// alerts, when their sources write back; it never blocks the analyst.
func (s *Server) writeBack(ctx context.Context, incidentID int64, before, after *domain.Incident, comment, by string) {
	if s.WriteBack == nil {
		return
	}
	s.startWriteBack(ctx, incidentID, sources.ChangeOf(before, after, comment, by))
}

// startWriteBack starts writing a change back to the providers of the
// incident's alerts (or of ch.AlertID alone), without waiting for them.
func (s *Server) startWriteBack(ctx context.Context, incidentID int64, ch sources.Change) {
	if ch.Empty() {
		return
	}
	if err := s.WriteBack(context.WithoutCancel(ctx), incidentID, ch); err != nil {
		s.Log.WithError(err).WithField("incident", incidentID).WithField("alert", ch.AlertID).
			Warn("write-back to the providers not started")
	}
}

// writeBackAlert sends a change made to one alert to its provider, when
// its source writes back; it never blocks the analyst.
func (s *Server) writeBackAlert(ctx context.Context, m *store.AlertManaged, comment, by string) {
	if s.WriteBack == nil {
		return
	}
	s.startWriteBack(ctx, m.IncidentID, sources.AlertChangeOf(m.Before, m.After, comment, by))
}

// sourceCollector exposes the sources on /metrics.
type sourceCollector struct{ s *Server }

var (
	sourceLag    = prometheus.NewDesc("air_source_lag_seconds", "Now minus the newest alert update a source gave.", []string{"source", "type"}, nil)
	sourceAlerts = prometheus.NewDesc("air_source_alerts_total", "Alerts a source gave AIR.", []string{"source", "type"}, nil)
	sourceRej    = prometheus.NewDesc("air_source_rejected_total", "Items a source gave that AIR could not decode.", []string{"source", "type"}, nil)
	sourceErrs   = prometheus.NewDesc("air_source_errors_total", "Polls of a source that failed.", []string{"source", "type"}, nil)
	sourceRate   = prometheus.NewDesc("air_source_alerts_per_minute", "Alerts per minute a source gave over the last ten minutes.", []string{"source", "type"}, nil)
)

func (c sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sourceLag, sourceAlerts, sourceRej, sourceErrs, sourceRate} {
		ch <- d
	}
}

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	views, err := c.s.sourceViews(context.Background())
	if err != nil {
		c.s.Log.WithError(err).Warn("metrics: read sources")
		return
	}
	for _, v := range views {
		if !v.Polled {
			continue
		}
		ch <- prometheus.MustNewConstMetric(sourceLag, prometheus.GaugeValue, v.LagSeconds, v.Name, v.Type)
		ch <- prometheus.MustNewConstMetric(sourceAlerts, prometheus.CounterValue, float64(v.State.Alerts), v.Name, v.Type)
		ch <- prometheus.MustNewConstMetric(sourceRej, prometheus.CounterValue, float64(v.State.Rejected), v.Name, v.Type)
		ch <- prometheus.MustNewConstMetric(sourceErrs, prometheus.CounterValue, float64(v.State.Errors), v.Name, v.Type)
		ch <- prometheus.MustNewConstMetric(sourceRate, prometheus.GaugeValue, v.AlertsPerMinute, v.Name, v.Type)
	}
}
