package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
)

// Notifier delivers a message to a person through a notification channel
// (mail, Teams, Slack). The worker wires one when channels are configured;
// without one, NotifyQuestion records in the incident's activity log that
// no channel is configured, so that a question nobody was told of is
// visible rather than silent. It is satisfied by the notification
// package's client; activities defines it because it is its caller.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// Message is one notification: to whom, about what.
type Message struct {
	// Key names the message for de-duplication: the same key is sent
	// once, so a retried activity does not tell twice.
	Key        string `json:"key"`
	IncidentID int64  `json:"incidentId"`
	// To is the address of the person told (a user's UPN); "" means the
	// SOC's own channel (the analysts).
	To      string `json:"to,omitempty"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// QuestionID and Choices are set for a question, so that a channel
	// can offer the choices as buttons or a reply form.
	QuestionID string   `json:"questionId,omitempty"`
	Choices    []string `json:"choices,omitempty"`
}

// QuestionNotice asks NotifyQuestion to tell someone of a question: when
// it is put (Reminder 0) or to remind them (Reminder n, the nth).
type QuestionNotice struct {
	Question domain.Question `json:"question"`
	Reminder int             `json:"reminder,omitempty"`
}

// RecordQuestion writes a question an ask step puts and returns the stored
// row, which is the earlier one when the question was recorded before (a
// retry, or a later run reaching the same step): its answer, if any, holds.
func (a *Activities) RecordQuestion(ctx context.Context, q *domain.Question) (*domain.Question, error) {
	got, err := a.Store.RecordQuestion(ctx, q)
	return got, classify(err)
}

// UpdateQuestion writes a question's new lifecycle state.
func (a *Activities) UpdateQuestion(ctx context.Context, q *domain.Question) error {
	return classify(a.Store.UpdateQuestion(ctx, q))
}

// NotifyQuestion tells the question's audience of it through the
// notifier: the user it is for, or for an analyst question the SOC's
// channel. Without a notifier it records that no channel is configured in
// the incident's activity log instead.
func (a *Activities) NotifyQuestion(ctx context.Context, n QuestionNotice) error {
	q := n.Question
	what := "question"
	if n.Reminder > 0 {
		what = fmt.Sprintf("reminder %d of question", n.Reminder)
	}
	to, who := "", "the analysts"
	if q.Audience == domain.AudienceUser {
		to = strings.TrimPrefix(string(q.Recipient), "user:")
		who = to
	}
	if a.Notifier == nil {
		return classify(a.Store.AuditInvestigation(ctx, q.IncidentID, "system:investigation", "question.notify",
			fmt.Sprintf("%s %s not sent to %s: no notification channel is configured; it waits in the action center", what, q.ID, who)))
	}
	subject := fmt.Sprintf("AIR incident %d asks: %s", q.IncidentID, firstLine(q.Text))
	if n.Reminder > 0 {
		subject = "Reminder: " + subject
	}
	body := fmt.Sprintf("%s\n\nAnswer with one of: %s (question %s, answer by %s).", q.Text,
		strings.Join(q.Choices, ", "), q.ID, q.Deadline.UTC().Format("2006-01-02 15:04 MST"))
	if err := a.Notifier.Notify(ctx, Message{Key: fmt.Sprintf("question:%s:%d", q.ID, n.Reminder), IncidentID: q.IncidentID, To: to, Subject: subject, Body: body,
		QuestionID: q.ID, Choices: q.Choices}); err != nil {
		return fmt.Errorf("notify %s of question %s: %w", who, q.ID, err)
	}
	return classify(a.Store.AuditInvestigation(ctx, q.IncidentID, "system:investigation", "question.notify",
		fmt.Sprintf("%s %s sent to %s", what, q.ID, who)))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(line); len(r) > 120 {
		return string(r[:119]) + "…"
	}
	return line
}
