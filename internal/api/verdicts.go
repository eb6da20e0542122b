package api

import (
	"context"
	"net/http"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// VerdictBody is the body of POST /api/v1/incidents/{id}/verdicts: an
// analyst's verdict on one of the incident's entities (entity key), with
// the reason; an empty verdict goes back to the provider's.
type VerdictBody struct {
	Entity domain.EntityKey `json:"entity"`
	records.VerdictChange
}

// SetVerdict records an analyst's verdict on one of the incident's
// entities (analyst): the entity must be one of the incident's and in the
// principal's scope. The verdict wins over the provider's wherever AIR
// reads the entity — the pages, playbooks on the investigation's next
// pass, whether the investigation may end benign — and the provider's stays
// beside it. The API and the pages both come here.
func (s *Server) SetVerdict(ctx context.Context, p *auth.Principal, incidentID int64, body VerdictBody) (*domain.Entity, error) {
	if err := p.Require(auth.Analyst); err != nil {
		return nil, err
	}
	if err := body.Check(); err != nil {
		return nil, err
	}
	if body.Entity == "" {
		return nil, domain.Invalid("entity", "required: the entity key of one of the incident's entities, such as device:ws-042")
	}
	if _, err := s.Store.GetIncident(ctx, incidentID); err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, incidentID); err != nil {
		return nil, err
	}
	if err := s.targetInScope(ctx, p, incidentID, body.Entity); err != nil {
		return nil, err
	}
	return s.Store.SetVerdict(ctx, incidentID, body.Entity, body.VerdictChange, p.Name)
}

func (s *Server) postVerdict(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body VerdictBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	e, err := s.SetVerdict(r.Context(), auth.FromContext(r.Context()), id, body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}
