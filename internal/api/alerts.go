package api

import (
	"context"
	"net/http"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// exportAlerts answers GET /api/v1/alerts/export: CSV lines
// "alert_id,incident_id", header first — the grouping correlation made, in
// the form scoring tools take. It covers every device group, so a scoped
// principal may not call it.
func (s *Server) exportAlerts(w http.ResponseWriter, r *http.Request) error {
	if p := auth.FromContext(r.Context()); p != nil && p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "the export covers every device group; a token scoped to some may not take it")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="alert-incidents.csv"`)
	if err := s.Store.ExportAssignments(r.Context(), StreamWriter(w)); err != nil {
		s.Log.WithError(err).Warn("alert export cut short")
		AbortStream()
	}
	return nil
}

// MoveBody is the body of POST /api/v1/alerts/{id}/move: the incident to
// move the alert to, or none (0) for a new incident.
type MoveBody struct {
	IncidentID int64 `json:"incidentId"`
}

// MoveResult answers a move.
type MoveResult struct {
	AlertID     string `json:"id"`
	IncidentID  int64  `json:"incidentId"`
	NewIncident bool   `json:"newIncident,omitempty"`
	Warning     string `json:"warning,omitempty"`
}

// moveAlert answers POST /api/v1/alerts/{id}/move: an analyst moves an alert
// to another open incident, or to a new one. The investigation of the
// incident it joins hears of it like of any new alert.
func (s *Server) moveAlert(w http.ResponseWriter, r *http.Request) error {
	var body MoveBody
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.IncidentID < 0 {
		return domain.Invalid("incidentId", "want an incident id, or 0 for a new incident, got %d", body.IncidentID)
	}
	ctx := r.Context()
	id := r.PathValue("id")
	p := auth.FromContext(ctx)
	from, err := s.Store.AlertIncident(ctx, id)
	if err != nil {
		return err
	}
	if err := s.incidentInScope(ctx, p, from); err != nil {
		return domain.Errorf(domain.KindNotFound, "alert %q not found", id)
	}
	if body.IncidentID != 0 {
		if err := s.incidentInScope(ctx, p, body.IncidentID); err != nil {
			return err
		}
	}
	actor := "api"
	if p != nil {
		actor = p.Name
	}
	to, created, err := s.Store.MoveAlert(ctx, id, body.IncidentID, actor)
	if err != nil {
		return err
	}
	res := MoveResult{AlertID: id, IncidentID: to, NewIncident: created}
	if s.Ingest != nil && s.Ingest.Notifier != nil {
		if err := s.Ingest.Notifier.AlertsJoined(ctx, to, []string{id}); err != nil {
			s.Log.WithError(err).WithField("incident", to).Warn("signal investigation after a move")
			res.Warning = "alert moved, but the investigation of incident could not be signalled: " + err.Error()
		}
	}
	return writeJSON(w, http.StatusOK, res)
}

// incidentCorrelation answers GET /api/v1/incidents/{id}/correlation: what
// AIR derived from the incident's alerts — impacted assets, sources,
// tactics and techniques, the priority score and its factors.
func (s *Server) incidentCorrelation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.incidentInScope(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	d, err := s.Store.IncidentDerived(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// patchAlert changes one alert as an analyst (PATCH /api/v1/alerts/{id}),
// through ManageAlert.
func (s *Server) patchAlert(w http.ResponseWriter, r *http.Request) error {
	var ch records.AlertChange
	if err := decodeBody(w, r, &ch, true); err != nil {
		return err
	}
	a, err := s.ManageAlert(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"), ch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// ManageAlert changes one alert as the principal (an analyst): status,
// classification and determination, assignment, a comment, with the
// incident's validation; the incident follows (store.ManageAlert), its
// investigation hears of it, and the provider is told where its source
// writes back. An alert out of the principal's scope is not found. The
// API and the pages both come here.
func (s *Server) ManageAlert(ctx context.Context, p *auth.Principal, id string, ch records.AlertChange) (*domain.Alert, error) {
	if err := p.Require(auth.Analyst); err != nil {
		return nil, err
	}
	if err := ch.Check(); err != nil {
		return nil, err
	}
	inc, err := s.Store.AlertIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, inc); err != nil {
		return nil, domain.Errorf(domain.KindNotFound, "alert %q not found", id)
	}
	actor := p.Name
	m, err := s.Store.ManageAlert(ctx, id, ch, actor)
	if err != nil {
		return nil, err
	}
	if m.IncidentAfter != nil {
		s.afterChange(ctx, m.IncidentID, m.IncidentBefore, m.IncidentAfter, actor)
	}
	s.writeBackAlert(ctx, m, ch.Comment, actor)
	return &m.After, nil
}
