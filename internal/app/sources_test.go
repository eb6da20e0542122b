package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/sources"
)

// TestSimulatedSourceFeedsTheQueue runs AIR as `worker -dev` does with a
// simulated source: its polling workflow raises lab alerts on its own,
// they become incidents, and the source's state shows on the API.
func TestSimulatedSourceFeedsTheQueue(t *testing.T) {
	c, _ := devService(t, Config{Sources: sources.Config{Sources: []sources.Settings{
		{Name: "lab", Type: sources.TypeSimulated, Interval: time.Second, PerPoll: 2},
	}}})
	deadline := time.Now().Add(90 * time.Second)
	var list api.SourcesResponse
	for {
		if code := c.do(t, http.MethodGet, "/api/v1/sources", nil, &list); code != http.StatusOK {
			t.Fatalf("GET /api/v1/sources: HTTP %d", code)
		}
		if len(list.Sources) == 1 && list.Sources[0].State.Alerts >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulated source raised no alerts within 90 s: %+v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st := list.Sources[0].State
	if st.Errors != 0 || st.Polls < 2 || !strings.HasPrefix(st.Checkpoint.Cursor, "seq:") {
		t.Errorf("state %+v", st)
	}
	var q struct {
		Total int `json:"total"`
	}
	if code := c.do(t, http.MethodGet, "/api/v1/incidents?status=all&severity=all&range=all", nil, &q); code != http.StatusOK || q.Total == 0 {
		t.Errorf("queue after the source's alerts: HTTP %d, %d incidents", code, q.Total)
	}

	// The sources page, in the browser: the source, how it is read, its
	// alert count.
	b := newBrowser(t, chromium(t), c.base+"/sources")
	b.step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), c.token),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("main table.grid")))
	row := b.waitText("the lab source's row", "main table.grid tbody tr", "lab")
	if !strings.Contains(row, "simulated") || !strings.Contains(row, "polled every") {
		t.Errorf("sources row %q, want the simulated source polled", row)
	}
	b.shot("sources")
	b.save()
}
