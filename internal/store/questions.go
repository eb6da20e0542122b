package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
)

// RecordQuestion inserts the question unless a row with its id exists, and
// returns the stored row: a retried activity, or a later run of the
// investigation reaching the same ask step, finds what was recorded
// (answered already, perhaps) instead of asking twice.
func (s *Store) RecordQuestion(ctx context.Context, q *domain.Question) (*domain.Question, error) {
	var out domain.Question
	inserted := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out, tx.Rebind(`SELECT * FROM questions WHERE id = ?`), q.ID)
		if err == nil {
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		c := normalisedQuestion(q)
		if _, err := sqlx.NamedExecContext(ctx, tx, `INSERT INTO questions (id, incident_id, investigation_id,
			playbook, playbook_version, step, audience, recipient, recipient_name, text, choices, multiple,
			default_answer, status, answer, answered_by, note, created_at, deadline, closed_at, reminders)
			VALUES (:id, :incident_id, :investigation_id, :playbook, :playbook_version, :step, :audience,
			:recipient, :recipient_name, :text, :choices, :multiple, :default_answer, :status, :answer,
			:answered_by, :note, :created_at, :deadline, :closed_at, :reminders)`, c); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		out, inserted = *c, true
		return appendAudit(ctx, tx, records.AuditEntry{At: c.CreatedAt, Actor: "system:playbook:" + c.Playbook, Verb: "question.asked",
			Object: "question:" + c.ID, IncidentID: &c.IncidentID, After: askedLine(c)})
	})
	if err != nil {
		return nil, fmt.Errorf("record question %s: %w", q.ID, err)
	}
	if inserted {
		s.publish(events.Event{Kind: events.Question, IncidentID: out.IncidentID, Created: true})
	}
	return &out, nil
}

// askedLine is the activity log's line for a question put.
func askedLine(q *domain.Question) string {
	to := "analysts"
	if q.Audience == domain.AudienceUser {
		to = "user " + string(q.Recipient)
	}
	return fmt.Sprintf("asks %s: %s [%s]", to, q.Text, strings.Join(q.Choices, " | "))
}

// UpdateQuestion writes the question's lifecycle fields — status, answer,
// who answered, when it closed, reminders — as the workflow reports them,
// and audits a change of status.
func (s *Store) UpdateQuestion(ctx context.Context, q *domain.Question) error {
	var incident int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var cur struct {
			Status     domain.QuestionStatus `db:"status"`
			IncidentID int64                 `db:"incident_id"`
		}
		if err := tx.GetContext(ctx, &cur, tx.Rebind(`SELECT status, incident_id FROM questions WHERE id = ?`), q.ID); err != nil {
			if isNoRows(err) {
				return domain.Errorf(domain.KindNotFound, "question %s not found", q.ID)
			}
			return err
		}
		incident = cur.IncidentID
		c := normalisedQuestion(q)
		if _, err := sqlx.NamedExecContext(ctx, tx, `UPDATE questions SET status = :status, answer = :answer,
			answered_by = :answered_by, note = :note, closed_at = :closed_at, reminders = :reminders
			WHERE id = :id`, c); err != nil {
			return err
		}
		if cur.Status == c.Status {
			return nil
		}
		actor := "system:investigation"
		if c.Status == domain.QuestionAnswered && c.AnsweredBy != "" {
			actor = c.AnsweredBy
		}
		after := string(c.Status)
		if len(c.Answer) > 0 {
			after += ": " + strings.Join(c.Answer, ", ")
		}
		if c.Note != "" {
			after += " (" + c.Note + ")"
		}
		at := time.Time{}
		if c.ClosedAt != nil {
			at = *c.ClosedAt
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: at, Actor: actor, Verb: "question.status", Object: "question:" + c.ID,
			IncidentID: &cur.IncidentID, Before: string(cur.Status), After: after})
	})
	if err != nil {
		return fmt.Errorf("update question %s: %w", q.ID, err)
	}
	s.publish(events.Event{Kind: events.Question, IncidentID: incident})
	return nil
}

func normalisedQuestion(q *domain.Question) *domain.Question {
	c := *q
	c.CreatedAt, c.Deadline = utc(c.CreatedAt), utc(c.Deadline)
	if c.ClosedAt != nil {
		t := utc(*c.ClosedAt)
		c.ClosedAt = &t
	}
	for _, l := range []*domain.StringList{&c.Choices, &c.Default, &c.Answer} {
		if *l == nil {
			*l = domain.StringList{}
		}
	}
	return &c
}

// GetQuestion returns one question.
func (s *Store) GetQuestion(ctx context.Context, id string) (*domain.Question, error) {
	var q domain.Question
	if err := s.db.GetContext(ctx, &q, s.db.Rebind(`SELECT * FROM questions WHERE id = ?`), id); err != nil {
		if isNoRows(err) {
			return nil, domain.Errorf(domain.KindNotFound, "question %s not found", id)
		}
		return nil, fmt.Errorf("get question %s: %w", id, err)
	}
	return &q, nil
}

// QueryQuestions returns the page of questions the query selects, newest
// first.
func (s *Store) QueryQuestions(ctx context.Context, q records.QuestionQuery) (*records.QuestionPage, error) {
	conds := []string{"1 = 1"}
	var args []any
	in := func(col string, vals []any) { whereIn(&conds, &args, col, vals) }
	in("q.status", anys(q.Statuses))
	in("q.audience", anys(q.Audiences))
	in("q.incident_id", anys(q.IncidentIDs))
	if len(q.Scope) > 0 {
		conds = append(conds, s.incidentInGroupsSQL("q.incident_id", len(q.Scope)))
		args = append(args, lowerAll(q.Scope)...)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if q.Offset < 0 {
		return nil, domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	page := &records.QuestionPage{Value: []records.QuestionRow{}, Limit: limit, Offset: q.Offset}
	from := ` FROM questions q JOIN incidents i ON i.id = q.incident_id WHERE ` + strings.Join(conds, " AND ")
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+from), args...); err != nil {
		return nil, fmt.Errorf("count questions: %w", err)
	}
	sql := `SELECT q.*, i.display_name AS incident_name` + from +
		fmt.Sprintf(` ORDER BY q.created_at DESC, q.id DESC LIMIT %d OFFSET %d`, limit, q.Offset)
	if err := s.db.SelectContext(ctx, &page.Value, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("query questions: %w", err)
	}
	return page, nil
}

// IncidentQuestions returns an incident's questions, oldest first, at most
// limit of them: a new run of its investigation adopts them.
func (s *Store) IncidentQuestions(ctx context.Context, incidentID int64, limit int) ([]domain.Question, error) {
	var out []domain.Question
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT * FROM questions WHERE incident_id = ?
		ORDER BY created_at, id LIMIT `+fmt.Sprint(limit)), incidentID)
	if err != nil {
		return nil, fmt.Errorf("questions of incident %d: %w", incidentID, err)
	}
	return out, nil
}
