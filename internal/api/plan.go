package api

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/scratch"
	"github.com/airsoc/air/internal/plan/stored"
)

// PlanRequest is the body of POST /api/v1/playbooks/plan: an incident of
// this AIR, or alerts (in any form ingest accepts) correlated in memory.
type PlanRequest struct {
	IncidentID int64           `json:"incidentId,omitempty"`
	Alerts     json.RawMessage `json:"alerts,omitempty"`
	// Assume is plan.AssumeApproved or plan.AssumeRejected to plan what
	// follows the actions that would wait; "" leaves them pending.
	Assume string `json:"assume,omitempty"`
	// Answers are the answers to assume to ask steps, by step id; an ask
	// step without one assumes its default, or stays open.
	Answers map[string][]string `json:"answers,omitempty"`
	// Inputs are values of playbook inputs to plan with, by playbook name;
	// they override the tenant's, input by input.
	Inputs map[string]map[string]any `json:"inputs,omitempty"`
}

// PlanResponse lists one plan per incident, and the alerts left out.
type PlanResponse struct {
	Plans    []*plan.Plan `json:"plans"`
	Problems any          `json:"problems,omitempty"`
}

// planPlaybooks says what the worker's playbooks would do, changing
// nothing: the same selection, expansion and policy as the workflow.
func (s *Server) planPlaybooks(w http.ResponseWriter, r *http.Request) error {
	release, err := s.planSlot()
	if err != nil {
		return err
	}
	defer release()
	var req PlanRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return jsonError(err)
	}
	ctx := r.Context()
	settings := s.DefaultAutomation
	if _, err := s.Store.Setting(ctx, activities.SettingsKey, &settings); err != nil {
		return err
	}
	var incs []plan.Incident
	var resp PlanResponse
	switch {
	case req.IncidentID != 0 && len(req.Alerts) > 0:
		return domain.Invalid("incidentId", "give an incident id or alerts, not both")
	case req.IncidentID != 0:
		if err := s.incidentInScope(ctx, auth.FromContext(ctx), req.IncidentID); err != nil {
			return err
		}
		in, err := stored.Load(ctx, s.Store, req.IncidentID, settings)
		if err != nil {
			return err
		}
		incs = []plan.Incident{*in}
	case len(req.Alerts) > 0:
		if err := s.checkPlanSize(req.Alerts); err != nil {
			return err
		}
		alerts, problems, err := decode.Decode(bytes.NewReader(req.Alerts))
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			resp.Problems = problems
		}
		if incs, err = scratch.Incidents(ctx, alerts, settings); err != nil {
			return err
		}
	default:
		return domain.Invalid("incidentId", "give an incident id or alerts to plan for")
	}
	inputs, err := s.planInputValues(ctx, req.Inputs)
	if err != nil {
		return err
	}
	resp.Plans = []*plan.Plan{}
	for _, in := range incs {
		in.Inputs = inputs
		p, err := plan.MakeWith(s.Playbooks, in, plan.Options{Assume: req.Assume, Answers: req.Answers})
		if err != nil {
			return err
		}
		resp.Plans = append(resp.Plans, p)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// planInputValues are the tenant's values of the playbooks' inputs with
// the request's over them, each checked against its playbook.
func (s *Server) planInputValues(ctx context.Context, given map[string]map[string]any) (map[string]map[string]any, error) {
	inputs, err := activities.LoadInputs(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		pb, err := s.playbookNamed(name)
		if err != nil {
			return nil, domain.Invalid("inputs."+name, "no playbook %q is loaded", name)
		}
		vals, err := pb.CheckInputValues(given[name])
		if err != nil {
			return nil, amend(err, func(c *domain.Error) { c.Field = "inputs." + name + strings.TrimPrefix(c.Field, "inputs") })
		}
		merged := maps.Clone(inputs[name])
		if merged == nil {
			merged = map[string]any{}
		}
		maps.Copy(merged, vals)
		inputs[name] = merged
	}
	return inputs, nil
}

// planSlot takes one of the process's plan evaluation slots, or answers
// busy at once: a queue would hold requests whose clients left.
func (s *Server) planSlot() (release func(), err error) {
	s.planOnce.Do(func() {
		n := s.PlanConcurrency
		if n <= 0 {
			n = 2
		}
		s.planSlots = make(chan struct{}, n)
	})
	select {
	case s.planSlots <- struct{}{}:
		return func() { <-s.planSlots }, nil
	default:
		return nil, domain.Errorf(domain.KindBusy, "%d plan evaluations are running, the most this process runs at once; retry in a moment", cap(s.planSlots))
	}
}

// checkPlanSize refuses more inline alerts than PlanMaxAlerts, counting the
// items before decoding any.
func (s *Server) checkPlanSize(body []byte) error {
	max := s.PlanMaxAlerts
	if max <= 0 {
		max = 500
	}
	items, err := graph.Split(body)
	if err != nil {
		return err
	}
	if len(items) > max {
		return domain.Errorf(domain.KindTooLarge, "%d alerts to plan for, the most one request may hold is %d: plan for fewer, or ingest them and plan per incident", len(items), max)
	}
	return nil
}
