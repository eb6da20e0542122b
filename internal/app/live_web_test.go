package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// liveWithin is how soon a change must be on an open page.
const liveWithin = 2 * time.Second

// eval runs a script expression in the page and returns its value.
func (b *browser) eval(what, js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// within waits until the expression js is true in the page and returns
// how long it took; past 30 s the test fails.
func (b *browser) within(what, js string) time.Duration {
	b.t.Helper()
	start := time.Now()
	for !b.eval(what, js) {
		if time.Since(start) > 30*time.Second {
			b.fail(what, fmt.Errorf("%s is not true after 30 s", js))
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLivePagesInBrowser opens the queue in headless Chromium, ingests an
// alert through the API and sees its incident row appear without a
// reload, with the analyst's ticked box kept and the top bar's pending
// count following; then on the pending page a new pending action appears
// the same way, and on an incident page a comment made through the API.
// Each change must be on screen within liveWithin of being committed.
func TestLivePagesInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var rita auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"responder","name":"rita"}`), &rita); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	// recent is the sample re-keyed to device n, seen minutes ago, so that
	// the default queue filter (last week) shows it.
	recent := func(n int) []byte {
		var a map[string]any
		json.Unmarshal(deviceAlert(t, n), &a)
		at := time.Now().Add(-time.Duration(n) * time.Minute).UTC().Format(time.RFC3339)
		for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
			a[k] = at
		}
		// A detector of its own: one detector firing on several devices
		// within the window is a campaign, which joins one incident.
		a["detectorId"] = fmt.Sprintf("live-detector-%d", n)
		a["title"] = fmt.Sprintf("Suspicious process launched from an Office document (%d)", n)
		b, _ := json.Marshal(a)
		return b
	}
	ingest := func(n int) int64 {
		t.Helper()
		var ing api.IngestResponse
		if code := admin.do(t, "POST", "/api/v1/alerts", recent(n), &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest device %d: HTTP %d", n, code)
		}
		return ing.Results[0].IncidentID
	}
	pendingOn := func(inc int64) domain.Action {
		t.Helper()
		return waitFor(t, fmt.Sprintf("the pending isolation of incident %d", inc), func() (domain.Action, bool) {
			var page struct{ Value []domain.Action }
			admin.do(t, "GET", fmt.Sprintf("/api/v1/actions?view=pending&incidentId=%d", inc), nil, &page)
			if len(page.Value) == 1 {
				return page.Value[0], true
			}
			return domain.Action{}, false
		})
	}
	first := ingest(1)
	pendingOn(first)

	b := newBrowser(t, browser, admin.base+"/incidents?search=")
	step := b.step
	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), rita.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#inc-%d", first))))
	b.within("the live stream to open", `document.documentElement.hasAttribute("data-live-ready")`)
	b.within("the top bar to count one pending action", `document.getElementById("live-count").textContent.trim() === "1"`)
	step("tick the first incident", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#inc-%d input[name=id]`, first))))
	// A reload would lose this.
	b.eval("mark the page", `(window.airMarker = 42) === 42`)

	second := ingest(2)
	if second == first {
		t.Fatalf("device 2's alert joined incident %d: the test needs a new incident", first)
	}
	took := b.within("the new incident's row", fmt.Sprintf(`document.getElementById("inc-%d") !== null`, second))
	if took > liveWithin {
		t.Errorf("the new incident showed in the queue after %s, want within %s", took, liveWithin)
	}
	t.Logf("the new incident showed in the queue %s after the API answered", took)
	if !b.eval("the marker", `window.airMarker === 42`) {
		t.Error("the queue was reloaded, not updated in place")
	}
	if !b.eval("the tick", fmt.Sprintf(`document.querySelector('#inc-%d input[name=id]').checked`, first)) {
		t.Error("the ticked incident lost its tick when the queue updated")
	}
	if !b.eval("the selection label", `document.getElementById("selected").textContent.indexOf("1 incident selected") >= 0`) {
		t.Error("the bulk bar no longer counts the ticked incident")
	}
	pendingOn(second)
	took = b.within("the top bar's count", `document.getElementById("live-count").textContent.trim() === "2"`)
	t.Logf("the top bar counted the new pending action %s after the API listed it", took)
	b.shot("live-queue")

	step("pending page", chromedp.Navigate(admin.base+"/actions"), chromedp.WaitVisible(chromedp.CSS("table.actions")))
	b.within("the live stream to open", `document.documentElement.hasAttribute("data-live-ready")`)
	step("type a comment", chromedp.SendKeys(chromedp.CSS(`table.actions input[name^="comment-"]`), "looking at it"))
	third := ingest(3)
	act := pendingOn(third)
	took = b.within("the new pending action's row", fmt.Sprintf(`document.getElementById("row-%s") !== null`, act.ID))
	if took > liveWithin {
		t.Errorf("the new pending action showed %s after the API listed it, want within %s", took, liveWithin)
	}
	if !b.eval("the typed comment", `document.querySelector('table.actions input[name^="comment-"]').value === "looking at it"`) {
		t.Error("the comment being typed was lost when the pending list updated")
	}
	b.shot("live-pending")

	step("incident page", chromedp.Navigate(fmt.Sprintf("%s/incidents/%d", admin.base, first)), chromedp.WaitVisible(chromedp.ID("live-comments")))
	b.within("the live stream to open", `document.documentElement.hasAttribute("data-live-ready")`)
	start := time.Now()
	if code := admin.do(t, "PATCH", fmt.Sprintf("/api/v1/incidents/%d", first), []byte(`{"comment":"escalated to the on-call lead"}`), nil); code != http.StatusOK {
		t.Fatalf("comment through the API: HTTP %d", code)
	}
	b.within("the comment", `document.getElementById("live-comments").textContent.indexOf("escalated to the on-call lead") >= 0`)
	if took := time.Since(start); took > liveWithin+time.Second { // the API call's own time included
		t.Errorf("the comment showed on the incident page %s after the API call, want within %s", took, liveWithin)
	}
	if strings.Contains(fmt.Sprint(b.dialogs.Load()), "1") {
		t.Error("a script opened a dialog")
	}
	b.save()
}

// TestStopInvestigationInBrowser: a responder stops an investigation
// waiting for approval from the incident page, with a reason; the
// workflow rejects its pending isolation with that reason, the page says
// so, and the investigation reads terminated by user.
func TestStopInvestigationInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var rita auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"responder","name":"rita"}`), &rita); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	var a map[string]any
	json.Unmarshal(deviceAlert(t, 5), &a)
	body, _ := json.Marshal(a)
	var ing api.IngestResponse
	if code := admin.do(t, "POST", "/api/v1/alerts", body, &ing); code != http.StatusOK || len(ing.Results) != 1 {
		t.Fatalf("ingest: HTTP %d", code)
	}
	inc := ing.Results[0].IncidentID
	pending := waitFor(t, "the pending isolation", func() (domain.Action, bool) {
		var page struct{ Value []domain.Action }
		admin.do(t, "GET", fmt.Sprintf("/api/v1/actions?view=pending&incidentId=%d", inc), nil, &page)
		if len(page.Value) == 1 {
			return page.Value[0], true
		}
		return domain.Action{}, false
	})
	// The page offers the stop once the store knows the investigation waits.
	waitFor(t, "the investigation to wait for approval", func() (bool, bool) {
		var d struct {
			InvestigationState domain.InvestigationState `json:"investigationState"`
		}
		admin.do(t, "GET", fmt.Sprintf("/api/v1/incidents/%d", inc), nil, &d)
		return true, d.InvestigationState == domain.InvestigationPendingApproval
	})

	b := newBrowser(t, browser, fmt.Sprintf("%s/incidents/%d", admin.base, inc))
	step := b.step
	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), rita.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("form.stop")))
	step("give a reason", chromedp.SendKeys(chromedp.CSS(`form.stop textarea[name=reason]`), "known penetration test, confirmed with the red team"))
	b.shot("stop-investigation")
	step("stop", chromedp.Click(chromedp.CSS(`form.stop button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	flash := b.waitText("the flash", ".flash", "Stopped the investigation")
	if !strings.Contains(flash, "1 pending action was rejected") {
		t.Errorf("flash after stopping: %q, want it to say the pending action was rejected", flash)
	}
	var act domain.Action
	admin.do(t, "GET", "/api/v1/actions/"+pending.ID, nil, &act)
	if act.Status != domain.ActionRejected || !strings.Contains(act.DecisionComment+act.Reason, "penetration test") {
		t.Errorf("the pending isolation after the stop: %s (%q, %q), want rejected with the reason", act.Status, act.DecisionComment, act.Reason)
	}
	b.waitText("the investigation state", "#live-head", "terminated by user")
	if b.eval("the stop form", `document.querySelector("form.stop") !== null`) {
		// The page re-rendered live or after the redirect: a finished
		// investigation offers no stop.
		t.Error("the stopped investigation still offers a stop")
	}
	b.save()
}
