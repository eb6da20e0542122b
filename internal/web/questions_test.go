package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
)

// TestQuestionForms: an open question shows in the action center and on
// its incident's page, escaped, with an answer form that carries the
// anti-forgery token; an analyst may answer, a viewer is not offered to; a
// post without the token is refused; a choice the question does not offer
// is refused with the reason. (The answer itself runs on a real workflow
// in internal/app; no engine is behind this API, so a good answer says so.)
func TestQuestionForms(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	now := time.Now()
	if _, err := s.st.RecordQuestion(context.Background(), &domain.Question{ID: "q-evil", IncidentID: s.inc,
		InvestigationID: "incident-1", Playbook: "p", PlaybookVersion: 1, Step: "confirm", Audience: domain.AudienceAnalyst,
		Text: `Is <script>alert("pwned")</script> phishing?`, Choices: domain.StringList{"phishing", `<img src=x onerror=alert(1)>`},
		Status: domain.QuestionOpen, CreatedAt: now, Deadline: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	answer := "/questions/q-evil/answer"
	incident := fmt.Sprintf("/incidents/%d", s.inc)

	viewer := s.fresh()
	viewer.signIn(t, auth.Viewer)
	_, page := viewer.get(t, "/actions")
	checkPage(t, "the viewer's pending page", page)
	if !strings.Contains(page, "Is &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; phishing?") {
		t.Errorf("the viewer does not see the question, escaped")
	}
	if strings.Contains(page, `name="answer"`) {
		t.Errorf("a viewer is offered to answer")
	}

	s.signIn(t, auth.Analyst)
	for _, path := range []string{"/actions", incident, incident + "?tab=investigations"} {
		_, page = s.get(t, path)
		checkPage(t, path, page)
		if !strings.Contains(page, `action="`+answer+`"`) && path != incident+"?tab=investigations" {
			t.Errorf("%s: no answer form for the analyst", path)
		}
	}
	_, page = s.get(t, "/actions")
	csrf := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := s.post(t, answer, url.Values{"answer": {"phishing"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an answer without the anti-forgery token: HTTP %d, want 403", resp.StatusCode)
	}
	_, page = s.post(t, answer, url.Values{"csrf": {csrf}, "answer": {"maybe"}, "back": {"/actions?sort=type"}})
	if k, m := flashOf(page); k != "error" || !strings.Contains(m, "is not one of the choices") {
		t.Errorf("a choice not offered: flash %s %q", k, m)
	}
	_, page = s.post(t, answer, url.Values{"csrf": {csrf}, "answer": {"phishing"}, "note": {"checked"}})
	if k, m := flashOf(page); k != "error" || !strings.Contains(m, "no workflow engine") {
		t.Errorf("a good answer with no engine behind the API: flash %s %q", k, m)
	}
}
