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
)

// storyAlert is the sample alert re-made as alert n of an attack on the
// host WS-777: at the given time, of a tactic, naming the device by the
// host name or the FQDN (never its device id, so that the two spellings
// are two keys), its user and, on some, another user or an address.
func storyAlert(t *testing.T, n int, at time.Time, tactic, title, host string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	a["id"] = fmt.Sprintf("story-%d", n)
	a["providerAlertId"] = a["id"]
	a["detectorId"] = fmt.Sprintf("story-detector-%d", n)
	a["category"], a["title"] = tactic, title
	a["severity"] = []string{"high", "medium", "low", "medium"}[n%4]
	for _, k := range []string{"createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"} {
		a[k] = at.UTC().Format(time.RFC3339)
	}
	ev := a["evidence"].([]any)
	dev := ev[0].(map[string]any)
	delete(dev, "mdeDeviceId")
	delete(dev, "deviceDnsName")
	delete(dev, "hostName")
	if strings.Contains(host, ".") {
		dev["deviceDnsName"] = host
	} else {
		dev["hostName"] = host
	}
	keep := []any{dev, ev[1]}
	if n%3 == 0 {
		keep = append(keep, ev[3]) // the address
	}
	if n%4 == 1 {
		keep = append(keep, map[string]any{"@odata.type": "#microsoft.graph.security.userEvidence", "verdict": "suspicious",
			"userAccount": map[string]any{"accountName": "svc-backup", "domainName": "corp.example",
				"userPrincipalName": "svc-backup@corp.example"}})
	}
	a["evidence"] = keep
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEntityPagesInBrowser ingests an attack on WS-777 (known by its host
// name) and, days later, an alert on ws-777.corp.example, which opens an
// incident of its own; the device's page in headless Chromium lists both
// incidents and the FQDN as an alias. The first incident's Story tab
// draws its tactics as lanes and its entities as linked nodes. With
// AIR_SCREENSHOTS set, docs/screenshots/entity.png and story.png.
func TestEntityPagesInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var vic auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"viewer","name":"vic"}`), &vic); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	t0 := time.Now().Add(-5 * 24 * time.Hour).Truncate(time.Minute)
	steps := []struct{ tactic, title string }{
		{"InitialAccess", "Phishing document opened from email"},
		{"Execution", "Suspicious process launched from an Office document"},
		{"Execution", "PowerShell downloaded and ran a payload"},
		{"Persistence", "Scheduled task created for persistence"},
		{"DefenseEvasion", "Defender exclusion added by a script"},
		{"CredentialAccess", "LSASS memory read by an unsigned tool"},
		{"CredentialAccess", "Credential dumping tool detected"},
		{"Discovery", "Domain enumeration with net.exe"},
		{"LateralMovement", "Remote service created on a server"},
		{"CommandAndControl", "Beaconing to a rare external address"},
		{"Exfiltration", "Large upload to a cloud storage site"},
		{"Malware", "Cobalt Strike beacon detected"},
	}
	ingest := func(body []byte) int64 {
		t.Helper()
		var ing api.IngestResponse
		if code := admin.do(t, "POST", "/api/v1/alerts", body, &ing); code != http.StatusOK || len(ing.Results) != 1 {
			t.Fatalf("ingest: HTTP %d %+v", code, ing)
		}
		return ing.Results[0].IncidentID
	}
	var first int64
	for i, s := range steps {
		id := ingest(storyAlert(t, i, t0.Add(time.Duration(i)*17*time.Minute), s.tactic, s.title, "WS-777"))
		if first == 0 {
			first = id
		} else if id != first {
			t.Fatalf("alert %d joined incident %d, want %d", i, id, first)
		}
	}
	second := ingest(storyAlert(t, 100, t0.Add(3*24*time.Hour), "Impact", "Files encrypted on the host", "ws-777.corp.example"))
	if second == first {
		t.Fatalf("the FQDN's alert three days later joined incident %d; want an incident of its own", first)
	}

	b := newBrowser(t, browser, admin.base+"/entities/device:ws-777")
	step, read, shot := b.step, b.read, b.shot
	step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), vic.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("table.entity-incidents")))
	incidents := read("incidents", chromedp.Text(chromedp.CSS("table.entity-incidents")))
	aliases := read("aliases", chromedp.Text(chromedp.CSS(".card.aliases")))
	for _, id := range []int64{first, second} {
		if !strings.Contains(incidents, fmt.Sprintf("#%d", id)) {
			t.Errorf("the device's page does not list incident #%d:\n%s", id, incidents)
		}
	}
	if !strings.Contains(aliases, "ws-777.corp.example") || !strings.Contains(aliases, "FQDN") {
		t.Errorf("the device's page does not show the FQDN as an alias:\n%s", aliases)
	}
	shot("entity")

	step("story tab", chromedp.Navigate(fmt.Sprintf("%s/incidents/%d?tab=story", admin.base, first)),
		chromedp.WaitVisible(chromedp.CSS("svg.story-graph")))
	if !b.eval("lanes", `document.querySelectorAll("svg.story-timeline g.lane").length === 15`) {
		t.Error("the story's timeline does not have 15 lanes (14 tactics and Other)")
	}
	if !b.eval("marks", `document.querySelectorAll("svg.story-timeline a.mark").length >= 10`) {
		t.Error("the story's timeline has fewer than 10 marks for 12 alerts")
	}
	if !b.eval("nodes", `document.querySelectorAll("svg.story-graph a.node").length >= 4 &&
		document.querySelector('svg.story-graph a.node[data-key="device:ws-777"]') !== null`) {
		t.Error("the story's graph lacks the device's node or has fewer than 4 nodes")
	}
	if !b.eval("edges", `document.querySelectorAll("svg.story-graph path").length >= 3`) {
		t.Error("the story's graph links fewer than 3 pairs of entities")
	}
	shot("story")
	step("node link", chromedp.Click(chromedp.CSS(`svg.story-graph a.node[data-key="device:ws-777"] circle`)))
	b.waitURL("the node's link", "/entities/device:ws-777")
	if b.dialogs.Load() != 0 {
		t.Errorf("%d dialogs opened: a script ran", b.dialogs.Load())
	}
	b.save()
}
