package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// graphAlert is a Graph alert of the given kind, at a time relative to now.
func graphAlert(id, title, severity, category, service string, ago time.Duration, techniques []string, evidence ...map[string]any) []byte {
	at := time.Now().Add(-ago).UTC().Format(time.RFC3339)
	ev := make([]any, len(evidence))
	for i, e := range evidence {
		ev[i] = e
	}
	b, _ := json.Marshal(map[string]any{"id": id, "providerAlertId": id, "title": title, "severity": severity,
		"status": "new", "category": category, "serviceSource": service, "detectionSource": service,
		"mitreTechniques": techniques, "createdDateTime": at, "lastUpdateDateTime": at, "firstActivityDateTime": at,
		"lastActivityDateTime": at, "evidence": ev})
	return b
}

func userEv(upn, verdict string) map[string]any {
	name, domainName, _ := strings.Cut(upn, "@")
	return map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence", "verdict": verdict,
		"remediationStatus": "none", "userAccount": map[string]any{"accountName": name, "domainName": strings.ToUpper(strings.Split(domainName, ".")[0]),
			"userPrincipalName": upn, "displayName": strings.ToUpper(name[:1]) + name[1:]}}
}

// TestIncidentPagesInBrowser walks the incident pages as an analyst would,
// in headless Chromium against the real worker: filter the queue, open an
// incident, go through its tabs, approve its pending isolation from the
// Evidence and response tab, resolve it with a classification and a
// comment, read its post-incident review, and open the dashboard. An
// incident whose alert title is a script sits in the queue: it must show
// as text and never run. With AIR_SCREENSHOTS set, screenshots go to
// docs/screenshots.
func TestIncidentPagesInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var rita auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"responder","name":"rita"}`), &rita); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	ingest := func(what string, body []byte) int64 {
		t.Helper()
		var ing api.IngestResponse
		if code := admin.do(t, "POST", "/api/v1/alerts", body, &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest %s: HTTP %d", what, code)
		}
		return ing.Results[0].IncidentID
	}
	// The sample: a macro dropper on ws-042, whose playbook asks to
	// isolate the device.
	var sample map[string]any
	raw, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &sample)
	at := time.Now().Add(-95 * time.Minute).UTC().Format(time.RFC3339)
	for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
		sample[k] = at
	}
	body, _ := json.Marshal(sample)
	inc := ingest("the sample", body)
	// Others, so that the queue has something to sort and filter.
	ingest("phish", graphAlert("phish-1", "Email messages containing malicious URL removed after delivery", "medium",
		"InitialAccess", "microsoftDefenderForOffice365", 5*time.Hour, []string{"T1566.002"},
		map[string]any{"@odata.type": "#microsoft.graph.security.mailboxEvidence", "verdict": "suspicious",
			"primaryAddress": "bob@corp.example", "displayName": "Bob Stone", "upn": "bob@corp.example"},
		userEv("bob@corp.example", "suspicious"),
		map[string]any{"@odata.type": "#microsoft.graph.security.urlEvidence", "verdict": "malicious", "url": "https://login.micros0ft-support.example/"}))
	ingest("sign-in", graphAlert("signin-1", "Unfamiliar sign-in properties", "low", "InitialAccess",
		"azureAdIdentityProtection", 26*time.Hour, []string{"T1078"}, userEv("carol@corp.example", "suspicious"),
		map[string]any{"@odata.type": "#microsoft.graph.security.ipEvidence", "verdict": "suspicious", "ipAddress": "198.51.100.23",
			"countryLetterCode": "NL"}))
	ingest("info", graphAlert("info-1", "Scheduled penetration test activity", "informational", "Discovery",
		"microsoftDefenderForEndpoint", 3*time.Hour, nil, userEv("pentest@corp.example", "noThreatsFound")))
	var evil map[string]any
	json.Unmarshal(deviceAlert(t, 7), &evil)
	evil["title"] = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
	for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
		evil[k] = time.Now().Add(-40 * time.Minute).UTC().Format(time.RFC3339)
	}
	dev := evil["evidence"].([]any)[0].(map[string]any)
	dev["deviceDnsName"] = `<script>alert("pwned")</script>.corp.example`
	dev["hostName"] = `<img src=x onerror=alert(1)>`
	evilBody, _ := json.Marshal(evil)
	ingest("the script-bearing alert", evilBody)
	pending := waitFor(t, "the sample's pending isolation", func() (domain.Action, bool) {
		var page struct{ Value []domain.Action }
		admin.do(t, "GET", fmt.Sprintf("/api/v1/actions?view=pending&incidentId=%d", inc), nil, &page)
		if len(page.Value) == 1 && page.Value[0].Type == "device.isolate" {
			return page.Value[0], true
		}
		return domain.Action{}, false
	})

	b := newBrowser(t, browser, admin.base+"/incidents")
	step, read, shot := b.step, b.read, b.shot
	incRow := fmt.Sprintf("#inc-%d", inc)
	current := chromedp.CSS("nav.tabs a.current")

	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), rita.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(incRow)))
	queue := read("the queue", chromedp.Text(chromedp.CSS("table.queue")))
	step("open the priority factors", chromedp.Click(chromedp.CSS(incRow+" details.prio summary")),
		chromedp.WaitVisible(chromedp.CSS(incRow+" details.prio ul")))
	shot("queue")

	// Filter: high severity only, then search by the impacted device.
	step("filter high", chromedp.Click(chromedp.CSS(`form.queue input[name=severity][value=medium]`)),
		chromedp.Click(chromedp.CSS(`form.queue input[name=severity][value=low]`)),
		chromedp.Click(chromedp.CSS(`form.queue button[type=submit]`)))
	b.waitURL("filtered", "severity=high")
	step("filtered", chromedp.WaitVisible(chromedp.CSS(incRow)))
	high := read("high incidents", chromedp.Text(chromedp.CSS("table.queue tbody")))
	loc := read("location", chromedp.Location())
	step("search", chromedp.SendKeys(chromedp.CSS(`form.queue input[name=search]`), "ws-042"),
		chromedp.Click(chromedp.CSS(`form.queue button[type=submit]`)))
	b.waitURL("searched", "search=ws-042")
	step("searched", chromedp.WaitVisible(chromedp.CSS(incRow)))
	found := read("search result", chromedp.Text(chromedp.CSS("table.queue tbody")))
	rows := read("rows", chromedp.Evaluate[string](`String(document.querySelectorAll("table.queue tbody tr").length)`))

	// The incident page, tab by tab.
	step("open the incident", chromedp.Click(chromedp.CSS(incRow+" td.name a")), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	shot("incident")
	tabs := map[string]string{}
	for _, tab := range []struct{ key, label, wait string }{
		{"alerts", "Alerts", "table.grid details"}, {"devices", "Devices", "table.grid"},
		{"users", "Users", "table.grid"}, {"mailboxes", "Mailboxes", "table.grid"},
		{"investigations", "Investigations", ".card dl.facts"}, {"response", "Evidence and response", "table.response"},
	} {
		step("tab "+tab.key, chromedp.Click(chromedp.CSS(`nav.tabs a[href$="tab=`+tab.key+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("section.tab-"+tab.key+" "+tab.wait)))
		tabs[tab.key] = read("tab "+tab.key, chromedp.Text(chromedp.CSS("section.tab-"+tab.key)))
		if got := read("current tab", chromedp.Text(current)); !strings.HasPrefix(got, tab.label) {
			t.Errorf("tab %s: the current tab reads %q", tab.key, got)
		}
	}
	// Approve the isolation right here.
	step("comment", chromedp.SendKeys(chromedp.CSS(`input[name="comment-`+pending.ID+`"]`), "contain it"))
	shot("incident-response")
	step("approve", chromedp.Click(chromedp.CSS(`button[name=one][value="approve:`+pending.ID+`"]`)))
	approved := b.waitText("approved", ".flash", "Approved")
	step("back on the tab", chromedp.WaitVisible(chromedp.CSS("table.response")))
	// Wait for the isolation to run, so that the review has a containment.
	deadline := time.Now().Add(time.Minute)
	for {
		st := read("status", chromedp.Text(chromedp.CSS("#row-"+pending.ID+" .status")))
		if st == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approved isolation did not succeed within a minute (status %s)", st)
		}
		step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.response")))
	}

	// Resolve with a classification and a resolving comment: the manage
	// panel is on the summary only, the other tabs link to it.
	if b.eval("the side panel on the response tab", `document.querySelector("#manage") !== null`) {
		t.Error("the response tab repeats the manage panel")
	}
	step("to the manage panel", chromedp.Click(chromedp.CSS(`.facts-line a[href$="#side"]`)), chromedp.WaitVisible(chromedp.CSS("#manage")))
	step("resolve", chromedp.SetValue(chromedp.CSS(`#manage select[name=status]`), "resolved"),
		chromedp.SetValue(chromedp.CSS(`#manage select[name=classification]`), "truePositive"),
		chromedp.SetValue(chromedp.CSS(`#manage select[name=determination]`), "malware"),
		chromedp.SendKeys(chromedp.CSS(`#manage textarea[name=resolvingComment]`), "Macro dropper contained: device isolated, payload quarantined."),
		chromedp.Click(chromedp.CSS(`#manage button[type=submit]`)))
	resolved := b.waitText("resolved", ".flash", "status resolved")
	// MITRE ATT&CK imported: the review gives the sample's techniques their
	// threat context (T1059.001 PowerShell is in the excerpt).
	attack, err := os.ReadFile("../intel/testdata/attack-excerpt.json")
	if err != nil {
		t.Fatal(err)
	}
	if code := admin.do(t, "POST", "/api/v1/intel/feeds?name=attack", attack, nil); code != http.StatusOK {
		t.Fatalf("import ATT&CK: HTTP %d", code)
	}
	step("review", chromedp.Click(chromedp.CSS(`a[href$="/review"]`)), chromedp.WaitVisible(chromedp.CSS(".kpis")))
	review := read("review", chromedp.Text(chromedp.CSS("main")))
	shot("review")
	step("dashboard", chromedp.Click(chromedp.CSS(`header nav a[href="/dashboard"]`)), chromedp.WaitVisible(chromedp.CSS("table.bars")))
	dash := read("dashboard", chromedp.Text(chromedp.CSS("main")))
	shot("dashboard")

	if !strings.Contains(review, "Threat context") || !strings.Contains(review, "T1059.001 PowerShell") ||
		!strings.Contains(review, "Execution Prevention") {
		t.Errorf("the review does not give the sample's technique its ATT&CK context:\n%s", review)
	}
	if !strings.Contains(queue, `<script>alert("pwned")</script>`) || b.dialogs.Load() != 0 {
		t.Errorf("the script-bearing incident: shown as text=%v, dialogs opened=%d; want shown, none run",
			strings.Contains(queue, "<script>"), b.dialogs.Load())
	}
	if strings.Contains(queue, "Scheduled penetration test") {
		t.Errorf("the default queue lists an informational incident")
	}
	if strings.Contains(high, "Unfamiliar sign-in") || strings.Contains(high, "malicious URL") || !strings.Contains(loc, "severity=high") {
		t.Errorf("filtered to high severity: at %s, still lists medium or low incidents:\n%s", loc, high)
	}
	if rows != "1" || !strings.Contains(found, "ws-042") {
		t.Errorf("search ws-042: %s rows:\n%s", rows, found)
	}
	for tab, want := range map[string]string{"alerts": "Suspicious process launched from an Office document",
		"devices": "Workstations", "users": "alice@corp.example", "mailboxes": "No mailboxes",
		"investigations": "device-compromise", "response": "invoice_0314.exe"} {
		if !strings.Contains(tabs[tab], want) {
			t.Errorf("tab %s: %q missing:\n%.1500s", tab, want, tabs[tab])
		}
	}
	if !strings.Contains(approved, "Approved device.isolate") {
		t.Errorf("flash after approving: %q", approved)
	}
	if !strings.Contains(resolved, "status resolved") || !strings.Contains(resolved, "classified true positive (malware)") {
		t.Errorf("flash after resolving: %q", resolved)
	}
	var got struct{ domain.Incident }
	admin.do(t, "GET", fmt.Sprintf("/api/v1/incidents/%d", inc), nil, &got)
	if got.Status != domain.IncidentResolved || got.Determination != "malware" || got.LastModifiedBy != "rita" ||
		!strings.HasPrefix(got.ResolvingComment, "Macro dropper contained") {
		t.Errorf("after resolving through the page: %s %s/%s by %q, %q", got.Status, got.Classification,
			got.Determination, got.LastModifiedBy, got.ResolvingComment)
	}
	// Text as rendered: labels in capitals are capitals.
	for _, want := range []string{"time to contain", "time to resolve", "execution", "ta0002", "t1059.001", "rita",
		"approved device.isolate", "contain it", "source: workflow history"} {
		if !strings.Contains(strings.ToLower(review), want) {
			t.Errorf("review: %q missing", want)
		}
	}
	if d := strings.ToLower(dash); !strings.Contains(d, "mean time to resolve") || !strings.Contains(d, "automation rate") {
		t.Errorf("dashboard:\n%.1500s", dash)
	}
	b.save()
}
