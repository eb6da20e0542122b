package api

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// incidentFilters are the query parameters the incident queue understands.
var incidentFilters = []string{"status", "severity", "assignedTo", "tag", "serviceSource", "detectionSource",
	"category", "classification", "determination", "investigationState", "deviceGroup", "entity",
	"multipleServiceSources", "range", "since", "until", "search", "sort", "offset", "limit"}

// IncidentFilters lists the query parameters ParseIncidentQuery takes.
func IncidentFilters() []string { return slices.Clone(incidentFilters) }

// Queue defaults (SPEC §3): what the queue shows until the user says
// otherwise, filter by filter.
var (
	DefaultIncidentStatuses   = []domain.IncidentStatus{domain.IncidentActive, domain.IncidentInProgress}
	DefaultIncidentSeverities = []domain.Severity{domain.SeverityHigh, domain.SeverityMedium, domain.SeverityLow}
)

// DefaultIncidentRange is the queue's default time range.
const DefaultIncidentRange = "1w"

// incidentRanges maps the queue's time ranges to how far back they reach.
var incidentRanges = map[string]func(now time.Time) time.Time{
	"1d":  func(now time.Time) time.Time { return now.Add(-24 * time.Hour) },
	"3d":  func(now time.Time) time.Time { return now.Add(-3 * 24 * time.Hour) },
	"1w":  func(now time.Time) time.Time { return now.Add(-7 * 24 * time.Hour) },
	"30d": func(now time.Time) time.Time { return now.Add(-30 * 24 * time.Hour) },
	"6m":  func(now time.Time) time.Time { return now.AddDate(0, -6, 0) },
}

// ParseIncidentQuery turns the queue's query parameters into a store
// query; the API (list and CSV export), the pages and (through the API) the
// command line share it. now anchors the time range. Lists are
// comma-separated or repeated.
//
//	status              active, inProgress, resolved, redirected, or all    (default active,inProgress)
//	severity            high, medium, low, informational, unknown, or all   (default high,medium,low)
//	range               1d, 3d, 1w, 30d, 6m, custom or all                  (default 1w; on lastUpdateDateTime)
//	since, until        RFC 3339 times or dates; imply range=custom
//	assignedTo          assignees; "unassigned" (or an empty value) for none
//	tag                 custom or system tags
//	serviceSource, detectionSource, category   as in the incident's alerts
//	classification, determination              Graph names (determination aliases accepted)
//	investigationState  Graph investigationState names
//	deviceGroup         incidents with a device in one of the groups
//	entity              an entity key (device:ws-042) or name
//	multipleServiceSources  yes or no
//	search              name (substring), id, or impacted asset (name prefix or key)
//	sort                a column's JSON name, "-" first for descending (default -lastUpdateDateTime)
//	offset, limit       paging (limit 1 to 1000, default 50)
//
// The defaults apply filter by filter: a request that names status keeps
// the default severity and range. "all" lifts one (status=all&range=all
// searches every incident ever). An unknown parameter, value or sort
// column is an invalid error naming the parameter.
func ParseIncidentQuery(v url.Values, now time.Time) (records.IncidentQuery, error) {
	var q records.IncidentQuery
	for name := range v {
		if !slices.Contains(incidentFilters, name) {
			return q, domain.Invalid(name, "unknown filter; want one of %s", strings.Join(incidentFilters, ", "))
		}
	}
	all := func(name string) bool { return slices.Contains(splitList(v[name]), "all") }

	if _, set := v["status"]; !set {
		q.Statuses = slices.Clone(DefaultIncidentStatuses)
	} else if !all("status") {
		for _, st := range splitList(v["status"]) {
			s, err := domain.ParseEnum("status", st, domain.IncidentStatuses, false)
			if err != nil {
				return q, orAll(err)
			}
			q.Statuses = append(q.Statuses, s)
		}
	}
	if _, set := v["severity"]; !set {
		q.Severities = slices.Clone(DefaultIncidentSeverities)
	} else if !all("severity") {
		for _, sv := range splitList(v["severity"]) {
			s, err := domain.ParseEnum("severity", sv, domain.Severities, false)
			if err != nil {
				return q, orAll(err)
			}
			q.Severities = append(q.Severities, s)
		}
	}

	var err error
	if q.Since, err = parseTime("since", v.Get("since")); err != nil {
		return q, err
	}
	if q.Until, err = parseTime("until", v.Get("until")); err != nil {
		return q, err
	}
	custom := !q.Since.IsZero() || !q.Until.IsZero()
	switch rng := v.Get("range"); {
	case rng == "" && !custom:
		q.Since = incidentRanges[DefaultIncidentRange](now)
	case rng == "" || rng == "custom":
		if !custom {
			return q, domain.Invalid("since", "range=custom needs since, until or both")
		}
	case rng == "all":
		if custom {
			return q, domain.Invalid("range", "since and until go with range=custom (or no range), not %q", rng)
		}
	default:
		from, ok := incidentRanges[rng]
		if !ok {
			return q, domain.Invalid("range", "unknown range %q, want 1d, 3d, 1w, 30d, 6m, custom or all", rng)
		}
		if custom {
			return q, domain.Invalid("range", "since and until go with range=custom (or no range), not %q", rng)
		}
		q.Since = from(now)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, domain.Invalid("until", "want a time after since")
	}

	if vals, ok := v["assignedTo"]; ok {
		list := splitList(vals)
		if len(list) == 0 || slices.Contains(vals, "") {
			list = append(list, "")
		}
		for _, a := range list {
			if a == "unassigned" {
				a = ""
			}
			if !slices.Contains(q.AssignedTo, a) {
				q.AssignedTo = append(q.AssignedTo, a)
			}
		}
	}
	q.Tags = splitList(v["tag"])
	q.ServiceSources = splitList(v["serviceSource"])
	q.DetectionSources = splitList(v["detectionSource"])
	q.Categories = splitList(v["category"])
	for _, c := range splitList(v["classification"]) {
		c, err := domain.ParseClassification("classification", c)
		if err != nil {
			return q, err
		}
		q.Classifications = append(q.Classifications, c)
	}
	for _, d := range splitList(v["determination"]) {
		d, err := domain.CanonicalDetermination("determination", d)
		if err != nil {
			return q, err
		}
		q.Determinations = append(q.Determinations, d)
	}
	for _, st := range splitList(v["investigationState"]) {
		s, err := domain.ParseEnum("investigationState", st, domain.InvestigationStates, false)
		if err != nil {
			return q, err
		}
		q.InvestigationStates = append(q.InvestigationStates, s)
	}
	q.DeviceGroups = auth.ParseGroups(v["deviceGroup"])
	q.Entity = strings.TrimSpace(v.Get("entity"))
	switch m := v.Get("multipleServiceSources"); m {
	case "":
	case "yes", "no":
		b := m == "yes"
		q.MultipleServiceSources = &b
	default:
		return q, domain.Invalid("multipleServiceSources", "want yes or no, got %q", m)
	}
	q.Search = strings.TrimSpace(v.Get("search"))
	if sort := v.Get("sort"); sort != "" {
		if !slices.Contains(records.SortableIncidentColumns(), strings.TrimPrefix(sort, "-")) {
			return q, domain.Invalid("sort", "cannot sort by %q; want one of %s (prefix - for descending)",
				strings.TrimPrefix(sort, "-"), strings.Join(records.SortableIncidentColumns(), ", "))
		}
		q.Sort = sort
	}
	if q.Limit, err = intValue(v, "limit", 1, records.MaxIncidentPage); err != nil {
		return q, err
	}
	if q.Offset, err = intValue(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	return q, nil
}

// Incidents answers a queue query within the principal's scope (applied
// in SQL, before paging).
func (s *Server) Incidents(ctx context.Context, p *auth.Principal, q records.IncidentQuery) (*records.IncidentPage, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	q.Scope = p.Groups
	return s.Store.QueryIncidents(ctx, q)
}

// ExportIncidents writes the incidents a queue query selects as CSV,
// IncidentCSVHeader first, streaming every match (q.Limit 0) within the
// principal's scope.
func (s *Server) ExportIncidents(ctx context.Context, p *auth.Principal, q records.IncidentQuery, w *csv.Writer) error {
	if err := p.Require(auth.Viewer); err != nil {
		return err
	}
	q.Scope = p.Groups
	if err := w.Write(IncidentCSVHeader); err != nil {
		return err
	}
	n := 0
	err := s.Store.EachIncident(ctx, q, func(r *records.IncidentRow) error {
		if err := w.Write(incidentCSVRow(r)); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			w.Flush()
			return w.Error()
		}
		return nil
	})
	w.Flush()
	if err != nil {
		return err
	}
	return w.Error()
}

// IncidentCSVHeader is the first line of an incident export.
var IncidentCSVHeader = []string{"id", "displayName", "severity", "status", "priorityScore", "assignedTo",
	"classification", "determination", "investigationState", "alertCount", "activeAlertCount", "categories",
	"serviceSources", "detectionSources", "devices", "users", "mailboxes", "customTags", "systemTags",
	"firstActivityDateTime", "lastActivityDateTime", "createdDateTime", "lastUpdateDateTime", "lastModifiedBy",
	"acknowledgedDateTime", "containedDateTime", "resolvedDateTime", "redirectIncidentId"}

func incidentCSVRow(r *records.IncidentRow) []string {
	redirect := ""
	if r.RedirectIncidentID != nil {
		redirect = strconv.FormatInt(*r.RedirectIncidentID, 10)
	}
	list := func(l []string) string { return strings.Join(l, ";") }
	return csvCells(strconv.FormatInt(r.ID, 10), r.DisplayName, string(r.Severity), string(r.Status),
		strconv.Itoa(r.PriorityScore), r.AssignedTo, r.Classification, r.Determination, string(r.InvestigationState),
		strconv.Itoa(r.AlertCount), strconv.Itoa(r.ActiveAlerts), list(r.Categories), list(r.ServiceSources),
		list(r.DetectionSources), list(r.ImpactedAssets.Devices), list(r.ImpactedAssets.Users),
		list(r.ImpactedAssets.Mailboxes), list(r.CustomTags), list(r.SystemTags), timeCell(&r.FirstActivity),
		timeCell(&r.LastActivity), timeCell(&r.CreatedDateTime), timeCell(&r.LastUpdateDateTime), r.LastModifiedBy,
		timeCell(r.AcknowledgedDateTime), timeCell(r.ContainedDateTime), timeCell(r.ResolvedDateTime), redirect)
}

// IncidentDetail is an incident with everything the incident page shows.
type IncidentDetail struct {
	domain.Incident
	// Derived holds the impacted assets, sources, tactics and the priority
	// score with its factors.
	Derived  *records.Derived `json:"derived"`
	Alerts   []domain.Alert   `json:"alerts"`
	Entities []domain.Entity  `json:"entities"`
	Actions  []domain.Action  `json:"actions"`
	// Remediation is each entity's remediation status (Graph names), from
	// AIR's actions on it or else the provider's evidence
	// (domain.Remediation).
	Remediation   map[domain.EntityKey]domain.RemediationStatus `json:"remediationStatus"`
	Comments      []domain.Comment                              `json:"comments"`
	Activity      []records.AuditEntry                          `json:"activity"`
	Investigation *workflows.State                              `json:"investigation,omitempty"`
	// Facts are what analysis steps learned about the entities (intel
	// matches, organisation prevalence), as GET …/facts serves them.
	Facts []domain.Fact `json:"facts"`
	// Graph is how the investigation found entities it was not given:
	// each edge an entity found from another by a hunt step, and the
	// incident merged in when another one held it.
	Graph []records.EvidenceLink `json:"graph"`
	// ExerciseID is the breach exercise the incident belongs to; absent
	// for a real incident (docs/secops.md).
	ExerciseID int64 `json:"exerciseId,omitempty"`
}

// Incident returns one incident with its alerts, entities, actions,
// comments, activity log and investigation, as the principal may see it.
// An incident outside a scoped principal's device groups is not found.
func (s *Server) Incident(ctx context.Context, p *auth.Principal, id int64) (*IncidentDetail, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	inc, err := s.Store.GetIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, id); err != nil {
		return nil, err
	}
	d := &IncidentDetail{Incident: *inc}
	if d.ExerciseID, err = s.Store.IncidentExercise(ctx, id); err != nil {
		return nil, err
	}
	if d.Derived, err = s.Store.IncidentDerived(ctx, id); err != nil {
		return nil, err
	}
	if d.Alerts, err = s.Store.IncidentAlerts(ctx, id); err != nil {
		return nil, err
	}
	if d.Entities, err = s.Store.IncidentEntities(ctx, id); err != nil {
		return nil, err
	}
	page, err := s.Store.QueryActions(ctx, records.ActionQuery{IncidentIDs: []int64{id}, Scope: p.Groups,
		Desc: true, Limit: 1000})
	if err != nil {
		return nil, err
	}
	d.Actions = make([]domain.Action, len(page.Value))
	for i, row := range page.Value {
		d.Actions[i] = row.Action
	}
	d.Remediation = domain.RemediationOf(d.Entities, d.Alerts, d.Actions)
	if d.Comments, err = s.Store.IncidentComments(ctx, id); err != nil {
		return nil, err
	}
	if d.Activity, err = s.Store.IncidentActivity(ctx, id); err != nil {
		return nil, err
	}
	if p.Scoped() {
		d.Activity = store.WithoutHiddenActions(d.Activity, d.Actions)
	}
	if d.Activity == nil {
		d.Activity = []records.AuditEntry{}
	}
	if d.Facts, err = s.facts(ctx, p, id); err != nil {
		return nil, err
	}
	if d.Graph, err = s.Store.EvidenceLinks(ctx, id); err != nil {
		return nil, err
	}
	if s.Engine != nil {
		if st, err := s.Engine.State(ctx, id); err == nil {
			d.Investigation = scopeState(st, d.Actions, p)
		} else if domain.KindOf(err) != domain.KindNotFound {
			s.Log.WithError(err).WithField("incident", id).Warn("query investigation state")
		}
	}
	return d, nil
}

// MaxIncidentBulk is how many incidents one bulk change takes.
const MaxIncidentBulk = 500

// IncidentResult is what became of one incident of a bulk change: the
// incident as changed, or why it was not. One bad id does not spoil the
// others.
type IncidentResult struct {
	ID       int64            `json:"id"`
	OK       bool             `json:"ok"`
	Incident *domain.Incident `json:"incident,omitempty"`
	Error    *ErrorDetail     `json:"error,omitempty"`
}

// ManageIncident applies a change to one incident as the principal
// (analyst role; an incident outside a scoped principal's groups is not
// found) and returns it as changed.
func (s *Server) ManageIncident(ctx context.Context, p *auth.Principal, id int64, ch records.IncidentChange) (*domain.Incident, error) {
	if err := p.Require(auth.Analyst); err != nil {
		return nil, err
	}
	if err := ch.Check(); err != nil {
		return nil, err
	}
	return s.manageOne(ctx, p, id, ch)
}

func (s *Server) manageOne(ctx context.Context, p *auth.Principal, id int64, ch records.IncidentChange) (*domain.Incident, error) {
	if _, err := s.Store.GetIncident(ctx, id); err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, id); err != nil {
		return nil, err
	}
	before, after, err := s.Store.ManageIncident(ctx, id, ch, p.Name)
	if err != nil {
		return nil, err
	}
	s.afterChange(ctx, id, before, after, p.Name)
	return after, nil
}

// ManageIncidents applies one change to several incidents as the principal
// (analyst role), each in its own transaction: the change is checked once
// up front (a bad change refuses the whole request), then each incident
// succeeds or fails on its own and the results say which, in the order of
// ids.
func (s *Server) ManageIncidents(ctx context.Context, p *auth.Principal, ids []int64, ch records.IncidentChange) ([]IncidentResult, error) {
	if err := p.Require(auth.Analyst); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > MaxIncidentBulk {
		return nil, domain.Invalid("ids", "want from 1 to %d incident ids, got %d", MaxIncidentBulk, len(ids))
	}
	if err := ch.Check(); err != nil {
		return nil, fieldPrefix(err, "change")
	}
	out := make([]IncidentResult, len(ids))
	// Each incident is its own transaction and its own signals to its
	// investigation; a few run at once so that a bulk change of hundreds
	// does not wait for each round trip in turn.
	var wg sync.WaitGroup
	slots := make(chan struct{}, bulkWorkers)
	for i, id := range ids {
		out[i].ID = id
		var err error
		switch {
		case id <= 0:
			err = domain.Invalid("ids["+strconv.Itoa(i)+"]", "want a positive incident id, got %d", id)
		case slices.Contains(ids[:i], id):
			err = domain.Invalid("ids["+strconv.Itoa(i)+"]", "incident %d is named twice", id)
		default:
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				inc, err := s.manageOne(ctx, p, id, ch)
				out[i].Incident = inc
				s.settle(&out[i], err)
			}()
			continue
		}
		s.settle(&out[i], err)
	}
	wg.Wait()
	return out, nil
}

// bulkWorkers is how many incidents of a bulk change are changed at once.
const bulkWorkers = 4

// settle records one bulk result's outcome.
func (s *Server) settle(r *IncidentResult, err error) {
	r.OK = err == nil
	if err != nil {
		_, detail := s.describe("bulk incident change", err)
		r.Error = &detail
	}
}

// CommentIncident adds a comment to an incident as the principal (analyst
// role) and returns it.
func (s *Server) CommentIncident(ctx context.Context, p *auth.Principal, id int64, text string) (*domain.Comment, error) {
	if strings.TrimSpace(text) == "" {
		return nil, domain.Invalid("comment", "required: the comment's text")
	}
	if _, err := s.ManageIncident(ctx, p, id, records.IncidentChange{Comment: text}); err != nil {
		return nil, err
	}
	// The comment is stored: a failure to read it back must not make the
	// caller retry (and comment twice), so it answers with what it sent.
	cs, err := s.Store.IncidentComments(ctx, id)
	if err != nil {
		s.Log.WithError(err).WithField("incident", id).Warn("read back a stored comment")
	}
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].CreatedByDisplayName == p.Name && cs[i].Comment == text {
			return &cs[i], nil
		}
	}
	return &domain.Comment{Comment: text, CreatedByDisplayName: p.Name, CreatedDateTime: time.Now().UTC()}, nil
}

// afterChange runs after a change by hand to an incident was committed:
// the one place to tell others about it (e.g. the incident's workflow, for
// post-incident review). It must not fail the change, which already
// happened; log instead.
func (s *Server) afterChange(ctx context.Context, id int64, before, after *domain.Incident, by string) {
	s.incidentChanged(ctx, id, before, after, by) // review.go
}

// orAll adds to a refused filter value that "all" lifts the filter.
func orAll(err error) error {
	return amend(err, func(c *domain.Error) { c.Message += `, or all` })
}

// fieldPrefix prefixes the field a domain error names (change.status).
func fieldPrefix(err error, prefix string) error {
	return amend(err, func(c *domain.Error) {
		if c.Field == "" {
			c.Field = prefix
		} else {
			c.Field = prefix + "." + c.Field
		}
	})
}

// amend returns a copy of a domain error changed by edit, and any other
// error as it is.
func amend(err error, edit func(*domain.Error)) error {
	if de, ok := err.(*domain.Error); ok {
		c := *de
		edit(&c)
		return &c
	}
	return err
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseIncidentQuery(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	page, err := s.Incidents(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

// exportIncidents answers GET /api/v1/incidents/export: the queue's
// filters, every matching row (limit and offset still apply when given).
func (s *Server) exportIncidents(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseIncidentQuery(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	if err := p.Require(auth.Viewer); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="incidents.csv"`)
	// Once the header is out, an error can only cut the stream short.
	if err := s.ExportIncidents(r.Context(), p, q, csv.NewWriter(StreamWriter(w))); err != nil {
		s.Log.WithError(err).Warn("incident export cut short")
		AbortStream()
	}
	return nil
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.Incident(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) patchIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var ch records.IncidentChange
	if err := decodeBody(w, r, &ch, true); err != nil {
		return err
	}
	inc, err := s.ManageIncident(r.Context(), auth.FromContext(r.Context()), id, ch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inc)
}

// CommentBody is the body of POST /api/v1/incidents/{id}/comments.
type CommentBody struct {
	Comment string `json:"comment"`
}

func (s *Server) postIncidentComment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body CommentBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	c, err := s.CommentIncident(r.Context(), p, id, body.Comment)
	if err != nil {
		return err
	}
	if p != nil {
		s.writeBack(r.Context(), id, nil, nil, body.Comment, p.Name)
	}
	return writeJSON(w, http.StatusCreated, c)
}

// BulkIncidentBody is the body of POST /api/v1/incidents/bulk.
type BulkIncidentBody struct {
	IDs    []int64                `json:"ids"`
	Change records.IncidentChange `json:"change"`
}

// BulkIncidentResponse answers a bulk change: 200 when every incident was
// changed, 207 when some were not (each result says why).
type BulkIncidentResponse struct {
	Updated int              `json:"updated"`
	Failed  int              `json:"failed"`
	Results []IncidentResult `json:"results"`
}

func (s *Server) bulkIncidents(w http.ResponseWriter, r *http.Request) error {
	var body BulkIncidentBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	results, err := s.ManageIncidents(r.Context(), auth.FromContext(r.Context()), body.IDs, body.Change)
	if err != nil {
		return err
	}
	resp := BulkIncidentResponse{Results: results}
	resp.Updated, resp.Failed = tally(results, func(r IncidentResult) bool { return r.OK })
	return writeJSON(w, bulkStatus(resp.Failed), resp)
}

// tally counts a bulk request's results that succeeded and that failed.
func tally[R any](results []R, ok func(R) bool) (succeeded, failed int) {
	for _, r := range results {
		if ok(r) {
			succeeded++
		} else {
			failed++
		}
	}
	return succeeded, failed
}

// bulkStatus is a bulk request's answer: 200 when every item succeeded,
// 207 when some did not.
func bulkStatus(failed int) int {
	if failed > 0 {
		return http.StatusMultiStatus
	}
	return http.StatusOK
}
