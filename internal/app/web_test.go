package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// chromium finds the system's Chromium (never a downloaded one). Under CI
// a missing browser fails the test; elsewhere it skips with a message.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIR_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH under CI: install it (apt-get install -y chromium) or set AIR_CHROMIUM")
	}
	t.Skip("no Chromium on PATH (apt-get install -y chromium, or set AIR_CHROMIUM): browser test skipped")
	return ""
}

// TestActionCenterInBrowser signs in to the pages in headless Chromium,
// approves a pending action by clicking, and finds it in the history. An
// alert whose title is a script is on the page too: it must show as text
// and never run. With AIR_SCREENSHOTS set, a screenshot of each page goes
// to docs/screenshots.
func TestActionCenterInBrowser(t *testing.T) {
	browser := chromium(t)
	admin, _ := devService(t, Config{})
	var rita auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"responder","name":"rita"}`), &rita); code != http.StatusCreated {
		t.Fatalf("create token: HTTP %d", code)
	}
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := admin.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK {
		t.Fatalf("ingest: HTTP %d", code)
	}
	// A second device whose alert title is markup.
	var evil map[string]any
	json.Unmarshal(deviceAlert(t, 7), &evil)
	evil["title"] = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
	dev := evil["evidence"].([]any)[0].(map[string]any)
	dev["deviceDnsName"] = `<script>alert("pwned")</script>.corp.example`
	dev["hostName"] = `<img src=x onerror=alert(1)>`
	evilBody, _ := json.Marshal(evil)
	if code := admin.do(t, "POST", "/api/v1/alerts", evilBody, &api.IngestResponse{}); code != http.StatusOK {
		t.Fatalf("ingest the script-bearing alert: HTTP %d", code)
	}
	pending := waitFor(t, "the sample's pending isolation", func() (domain.Action, bool) {
		var page struct{ Value []domain.Action }
		admin.do(t, "GET", "/api/v1/actions?view=pending", nil, &page)
		var mine domain.Action
		for _, a := range page.Value {
			if a.IncidentID == ing.Results[0].IncidentID {
				mine = a
			}
		}
		return mine, len(page.Value) == 2 && mine.ID != ""
	})

	b := newBrowser(t, browser, admin.base+"/actions")
	step, read, shot := b.step, b.read, b.shot
	row := chromedp.CSS("#row-" + pending.ID)

	step("sign-in page", chromedp.WaitVisible(chromedp.ID("token")))
	path := read("location", chromedp.Location())
	shot("signin")
	step("sign in", chromedp.SendKeys(chromedp.ID("token"), rita.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(row))
	pendingText := read("pending list", chromedp.Text(chromedp.CSS("table.actions")))
	step("comment", chromedp.SendKeys(chromedp.CSS(`input[name="comment-`+pending.ID+`"]`), "contain it"))
	shot("pending")
	step("approve", chromedp.Click(chromedp.CSS(`button[name=one][value="approve:`+pending.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	flash := read("flash", chromedp.Text(chromedp.CSS(".flash.ok")))
	step("history", chromedp.Navigate(admin.base+"/actions/history"), chromedp.WaitVisible(row))
	status := read("status in history", chromedp.Text(chromedp.CSS("#row-"+pending.ID+" .status")))
	// Once the isolation has run, history offers its undo.
	deadline := time.Now().Add(time.Minute)
	for st := status; st != "succeeded"; st = read("status", chromedp.Text(chromedp.CSS("#row-"+pending.ID+" .status"))) {
		if time.Now().After(deadline) {
			t.Fatalf("the approved isolation did not succeed within a minute (status %s)", st)
		}
		step("reload history", chromedp.Reload(), chromedp.WaitVisible(row))
	}
	shot("history")
	step("undo", chromedp.Click(chromedp.CSS("#row-"+pending.ID+" button.undo")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	undoFlash := read("undo flash", chromedp.Text(chromedp.CSS(".flash.ok")))
	if !strings.Contains(undoFlash, "device.release") {
		t.Errorf("flash after undo: %q, want the device.release it started", undoFlash)
	}
	if !strings.HasSuffix(path, "/signin?next=%2Factions") {
		t.Errorf("signed out, /actions went to %s, want /signin (and back to /actions after)", path)
	}
	if !strings.Contains(flash, "Approved device.isolate") {
		t.Errorf("flash after approving: %q", flash)
	}
	if status != "approved" && status != "running" && status != "succeeded" {
		t.Errorf("history shows the action %q, want approved, running or succeeded", status)
	}
	if !strings.Contains(pendingText, `<script>alert("pwned")</script>`) || b.dialogs.Load() != 0 {
		t.Errorf("the script-bearing title: shown as text=%v, dialogs opened=%d; want shown, none run",
			strings.Contains(pendingText, "<script>"), b.dialogs.Load())
	}
	var a domain.Action
	admin.do(t, "GET", "/api/v1/actions/"+pending.ID, nil, &a)
	if a.DecidedBy != "rita" || a.DecisionComment != "contain it" {
		t.Errorf("decided through the page: by %q, comment %q; want rita, contain it", a.DecidedBy, a.DecisionComment)
	}

	b.save()
}

// browser drives headless Chromium through a test: each step gets its own
// deadline, so that a failing one leaves time to say where the browser
// was; a dialog opened by a script (which must never run) is counted and
// dismissed; screenshots are kept for save.
type browser struct {
	t       *testing.T
	ctx     context.Context
	dialogs atomic.Int32
	shots   map[string][]byte
}

// newBrowser starts the system's Chromium on a fresh profile and opens
// start. The browser lives until the test ends.
func newBrowser(t *testing.T, path, start string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.DisableGPU, chromedp.NoSandbox,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser, which lives as long as bctx:
	// only later steps get a deadline.
	if err := chromedp.Do(bctx, chromedp.Navigate(start)); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	b := &browser{t: t, ctx: bctx, shots: map[string][]byte{}}
	opened := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range opened {
			if err != nil {
				return
			}
			b.dialogs.Add(1)
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	dctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(dctx, chromedp.Location())
	html, _ := chromedp.Run(dctx, chromedp.OuterHTML(chromedp.CSS("main")))
	b.t.Fatalf("browser: %s: %v\nat %s:\n%.3000s", what, err, loc, html)
}

func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) read(what string, a chromedp.Action[string]) string {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// waitText waits until the text of the element sel names holds want,
// for up to 30 s. It reads the page again and again (an element of the
// page being left does not count), so that a wait after a click that
// navigates does not find the old page.
func (b *browser) waitText(what, sel, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		got, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel), chromedp.AtLeast(0)))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			b.fail(what, fmt.Errorf("%s does not read %q (read %q, %v)", sel, want, got, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitURL waits until the location holds want, for up to 30 s.
func (b *browser) waitURL(what, want string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		loc, err := chromedp.Run(sctx, chromedp.Location())
		cancel()
		if err == nil && strings.Contains(loc, want) {
			return
		}
		if time.Now().After(deadline) {
			b.fail(what, fmt.Errorf("the location %q does not hold %q (%v)", loc, want, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) shot(name string) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	b.shots[name] = png
}

// save writes the screenshots to docs/screenshots when AIR_SCREENSHOTS is
// set.
func (b *browser) save() {
	b.t.Helper()
	if os.Getenv("AIR_SCREENSHOTS") == "" {
		return
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for name, png := range b.shots {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Logf("wrote %d screenshots to %s", len(b.shots), dir)
}
