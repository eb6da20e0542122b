package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
)

// TestReportPages renders the report pages over the site's incident,
// whose name and action target carry markup: everything is escaped, the
// charts are inline SVG, bad periods are refused naming the field, and a
// scoped viewer's report says it covers their groups only.
func TestReportPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	page := s.signIn(t, auth.Viewer)
	if !strings.Contains(page, `href="/reports"`) {
		t.Error("the top bar has no Reports link")
	}
	today := time.Now().UTC()
	for _, path := range []string{"/reports", "/reports/daily", "/reports/daily?date=" + today.Format(time.DateOnly),
		"/reports/monthly?month=" + today.Format("2006-01"), "/reports/quarterly"} {
		resp, page := s.get(t, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d\n%s", path, resp.StatusCode, page)
		}
		checkPage(t, path, page)
	}
	// The daily report lists the pending isolation and the high incident
	// (created now: no breach yet), names escaped.
	_, daily := s.get(t, "/reports/daily")
	for _, want := range []string{"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", "device.isolate", `<svg class="bar"`,
		`aria-label="high: 1"`, "Open queue by age"} {
		if !strings.Contains(daily, want) {
			t.Errorf("the daily report lacks %q", want)
		}
	}
	_, quarterly := s.get(t, "/reports/quarterly")
	for _, want := range []string{"CredentialAccess", "T1003.001", "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;"} {
		if !strings.Contains(quarterly, want) {
			t.Errorf("the quarterly report lacks %q", want)
		}
	}
	for path, field := range map[string]string{
		"/reports/daily?date=yesterday":                "date",
		"/reports/monthly?month=2026-13":               "month",
		"/reports/quarterly?quarter=2026-Q5":           "quarter",
		"/reports/daily?when=" + url.QueryEscape(evil): "when",
		"/reports/daily?date=2999-01-01":               "date",
	} {
		resp, page := s.get(t, path)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, field) {
			t.Errorf("%s: HTTP %d, want 400 naming %s", path, resp.StatusCode, field)
		}
		checkPage(t, path, page)
	}

	// The stylesheet prints reports without the top bar and the picker.
	if _, css := s.get(t, "/static/air.css"); !strings.Contains(css, "@media print") || !strings.Contains(css, "form.report-pick") {
		t.Error("air.css has no print stylesheet for the reports")
	}

	// Scoped to Servers: the site's incident is on a device without a
	// group, so the scoped viewer's queue is empty.
	jar, _ := cookiejar.New(nil)
	s.client.Jar = jar
	s.signInWith(t, s.scoped)
	_, daily = s.get(t, "/reports/daily")
	if !strings.Contains(daily, "your device groups only") || strings.Contains(daily, "pwned") {
		t.Errorf("the scoped daily report shows another group's incident or does not say it is scoped")
	}
}
