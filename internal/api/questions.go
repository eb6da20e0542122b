package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/workflows"
)

// QuestionFilters are the query parameters GET /api/v1/questions
// understands.
var QuestionFilters = []string{"status", "audience", "incidentId", "limit", "offset"}

// ParseQuestionQuery turns the questions list's query parameters into a
// store query; the API and the pages share it.
//
//	status        open (the default), answered, timedOut, cancelled or all; comma-separated or repeated
//	audience      analyst or user
//	incidentId    incident ids
//	limit, offset paging
func ParseQuestionQuery(v url.Values) (records.QuestionQuery, error) {
	var q records.QuestionQuery
	for name := range v {
		if !slices.Contains(QuestionFilters, name) {
			return q, domain.Invalid(name, "unknown filter; want one of %s", strings.Join(QuestionFilters, ", "))
		}
	}
	all := false
	for _, st := range splitList(v["status"]) {
		if st == "all" {
			all = true
			continue
		}
		s, err := domain.ParseEnum("status", st, domain.QuestionStatuses, false)
		if err != nil {
			return q, err
		}
		q.Statuses = append(q.Statuses, s)
	}
	if len(q.Statuses) == 0 && !all {
		q.Statuses = []domain.QuestionStatus{domain.QuestionOpen}
	}
	if all {
		q.Statuses = nil
	}
	for _, a := range splitList(v["audience"]) {
		s, err := domain.ParseEnum("audience", a, domain.Audiences, false)
		if err != nil {
			return q, err
		}
		q.Audiences = append(q.Audiences, s)
	}
	for _, id := range splitList(v["incidentId"]) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return q, domain.Invalid("incidentId", "want a positive integer, got %q", id)
		}
		q.IncidentIDs = append(q.IncidentIDs, n)
	}
	var err error
	if q.Limit, err = intValue(v, "limit", 1, MaxPage); err != nil {
		return q, err
	}
	if q.Offset, err = intValue(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	return q, nil
}

// Questions lists the questions ask steps put, within the principal's
// scope.
func (s *Server) Questions(ctx context.Context, p *auth.Principal, q records.QuestionQuery) (*records.QuestionPage, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	q.Scope = p.Groups
	return s.Store.QueryQuestions(ctx, q)
}

// Question returns one question the principal may see: one of an incident
// outside a scoped principal's device groups is not found.
func (s *Server) Question(ctx context.Context, p *auth.Principal, id string) (*domain.Question, error) {
	if err := p.Require(auth.Viewer); err != nil {
		return nil, err
	}
	q, err := s.Store.GetQuestion(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.incidentInScope(ctx, p, q.IncidentID); err != nil {
		return nil, domain.Errorf(domain.KindNotFound, "question %s not found", id)
	}
	return q, nil
}

// AnswerBody is the body of POST /api/v1/questions/{id}/answer.
type AnswerBody struct {
	// Answer is one of the question's choices, or for a question that
	// takes several a list of them (a single string is a list of one).
	Answer Choices `json:"answer"`
	Note   string  `json:"note,omitempty"`
}

// Choices is one choice or a list of them.
type Choices []string

// UnmarshalJSON takes a string or a list of strings.
func (c *Choices) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*c = Choices{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return domain.Invalid("answer", "want a choice or a list of choices")
	}
	*c = many
	return nil
}

// Answer answers an open question as the principal (an analyst or above),
// through the incident workflow's answer Update: the API, the pages and the
// command line all come here. A user-audience question answered here is
// recorded as answered on the user's behalf.
func (s *Server) Answer(ctx context.Context, p *auth.Principal, id string, body AnswerBody) (*domain.Question, error) {
	if err := p.Require(auth.Analyst); err != nil {
		return nil, err
	}
	if err := checkComment(body.Note); err != nil {
		return nil, domain.Invalid("note", "%s", strings.TrimPrefix(err.Error(), "comment: "))
	}
	q, err := s.Question(ctx, p, id)
	if err != nil {
		return nil, err
	}
	// The store trails the workflow only from open to closed: a closed row
	// is final, answered without a trip to the workflow.
	switch {
	case q.Status == domain.QuestionAnswered:
		return nil, domain.Errorf(domain.KindConflict, "question %s was already answered by %s: %s", q.ID, q.AnsweredBy, strings.Join(q.Answer, ", "))
	case q.Status != domain.QuestionOpen:
		return nil, domain.Errorf(domain.KindConflict, "question %s is %s: %s", q.ID, q.Status, q.Note)
	}
	if len(body.Answer) == 0 {
		return nil, domain.Invalid("answer", "required: one of %s", strings.Join(q.Choices, ", "))
	}
	if bad, ok := q.Offers(body.Answer); !ok {
		if bad == "" {
			return nil, domain.Invalid("answer", "question %s takes one answer, got %d", q.ID, len(body.Answer))
		}
		return nil, domain.Invalid("answer", "%q is not one of the choices (%s)", bad, strings.Join(q.Choices, ", "))
	}
	if s.Engine == nil {
		return nil, domain.Errorf(domain.KindUnavailable, "no workflow engine: questions cannot be answered here")
	}
	return s.Engine.Answer(ctx, q.IncidentID, workflows.AnswerRequest{QuestionID: q.ID, Answer: body.Answer,
		Note: body.Note, By: p.Name, Role: p.Role})
}

func (s *Server) listQuestions(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseQuestionQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.Questions(r.Context(), auth.FromContext(r.Context()), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) getQuestion(w http.ResponseWriter, r *http.Request) error {
	q, err := s.Question(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, q)
}

func (s *Server) answerQuestion(w http.ResponseWriter, r *http.Request) error {
	var body AnswerBody
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	q, err := s.Answer(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, q)
}
