package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/plan"
	"github.com/airsoc/air/internal/plan/stored"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/records"
)

// BacktestRequest is the body of POST /api/v1/playbooks/backtest: a
// candidate set of playbooks, and the window of stored incidents to try it
// on.
type BacktestRequest struct {
	// Playbooks are the candidate set, every file of it (sub-playbooks
	// too), as YAML text; they replace the loaded playbooks for the
	// comparison.
	Playbooks []BacktestSource `json:"playbooks"`
	// Since starts the window, on lastUpdateDateTime: a duration back
	// from now (7d, 2w, 36h, 90m) or an RFC 3339 time or date; "" means
	// 7d. Until ends it (exclusive), an RFC 3339 time; "" means now.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// Offset and Limit page the window's incidents, newest first; Limit 0
	// means MaxBacktestPage, the most one request plans.
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
	// Verbose lists the incidents without a difference too.
	Verbose bool `json:"verbose,omitempty"`
	// Assume and Answers are what both plans assume, as in PlanRequest.
	Assume  string              `json:"assume,omitempty"`
	Answers map[string][]string `json:"answers,omitempty"`
}

// BacktestSource is one candidate playbook file: its name (diagnostics
// say file:line:column with it) and its YAML text.
type BacktestSource struct {
	File   string `json:"file"`
	Source string `json:"source"`
}

// BacktestResponse says what the candidate playbooks would do otherwise
// than the loaded ones to the incidents of the window.
type BacktestResponse struct {
	// Since and Until are the window as resolved (a later page sends them
	// back, so that every page reads the same window).
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Total counts the window's incidents; Offset is where this page
	// starts.
	Total  int `json:"total"`
	Offset int `json:"offset"`
	// Baseline and Candidate name the two sets' playbooks ("NAME vN").
	Baseline  []string `json:"baseline"`
	Candidate []string `json:"candidate"`
	// Note says why nothing was planned, when nothing was.
	Note string `json:"note,omitempty"`
	plan.Report
}

// MaxBacktestPage is the most incidents one backtest request plans; a
// longer window is paged (Offset).
const MaxBacktestPage = 1000

// backtestStatuses are the incidents a backtest plans: every one but those
// merged into another, whose alerts are the other's now.
var backtestStatuses = []domain.IncidentStatus{domain.IncidentActive, domain.IncidentInProgress, domain.IncidentResolved}

// backtestPlaybooks plans each stored incident of the window with the
// loaded playbooks and with the candidate set, and reports the
// differences. It changes nothing. Incidents are planned as their alerts
// make them, without the actions they recorded (stored.LoadFresh).
func (s *Server) backtestPlaybooks(w http.ResponseWriter, r *http.Request) error {
	release, err := s.planSlot()
	if err != nil {
		return err
	}
	defer release()
	var req BacktestRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return jsonError(err)
	}
	candidate, err := candidateSet(req.Playbooks)
	if err != nil {
		return err
	}
	switch req.Assume {
	case plan.AssumePending, plan.AssumeApproved, plan.AssumeRejected:
	default:
		return domain.Invalid("assume", "want approved or rejected, got %q", req.Assume)
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = MaxBacktestPage
	case limit < 0 || limit > MaxBacktestPage:
		return domain.Invalid("limit", "want from 1 to %d, got %d", MaxBacktestPage, limit)
	}
	if req.Offset < 0 {
		return domain.Invalid("offset", "want 0 or more, got %d", req.Offset)
	}
	now := s.now()
	resp := BacktestResponse{Offset: req.Offset, Baseline: bookNames(s.Playbooks), Candidate: bookNames(candidate)}
	if resp.Since, err = ParseSince("since", cmpOr(req.Since, "7d"), now); err != nil {
		return err
	}
	resp.Until = now.UTC()
	if req.Until != "" {
		if resp.Until, err = ParseSince("until", req.Until, now); err != nil {
			return err
		}
	}
	if !resp.Since.Before(resp.Until) {
		return domain.Invalid("since", "the window starts at %s, not before its end %s", resp.Since.Format(time.RFC3339), resp.Until.Format(time.RFC3339))
	}

	ctx := r.Context()
	q := records.IncidentQuery{Statuses: backtestStatuses, Since: resp.Since, Until: resp.Until, Sort: "-id", Offset: req.Offset, Limit: limit}
	if p := auth.FromContext(ctx); p != nil {
		q.Scope = p.Groups
	}
	page, err := s.Store.QueryIncidents(ctx, q)
	if err != nil {
		return err
	}
	resp.Total = page.Total
	ids := make([]int64, len(page.Value))
	for i, row := range page.Value {
		ids[i] = row.ID
	}
	settings := s.DefaultAutomation
	if _, err := s.Store.Setting(ctx, activities.SettingsKey, &settings); err != nil {
		return err
	}
	inputs, err := activities.LoadInputs(ctx, s.Store)
	if err != nil {
		return err
	}
	load := func(ctx context.Context, id int64) (*plan.Incident, error) {
		in, err := stored.LoadFresh(ctx, s.Store, id, settings)
		if err != nil {
			return nil, err
		}
		in.Inputs = inputs
		return in, nil
	}
	rep, err := plan.Backtest(ctx, s.Playbooks, candidate, ids, load,
		plan.BacktestOptions{Options: plan.Options{Assume: req.Assume, Answers: req.Answers}, Verbose: req.Verbose})
	if err != nil {
		return err
	}
	resp.Report = *rep
	switch {
	case page.Total == 0:
		resp.Note = fmt.Sprintf("no incident was updated from %s to %s", resp.Since.Format(time.RFC3339), resp.Until.Format(time.RFC3339))
	case len(ids) == 0:
		resp.Note = fmt.Sprintf("offset %d is past the window's %d incidents", req.Offset, page.Total)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// candidateSet compiles the request's playbooks together, as the worker
// loads a directory; a problem is a 400 naming file:line:column and why.
func candidateSet(srcs []BacktestSource) ([]*playbook.Playbook, error) {
	if len(srcs) == 0 {
		return nil, domain.Invalid("playbooks", "give the candidate playbooks, every file of the set, as {file, source}")
	}
	set := make([]playbook.Source, len(srcs))
	for i, src := range srcs {
		if strings.TrimSpace(src.File) == "" {
			return nil, domain.Invalid(fmt.Sprintf("playbooks[%d].file", i), "name the file (diagnostics name it)")
		}
		set[i] = playbook.Source{File: src.File, Source: []byte(src.Source)}
	}
	books, err := playbook.CompileSet(set)
	var le *playbook.LoadError
	switch {
	case errors.As(err, &le):
		return nil, domain.Invalid("playbooks", "%s", le.Error())
	case err != nil:
		return nil, err
	}
	return books, nil
}

// bookNames names the top-level playbooks of a set, "NAME vVERSION".
func bookNames(books []*playbook.Playbook) []string {
	out := []string{}
	for _, pb := range books {
		if pb.Kind != playbook.KindSub {
			out = append(out, fmt.Sprintf("%s v%d", pb.Name, pb.Version))
		}
	}
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ParseSince reads a point in time: a duration back from now — a number
// and a unit, d (days) or w (weeks), or a Go duration such as 36h or 90m —
// or an RFC 3339 time or date (UTC midnight). field names it in the error.
func ParseSince(field, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	var back time.Duration
	if n, unit := strings.TrimRight(v, "dw"), strings.TrimLeft(v, "0123456789"); len(unit) == 1 && (unit == "d" || unit == "w") {
		days, err := strconv.Atoi(n)
		if err != nil {
			return time.Time{}, domain.Invalid(field, "want a duration (7d, 2w, 36h) or an RFC 3339 time or date, got %q", v)
		}
		if unit == "w" {
			days *= 7
		}
		back = time.Duration(days) * 24 * time.Hour
	} else {
		d, err := time.ParseDuration(v)
		if err != nil {
			return time.Time{}, domain.Invalid(field, "want a duration (7d, 2w, 36h) or an RFC 3339 time or date, got %q", v)
		}
		back = d
	}
	if back <= 0 || back > 10*365*24*time.Hour {
		return time.Time{}, domain.Invalid(field, "want a duration from 1s to 10 years back, got %q", v)
	}
	return now.Add(-back).UTC(), nil
}
