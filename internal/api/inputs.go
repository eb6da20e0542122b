package api

import (
	"context"
	"net/http"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/playbook"
)

// PlaybookInputs is a playbook's inputs with the tenant's values: the body
// of GET and PUT /api/v1/playbooks/{name}/inputs.
type PlaybookInputs struct {
	Playbook string `json:"playbook"`
	Version  int    `json:"version"`
	// Declared are the inputs the playbook declares, in file order.
	Declared []InputDecl `json:"declared"`
	// Inputs are the values the tenant set (what PUT replaces).
	Inputs map[string]any `json:"inputs"`
	// Effective are the values investigations run with: the tenant's,
	// else each input's default.
	Effective map[string]any `json:"effective"`
}

// InputDecl is one input a playbook declares.
type InputDecl struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// InputsBody is the body of PUT /api/v1/playbooks/{name}/inputs.
type InputsBody struct {
	// Inputs replace the tenant's values; an input left out runs with its
	// default.
	Inputs map[string]any `json:"inputs"`
}

// playbookNamed returns the worker's playbook of that name.
func (s *Server) playbookNamed(name string) (*playbook.Playbook, error) {
	for _, pb := range s.Playbooks {
		if pb.Name == name {
			return pb, nil
		}
	}
	return nil, domain.Errorf(domain.KindNotFound, "no playbook %q is loaded", name)
}

// getPlaybookInputs answers GET /api/v1/playbooks/{name}/inputs.
func (s *Server) getPlaybookInputs(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.playbookNamed(r.PathValue("name"))
	if err != nil {
		return err
	}
	out, err := s.playbookInputs(r.Context(), pb)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// putPlaybookInputs answers PUT /api/v1/playbooks/{name}/inputs: the
// tenant's values replace the stored ones after they are checked against
// the playbook's declarations (400 names the input: inputs.NAME). The
// change is audited and applies from the next pass of every investigation.
func (s *Server) putPlaybookInputs(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.playbookNamed(r.PathValue("name"))
	if err != nil {
		return err
	}
	var body InputsBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	vals, err := pb.CheckInputValues(body.Inputs)
	if err != nil {
		return err
	}
	if err := s.Store.PutSetting(r.Context(), activities.InputsKeyPrefix+pb.Name, vals, principalName(r)); err != nil {
		return err
	}
	out, err := s.playbookInputs(r.Context(), pb)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) playbookInputs(ctx context.Context, pb *playbook.Playbook) (*PlaybookInputs, error) {
	vals := map[string]any{}
	if _, err := s.Store.Setting(ctx, activities.InputsKeyPrefix+pb.Name, &vals); err != nil {
		return nil, err
	}
	out := &PlaybookInputs{Playbook: pb.Name, Version: pb.Version, Declared: []InputDecl{}, Inputs: vals,
		Effective: pb.ResolveInputs(vals)}
	for _, in := range pb.Inputs {
		out.Declared = append(out.Declared, InputDecl{Name: in.Name, Type: in.Type, Default: in.Default, Description: in.Description})
	}
	return out, nil
}
