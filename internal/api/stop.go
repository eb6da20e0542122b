package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/workflows"
)

// StopBody is the JSON body of POST /api/v1/incidents/{id}/stop.
type StopBody struct {
	Reason string `json:"reason"`
}

// StopInvestigation stops an incident's running investigation (responder,
// in scope, with a reason): its pending actions are rejected with the
// reason, and it ends terminatedByUser. The pages call it too.
func (s *Server) StopInvestigation(ctx context.Context, p *auth.Principal, incidentID int64, reason string) (*workflows.State, error) {
	if err := p.Require(auth.Responder); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetIncident(ctx, incidentID); err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, incidentID); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, domain.Invalid("reason", "required: say why the investigation stops (it is audited and given to every pending action)")
	}
	if err := checkComment(reason); err != nil {
		return nil, err
	}
	return s.Engine.Stop(ctx, incidentID, workflows.StopRequest{Reason: reason, By: p.Name, Role: p.Role})
}

func (s *Server) stopInvestigation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body StopBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	st, err := s.StopInvestigation(r.Context(), auth.FromContext(r.Context()), id, body.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}
