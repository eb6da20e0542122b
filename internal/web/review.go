package web

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/review"
)

// reviewView is what the post-incident review page shows.
type reviewView struct {
	*review.Report
	// Times are the three response times with what marked them.
	Times []reviewTime
}

type reviewTime struct {
	Label string
	M     *review.Milestone
}

func (p *pages) review(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	rep, err := p.Reviews.Review(r.Context(), pr, id)
	if err != nil {
		return err
	}
	v := &reviewView{Report: rep, Times: []reviewTime{{"Time to acknowledge", rep.TimeToAcknowledge},
		{"Time to contain", rep.TimeToContain}, {"Time to resolve", rep.TimeToResolve}}}
	p.render(w, r, http.StatusOK, "review", &view{Title: fmt.Sprintf("Review of #%d", rep.Incident.ID), Nav: "incidents",
		Principal: pr, CSRF: auth.CSRFToken(secretOf(r)), Review: v})
	return nil
}

// dashRanges are the dashboard's time ranges (api.ParseDashboardRange
// ages).
var dashRanges = []option{{"1d", "Last day"}, {"3d", "3 days"}, {"7d", "Week"}, {"30d", "30 days"}, {"182d", "6 months"}}

// dashView is what the dashboard shows.
type dashView struct {
	*review.Metrics
	Range  string
	Ranges []option
	Bars   []bar
	// Open counts the open incidents and pending actions now.
	OpenIncidents, PendingActions int64
}

// bar is one bar of the pending-time chart: its width in percent of the
// longest, drawn as an SVG rect (the CSP allows no style attributes).
type bar struct {
	Label string
	Count int
	Width float64
	Class string
	// Unit follows the count on the report pages ("%"); empty on the
	// dashboard.
	Unit string
}

func (p *pages) dashboard(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	rng := r.URL.Query().Get("range")
	if rng == "" {
		rng = api.DefaultDashboardRange
	}
	if !slices.ContainsFunc(dashRanges, func(o option) bool { return o.Value == rng }) {
		var vals []string
		for _, o := range dashRanges {
			vals = append(vals, o.Value)
		}
		return domain.Invalid("range", "unknown range %q, want one of %s", rng, strings.Join(vals, ", "))
	}
	since, err := api.ParseDashboardRange(rng, p.now())
	if err != nil {
		return err
	}
	m, err := p.Reviews.Dashboard(r.Context(), pr, since)
	if err != nil {
		return err
	}
	v := &dashView{Metrics: m, Range: rng, Ranges: dashRanges,
		OpenIncidents:  m.Counts.Incidents["active"] + m.Counts.Incidents["inProgress"],
		PendingActions: m.Counts.Actions["pending"]}
	most := 0
	for _, b := range m.Pending.Buckets {
		most = max(most, b.Count)
	}
	for i, b := range m.Pending.Buckets {
		w := 0.0
		if most > 0 {
			w = math.Round(float64(b.Count)/float64(most)*1000) / 10
		}
		class := ""
		switch {
		case i == len(m.Pending.Buckets)-1:
			class = "expired"
		case b.LESeconds > 4*3600:
			class = "late"
		}
		v.Bars = append(v.Bars, bar{Label: b.Label, Count: b.Count, Width: w, Class: class})
	}
	p.render(w, r, http.StatusOK, "dashboard", &view{Title: "Dashboard", Nav: "dashboard", Principal: pr,
		CSRF: auth.CSRFToken(secretOf(r)), Dash: v})
	return nil
}

// statCard is one response-time card of the dashboard.
type statCard struct {
	Label, What string
	Stat        review.Stat
}

func newStatCard(label string, s review.Stat, what string) statCard {
	return statCard{Label: label, Stat: s, What: what}
}

// sources is GET /sources: each alert source's health (lag, alerts/min,
// errors, the last problem) and the newest write-backs to providers.
func (p *pages) sources(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	s, err := p.Reviews.SourceReport(r.Context(), pr, "")
	if err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "sources", &view{Title: "Sources", Nav: "sources", Principal: pr,
		CSRF: auth.CSRFToken(secretOf(r)), Feeds: s})
	return nil
}
