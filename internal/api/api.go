// Package api serves AIR's HTTP JSON API under /api/v1, plus /healthz,
// /readyz and /metrics (Prometheus), and mounts the pages.
//
// Handlers return errors; one function (writeError) turns an error's kind
// into a status code and a JSON body that names the field and the reason.
// Decisions on actions never write the store here: they go to the
// incident's workflow through the Engine, which records them. The action
// center's operations (Decide, DecideMany, Undo, Actions) are methods of
// Server that the pages call too, so that the API, the command line and the
// pages share one code path, role checks and scoping included.
//
// Every endpoint but /healthz and /readyz needs an API token (Authorization:
// Bearer TOKEN) of the role its route names; see Routes.
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
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/graph"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/printpdf"
	"github.com/airsoc/air/internal/reportrun"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/internal/sources"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// Engine is what the API needs of the workflow side.
type Engine interface {
	Decide(ctx context.Context, incidentID int64, req workflows.DecideRequest) (*domain.Action, error)
	State(ctx context.Context, incidentID int64) (*workflows.State, error)
	Undo(ctx context.Context, incidentID int64, req workflows.UndoRequest) (*domain.Action, error)
	Request(ctx context.Context, incidentID int64, req workflows.ManualRequest) (*domain.Action, error)
	IncidentChanged(ctx context.Context, incidentID int64, ch workflows.IncidentChange) error
	Stop(ctx context.Context, incidentID int64, req workflows.StopRequest) (*workflows.State, error)
	Answer(ctx context.Context, incidentID int64, req workflows.AnswerRequest) (*domain.Question, error)
}

// Server holds the API's dependencies.
type Server struct {
	Store   *store.Store
	Ingest  *ingest.Pipeline
	Engine  Engine
	Log     logrus.FieldLogger
	MaxBody int64                           // bytes accepted per request; 0 means 16 MiB
	Ready   func(ctx context.Context) error // extra readiness check (Temporal); nil means none

	// Auth finds the principal behind a token.
	Auth *auth.Service
	// Limiter limits requests per token (and per address for callers
	// without a valid token); nil means the default rate.
	Limiter *auth.Limiter
	// Pages, when set, serves everything outside /api/ and the probes.
	Pages http.Handler
	// DefaultAutomation is the worker's configured automation, shown until
	// an administrator stores settings of their own.
	DefaultAutomation policy.Settings
	// Playbooks are the worker's loaded playbooks, for plan mode.
	Playbooks []*playbook.Playbook
	// PlanMaxAlerts caps the inline alerts of one plan request (413
	// beyond); 0 means 500. PlanConcurrency caps the plan evaluations this
	// process runs at once (429 beyond, Retry-After 1); 0 means 2. A plan
	// correlates in memory and evaluates every playbook: a viewer must not
	// be able to occupy the process's cores with it.
	PlanMaxAlerts   int
	PlanConcurrency int

	planOnce  sync.Once
	planSlots chan struct{}
	// History reads investigations' workflow histories for post-incident
	// review; nil means reviews fall back to the activity log.
	History review.History
	// Sources are the pull and webhook sources (GET /api/v1/sources);
	// WebhookSecrets their HMAC keys by source name.
	Sources        sources.Config
	WebhookSecrets map[string][]byte
	// WriteBack, when set, starts writing a change made in AIR back to the
	// providers of the incident's alerts; it must not block.
	WriteBack func(ctx context.Context, incidentID int64, ch sources.Change) error
	// MaxIntelBody bounds an uploaded intel feed (POST
	// /api/v1/intel/feeds), which is streamed, not held; 0 means 512 MiB.
	MaxIntelBody int64
	// Now is the clock intel look-ups use when not given a time; nil
	// means time.Now.
	Now func() time.Time
	// Notifier sends test notifications and names the configured
	// channels; nil means none are configured.
	Notifier Notifier
	// Schedules keeps report schedules in Temporal; nil: schedules
	// cannot be made or run (503).
	Schedules ReportScheduler
	// Keeper makes and keeps reports on demand; nil: 503.
	Keeper *reportrun.Keeper
	// PDF prints kept reports; nil or without a browser: 503 naming the
	// missing browser.
	PDF *printpdf.Printer
}

// Route is one endpoint and the weakest role that may call it.
type Route struct {
	Pattern string    // method and path, as http.ServeMux takes them
	Role    auth.Role // "" means open: no token needed
	handler handlerFunc
}

// Routes lists every endpoint with the role it needs. One line per route;
// the access test calls each of them with every role.
func (s *Server) Routes() []Route {
	return []Route{
		{"GET /healthz", "", s.healthz},
		{"GET /readyz", "", s.readyz},
		{"GET /api/v1/me", auth.Viewer, s.me},
		{"GET /api/v1/openapi.yaml", auth.Viewer, s.getOpenAPI},
		{"POST /api/v1/alerts", auth.Analyst, s.postAlerts},
		{"GET /api/v1/alerts/export", auth.Viewer, s.exportAlerts},
		{"POST /api/v1/alerts/{id}/move", auth.Analyst, s.moveAlert},
		{"PATCH /api/v1/alerts/{id}", auth.Analyst, s.patchAlert},
		{"GET /api/v1/incidents/{id}/correlation", auth.Viewer, s.incidentCorrelation},
		{"GET /api/v1/incidents", auth.Viewer, s.listIncidents},
		{"GET /api/v1/incidents/{id}", auth.Viewer, s.getIncident},
		{"GET /api/v1/incidents/{id}/review", auth.Viewer, s.getReview},
		{"GET /api/v1/metrics/summary", auth.Viewer, s.getMetricsSummary},
		{"GET /api/v1/reports/daily", auth.Viewer, s.getDailyReport},
		{"GET /api/v1/reports/monthly", auth.Viewer, s.getMonthlyReport},
		{"GET /api/v1/reports/quarterly", auth.Viewer, s.getQuarterlyReport},
		{"GET /api/v1/reports/schedules", auth.Viewer, s.listReportSchedules},
		{"POST /api/v1/reports/schedules", auth.Admin, s.postReportSchedule},
		{"GET /api/v1/reports/schedules/{id}", auth.Viewer, s.getReportSchedule},
		{"PATCH /api/v1/reports/schedules/{id}", auth.Admin, s.patchReportSchedule},
		{"DELETE /api/v1/reports/schedules/{id}", auth.Admin, s.deleteReportSchedule},
		{"POST /api/v1/reports/schedules/{id}/run", auth.Admin, s.runReportSchedule},
		{"GET /api/v1/reports/runs", auth.Viewer, s.listReportRuns},
		{"POST /api/v1/reports/runs", auth.Admin, s.postReportRun},
		{"GET /api/v1/reports/runs/{id}", auth.Viewer, s.getReportRun},
		{"GET /metrics", auth.Viewer, s.prometheusMetrics},
		{"GET /api/v1/incidents/export", auth.Viewer, s.exportIncidents},
		{"PATCH /api/v1/incidents/{id}", auth.Analyst, s.patchIncident},
		{"POST /api/v1/incidents/{id}/comments", auth.Analyst, s.postIncidentComment},
		{"POST /api/v1/incidents/bulk", auth.Analyst, s.bulkIncidents},
		{"GET /api/v1/actions", auth.Viewer, s.listActions},
		{"GET /api/v1/actions/{id}", auth.Viewer, s.getAction},
		{"POST /api/v1/actions/{id}/approve", auth.Responder, s.decide(domain.DecisionApprove)},
		{"POST /api/v1/actions/{id}/reject", auth.Responder, s.decide(domain.DecisionReject)},
		{"POST /api/v1/actions/{id}/undo", auth.Responder, s.undo},
		{"POST /api/v1/actions/decide", auth.Responder, s.decideMany},
		{"POST /api/v1/incidents/{id}/actions", auth.Responder, s.requestAction},
		{"POST /api/v1/incidents/{id}/stop", auth.Responder, s.stopInvestigation},
		{"POST /api/v1/incidents/{id}/verdicts", auth.Analyst, s.postVerdict},
		{"GET /api/v1/questions", auth.Viewer, s.listQuestions},
		{"GET /api/v1/questions/{id}", auth.Viewer, s.getQuestion},
		{"POST /api/v1/questions/{id}/answer", auth.Analyst, s.answerQuestion},
		{"GET /api/v1/audit", auth.Admin, s.listAudit},
		{"GET /api/v1/notifications", auth.Admin, s.listNotifications},
		{"POST /api/v1/notifications/test", auth.Admin, s.testNotification},
		{"GET /api/v1/tokens", auth.Admin, s.listTokens},
		{"POST /api/v1/tokens", auth.Admin, s.createToken},
		{"DELETE /api/v1/tokens/{id}", auth.Admin, s.revokeToken},
		{"GET /api/v1/settings/automation", auth.Viewer, s.getAutomation},
		{"PUT /api/v1/settings/automation", auth.Admin, s.putAutomation},
		{"GET /api/v1/settings/sla", auth.Viewer, s.getSLA},
		{"PUT /api/v1/settings/sla", auth.Admin, s.putSLA},
		{"PUT /api/v1/entities/{key}/tags", auth.Admin, s.putEntityTags},
		{"GET /api/v1/entities/{key}", auth.Viewer, s.getEntity},
		{"POST /api/v1/playbooks/plan", auth.Viewer, s.planPlaybooks},
		{"POST /api/v1/playbooks/backtest", auth.Viewer, s.backtestPlaybooks},
		{"GET /api/v1/playbooks/{name}/inputs", auth.Viewer, s.getPlaybookInputs},
		{"PUT /api/v1/playbooks/{name}/inputs", auth.Admin, s.putPlaybookInputs},
		{"GET /api/v1/sources", auth.Viewer, s.listSources},
		{"GET /debug/pprof/{profile...}", auth.Admin, s.debugProfile},
		{"GET /api/v1/intel/feeds", auth.Viewer, s.listIntelFeeds},
		{"POST /api/v1/intel/feeds", auth.Admin, s.postIntelFeed},
		{"DELETE /api/v1/intel/feeds/{name}", auth.Admin, s.deleteIntelFeed},
		{"GET /api/v1/intel/lookup", auth.Viewer, s.lookupIntel},
		{"GET /api/v1/prevalence", auth.Viewer, s.getPrevalence},
		{"GET /api/v1/incidents/{id}/facts", auth.Viewer, s.listFacts},
		{"GET /api/v1/exercises", auth.Viewer, s.listExercises},
		{"POST /api/v1/exercises", auth.Admin, s.postExercise},
		{"GET /api/v1/exercises/{id}", auth.Viewer, s.getExercise},
		{"GET /api/v1/exercises/{id}/score", auth.Viewer, s.getExerciseScore},
		{"POST /api/v1/exercises/{id}/alerts", auth.Admin, s.postExerciseAlerts},
		{"POST /api/v1/exercises/{id}/finish", auth.Admin, s.finishExercise},
		// Webhook sources authenticate with an HMAC of the body, not a token.
		{"POST /api/v1/sources/{name}/alerts", "", s.pushAlerts},
	}
}

// Handler returns the service's HTTP handler: the API, and the pages when
// set.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.Pattern, s.guard(rt))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, domain.Errorf(domain.KindNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	if s.Pages != nil {
		mux.Handle("/", s.Pages)
	}
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	_, err := w.Write([]byte("ok\n"))
	return err
}

// ErrorDetail says what went wrong: a kind, the field at fault if any, and
// the reason.
type ErrorDetail struct {
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error ErrorDetail `json:"error"`
}

// writeError is the one place errors become responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := s.describe(r.URL.Path, err)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="air"`)
	case http.StatusTooManyRequests:
		retry := 1 // a busy plan evaluation (domain.KindBusy) frees up in moments
		if rl := (*RateLimitedError)(nil); errors.As(err, &rl) {
			retry = rl.RetryAfterSeconds()
		}
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5") // a dependency is down: a restart takes seconds
	}
	writeJSON(w, status, errorBody{Error: detail})
}

// describe maps an error to its status and detail, logging internal ones.
// The log names the path only: never a query string or a header, which
// could carry a secret.
func (s *Server) describe(path string, err error) (int, ErrorDetail) {
	var de *domain.Error
	var tooBig *http.MaxBytesError
	var rl *RateLimitedError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, ErrorDetail{Kind: "too_large",
			Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case auth.IsUnauthenticated(err):
		return http.StatusUnauthorized, ErrorDetail{Kind: "unauthenticated",
			Message: "send a valid API token as Authorization: Bearer TOKEN (" + err.Error() + ")"}
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, ErrorDetail{Kind: "rate_limited",
			Message: fmt.Sprintf("too many requests; retry after %d s", rl.RetryAfterSeconds())}
	case errors.As(err, &de):
		return de.Kind.HTTPStatus(), ErrorDetail{Kind: string(de.Kind), Field: de.Field, Message: de.Message}
	case store.IsUnavailable(err):
		s.Log.WithError(err).WithField("path", path).Warn("database unavailable")
		return http.StatusServiceUnavailable, ErrorDetail{Kind: string(domain.KindUnavailable),
			Message: "the database did not answer: send the request again once /readyz answers 200 (alerts are kept once by id, so a re-sent batch doubles nothing)"}
	}
	s.Log.WithError(err).WithField("path", path).Error("request failed")
	return http.StatusInternalServerError, ErrorDetail{Kind: "internal", Message: "internal error; see the worker's log"}
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
	// A probe must answer while a dependency is down, not wait with the
	// client libraries' retries until the prober gives up.
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
	}
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "temporal unavailable"})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// readyTimeout bounds each dependency check of /readyz.
const readyTimeout = 3 * time.Second

// AlertResult is what became of one alert of an ingest request.
type AlertResult struct {
	Index       int               `json:"index"`
	ID          string            `json:"id"`
	Outcome     correlate.Outcome `json:"outcome"`
	IncidentID  int64             `json:"incidentId"`
	NewIncident bool              `json:"newIncident,omitempty"`
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

// postAlerts ingests one alert, an array, a Graph page or NDJSON, in Graph,
// OCSF or Sentinel format (internal/decode). Valid
// alerts are stored even when others are bad: 200 when all were good, 207
// when some were rejected, 400 when none was usable.
func (s *Server) postAlerts(w http.ResponseWriter, r *http.Request) error {
	// Ingest correlates across every device group and answers with the
	// incidents alerts joined, so it is for tokens that see them all.
	if p := auth.FromContext(r.Context()); p != nil && p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "ingest correlates across every device group; a token scoped to some may not send alerts")
	}
	return s.ingestBody(w, r, http.MaxBytesReader(w, r.Body, s.maxBody()), 0, nil)
}

// ingestBody decodes, stores and correlates a body of alerts into an
// exercise (0: real alerts) and answers per item; stored, when set, learns
// the ids of the alerts stored.
func (s *Server) ingestBody(w http.ResponseWriter, r *http.Request, body io.Reader, exercise int64, stored func(ctx context.Context, ids []string) error) error {
	alerts, problems, err := decode.Decode(body)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		a.Exercise = exercise
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
	if stored != nil && len(results) > 0 {
		ids := make([]string, len(results))
		for i, res := range results {
			ids[i] = res.AlertID
		}
		if err := stored(r.Context(), ids); err != nil && ingestErr == nil {
			ingestErr = err
		}
	}
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
