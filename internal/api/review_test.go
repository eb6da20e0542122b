package api_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/review"
)

// TestPrometheusMetrics scrapes /metrics as Prometheus would (a viewer's
// bearer token) and parses the exposition.
func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	var body string
	resp := f.call("vic", "GET", "/metrics", "", &body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("HTTP %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	gauge := func(name, status string) float64 {
		t.Helper()
		fam, ok := fams[name]
		if !ok {
			t.Fatalf("no %s in the exposition", name)
		}
		for _, m := range fam.GetMetric() {
			if status == "" || labelIs(m, "status", status) {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no %s{status=%q}", name, status)
		return 0
	}
	// The fixture: two active incidents, three pending actions and two
	// succeeded ones (neither with times, so not executed as far as the
	// automation rate goes).
	if got := gauge("air_incidents", "active"); got != 2 {
		t.Errorf("air_incidents{status=active} = %v, want 2", got)
	}
	if got := gauge("air_actions", "pending"); got != 3 {
		t.Errorf("air_actions{status=pending} = %v, want 3", got)
	}
	if got := gauge("air_alerts", "new"); got != 2 {
		t.Errorf("air_alerts{status=new} = %v, want 2", got)
	}
	for _, name := range []string{"air_mtta_seconds", "air_mttr_seconds", "air_mttc_seconds", "air_automation_ratio",
		"air_actions_executed_total", "air_actions_automated_total"} {
		if got := gauge(name, ""); got != 0 {
			t.Errorf("%s = %v, want 0 before anything happened", name, got)
		}
	}
	if got := gauge("air_metrics_window_seconds", ""); got != review.DefaultWindow.Seconds() {
		t.Errorf("window %v", got)
	}
	h := fams["air_action_pending_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || len(h.GetMetric()) != 1 ||
		len(h.GetMetric()[0].GetHistogram().GetBucket()) != len(review.PendingBounds)+1 { // and +Inf
		t.Errorf("air_action_pending_seconds: %v", h)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	if resp := f.call("", "GET", "/metrics", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := f.call("sam", "GET", "/metrics", "", &body); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scoped token: HTTP %d, want 403", resp.StatusCode)
	}
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestReviewAndDashboardEndpoints: the review refuses an open incident
// with the reason, and once the incident is resolved by hand (without a
// Temporal server here, so the signal to the investigation fails and is
// logged) the report takes the resolution from the activity log and says
// so. The dashboard reads its range.
func TestReviewAndDashboardEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, auth.Rate{PerSecond: -1})
	inc := itoa(f.inc1)
	var e errResp
	if resp := f.call("vic", "GET", "/api/v1/incidents/"+inc+"/review", "", &e); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(e.Error.Message, "resolved incidents") {
		t.Errorf("review of an active incident: HTTP %d %+v, want 409 saying why", resp.StatusCode, e)
	}
	// MITRE ATT&CK, imported as an intel feed, describes the tactics seen.
	attack, err := os.ReadFile("../intel/testdata/attack-excerpt.json")
	if err != nil {
		t.Fatal(err)
	}
	var feed api.FeedImportResult
	if resp := f.call("adam", "POST", "/api/v1/intel/feeds?name=attack", string(attack), &feed); resp.StatusCode != http.StatusOK ||
		feed.Feed.Techniques != 3 || feed.Feed.Indicators != 0 {
		t.Fatalf("import ATT&CK: HTTP %d %+v", resp.StatusCode, feed.Feed)
	}
	if resp := f.call("al", "PATCH", "/api/v1/incidents/"+inc, `{"status":"inProgress"}`, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("mark in progress: HTTP %d", resp.StatusCode)
	}
	if resp := f.call("al", "PATCH", "/api/v1/incidents/"+inc,
		`{"status":"resolved","classification":"truePositive","determination":"malware","resolvingComment":"contained"}`, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: HTTP %d", resp.StatusCode)
	}
	if !strings.Contains(f.log.String(), "post-incident review falls back to the activity log") {
		t.Error("a failed signal of the change is not logged")
	}
	var rep review.Report
	if resp := f.call("vic", "GET", "/api/v1/incidents/"+inc+"/review", "", &rep); resp.StatusCode != http.StatusOK {
		t.Fatalf("review: HTTP %d", resp.StatusCode)
	}
	if rep.TimeToResolve == nil || rep.TimeToResolve.Source != review.FromActivityLog || rep.TimeToResolve.By != "al" {
		t.Errorf("time to resolve: %+v, want one from the activity log, by al", rep.TimeToResolve)
	}
	if rep.TimeToAcknowledge == nil || rep.TimeToAcknowledge.By != "al" || rep.TimeToAcknowledge.At.After(rep.TimeToResolve.At) {
		t.Errorf("time to acknowledge: %+v", rep.TimeToAcknowledge)
	}
	if rep.InvestigationStarted.Source != review.FromIncident || len(rep.Notes) == 0 {
		t.Errorf("start %+v, notes %q: want the incident's creation, and notes saying why", rep.InvestigationStarted, rep.Notes)
	}
	if len(rep.Tactics) != 1 || rep.Tactics[0].Name != "Execution" || rep.Tactics[0].ID != "TA0002" ||
		rep.Tactics[0].Title != "Execution" || !strings.Contains(rep.Tactics[0].Description, "malicious code") {
		t.Errorf("tactics: %+v", rep.Tactics)
	}
	decided := 0
	for _, d := range rep.Decisions {
		if d.By == "al" && d.Human {
			decided++
		}
	}
	if decided != 4 { // inProgress, resolved, classification, determination
		t.Errorf("decisions by al: %d, want 4: %+v", decided, rep.Decisions)
	}
	if resp := f.call("sam", "GET", "/api/v1/incidents/"+inc+"/review", "", &e); resp.StatusCode != http.StatusNotFound {
		t.Errorf("review out of scope: HTTP %d, want 404", resp.StatusCode)
	}

	var m review.Metrics
	if resp := f.call("vic", "GET", "/api/v1/metrics/summary?range=7d", "", &m); resp.StatusCode != http.StatusOK {
		t.Fatalf("summary: HTTP %d", resp.StatusCode)
	}
	if m.TimeToResolve.Count != 1 || m.TimeToAcknowledge.Count != 1 || m.Counts.Incidents["resolved"] != 1 ||
		len(m.Pending.Buckets) != len(review.PendingBounds)+1 || m.Until.Sub(m.Since).Round(time.Minute) != 7*24*time.Hour {
		t.Errorf("summary: %+v", m)
	}
	for _, q := range []string{"?range=soon", "?since=2026-01-01"} {
		if resp := f.call("vic", "GET", "/api/v1/metrics/summary"+q, "", &e); resp.StatusCode != http.StatusBadRequest || e.Error.Field == "" {
			t.Errorf("summary%s: HTTP %d %+v, want 400 naming the parameter", q, resp.StatusCode, e)
		}
	}
	if resp := f.call("sam", "GET", "/api/v1/metrics/summary", "", &e); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scoped summary: HTTP %d, want 403", resp.StatusCode)
	}
}
