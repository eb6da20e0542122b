package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/reportrun"
)

// ReportScheduler keeps report schedules' Temporal Schedules;
// *engine.Engine is one.
type ReportScheduler interface {
	CreateReportSchedule(ctx context.Context, s domain.ReportSchedule) (bool, error)
	UpdateReportSchedule(ctx context.Context, s domain.ReportSchedule) error
	DeleteReportSchedule(ctx context.Context, id string) error
	TriggerReportSchedule(ctx context.Context, id string) error
	DescribeReportSchedule(ctx context.Context, id string) (*domain.ReportScheduleState, error)
}

// ReportScheduleView is a report schedule and what Temporal says of it.
type ReportScheduleView struct {
	domain.ReportSchedule
	Temporal *domain.ReportScheduleState `json:"temporal,omitempty"`
}

// KeepRequest is the body of POST /api/v1/reports/runs: a report to make
// now and keep, and channels to send it to.
type KeepRequest struct {
	Kind domain.ReportKind `json:"kind"`
	// Period is the date, month or quarter as the report's own API takes
	// it; empty means the current one (to date).
	Period   string   `json:"period,omitempty"`
	Channels []string `json:"channels,omitempty"`
}

func (s *Server) scheduler() (ReportScheduler, error) {
	if s.Schedules == nil {
		return nil, domain.Errorf(domain.KindUnavailable, "report schedules need Temporal, which this server does not reach")
	}
	return s.Schedules, nil
}

func (s *Server) keeper() (*reportrun.Keeper, error) {
	if s.Keeper == nil {
		return nil, domain.Errorf(domain.KindUnavailable, "this server does not keep reports")
	}
	return s.Keeper, nil
}

// hasChannel is the configured notification channels as a check; nil
// when none are configured.
func (s *Server) hasChannel() func(string) bool {
	if s.Notifier == nil {
		return nil
	}
	names := s.Notifier.Channels()
	if len(names) == 0 {
		return nil
	}
	return func(n string) bool { return slices.Contains(names, n) }
}

// noScope refuses principals limited to device groups: a kept report
// covers every group.
func noScope(r *http.Request) error { return keptReader(auth.FromContext(r.Context())) }

// keptReader checks that p may read kept reports: a viewer, not limited
// to device groups.
func keptReader(p *auth.Principal) error {
	if err := p.Require(auth.Viewer); err != nil {
		return err
	}
	if p.Scoped() {
		return domain.Errorf(domain.KindForbidden, "kept reports cover every device group; your token is limited to %s (read /api/v1/reports/daily and the others instead)",
			strings.Join(p.Groups, ", "))
	}
	return nil
}

// ReportSchedules lists the report schedules with Temporal's side
// (viewer role).
func (s *Server) ReportSchedules(ctx context.Context, p *auth.Principal) ([]ReportScheduleView, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	list, err := s.Store.ReportSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ReportScheduleView, 0, len(list))
	for _, rs := range list {
		out = append(out, s.scheduleView(ctx, rs))
	}
	return out, nil
}

// KeptReports lists kept reports (viewer role, not scoped).
func (s *Server) KeptReports(ctx context.Context, p *auth.Principal, q records.ReportRunQuery) (*records.ReportRunPage, error) {
	if err := keptReader(p); err != nil {
		return nil, err
	}
	return s.Store.ReportRuns(ctx, q)
}

// KeptReport reads a kept report (viewer role, not scoped).
func (s *Server) KeptReport(ctx context.Context, p *auth.Principal, id int64) (*domain.ReportRun, error) {
	if err := keptReader(p); err != nil {
		return nil, err
	}
	return s.Store.ReportRun(ctx, id)
}

// KeptReportPDF prints a kept report's page to PDF (viewer role, not
// scoped); unavailable when the server has no browser.
func (s *Server) KeptReportPDF(ctx context.Context, p *auth.Principal, id int64) ([]byte, *domain.ReportRun, error) {
	run, err := s.KeptReport(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	pdf, err := s.PDF.Print(ctx, []byte(run.HTML))
	return pdf, run, err
}

// listReportSchedules answers GET /api/v1/reports/schedules.
func (s *Server) listReportSchedules(w http.ResponseWriter, r *http.Request) error {
	for k := range r.URL.Query() {
		return domain.Invalid(k, "unknown parameter; the list takes none")
	}
	out, err := s.ReportSchedules(r.Context(), auth.FromContext(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// describeTimeout bounds asking Temporal about one schedule.
const describeTimeout = 5 * time.Second

// scheduleView adds Temporal's side; a Temporal that does not answer
// leaves it out (the list still shows what AIR keeps).
func (s *Server) scheduleView(ctx context.Context, rs domain.ReportSchedule) ReportScheduleView {
	v := ReportScheduleView{ReportSchedule: rs}
	if s.Schedules != nil {
		// A Temporal that does not answer must not hold the list up.
		ctx, cancel := context.WithTimeout(ctx, describeTimeout)
		defer cancel()
		st, err := s.Schedules.DescribeReportSchedule(ctx, rs.ID)
		if err != nil {
			s.Log.WithError(err).WithField("schedule", rs.ID).Warn("describe report schedule")
		} else {
			v.Temporal = st
		}
	}
	return v
}

// getReportSchedule answers GET /api/v1/reports/schedules/{id}.
func (s *Server) getReportSchedule(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.Store.ReportSchedule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.scheduleView(r.Context(), *rs))
}

// postReportSchedule answers POST /api/v1/reports/schedules: the schedule
// is checked, made in Temporal, then kept (audited). Should keeping fail,
// the Temporal schedule is deleted again.
func (s *Server) postReportSchedule(w http.ResponseWriter, r *http.Request) error {
	var req report.ScheduleRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	rs, err := req.Schedule(s.hasChannel())
	if err != nil {
		return err
	}
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	rs.ID = string(rs.Kind) + "-" + hex.EncodeToString(b)
	rs.CreatedBy, rs.CreatedAt = principalName(r), s.now()
	if _, err := sch.CreateReportSchedule(r.Context(), rs); err != nil {
		return err
	}
	if err := s.Store.CreateReportSchedule(r.Context(), rs); err != nil {
		if derr := sch.DeleteReportSchedule(context.WithoutCancel(r.Context()), rs.ID); derr != nil {
			s.Log.WithError(derr).WithField("schedule", rs.ID).Error("report schedule not kept, and its Temporal schedule not deleted")
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, s.scheduleView(r.Context(), rs))
}

// patchReportSchedule answers PATCH /api/v1/reports/schedules/{id}: the
// changed schedule is checked, given to Temporal, then kept (audited with
// both versions). Should keeping fail, Temporal gets the old one back.
func (s *Server) patchReportSchedule(w http.ResponseWriter, r *http.Request) error {
	var ch report.ScheduleChange
	if err := decodeBody(w, r, &ch, true); err != nil {
		return err
	}
	old, err := s.Store.ReportSchedule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	rs, err := ch.Apply(*old, s.hasChannel())
	if err != nil {
		return err
	}
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	if err := sch.UpdateReportSchedule(r.Context(), rs); err != nil {
		return err
	}
	if err := s.Store.UpdateReportSchedule(r.Context(), rs, principalName(r)); err != nil {
		if uerr := sch.UpdateReportSchedule(context.WithoutCancel(r.Context()), *old); uerr != nil {
			s.Log.WithError(uerr).WithField("schedule", rs.ID).Error("report schedule change not kept, and Temporal not given the old one back")
		}
		return err
	}
	return writeJSON(w, http.StatusOK, s.scheduleView(r.Context(), rs))
}

// deleteReportSchedule answers DELETE /api/v1/reports/schedules/{id}: AIR
// forgets it (audited), then Temporal. Should Temporal not answer, its
// schedule's next run finds no schedule and keeps nothing, and start-up
// does not bring it back.
func (s *Server) deleteReportSchedule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.Store.DeleteReportSchedule(r.Context(), id, principalName(r)); err != nil {
		return err
	}
	if s.Schedules != nil {
		if err := s.Schedules.DeleteReportSchedule(r.Context(), id); err != nil {
			s.Log.WithError(err).WithField("schedule", id).Warn("report schedule deleted in AIR, not in Temporal: its runs will keep nothing")
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
}

// runReportSchedule answers POST /api/v1/reports/schedules/{id}/run: a run
// now, reporting on the period before now.
func (s *Server) runReportSchedule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.Store.ReportSchedule(r.Context(), id); err != nil {
		return err
	}
	sch, err := s.scheduler()
	if err != nil {
		return err
	}
	if err := sch.TriggerReportSchedule(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"started": id})
}

// ReportRunFilters are GET /api/v1/reports/runs' query parameters.
var ReportRunFilters = []string{"kind", "schedule", "limit", "offset"}

// listReportRuns answers GET /api/v1/reports/runs.
func (s *Server) listReportRuns(w http.ResponseWriter, r *http.Request) error {
	if err := noScope(r); err != nil {
		return err
	}
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(ReportRunFilters, k) {
			return domain.Invalid(k, "unknown parameter; want one of %s", strings.Join(ReportRunFilters, ", "))
		}
	}
	rq := records.ReportRunQuery{Kind: domain.ReportKind(q.Get("kind")), ScheduleID: q.Get("schedule")}
	if rq.Kind != "" && !rq.Kind.Valid() {
		return domain.Invalid("kind", "unknown report %q; want daily, monthly or quarterly", rq.Kind)
	}
	var err error
	if rq.Limit, err = intParam(r, "limit", 1, 1000); err != nil {
		return err
	}
	if rq.Offset, err = intParam(r, "offset", 0, 1<<30); err != nil {
		return err
	}
	page, err := s.KeptReports(r.Context(), auth.FromContext(r.Context()), rq)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

// postReportRun answers POST /api/v1/reports/runs: make a report now,
// keep it, and queue it on the channels asked for.
func (s *Server) postReportRun(w http.ResponseWriter, r *http.Request) error {
	var req KeepRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if !req.Kind.Valid() {
		return domain.Invalid("kind", "want daily, monthly or quarterly, got %q", req.Kind)
	}
	per, err := report.ParsePeriod(req.Kind, req.Period, s.now())
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			return domain.Invalid("period", "%s", de.Message)
		}
		return err
	}
	chans, err := report.CheckChannels(req.Channels, s.hasChannel())
	if err != nil {
		return err
	}
	k, err := s.keeper()
	if err != nil {
		return err
	}
	run, _, err := k.Keep(r.Context(), reportrun.Request{Kind: req.Kind, Period: per, Channels: chans, By: principalName(r)})
	if err != nil {
		return err
	}
	if len(run.Channels) > 0 {
		if _, err := k.Deliver(r.Context(), run.ID); err != nil {
			return err
		}
	}
	kept, err := s.Store.ReportRun(r.Context(), run.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, kept)
}

// getReportRun answers GET /api/v1/reports/runs/{id}: the kept report as
// JSON (its figures under data, its deliveries), or, with ?format=html or
// a .html suffix, its page, or with ?format=pdf or .pdf, its PDF.
func (s *Server) getReportRun(w http.ResponseWriter, r *http.Request) error {
	if err := noScope(r); err != nil {
		return err
	}
	raw, format := r.PathValue("id"), ""
	for _, ext := range []string{"pdf", "html", "json"} {
		if v, ok := strings.CutSuffix(raw, "."+ext); ok {
			raw, format = v, ext
		}
	}
	for k := range r.URL.Query() {
		if k != "format" {
			return domain.Invalid(k, "unknown parameter; want format (json, html or pdf)")
		}
	}
	if f := r.URL.Query().Get("format"); f != "" {
		if format != "" && f != format {
			return domain.Invalid("format", "the path asks for %s, the parameter for %s", format, f)
		}
		format = f
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return domain.Invalid("id", "want a kept report's number, got %q", raw)
	}
	run, err := s.KeptReport(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	switch format {
	case "", "json":
		return writeJSON(w, http.StatusOK, run)
	case "html":
		WriteReportHTML(w, run)
		return nil
	case "pdf":
		pdf, err := s.PDF.Print(r.Context(), []byte(run.HTML))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `inline; filename="`+ReportFileName(run)+`.pdf"`)
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(pdf)
		return err
	}
	return domain.Invalid("format", "want json, html or pdf, got %q", format)
}

// ReportFileName names a kept report's file: air-daily-2026-12-04-7.
func ReportFileName(run *domain.ReportRun) string {
	return "air-" + string(run.Kind) + "-" + run.Period + "-" + strconv.FormatInt(run.ID, 10)
}

// WriteReportHTML serves a kept report's page on its own. Its style is
// inline and it has no script: the policy allows inline style and
// nothing else, and a sandbox keeps it from acting as AIR's origin.
func WriteReportHTML(w http.ResponseWriter, run *domain.ReportRun) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", ReportCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(run.HTML))
}

// ReportCSP is the Content-Security-Policy of a kept report's page.
const ReportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox allow-popups allow-top-navigation-by-user-activation; base-uri *; form-action 'none'"
