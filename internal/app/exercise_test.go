package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/cli"
	"github.com/airsoc/air/internal/connector"
	"github.com/airsoc/air/internal/connector/mde/mdefake"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// TestExerciseEndToEnd runs `starter exercise run` on the shipped example
// scenario against the real worker, whose connectors send device.* to
// Defender for Endpoint (mdefake): the exercise's incidents stay out of
// the queue and apart from a real incident on the same user, an approved
// isolation of an exercise device goes to the lab tenant and never to
// Defender (nor does the analysis ask Defender about it), and the score
// counts it. With Chromium present the score page
// is opened too (AIR_SCREENSHOTS=1 saves docs/screenshots/exercise-score.png).
func TestExerciseEndToEnd(t *testing.T) {
	fake := mdefake.New()
	fake.AnyMachine, fake.FinishAfter = true, 1
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Setenv("AIR_MDE_SECRET", "s3cret")
	admin, _ := devService(t, Config{ConnectorsChosen: true, Connectors: connector.Config{
		Routes: map[string]string{"device.*": "mde", "*": "lab"},
		MDE: &connector.MDESettings{Credentials: connector.Credentials{TenantID: "contoso", ClientID: "app-1",
			ClientSecretEnv: "AIR_MDE_SECRET", Authority: srv.URL}, BaseURL: srv.URL, PollInterval: 20 * time.Millisecond},
	}})

	// A real alert about bob on another device: the exercise's alerts name
	// bob too, and must not join it.
	real := graphAlert("real-bob", "Sign-in from an anonymous IP address", "medium", "InitialAccess",
		"azureAdIdentityProtection", time.Hour, nil, userEv("bob@corp.example", "suspicious"))
	var ing api.IngestResponse
	if code := admin.do(t, "POST", "/api/v1/alerts", real, &ing); code != http.StatusOK {
		t.Fatalf("ingest the real alert: HTTP %d", code)
	}
	realInc := ing.Results[0].IncidentID

	var out, errOut bytes.Buffer
	env := cli.Env{BaseURL: admin.base, Token: admin.token, Stdout: &out, Stderr: &errOut}
	if code := cli.Run(context.Background(), env, []string{"exercise", "run", "../../docs/examples/exercise-macro-to-domain.yaml",
		"--speed", "300", "--name", "drill"}); code != 0 {
		t.Fatalf("starter exercise run: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	t.Logf("starter exercise run:\n%s%s", errOut.String(), out.String())
	for _, want := range []string{"Exercise 1: drill", "phase_f1", "initial_access", "credential_access", "lateral_movement"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("starter exercise run printed no %q:\n%s", want, out.String())
		}
	}
	var d api.ExerciseDetail
	if code := admin.do(t, "GET", "/api/v1/exercises/1", nil, &d); code != http.StatusOK || d.Alerts != 5 || len(d.IncidentIDs) == 0 {
		t.Fatalf("exercise 1: HTTP %d, %+v", code, d)
	}
	if slices.Contains(d.IncidentIDs, realInc) {
		t.Fatalf("the exercise's incidents %v include the real incident %d", d.IncidentIDs, realInc)
	}
	var queue struct {
		Total int `json:"total"`
		Value []struct {
			ID int64 `json:"id"`
		} `json:"value"`
	}
	admin.do(t, "GET", "/api/v1/incidents", nil, &queue)
	if queue.Total != 1 || queue.Value[0].ID != realInc {
		t.Errorf("queue: %+v, want only the real incident %d", queue, realInc)
	}

	// The device-compromise playbook proposes isolating ws-310; semi-all
	// makes it wait. Approve it: the lab carries it out, not Defender.
	isolate := waitFor(t, "a pending isolation in the exercise", func() (domain.Action, bool) {
		var page records.ActionPage
		admin.do(t, "GET", "/api/v1/actions?view=pending&type=device.isolate", nil, &page)
		for _, a := range page.Value {
			if slices.Contains(d.IncidentIDs, a.IncidentID) {
				// The action center marks it as a drill.
				if a.ExerciseID != 1 {
					t.Errorf("the exercise's pending action says exercise %d, want 1", a.ExerciseID)
				}
				return a.Action, true
			}
		}
		return domain.Action{}, false
	})
	if code := admin.do(t, "POST", "/api/v1/actions/"+isolate.ID+"/approve", []byte(`{"comment":"drill: contain it"}`), nil); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	done := waitFor(t, "the isolation carried out", func() (domain.Action, bool) {
		var a domain.Action
		admin.do(t, "GET", "/api/v1/actions/"+isolate.ID, nil, &a)
		return a, a.Status == domain.ActionSucceeded || a.Status == domain.ActionFailed
	})
	if done.Status != domain.ActionSucceeded || done.Connector != "lab" {
		t.Errorf("exercise isolation: %s by %q (%s); want succeeded by the lab", done.Status, done.Connector, done.Result)
	}
	fake.Mu.Lock()
	calls := len(fake.Actions)
	fake.Mu.Unlock()
	if calls != 0 {
		t.Errorf("Defender for Endpoint got %d machine actions from an exercise, want none", calls)
	}
	// The analysis asked the lab, not Defender, about the exercise's device.
	var facts api.FactList
	admin.do(t, "GET", "/api/v1/incidents/"+itoa(isolate.IncidentID)+"/facts", nil, &facts)
	bySource := map[string]int{}
	for _, f := range facts.Value {
		bySource[f.Source]++
	}
	if bySource["mde"] != 0 || bySource["lab"] == 0 {
		t.Errorf("facts about the exercise's entities by source: %v; want the lab's, none of Defender's", bySource)
	}

	sc := waitFor(t, "the score counting the approval", func() (domain.ExerciseScore, bool) {
		var sc domain.ExerciseScore
		admin.do(t, "GET", "/api/v1/exercises/1/score", nil, &sc)
		return sc, sc.Actions.Approved == 1
	})
	if sc.Grouping.Alerts != 5 || sc.Grouping.Missing != 0 || len(sc.Phases) != 3 {
		t.Errorf("score: %+v", sc)
	}
	for _, p := range sc.Phases {
		if p.Phase == "initial_access" && (p.TimeToAcknowledge == nil || p.TimeToContain == nil) {
			t.Errorf("initial_access: acknowledged %v, contained %v; want both after the approved isolation", p.TimeToAcknowledge, p.TimeToContain)
		}
	}
	// The real metrics never saw the exercise's approval.
	var m struct {
		Automation struct {
			Executed int64 `json:"executed"`
		} `json:"automation"`
	}
	admin.do(t, "GET", "/api/v1/metrics/summary?range=1d", nil, &m)
	if m.Automation.Executed != 0 {
		t.Errorf("metrics count %d executed actions, want none: the exercise's are not real", m.Automation.Executed)
	}

	if _, err := exec.LookPath("chromium"); err != nil {
		t.Log("no Chromium: the score page is not opened")
		return
	}
	b := newBrowser(t, chromium(t), admin.base+"/incidents")
	b.step("sign in", chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), admin.token),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(`header nav a[href="/exercises"]`)))
	b.step("exercises", chromedp.Click(chromedp.CSS(`header nav a[href="/exercises"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/exercises/1"]`)))
	b.step("the score", chromedp.Click(chromedp.CSS(`a[href="/exercises/1"]`)), chromedp.WaitVisible(chromedp.CSS("div.kpis")))
	// Headings are upper case on screen, as innerText reads them.
	page := strings.ToLower(b.read("the score", chromedp.Text(chromedp.CSS("main"))))
	b.shot("exercise-score")
	for _, want := range []string{"grouping · phase f1", "initial_access", "after an analyst's approval", "device.isolate"} {
		if !strings.Contains(page, want) {
			t.Errorf("score page: no %q in\n%.1500s", want, page)
		}
	}
	b.save()
}
