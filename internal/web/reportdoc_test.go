package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
	"github.com/airsoc/air/internal/reportrun"
)

// TestKeptReportPages keeps today's daily report over the site's incident
// (its name and action target carry markup) and reads it back: listed on
// the reports page, served as a whole document with its style inline, no
// script and its own strict policy, the markup escaped and links leading
// to AIR's address; its PDF, with no browser on this server, is a 503
// naming Chromium; a viewer scoped to device groups gets neither.
func TestKeptReportPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	per, err := report.ParseDate("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run, created, err := s.keeper.Keep(context.Background(), reportrun.Request{Kind: domain.ReportDaily, Period: per, By: "test"})
	if err != nil || !created {
		t.Fatalf("keep: %v (created %v)", err, created)
	}
	s.signIn(t, auth.Viewer)
	_, list := s.get(t, "/reports")
	checkPage(t, "/reports", list)
	for _, want := range []string{fmt.Sprintf(`href="/reports/runs/%d"`, run.ID), fmt.Sprintf(`href="/reports/runs/%d.pdf"`, run.ID), "No schedules."} {
		if !strings.Contains(list, want) {
			t.Errorf("the reports page lacks %q", want)
		}
	}
	resp, doc := s.get(t, fmt.Sprintf("/reports/runs/%d", run.ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kept page: HTTP %d %s", resp.StatusCode, doc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("kept page's policy %q", csp)
	}
	checkPage(t, "kept page", doc)
	for _, want := range []string{"<style>", `<base href="https://air.example/">`, "Daily report · " + per.Name,
		"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", `<svg class="bar"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("the kept page lacks %q", want)
		}
	}
	for _, not := range []string{"<script", `href="/static/`, `class="top"`} {
		if strings.Contains(doc, not) {
			t.Errorf("the kept page has %q: it must stand alone", not)
		}
	}
	if resp, page := s.get(t, fmt.Sprintf("/reports/runs/%d.pdf", run.ID)); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "Chromium") {
		t.Errorf("PDF without a browser: HTTP %d, want 503 naming Chromium", resp.StatusCode)
	}
	if resp, _ := s.get(t, "/reports/runs/999999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown kept report: HTTP %d, want 404", resp.StatusCode)
	}
	if resp, _ := s.get(t, "/reports/runs/x1"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad id: HTTP %d, want 400", resp.StatusCode)
	}

	scoped := s.fresh()
	scoped.signInWith(t, s.scoped)
	_, list = scoped.get(t, "/reports")
	if strings.Contains(list, "/reports/runs/") || !strings.Contains(list, "Kept reports cover every device group") {
		t.Errorf("a scoped viewer's reports page lists kept reports or does not say why not")
	}
	if resp, _ := scoped.get(t, fmt.Sprintf("/reports/runs/%d", run.ID)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("scoped viewer reading a kept report: HTTP %d, want 403", resp.StatusCode)
	}
}
