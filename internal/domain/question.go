package domain

import (
	"slices"
	"time"
)

// Question is what a playbook's ask step asks a person — an analyst in the
// action center, or a user through a notification channel — with the
// choices it offers and, once answered, the answer. The incident workflow
// owns its lifecycle (the answer Update is what counts); the store keeps a
// queryable copy written by activities, like actions.
type Question struct {
	ID              string   `json:"id" db:"id"`
	IncidentID      int64    `json:"incidentId" db:"incident_id"`
	InvestigationID string   `json:"investigationId" db:"investigation_id"` // workflow id
	Playbook        string   `json:"playbook" db:"playbook"`
	PlaybookVersion int      `json:"playbookVersion" db:"playbook_version"`
	Step            string   `json:"step" db:"step"`
	Audience        Audience `json:"audience" db:"audience"`
	// Recipient is the user a user-audience question is for (an entity
	// key, user:alice@corp.example); "" for analysts.
	Recipient     EntityKey  `json:"recipient,omitempty" db:"recipient"`
	RecipientName string     `json:"recipientName,omitempty" db:"recipient_name"`
	Text          string     `json:"question" db:"text"`
	Choices       StringList `json:"choices" db:"choices"`
	// Multiple questions take one or more of the choices.
	Multiple bool `json:"multiple" db:"multiple"`
	// Default is the answer on timeout; empty: a timeout fails the step.
	Default StringList     `json:"default,omitempty" db:"default_answer"`
	Status  QuestionStatus `json:"status" db:"status"`
	// Answer holds the chosen choices (one unless Multiple).
	Answer     StringList `json:"answer,omitempty" db:"answer"`
	AnsweredBy string     `json:"answeredBy,omitempty" db:"answered_by"`
	// Note is the answerer's comment; for a user-audience question
	// answered by an analyst it says on whose behalf.
	Note      string     `json:"note,omitempty" db:"note"`
	CreatedAt time.Time  `json:"createdAt" db:"created_at"`
	Deadline  time.Time  `json:"deadline" db:"deadline"`
	ClosedAt  *time.Time `json:"closedAt,omitempty" db:"closed_at"`
	// Reminders counts the reminders sent while the question was open.
	Reminders int `json:"reminders" db:"reminders"`
}

// Audience says who a question is for.
type Audience string

// Audiences.
const (
	AudienceAnalyst Audience = "analyst" // answered in the action center
	AudienceUser    Audience = "user"    // sent to a user through a notification channel
)

// Audiences lists every audience.
var Audiences = []Audience{AudienceAnalyst, AudienceUser}

// QuestionStatus is where a question is in its life.
type QuestionStatus string

// Question statuses.
const (
	QuestionOpen      QuestionStatus = "open"
	QuestionAnswered  QuestionStatus = "answered"
	QuestionTimedOut  QuestionStatus = "timedOut"  // no answer in time (its default, if any, applies)
	QuestionCancelled QuestionStatus = "cancelled" // the investigation stopped or failed first
)

// QuestionStatuses lists every question status.
var QuestionStatuses = []QuestionStatus{QuestionOpen, QuestionAnswered, QuestionTimedOut, QuestionCancelled}

// Final reports whether the question can no longer be answered.
func (s QuestionStatus) Final() bool { return s != QuestionOpen && s != "" }

// Offers reports whether every one of answer is among the question's
// choices, once each, and their number fits (one, or one or more when
// Multiple). It returns the first choice not offered, or "" .
func (q *Question) Offers(answer []string) (bad string, ok bool) {
	if len(answer) == 0 || !q.Multiple && len(answer) > 1 {
		return "", false
	}
	for i, a := range answer {
		if !slices.Contains(q.Choices, a) || slices.Contains(answer[:i], a) {
			return a, false
		}
	}
	return "", true
}
