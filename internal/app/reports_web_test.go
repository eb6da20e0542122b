package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
)

// TestReportsInBrowser opens the three reports in headless Chromium
// against the real worker, from the top bar's Reports link, with an
// incident whose alert title is a script (shown as text, never run), and
// prints the daily report to PDF. With AIR_SCREENSHOTS set, screenshots
// go to docs/screenshots.
func TestReportsInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	ingest := func(what string, body []byte) {
		t.Helper()
		var ing api.IngestResponse
		if code := admin.do(t, "POST", "/api/v1/alerts", body, &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest %s: HTTP %d", what, code)
		}
	}
	// A one-second SLA, so that the incidents breach it at once.
	if code := admin.do(t, "PUT", "/api/v1/settings/sla", []byte(`{"acknowledge":{"high":"1s","medium":"1s","low":"24h"}}`), nil); code != http.StatusOK {
		t.Fatalf("put SLA: HTTP %d", code)
	}
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	ingest("the sample", sample)
	var evil map[string]any
	json.Unmarshal(deviceAlert(t, 7), &evil)
	evil["title"] = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
	evilBody, _ := json.Marshal(evil)
	ingest("the script-bearing alert", evilBody)
	ingest("phish", graphAlert("phish-1", "Email messages containing malicious URL removed after delivery", "medium",
		"InitialAccess", "microsoftDefenderForOffice365", 5*time.Hour, []string{"T1566.002"},
		userEv("pat@corp.example", "suspicious")))
	acts := waitFor(t, "two pending isolations", func() ([]domain.Action, bool) {
		var page struct{ Value []domain.Action }
		admin.do(t, "GET", "/api/v1/actions?view=pending", nil, &page)
		return page.Value, len(page.Value) >= 2
	})
	if code := admin.do(t, "POST", "/api/v1/actions/"+acts[0].ID+"/approve", []byte(`{"comment":"beaconing to a known C2"}`), nil); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // past the one-second SLA
	// A schedule and a kept daily report, for the reports page's lists.
	if code := admin.do(t, "POST", "/api/v1/reports/schedules", []byte(`{"kind":"daily","cron":"0 6 * * *","timeZone":"Europe/Berlin"}`), nil); code != http.StatusCreated {
		t.Fatalf("schedule: HTTP %d", code)
	}
	var kept domain.ReportRun
	if code := admin.do(t, "POST", "/api/v1/reports/runs", []byte(`{"kind":"daily"}`), &kept); code != http.StatusCreated {
		t.Fatalf("keep: HTTP %d", code)
	}

	b := newBrowser(t, browser, admin.base+"/incidents")
	step, read, shot := b.step, b.read, b.shot
	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), admin.token),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(`header nav a[href="/reports"]`)))
	step("reports", chromedp.Click(chromedp.CSS(`header nav a[href="/reports"]`)), chromedp.WaitVisible(chromedp.CSS("form.report-pick")))
	shot("reports")
	step("daily", chromedp.Click(chromedp.CSS(`a[href="/reports/daily"]`)), chromedp.WaitVisible(chromedp.CSS("table.bars")))
	daily := read("daily", chromedp.Text(chromedp.CSS("main")))
	shot("report-daily")
	pctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	pdf, err := chromedp.Run(pctx, chromedp.PrintToPDF())
	cancel()
	if err != nil || !strings.HasPrefix(string(pdf), "%PDF") {
		t.Errorf("print the daily report to PDF: %v (%d bytes)", err, len(pdf))
	}
	step("monthly", chromedp.Navigate(admin.base+"/reports/monthly"), chromedp.WaitVisible(chromedp.CSS("table.grid")))
	monthly := read("monthly", chromedp.Text(chromedp.CSS("main")))
	shot("report-monthly")
	step("quarterly", chromedp.Navigate(admin.base+"/reports/quarterly"), chromedp.WaitVisible(chromedp.CSS("table.grid")))
	quarterly := read("quarterly", chromedp.Text(chromedp.CSS("main")))
	shot("report-quarterly")
	keptLink := `#kept a[href="/reports/runs/` + itoa(kept.ID) + `"]`
	step("kept reports", chromedp.Navigate(admin.base+"/reports"), chromedp.WaitVisible(chromedp.CSS(keptLink)))
	lists := read("kept reports", chromedp.Text(chromedp.CSS("main")))
	shot("reports-kept")
	step("a kept report", chromedp.Click(chromedp.CSS(keptLink)), chromedp.WaitVisible(chromedp.CSS("body.report-doc table.bars")))
	keptPage := read("a kept report", chromedp.Text(chromedp.CSS("main")))
	shot("report-kept")

	for what, c := range map[string]struct{ page, want string }{
		// Its incident may be acknowledged within the second: the
		// quarterly report's biggest incidents list it in any case.
		"quarterly: the script-bearing title as text": {quarterly, `<script>alert("pwned")</script>`},
		"daily: a breach":                {daily, "not yet"},
		"daily: pending isolation":       {daily, "Isolate device"},
		"monthly: the approval's reason": {monthly, "beaconing to a known C2"},
		"monthly: the SLA change":        {monthly, "settings:sla"},
		"quarterly: a tactic":            {quarterly, "InitialAccess"},
		"quarterly: month by month":      {quarterly, "Month by month"},
		"reports: the schedule":          {lists, "0 6 * * * Europe/Berlin"},
		"kept: the document":             {keptPage, "Kept by AIR"},
		"kept: its charts":               {keptPage, "Open queue by severity"},
		"kept: a breach":                 {keptPage, "not yet"},
	} {
		if !strings.Contains(c.page, c.want) {
			t.Errorf("%s: %q not in\n%.1500s", what, c.want, c.page)
		}
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Errorf("%d dialogs opened: a script ran", n)
	}
	b.save()
}
