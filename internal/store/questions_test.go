package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Questions are recorded once, answered through UpdateQuestion, listed
// with filters and device-group scope, and each change is in the
// incident's activity log.
func TestQuestionsRecordAnswerAndList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		r, err := s.IngestAlert(ctx, alertAt("q1", t0, domain.SeverityHigh, device("ws-q", domain.VerdictMalicious)), correlate.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		q := &domain.Question{ID: "q-1", IncidentID: r.IncidentID, InvestigationID: "incident-1", Playbook: "phish",
			PlaybookVersion: 2, Step: "confirm", Audience: domain.AudienceAnalyst, Text: "Is this phishing?",
			Choices: domain.StringList{"phishing", "clean"}, Default: domain.StringList{"clean"},
			Status: domain.QuestionOpen, CreatedAt: t0, Deadline: t0.Add(4 * time.Hour)}
		got, err := s.RecordQuestion(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != domain.QuestionOpen || !slices.Equal(got.Choices, q.Choices) || !got.Deadline.Equal(q.Deadline) {
			t.Errorf("recorded %+v", got)
		}
		// A second record (a retried activity, a later run) keeps the first.
		again := *q
		again.Text = "changed"
		if got, err := s.RecordQuestion(ctx, &again); err != nil || got.Text != "Is this phishing?" {
			t.Errorf("second record: %+v, %v; want the first kept", got, err)
		}

		page, err := s.QueryQuestions(ctx, records.QuestionQuery{Statuses: []domain.QuestionStatus{domain.QuestionOpen}})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 1 || page.Value[0].ID != "q-1" || page.Value[0].IncidentName == "" {
			t.Errorf("open questions: %+v", page)
		}
		for _, c := range []struct {
			name  string
			scope []string
			want  int
		}{{"in scope", []string{"workstations"}, 1}, {"out of scope", []string{"Servers"}, 0}} {
			page, err := s.QueryQuestions(ctx, records.QuestionQuery{Scope: c.scope})
			if err != nil || page.Total != c.want {
				t.Errorf("%s: %d questions (%v), want %d", c.name, page.Total, err, c.want)
			}
		}

		closed := t0.Add(time.Hour)
		q.Status, q.Answer, q.AnsweredBy, q.Note, q.ClosedAt, q.Reminders = domain.QuestionAnswered,
			domain.StringList{"phishing"}, "ana", "header checked", &closed, 1
		if err := s.UpdateQuestion(ctx, q); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetQuestion(ctx, "q-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != domain.QuestionAnswered || !slices.Equal(got.Answer, []string{"phishing"}) || got.AnsweredBy != "ana" ||
			got.ClosedAt == nil || !got.ClosedAt.Equal(closed) || got.Reminders != 1 {
			t.Errorf("answered question read back as %+v", got)
		}
		page, err = s.QueryQuestions(ctx, records.QuestionQuery{Statuses: []domain.QuestionStatus{domain.QuestionOpen}})
		if err != nil || page.Total != 0 {
			t.Errorf("open questions after the answer: %d, %v", page.Total, err)
		}
		if _, err := s.GetQuestion(ctx, "nope"); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("unknown question: %v, want not found", err)
		}
		if err := s.UpdateQuestion(ctx, &domain.Question{ID: "nope"}); domain.KindOf(err) != domain.KindNotFound {
			t.Errorf("update of an unknown question: %v, want not found", err)
		}

		log, err := s.IncidentActivity(ctx, r.IncidentID)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range log {
			if strings.HasPrefix(e.Verb, "question.") {
				lines = append(lines, e.Actor+" "+e.Verb+" "+e.After)
			}
		}
		want := []string{
			"system:playbook:phish question.asked asks analysts: Is this phishing? [phishing | clean]",
			"ana question.status answered: phishing (header checked)",
		}
		if !slices.Equal(lines, want) {
			t.Errorf("activity log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		qs, err := s.IncidentQuestions(ctx, r.IncidentID, 10)
		if err != nil || len(qs) != 1 {
			t.Errorf("incident questions: %v, %v", qs, err)
		}
	})
}
