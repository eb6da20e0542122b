package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/workflows"
)

// seedQuestions records an open question on each incident and an answered
// one on the first.
func (f *fixture) seedQuestions() {
	f.t.Helper()
	t0 := time.Now().Add(-time.Hour)
	for _, q := range []domain.Question{
		{ID: "q-ws1", IncidentID: f.inc1, Text: "Is this phishing?", Choices: domain.StringList{"phishing", "clean"}, Status: domain.QuestionOpen},
		{ID: "q-srv1", IncidentID: f.inc2, Text: "Which accounts?", Choices: domain.StringList{"a@x", "b@x"}, Multiple: true, Status: domain.QuestionOpen},
		{ID: "q-done", IncidentID: f.inc1, Text: "Was this you?", Choices: domain.StringList{"yes", "no"}, Status: domain.QuestionOpen},
	} {
		q.InvestigationID, q.Playbook, q.PlaybookVersion, q.Step, q.Audience = "incident-x", "p", 1, "ask", domain.AudienceAnalyst
		q.CreatedAt, q.Deadline = t0, t0.Add(4*time.Hour)
		if _, err := f.st.RecordQuestion(context.Background(), &q); err != nil {
			f.t.Fatal(err)
		}
		if q.ID == "q-done" {
			now := time.Now()
			q.Status, q.Answer, q.AnsweredBy, q.ClosedAt = domain.QuestionAnswered, domain.StringList{"no"}, "al", &now
			if err := f.st.UpdateQuestion(context.Background(), &q); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

// TestQuestionsListAndAnswer: the open questions are listed within the
// caller's scope; an answer is checked against what the store knows (role,
// scope, status, choices) before it goes to the workflow, which gets who
// answered and with what.
func TestQuestionsListAndAnswer(t *testing.T) {
	f := newFixture(t, auth.Rate{PerSecond: -1})
	f.seedQuestions()

	var page records.QuestionPage
	if r := f.call("vic", http.MethodGet, "/api/v1/questions", "", &page); r.StatusCode != 200 {
		t.Fatalf("list: HTTP %d", r.StatusCode)
	}
	var ids []string
	for _, q := range page.Value {
		ids = append(ids, q.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"q-srv1", "q-ws1"}) {
		t.Errorf("open questions %v, want q-srv1 and q-ws1", ids)
	}
	if f.call("sam", http.MethodGet, "/api/v1/questions?status=all", "", &page); page.Total != 1 || page.Value[0].ID != "q-srv1" {
		t.Errorf("sam (scoped to Servers) sees %+v, want q-srv1 only", page.Value)
	}
	if f.call("vic", http.MethodGet, "/api/v1/questions?status=answered&incidentId="+itoa(f.inc1), "", &page); page.Total != 1 || page.Value[0].ID != "q-done" {
		t.Errorf("answered questions of incident 1: %+v", page.Value)
	}
	var e errResp
	if r := f.call("vic", http.MethodGet, "/api/v1/questions?status=maybe", "", &e); r.StatusCode != 400 || e.Error.Field != "status" {
		t.Errorf("bad status filter: HTTP %d %+v", r.StatusCode, e.Error)
	}

	tests := []struct {
		name, who, id, body string
		status              int
		want                string
	}{
		{"viewer may not answer", "vic", "q-ws1", `{"answer":"phishing"}`, 403, ""},
		{"unknown question", "al", "nope", `{"answer":"phishing"}`, 404, "question nope not found"},
		{"out of scope", "sam", "q-ws1", `{"answer":"phishing"}`, 404, "question q-ws1 not found"},
		{"answered already", "al", "q-done", `{"answer":"yes"}`, 409, "already answered by al: no"},
		{"not a choice", "al", "q-ws1", `{"answer":"maybe"}`, 400, `"maybe" is not one of the choices (phishing, clean)`},
		{"two answers to a one-answer question", "al", "q-ws1", `{"answer":["phishing","clean"]}`, 400, "takes one answer, got 2"},
		{"no answer", "al", "q-ws1", `{"note":"hm"}`, 400, "required: one of phishing, clean"},
	}
	for _, tt := range tests {
		var e errResp
		r := f.call(tt.who, http.MethodPost, "/api/v1/questions/"+tt.id+"/answer", tt.body, &e)
		if r.StatusCode != tt.status || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("%s: HTTP %d %+v; want %d naming %q", tt.name, r.StatusCode, e.Error, tt.status, tt.want)
		}
	}
	if len(f.engine.answers) != 0 {
		t.Fatalf("refused answers reached the workflow: %+v", f.engine.answers)
	}

	var q domain.Question
	if r := f.call("al", http.MethodPost, "/api/v1/questions/q-ws1/answer", `{"answer":"phishing","note":"header forged"}`, &q); r.StatusCode != 200 {
		t.Fatalf("answer: HTTP %d", r.StatusCode)
	}
	if r := f.call("sam", http.MethodPost, "/api/v1/questions/q-srv1/answer", `{"answer":["a@x","b@x"]}`, &q); r.StatusCode != 200 {
		t.Fatalf("multiple answer: HTTP %d", r.StatusCode)
	}
	want := []workflows.AnswerRequest{
		{QuestionID: "q-ws1", Answer: []string{"phishing"}, Note: "header forged", By: "al", Role: domain.RoleAnalyst},
		{QuestionID: "q-srv1", Answer: []string{"a@x", "b@x"}, By: "sam", Role: domain.RoleResponder},
	}
	if len(f.engine.answers) != 2 {
		t.Fatalf("answers sent: %+v", f.engine.answers)
	}
	for i, a := range f.engine.answers {
		if a.QuestionID != want[i].QuestionID || !slices.Equal(a.Answer, want[i].Answer) || a.Note != want[i].Note ||
			a.By != want[i].By || a.Role != want[i].Role {
			t.Errorf("answer %d sent as %+v, want %+v", i, a, want[i])
		}
	}
}
