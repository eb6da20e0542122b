package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/workflows"
)

// Limits of the action center.
const (
	MaxPage        = 1000  // rows per page of JSON
	MaxExport      = 10000 // rows per CSV export
	MaxBulk        = 100   // actions per bulk decision
	MaxCommentSize = 2000  // bytes of a decision comment
)

// actionFilters are the query parameters the action center understands.
var actionFilters = []string{"view", "status", "type", "source", "incidentId", "deviceGroup", "decidedBy",
	"since", "until", "olderThan", "newerThan", "sort", "limit", "offset", "format"}

// ParseActionQuery turns the action center's query parameters into a
// store query; the API, the pages and (through the API) the command line
// share it. now anchors the age filters.
//
//	view=pending|history|all   pending: status pending; history: every other status
//	status, type, source, incidentId, deviceGroup, decidedBy   lists (comma-separated or repeated)
//	since, until               RFC 3339 times or YYYY-MM-DD dates (creation time)
//	newerThan, olderThan       ages such as 90m, 24h, 7d, 2w
//	sort                       a column, "-" first for descending (default -createdAt)
//	limit, offset              paging
func ParseActionQuery(v url.Values, now time.Time) (records.ActionQuery, error) {
	var q records.ActionQuery
	for name := range v {
		if !slices.Contains(actionFilters, name) {
			return q, domain.Invalid(name, "unknown filter; want one of %s", strings.Join(actionFilters, ", "))
		}
	}
	switch view := v.Get("view"); view {
	case "pending":
		q.Statuses = []domain.ActionStatus{domain.ActionPending}
	case "history":
		q.NotStatuses = []domain.ActionStatus{domain.ActionPending}
	case "", "all":
	default:
		return q, domain.Invalid("view", "want pending, history or all, got %q", view)
	}
	// status= narrows the view, like every other filter (AND), never
	// widens it: view=pending&status=succeeded is a contradiction, said
	// as one rather than answered with pending actions or with nothing.
	var statuses []domain.ActionStatus
	for _, st := range splitList(v["status"]) {
		s, err := domain.ParseEnum("status", st, domain.ActionStatuses, false)
		if err != nil {
			return q, err
		}
		if len(q.NotStatuses) > 0 && slices.Contains(q.NotStatuses, s) {
			return q, domain.Invalid("status", "%s is not in view %s; use view=all", s, v.Get("view"))
		}
		if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, s) {
			return q, domain.Invalid("status", "%s is not in view %s, which holds only pending actions; use view=history or view=all", s, v.Get("view"))
		}
		statuses = append(statuses, s)
	}
	if len(statuses) > 0 {
		q.Statuses = statuses
	}
	for _, t := range splitList(v["type"]) {
		if _, ok := actions.Lookup(t); !ok {
			return q, domain.Invalid("type", "unknown action type %q", t)
		}
		q.Types = append(q.Types, t)
	}
	for _, src := range splitList(v["source"]) {
		s, err := domain.ParseEnum("source", src, []domain.ActionSource{domain.SourceAutomated, domain.SourceManual}, false)
		if err != nil {
			return q, err
		}
		q.Sources = append(q.Sources, s)
	}
	for _, id := range splitList(v["incidentId"]) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return q, domain.Invalid("incidentId", "want a positive integer, got %q", id)
		}
		q.IncidentIDs = append(q.IncidentIDs, n)
	}
	q.DeviceGroups = auth.ParseGroups(v["deviceGroup"])
	q.DecidedBy = splitList(v["decidedBy"])
	var err error
	if q.CreatedAfter, err = parseTime("since", v.Get("since")); err != nil {
		return q, err
	}
	if q.CreatedBefore, err = parseTime("until", v.Get("until")); err != nil {
		return q, err
	}
	if d, err := parseAge("newerThan", v.Get("newerThan")); err != nil {
		return q, err
	} else if d > 0 && (q.CreatedAfter.IsZero() || now.Add(-d).After(q.CreatedAfter)) {
		q.CreatedAfter = now.Add(-d)
	}
	if d, err := parseAge("olderThan", v.Get("olderThan")); err != nil {
		return q, err
	} else if d > 0 && (q.CreatedBefore.IsZero() || now.Add(-d).Before(q.CreatedBefore)) {
		q.CreatedBefore = now.Add(-d)
	}
	q.Sort, q.Desc = "createdAt", true
	if sort := v.Get("sort"); sort != "" {
		q.Sort, q.Desc = strings.TrimPrefix(sort, "-"), strings.HasPrefix(sort, "-")
		if keys := records.SortableActionColumns(); !slices.Contains(keys, q.Sort) {
			return q, domain.Invalid("sort", "cannot sort by %q; want one of %s (prefix - for descending)", q.Sort, strings.Join(keys, ", "))
		}
	}
	max := MaxPage
	if v.Get("format") == "csv" {
		max = MaxExport
	}
	if q.Limit, err = intValue(v, "limit", 1, max); err != nil {
		return q, err
	}
	if q.Offset, err = intValue(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	if q.Limit == 0 && v.Get("format") == "csv" {
		q.Limit = MaxExport
	}
	return q, nil
}

func intValue(v url.Values, name string, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, domain.Invalid(name, "want an integer from %d to %d, got %q", lo, hi, s)
	}
	return n, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, domain.Invalid(field, "want an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02), got %q", s)
}

// maxAge bounds the ages parseAge accepts: ten years reaches back past any
// retention, and keeps now minus the age far from time.Duration's limit
// (about 292 years), past which it overflowed into a wrong time.
const maxAge = 10 * 365 * 24 * time.Hour

// parseAge reads a duration that may also be written in days (7d) or
// weeks (2w), from a minute to ten years.
func parseAge(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	}
	var d time.Duration
	if unit != 0 {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n <= 0 {
			return 0, domain.Invalid(field, "want a positive age such as 90m, 24h, 7d or 2w, got %q", s)
		}
		if n > int64(maxAge/unit) {
			return 0, domain.Invalid(field, "%q is longer than the longest age, %d days (ten years)", s, maxAge/(24*time.Hour))
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return 0, domain.Invalid(field, "want a positive age such as 90m, 24h, 7d or 2w, got %q", s)
		}
		if d > maxAge {
			return 0, domain.Invalid(field, "%q is longer than the longest age, %d days (ten years)", s, maxAge/(24*time.Hour))
		}
	}
	return d, nil
}

// Actions answers an action-center query within the principal's scope.
func (s *Server) Actions(ctx context.Context, p *auth.Principal, q records.ActionQuery) (*records.ActionPage, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	q.Scope = p.Groups
	return s.Store.QueryActions(ctx, q)
}

// Action returns one action the principal may see. An action outside a
// scoped principal's device groups is not found, as if it did not exist.
func (s *Server) Action(ctx context.Context, p *auth.Principal, id string) (*domain.Action, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	a, err := s.Store.GetAction(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Scoped() {
		in, err := s.Store.ActionInScope(ctx, id, p.Groups)
		if err != nil {
			return nil, err
		}
		if !in {
			return nil, domain.Errorf(domain.KindNotFound, "action %s not found", id)
		}
	}
	return a, nil
}

// Decide approves or rejects one pending action as the principal, through
// the incident workflow's decide Update: the workflow validates, applies
// and records; this only checks who may ask and answers early what the
// store already knows.
func (s *Server) Decide(ctx context.Context, p *auth.Principal, id string, d domain.Decision, comment, paramsHash string) (*domain.Action, error) {
	if err := p.Require(auth.Responder); err != nil {
		return nil, err
	}
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	a, err := s.Action(ctx, p, id)
	if err != nil {
		return nil, err
	}
	// The store trails the workflow only from pending to decided, so a
	// decided row is final: answer without a trip to the workflow.
	if a.Status != domain.ActionPending {
		return nil, domain.Errorf(domain.KindConflict, "action %s is already %s", a.ID, a.Status)
	}
	// Four-eyes, like the role, is checked again by the workflow's
	// validator, which is the authority.
	return s.Engine.Decide(ctx, a.IncidentID, workflows.DecideRequest{
		ActionID: a.ID, Decision: d, Comment: comment, By: p.Name, Role: p.Role, ParamsHash: paramsHash,
	})
}

func checkComment(c string) error {
	if len(c) > MaxCommentSize {
		return domain.Invalid("comment", "want at most %d bytes, got %d", MaxCommentSize, len(c))
	}
	if !utf8.ValidString(c) {
		return domain.Invalid("comment", "not valid UTF-8")
	}
	return nil
}

// BulkResult is what became of one action of a bulk decision.
type BulkResult struct {
	ID     string         `json:"id"`
	OK     bool           `json:"ok"`
	Action *domain.Action `json:"action,omitempty"`
	Error  *ErrorDetail   `json:"error,omitempty"`
}

// DecideMany approves or rejects several pending actions of one type with
// one comment, each through Decide. A request mixing types, or naming an
// action twice, is refused whole; otherwise each action succeeds or fails
// on its own and the results say which.
func (s *Server) DecideMany(ctx context.Context, p *auth.Principal, ids []string, d domain.Decision, comment string) ([]BulkResult, error) {
	if err := p.Require(auth.Responder); err != nil {
		return nil, err
	}
	if d != domain.DecisionApprove && d != domain.DecisionReject {
		return nil, domain.Invalid("decision", "want approve or reject, got %q", d)
	}
	if len(ids) == 0 || len(ids) > MaxBulk {
		return nil, domain.Invalid("ids", "want from 1 to %d action ids, got %d", MaxBulk, len(ids))
	}
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	types := map[string][]string{}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return nil, domain.Invalid(fmt.Sprintf("ids[%d]", i), "action %s is named twice", id)
		}
		a, err := s.Action(ctx, p, id)
		if err != nil {
			return nil, fieldOf(err, fmt.Sprintf("ids[%d]", i))
		}
		types[a.Type] = append(types[a.Type], id)
	}
	if len(types) > 1 {
		var parts []string
		for t, l := range types {
			parts = append(parts, fmt.Sprintf("%s (%s)", t, strings.Join(l, ", ")))
		}
		slices.Sort(parts)
		return nil, domain.Invalid("ids", "a bulk decision takes actions of one type; got %s", strings.Join(parts, "; "))
	}
	out := make([]BulkResult, len(ids))
	// Different incidents are different workflows: decide a few at once.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := s.Decide(ctx, p, id, d, comment, "")
			out[i] = BulkResult{ID: id, OK: err == nil, Action: a}
			if err != nil {
				_, detail := s.describe("bulk decision", err)
				out[i].Error = &detail
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// fieldOf names the field at fault in a domain error that names none.
func fieldOf(err error, field string) error {
	return amend(err, func(c *domain.Error) {
		if c.Field == "" {
			c.Field = field
		}
	})
}

// Undo asks the incident workflow to undo a succeeded action by running
// its undo action (device.isolate → device.release, …).
func (s *Server) Undo(ctx context.Context, p *auth.Principal, id, comment string) (*domain.Action, error) {
	if err := p.Require(auth.Responder); err != nil {
		return nil, err
	}
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	a, err := s.Action(ctx, p, id)
	if err != nil {
		return nil, err
	}
	spec, ok := actions.Lookup(a.Type)
	if !ok || spec.Undo == "" {
		return nil, domain.Errorf(domain.KindConflict, "action %s (%s) cannot be undone: %s has no undo action", a.ID, a.Type, a.Type)
	}
	if a.Status != domain.ActionSucceeded {
		return nil, domain.Errorf(domain.KindConflict, "action %s is %s; only a succeeded action can be undone", a.ID, a.Status)
	}
	return s.Engine.Undo(ctx, a.IncidentID, workflows.UndoRequest{ActionID: a.ID, Comment: comment, By: p.Name, Role: p.Role})
}

// Undoable reports whether the action center offers undo for an action.
func Undoable(a *domain.Action) bool {
	spec, ok := actions.Lookup(a.Type)
	return ok && spec.Undo != "" && a.Status == domain.ActionSucceeded
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	if f := v.Get("format"); f != "" && f != "csv" && f != "json" {
		return domain.Invalid("format", "want json or csv, got %q", f)
	}
	q, err := ParseActionQuery(v, time.Now())
	if err != nil {
		return err
	}
	page, err := s.Actions(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil {
		return err
	}
	if v.Get("format") == "csv" {
		return writeActionsCSV(w, page.Value)
	}
	return writeJSON(w, http.StatusOK, page)
}

// ActionCSVHeader is the first line of an action-center export.
var ActionCSVHeader = []string{"id", "incidentId", "incidentName", "type", "targetKey", "targetName", "source",
	"requestedBy", "status", "reason", "decidedBy", "decisionComment", "createdAt", "decidedAt", "startedAt",
	"finishedAt", "result", "error", "undoOf", "playbook", "playbookVersion", "step"}

func writeActionsCSV(w http.ResponseWriter, rows []records.ActionRow) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="actions.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(ActionCSVHeader)
	for _, a := range rows {
		cw.Write(csvCells(a.ID, strconv.FormatInt(a.IncidentID, 10), a.IncidentName, a.Type, string(a.TargetKey),
			a.TargetName, string(a.Source), a.RequestedBy, string(a.Status), a.Reason, a.DecidedBy, a.DecisionComment,
			timeCell(&a.CreatedAt), timeCell(a.DecidedAt), timeCell(a.StartedAt), timeCell(a.FinishedAt), a.Result,
			a.Error, a.UndoOf, a.Playbook, strconv.Itoa(a.PlaybookVersion), a.Step))
	}
	cw.Flush()
	return cw.Error()
}

// csvCells defuses cells a spreadsheet would run as a formula
// (domain.CSVCell): alert titles are an attacker's to choose, and they
// reach these cells.
func csvCells(cells ...string) []string {
	for i, c := range cells {
		cells[i] = domain.CSVCell(c)
	}
	return cells
}

func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Action(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"))
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

func (s *Server) decide(d domain.Decision) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body DecisionBody
		if err := decodeBody(w, r, &body, false); err != nil {
			return err
		}
		a, err := s.Decide(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"), d, body.Comment, body.ParamsHash)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a)
	}
}

// BulkDecisionBody is the body of POST /api/v1/actions/decide.
type BulkDecisionBody struct {
	IDs      []string        `json:"ids"`
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment"`
}

// BulkDecisionResponse answers a bulk decision: 200 when every action was
// decided, 207 when some were not (each result says why).
type BulkDecisionResponse struct {
	Decided int          `json:"decided"`
	Failed  int          `json:"failed"`
	Results []BulkResult `json:"results"`
}

func (s *Server) decideMany(w http.ResponseWriter, r *http.Request) error {
	var body BulkDecisionBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	results, err := s.DecideMany(r.Context(), auth.FromContext(r.Context()), body.IDs, body.Decision, body.Comment)
	if err != nil {
		return err
	}
	resp := BulkDecisionResponse{Results: results}
	resp.Decided, resp.Failed = tally(results, func(r BulkResult) bool { return r.OK })
	return writeJSON(w, bulkStatus(resp.Failed), resp)
}

func (s *Server) undo(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Comment string `json:"comment"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	a, err := s.Undo(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"), body.Comment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// ManualActionBody is the body of POST /api/v1/incidents/{id}/actions.
type ManualActionBody struct {
	Type    string           `json:"type"`
	Target  domain.EntityKey `json:"target"`
	Params  domain.RawJSON   `json:"params,omitempty"`
	Comment string           `json:"comment,omitempty"`
}

// RequestAction asks the incident's workflow for a manual action on one of
// its entities; it waits for approval like any other (and, with four-eyes
// on, for someone else's).
func (s *Server) RequestAction(ctx context.Context, p *auth.Principal, incidentID int64, body ManualActionBody) (*domain.Action, error) {
	if err := p.Require(auth.Responder); err != nil {
		return nil, err
	}
	if err := checkComment(body.Comment); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetIncident(ctx, incidentID); err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, incidentID); err != nil {
		return nil, err
	}
	if body.Type == "" {
		return nil, domain.Invalid("type", "required: an action type such as device.isolate")
	}
	if body.Target == "" {
		return nil, domain.Invalid("target", "required: the entity key of one of the incident's entities, such as device:ws-042")
	}
	if err := s.targetInScope(ctx, p, incidentID, body.Target); err != nil {
		return nil, err
	}
	if s.Engine == nil {
		return nil, domain.Errorf(domain.KindUnavailable, "no workflow engine: manual actions cannot be taken here")
	}
	return s.Engine.Request(ctx, incidentID, workflows.ManualRequest{Type: body.Type, Target: body.Target,
		Params: body.Params, Comment: body.Comment, By: p.Name, Role: p.Role})
}

// targetInScope refuses a manual action's target unless it is one of the
// incident's entities (400: a manual action answers for the incident it is
// filed under, and its approver judges it from that incident's evidence)
// and the principal's device-group scope covers it (403). A scoped
// principal may act only on devices of its groups: users, mailboxes and
// files belong to no device group, so no group scope covers them.
func (s *Server) targetInScope(ctx context.Context, p *auth.Principal, incidentID int64, target domain.EntityKey) error {
	entities, err := s.Store.IncidentEntities(ctx, incidentID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(entities, func(e domain.Entity) bool { return strings.EqualFold(string(e.Key), string(target)) })
	if i < 0 {
		keys := make([]string, 0, min(len(entities), 5))
		for _, e := range entities[:min(len(entities), 5)] {
			keys = append(keys, string(e.Key))
		}
		more := ""
		if len(entities) > len(keys) {
			more = ", …"
		}
		return domain.Invalid("target", "%s is not one of incident %d's entities (%s%s): a manual action acts on an entity of its incident",
			target, incidentID, strings.Join(keys, ", "), more)
	}
	e := entities[i]
	if !p.Scoped() {
		return nil
	}
	if e.Kind != domain.KindDevice {
		return domain.Errorf(domain.KindForbidden, "%s is a %s, in no device group: %s is scoped to device groups %s and may act only on their devices",
			e.Key, e.Kind, p.Name, strings.Join(p.Groups, ", "))
	}
	if g := e.Attrs["deviceGroup"]; !p.SeesGroup(g) {
		return domain.Errorf(domain.KindForbidden, "%s is in device group %q, outside %s's scope (%s)",
			e.Key, g, p.Name, strings.Join(p.Groups, ", "))
	}
	return nil
}

func (s *Server) requestAction(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body ManualActionBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	a, err := s.RequestAction(r.Context(), auth.FromContext(r.Context()), id, body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}

// StopBody is the body of POST /api/v1/incidents/{id}/stop.
type StopBody struct {
	// Reason says why the investigation stops; required. Pending actions
	// are rejected with it.
	Reason string `json:"reason"`
}

// StopInvestigation stops an incident's running investigation as the
// principal (a responder), through the workflow's stop Update: the API,
// the command line and the pages all come here.
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
	if len(reason) > MaxCommentSize || !utf8.ValidString(reason) {
		return nil, domain.Invalid("reason", "want at most %d bytes of UTF-8", MaxCommentSize)
	}
	if s.Engine == nil {
		return nil, domain.Errorf(domain.KindUnavailable, "no workflow engine: investigations cannot be stopped here")
	}
	st, err := s.Engine.Stop(ctx, incidentID, workflows.StopRequest{Reason: reason, By: p.Name, Role: p.Role})
	if err != nil {
		return nil, err
	}
	if !p.Scoped() {
		return st, nil
	}
	page, err := s.Store.QueryActions(ctx, records.ActionQuery{IncidentIDs: []int64{incidentID}, Scope: p.Groups, Limit: 1000})
	if err != nil {
		return nil, err
	}
	visible := make([]domain.Action, len(page.Value))
	for i, row := range page.Value {
		visible[i] = row.Action
	}
	return scopeState(st, visible, p), nil
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
