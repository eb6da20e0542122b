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

// TestAnalystsMorningInBrowser walks an analyst's morning in headless
// Chromium, as issue #16 puts it: the queue updates when an alert arrives
// and says what its filter hides; the new incident is named after what
// happened; a manual action is taken from a device's row; a new approval
// appears on the pending page without a reload and leaves it once decided;
// an investigation is stopped; an alert is classified from its row. Every
// step is checked against the API, not only against the page.
func TestAnalystsMorningInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var rita auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"responder","name":"rita"}`), &rita); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	// alert is the sample re-keyed to device n, seen minutes ago (the
	// queue's default window is the last week), with its own detector,
	// title and severity.
	alert := func(n int, title string, sev domain.Severity) []byte {
		var a map[string]any
		json.Unmarshal(deviceAlert(t, n), &a)
		at := time.Now().Add(-time.Duration(n) * time.Minute).UTC().Format(time.RFC3339)
		for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
			a[k] = at
		}
		a["detectorId"] = fmt.Sprintf("morning-detector-%d", n)
		a["title"], a["severity"] = title, sev
		b, _ := json.Marshal(a)
		return b
	}
	ingest := func(body []byte) (int64, string) {
		t.Helper()
		var ing api.IngestResponse
		if code := admin.do(t, "POST", "/api/v1/alerts", body, &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest: HTTP %d", code)
		}
		return ing.Results[0].IncidentID, ing.Results[0].ID
	}
	actionsOf := func(inc int64, view string) []domain.Action {
		var page struct{ Value []domain.Action }
		admin.do(t, "GET", fmt.Sprintf("/api/v1/actions?view=%s&incidentId=%d", view, inc), nil, &page)
		return page.Value
	}
	pendingOn := func(inc int64) domain.Action {
		t.Helper()
		return waitFor(t, fmt.Sprintf("a pending action of incident %d", inc), func() (domain.Action, bool) {
			if l := actionsOf(inc, "pending"); len(l) > 0 {
				return l[0], true
			}
			return domain.Action{}, false
		})
	}

	// 1. The queue, live.
	first, _ := ingest(alert(1, "Suspicious process launched from an Office document", domain.SeverityMedium))
	pendingOn(first)
	b := newBrowser(t, browser, admin.base+"/incidents")
	step := b.step
	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), rita.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#inc-%d", first))))
	b.within("the live stream to open", `document.documentElement.hasAttribute("data-live-ready")`)
	if b.eval("the bulk bar", `getComputedStyle(document.querySelector(".bulk.manage")).display !== "none"`) {
		t.Error("the bulk manage bar shows before any incident is ticked")
	}
	second, secondAlert := ingest(alert(2, "Web shell dropped on server", domain.SeverityHigh))
	took := b.within("the new incident's row", fmt.Sprintf(`document.getElementById("inc-%d") !== null`, second))
	if took > liveWithin {
		t.Errorf("the new incident showed in the queue after %s, want within %s", took, liveWithin)
	}
	name := b.read("the new incident's name", chromedp.Text(chromedp.CSS(fmt.Sprintf("#inc-%d td.name a", second))))
	if !strings.Contains(name, "Web shell dropped on server") {
		t.Errorf("the new incident is called %q: want it named after its alert", name)
	}
	// An informational alert: the default filter (high to low) hides its
	// incident, and the queue says so.
	ingest(alert(3, "Port scan from a printer", domain.SeverityInformational))
	hidden := b.waitText("the hidden note", "#live-hidden", "1 incident of informational or unknown severity")
	t.Logf("the queue says: %s", hidden)
	if h := b.eval("row height", `Array.from(document.querySelectorAll("#live-rows tr")).every(r => r.getBoundingClientRect().height <= 80)`); !h {
		t.Error("a queue row is taller than 80 px")
	}
	b.shot("morning-queue")

	// 2. A manual action from the device's row.
	step("the incident's devices", chromedp.Navigate(fmt.Sprintf("%s/incidents/%d?tab=devices", admin.base, second)),
		chromedp.WaitVisible(chromedp.CSS("details.act summary")))
	if b.eval("the side panel", `document.querySelector("aside.side") !== null`) {
		t.Error("the devices tab repeats the side panel")
	}
	step("open the row's actions", chromedp.Click(chromedp.CSS("details.act summary")),
		chromedp.SetValue(chromedp.CSS(`details.act select[name=type]`), "device.collect_investigation_package"),
		chromedp.SendKeys(chromedp.CSS(`details.act input[name=comment]`), "for the forensics team"))
	b.shot("morning-device-action")
	step("take the action", chromedp.Click(chromedp.CSS(`details.act button[type=submit]`)))
	flash := b.waitText("the flash", ".flash", "Collect investigation package")
	t.Logf("after the row action: %s", flash)
	manual := waitFor(t, "the manual action", func() (domain.Action, bool) {
		for _, a := range actionsOf(second, "all") {
			if a.Type == "device.collect_investigation_package" {
				return a, true
			}
		}
		return domain.Action{}, false
	})
	if manual.Source != domain.SourceManual || manual.RequestedBy != "rita" || !strings.HasPrefix(string(manual.TargetKey), "device:") {
		t.Errorf("the row's action: source %s, requested by %q, target %s; want manual by rita on the device", manual.Source, manual.RequestedBy, manual.TargetKey)
	}

	// 3. The pending page, live: a new approval appears, a decided one goes.
	step("pending page", chromedp.Navigate(admin.base+"/actions"), chromedp.WaitVisible(chromedp.CSS("table.actions")))
	b.within("the live stream to open", `document.documentElement.hasAttribute("data-live-ready")`)
	fourth, _ := ingest(alert(4, "Ransomware behavior detected in the file system", domain.SeverityHigh))
	act := pendingOn(fourth)
	if took := b.within("the new approval's row", fmt.Sprintf(`document.getElementById("row-%s") !== null`, act.ID)); took > liveWithin {
		t.Errorf("the new approval showed %s after the API listed it, want within %s", took, liveWithin)
	}
	b.shot("morning-pending")
	if code := admin.do(t, "POST", "/api/v1/actions/"+act.ID+"/approve", []byte(`{"comment":"approved by the lead"}`), nil); code != http.StatusOK {
		t.Fatalf("approve through the API: HTTP %d", code)
	}
	b.within("the decided row to leave", fmt.Sprintf(`document.getElementById("row-%s") === null`, act.ID))

	// 4. Stop an investigation.
	step("the first incident", chromedp.Navigate(fmt.Sprintf("%s/incidents/%d", admin.base, first)), chromedp.WaitVisible(chromedp.CSS("form.stop")))
	step("stop it", chromedp.SendKeys(chromedp.CSS(`form.stop textarea[name=reason]`), "the user ran a sanctioned test"),
		chromedp.Click(chromedp.CSS(`form.stop button[type=submit]`)))
	b.waitText("the flash", ".flash", "Stopped the investigation")
	b.waitText("the investigation state", "#live-head", "terminated by user")

	// 5. Classify an alert from its row.
	step("the alerts", chromedp.Navigate(fmt.Sprintf("%s/incidents/%d?tab=alerts", admin.base, second)),
		chromedp.WaitVisible(chromedp.CSS(`details.act summary`)))
	step("manage the alert", chromedp.Click(chromedp.CSS(`details.act summary`)),
		chromedp.SetValue(chromedp.CSS(`form.alert-manage select[name=classification]`), "truePositive"),
		chromedp.SetValue(chromedp.CSS(`form.alert-manage select[name=determination]`), "malware"),
		chromedp.SendKeys(chromedp.CSS(`form.alert-manage input[name=comment]`), "web shell confirmed"))
	b.shot("morning-alert")
	step("save the alert", chromedp.Click(chromedp.CSS(`form.alert-manage button[type=submit]`)))
	b.waitText("the flash", ".flash", "true positive")
	var d struct{ Alerts []domain.Alert }
	admin.do(t, "GET", fmt.Sprintf("/api/v1/incidents/%d", second), nil, &d)
	if len(d.Alerts) != 1 || d.Alerts[0].ID != secondAlert || d.Alerts[0].Classification != "truePositive" || d.Alerts[0].Determination != "malware" {
		t.Errorf("the alert after its row's form: %+v, want %s truePositive/malware", d.Alerts, secondAlert)
	}
	if n := b.dialogs.Load(); n != 0 {
		t.Errorf("a script opened %d dialogs", n)
	}
	b.save()
}
