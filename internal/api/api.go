// Package api serves AIR's HTTP JSON API under /api/v1, plus /healthz and
// /readyz.
//
// Handlers return errors; one function (writeError) turns an error's kind
// into a status code and a JSON body that names the field and the reason.
// Decisions on actions never write the store here: they go to the
// incident's workflow through the Engine, which records them.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// Engine is what the API needs of the workflow side.
type Engine interface {
	Decide(ctx context.Context, incidentID int64, req workflows.DecideRequest) (*domain.Action, error)
	State(ctx context.Context, incidentID int64) (*workflows.State, error)
}

// Server holds the API's dependencies.
type Server struct {
	Store   *store.Store
	Ingest  *ingest.Pipeline
	Engine  Engine
	Log     logrus.FieldLogger
	MaxBody int64                           // bytes accepted per request; 0 means 16 MiB
	Ready   func(ctx context.Context) error // extra readiness check (Temporal); nil means none
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.handle(mux, "GET /readyz", s.readyz)
	s.handle(mux, "POST /api/v1/alerts", s.postAlerts)
	s.handle(mux, "GET /api/v1/incidents", s.listIncidents)
	s.handle(mux, "GET /api/v1/incidents/{id}", s.getIncident)
	s.handle(mux, "GET /api/v1/actions", s.listActions)
	s.handle(mux, "GET /api/v1/actions/{id}", s.getAction)
	s.handle(mux, "POST /api/v1/actions/{id}/approve", s.decide(domain.DecisionApprove))
	s.handle(mux, "POST /api/v1/actions/{id}/reject", s.decide(domain.DecisionReject))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, domain.Errorf(domain.KindNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error struct {
		Kind    string `json:"kind"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

var statusOf = map[domain.ErrorKind]int{
	domain.KindInvalid:   http.StatusBadRequest,
	domain.KindNotFound:  http.StatusNotFound,
	domain.KindConflict:  http.StatusConflict,
	domain.KindForbidden: http.StatusForbidden,
}

// writeError is the one place errors become responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var body errorBody
	status := http.StatusInternalServerError
	var de *domain.Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		status = http.StatusRequestEntityTooLarge
		body.Error.Kind = "too_large"
		body.Error.Message = fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &de):
		status = statusOf[de.Kind]
		body.Error.Kind, body.Error.Field, body.Error.Message = string(de.Kind), de.Field, de.Message
	default:
		body.Error.Kind = "internal"
		body.Error.Message = "internal error; see the worker's log"
		s.Log.WithError(err).WithField("path", r.URL.Path).Error("request failed")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (s *Server) maxBody() int64 {
	if s.MaxBody > 0 {
		return s.MaxBody
	}
	return 16 << 20
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.Ping(r.Context()); err != nil {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
	}
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "temporal unavailable"})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// AlertResult is what became of one alert of an ingest request.
type AlertResult struct {
	Index       int           `json:"index"`
	ID          string        `json:"id"`
	Outcome     store.Outcome `json:"outcome"`
	IncidentID  int64         `json:"incidentId"`
	NewIncident bool          `json:"newIncident,omitempty"`
	// UnknownEvidence lists evidence types kept verbatim but not understood.
	UnknownEvidence []string `json:"unknownEvidence,omitempty"`
}

// IngestResponse answers POST /api/v1/alerts.
type IngestResponse struct {
	Accepted int             `json:"accepted"`
	Rejected int             `json:"rejected"`
	Results  []AlertResult   `json:"results"`
	Problems []graph.Problem `json:"problems"`
	Warning  string          `json:"warning,omitempty"`
}

// postAlerts ingests one alert, an array, a Graph page or NDJSON. Valid
// alerts are stored even when others are bad: 200 when all were good, 207
// when some were rejected, 400 when none was usable.
func (s *Server) postAlerts(w http.ResponseWriter, r *http.Request) error {
	alerts, problems, err := graph.Decode(http.MaxBytesReader(w, r.Body, s.maxBody()))
	if err != nil {
		return err
	}
	// Map accepted alerts back to their batch index.
	bad := map[int]bool{}
	for _, p := range problems {
		bad[p.Index] = true
	}
	indexes := make([]int, 0, len(alerts))
	for i := 0; len(indexes) < len(alerts); i++ {
		if !bad[i] {
			indexes = append(indexes, i)
		}
	}
	results, ingestErr := s.Ingest.Ingest(r.Context(), alerts)
	resp := IngestResponse{Accepted: len(results), Rejected: len(problems), Problems: problems,
		Results: make([]AlertResult, 0, len(results))}
	if resp.Problems == nil {
		resp.Problems = []graph.Problem{}
	}
	for i, res := range results {
		resp.Results = append(resp.Results, AlertResult{Index: indexes[i], ID: res.AlertID, Outcome: res.Outcome,
			IncidentID: res.IncidentID, NewIncident: res.NewIncident, UnknownEvidence: graph.UnknownEvidenceTypes(alerts[i])})
	}
	status := http.StatusOK
	switch {
	case ingestErr != nil && len(results) < len(alerts):
		return ingestErr // storing failed part-way: a server error, retry the batch
	case ingestErr != nil:
		resp.Warning = ingestErr.Error()
		status = http.StatusServiceUnavailable
	case len(problems) > 0 && len(alerts) == 0:
		status = http.StatusBadRequest
	case len(problems) > 0:
		status = http.StatusMultiStatus
	}
	return writeJSON(w, status, resp)
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.Invalid("id", "want a positive integer incident id, got %q", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	var f store.IncidentFilter
	for _, v := range splitList(r.URL.Query()["status"]) {
		st, err := domain.ParseEnum("status", v, []domain.IncidentStatus{domain.IncidentActive,
			domain.IncidentInProgress, domain.IncidentResolved, domain.IncidentRedirected}, false)
		if err != nil {
			return err
		}
		f.Statuses = append(f.Statuses, st)
	}
	limit, err := intParam(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f.Limit = limit
	incs, err := s.Store.ListIncidents(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": incs})
}

// IncidentDetail is an incident with everything the incident page shows.
type IncidentDetail struct {
	domain.Incident
	Alerts        []domain.Alert     `json:"alerts"`
	Entities      []domain.Entity    `json:"entities"`
	Actions       []domain.Action    `json:"actions"`
	Comments      []domain.Comment   `json:"comments"`
	Activity      []store.AuditEntry `json:"activity"`
	Investigation *workflows.State   `json:"investigation,omitempty"`
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	inc, err := s.Store.GetIncident(ctx, id)
	if err != nil {
		return err
	}
	d := IncidentDetail{Incident: *inc}
	if d.Alerts, err = s.Store.IncidentAlerts(ctx, id); err != nil {
		return err
	}
	if d.Entities, err = s.Store.IncidentEntities(ctx, id); err != nil {
		return err
	}
	if d.Actions, err = s.Store.ListActions(ctx, store.ActionFilter{IncidentID: id, Limit: 1000}); err != nil {
		return err
	}
	if d.Comments, err = s.Store.IncidentComments(ctx, id); err != nil {
		return err
	}
	if d.Activity, err = s.Store.IncidentActivity(ctx, id); err != nil {
		return err
	}
	if st, err := s.Engine.State(ctx, id); err == nil {
		d.Investigation = st
	} else if domain.KindOf(err) != domain.KindNotFound {
		s.Log.WithError(err).WithField("incident", id).Warn("query investigation state")
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) error {
	var f store.ActionFilter
	for _, v := range splitList(r.URL.Query()["status"]) {
		st, err := domain.ParseEnum("status", v, domain.ActionStatuses, false)
		if err != nil {
			return err
		}
		f.Statuses = append(f.Statuses, st)
	}
	if v := r.URL.Query().Get("incidentId"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return domain.Invalid("incidentId", "want an integer, got %q", v)
		}
		f.IncidentID = id
	}
	limit, err := intParam(r, "limit", 1, 1000)
	if err != nil {
		return err
	}
	f.Limit = limit
	acts, err := s.Store.ListActions(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": acts})
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Store.GetAction(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// DecisionBody is the optional body of approve and reject.
type DecisionBody struct {
	Comment    string `json:"comment"`
	ParamsHash string `json:"paramsHash"`
}

// decide approves or rejects through the incident workflow's decide Update:
// the workflow validates, applies and records; this handler only asks.
func (s *Server) decide(d domain.Decision) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body DecisionBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return jsonError(err)
		}
		a, err := s.Store.GetAction(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		// The store trails the workflow only from pending to decided, so a
		// decided row is final: answer without a trip to the workflow.
		if a.Status != domain.ActionPending {
			return domain.Errorf(domain.KindConflict, "action %s is already %s", a.ID, a.Status)
		}
		got, err := s.Engine.Decide(r.Context(), a.IncidentID, workflows.DecideRequest{
			ActionID: a.ID, Decision: d, Comment: body.Comment, By: actor(r), ParamsHash: body.ParamsHash,
			// Until API tokens carry roles, every caller decides as a responder.
			Role: domain.RoleResponder,
		})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, got)
	}
}

// actor names who is calling. Until tokens exist it is the X-AIR-Actor
// header, or "api".
func actor(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get("X-AIR-Actor")); a != "" {
		return a
	}
	return "api"
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.As(err, &syn):
		return domain.Invalid("", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return domain.Invalid(typ.Field, "want %s, got JSON %s", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return domain.Invalid(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	}
	return domain.Invalid("", "malformed JSON: %v", err)
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func intParam(r *http.Request, name string, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, domain.Invalid(name, "want an integer from %d to %d, got %q", lo, hi, v)
	}
	return n, nil
}
