package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/cli"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/nativestack"
	"github.com/airsoc/air/internal/records"
)

// askPlaybook asks an analyst about the sample alert's device and notes
// the answer, which the steps after it read.
const askPlaybook = `name: ask-device
version: 1
match: len(devices) > 0
stages:
  triage:
    - id: confirm
      ask:
        to: analyst
        question: "Is {{ devices[0].name }} compromised?"
        choices: [compromised, clean]
        timeout: 1h
  review:
    - id: note
      action: incident.comment
      with: {text: "{{ steps.confirm.answeredBy }} answered {{ steps.confirm.answer }}"}
`

// TestAskAnsweredEndToEnd: on the real service (Temporal, the signed
// answer Update, the store), a playbook's question shows in the API, an
// answer the question does not offer is refused, the command line answers
// it, the playbook's next step reads the answer, and a second answer is
// a conflict. Its history is recorded for the replay test.
func TestAskAnsweredEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ask.yaml"), []byte(askPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	temporalPort := nativestack.FreePort(t)
	c, _ := devService(t, Config{TemporalPort: temporalPort, PlaybookDir: dir})
	sample, err := os.ReadFile("../graph/testdata/sample-alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var ing api.IngestResponse
	if code := c.do(t, "POST", "/api/v1/alerts", sample, &ing); code != http.StatusOK || len(ing.Results) != 1 {
		t.Fatalf("ingest: HTTP %d %+v", code, ing)
	}
	incident := ing.Results[0].IncidentID
	q := waitFor(t, "an open question", func() (*records.QuestionRow, bool) {
		var page records.QuestionPage
		c.do(t, "GET", "/api/v1/questions", nil, &page)
		if len(page.Value) == 1 {
			return &page.Value[0], true
		}
		return nil, false
	})
	if q.IncidentID != incident || !strings.HasPrefix(q.Text, "Is ") || !slices.Equal(q.Choices, []string{"compromised", "clean"}) {
		t.Errorf("question %+v", q)
	}
	var e struct{ Error api.ErrorDetail }
	if code := c.do(t, "POST", "/api/v1/questions/"+q.ID+"/answer", []byte(`{"answer":"maybe"}`), &e); code != http.StatusBadRequest ||
		!strings.Contains(e.Error.Message, "not one of the choices") {
		t.Errorf("answer not offered: HTTP %d %+v", code, e)
	}

	var out bytes.Buffer
	if code := cli.Run(context.Background(), cli.Env{BaseURL: c.base, Token: c.token, Stdout: &out, Stderr: &out},
		[]string{"questions", "answer", q.ID, "compromised", "-m", "EDR timeline"}); code != 0 {
		t.Fatalf("questions answer: exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "compromised by admin") {
		t.Errorf("questions answer printed %q", out.String())
	}
	waitFor(t, "the next step to read the answer", func() (struct{}, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+itoa(incident), nil, &d)
		return struct{}{}, slices.ContainsFunc(d.Comments, func(cm domain.Comment) bool { return cm.Comment == "admin answered compromised" })
	})
	var got domain.Question
	c.do(t, "GET", "/api/v1/questions/"+q.ID, nil, &got)
	if got.Status != domain.QuestionAnswered || got.AnsweredBy != "admin" || got.Note != "EDR timeline" {
		t.Errorf("question after the answer: %+v", got)
	}
	if code := c.do(t, "POST", "/api/v1/questions/"+q.ID+"/answer", []byte(`{"answer":"clean"}`), &e); code != http.StatusConflict ||
		!strings.Contains(e.Error.Message, "already answered by admin: compromised") {
		t.Errorf("second answer: HTTP %d %+v", code, e)
	}
	waitFor(t, "the investigation to finish", func() (struct{}, bool) {
		var d api.IncidentDetail
		c.do(t, "GET", "/api/v1/incidents/"+itoa(incident), nil, &d)
		// The analyst says compromised and the playbook only notes it: the
		// malicious device is left uncontained, which is not benign.
		return struct{}{}, d.InvestigationState == domain.InvestigationPartiallyRemediated
	})
	recordHistory(t, fmt.Sprintf("127.0.0.1:%d", temporalPort), incident, "ask-answered")
}

// TestQuestionAnsweredInBrowser: an analyst signs in, finds the playbook's
// question above the pending actions, picks a choice, writes a note and
// answers; the flash says so, and the incident's investigation goes on
// with the answer. With AIR_SCREENSHOTS set, docs/screenshots/questions.png
// shows the question.
func TestQuestionAnsweredInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ask.yaml"), []byte(askPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	admin, _ := devService(t, Config{PlaybookDir: dir})
	var ana auth.Created
	if code := admin.do(t, "POST", "/api/v1/tokens", []byte(`{"role":"analyst","name":"ana"}`), &ana); code != http.StatusCreated {
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
	q := waitFor(t, "an open question", func() (records.QuestionRow, bool) {
		var page records.QuestionPage
		admin.do(t, "GET", "/api/v1/questions", nil, &page)
		if len(page.Value) == 1 {
			return page.Value[0], true
		}
		return records.QuestionRow{}, false
	})

	b := newBrowser(t, browser, admin.base+"/actions")
	form := "#question-" + q.ID
	b.step("sign-in page", chromedp.WaitVisible(chromedp.ID("token")))
	b.step("sign in", chromedp.SendKeys(chromedp.ID("token"), ana.Secret),
		chromedp.Click(chromedp.CSS("section.signin button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(form)))
	b.step("choose", chromedp.Click(chromedp.CSS(form+` input[name=answer][value=compromised]`)),
		chromedp.SendKeys(chromedp.CSS(form+` input[name=note]`), "EDR timeline"))
	b.shot("questions")
	b.step("answer", chromedp.Click(chromedp.CSS(form+" button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	flash := b.read("flash", chromedp.Text(chromedp.CSS(".flash.ok")))
	if !strings.Contains(flash, "compromised") {
		t.Errorf("flash after the answer: %q", flash)
	}
	waitFor(t, "the next step to read the answer", func() (struct{}, bool) {
		var d api.IncidentDetail
		admin.do(t, "GET", "/api/v1/incidents/"+itoa(q.IncidentID), nil, &d)
		return struct{}{}, slices.ContainsFunc(d.Comments, func(cm domain.Comment) bool { return cm.Comment == "ana answered compromised" })
	})
	if n := b.dialogs.Load(); n != 0 {
		t.Errorf("%d script dialogs opened", n)
	}
	b.save()
}
