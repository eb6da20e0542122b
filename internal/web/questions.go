package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// questionsView is a list of questions with the answer forms a page shows
// (the action center: the open ones; an incident: its own).
type questionsView struct {
	Rows []records.QuestionRow
	// CanAnswer offers the forms: analysts and above answer.
	CanAnswer bool
	CSRF      string
	Back      string // where an answer returns
}

// questionsFor lists the questions q selects that the principal may see,
// for a page.
func (p *pages) questionsFor(r *http.Request, q records.QuestionQuery, back string) (*questionsView, error) {
	pr := auth.FromContext(r.Context())
	q.Limit = pageSize
	page, err := p.Center.Questions(r.Context(), pr, q)
	if err != nil {
		return nil, err
	}
	return &questionsView{Rows: page.Value, CanAnswer: pr.Role.AtLeast(auth.Analyst), CSRF: auth.CSRFToken(secretOf(r)), Back: back}, nil
}

// answer handles a question's answer form: the chosen choices (one radio
// button, or the checked boxes of a question that takes several) and a
// note, through the API server's Answer, as the JSON API answers.
func (p *pages) answer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	back := backTo(r, "/actions")
	q, err := p.Center.Answer(r.Context(), auth.FromContext(r.Context()), id,
		api.AnswerBody{Answer: r.PostForm["answer"], Note: strings.TrimSpace(r.PostFormValue("note"))})
	if err != nil {
		p.setFlash(w, r, "error", fmt.Sprintf("Could not answer question %s: %s", short(id), p.message(err)))
	} else {
		p.setFlash(w, r, "ok", fmt.Sprintf("Answered %q: %s (question %s, incident #%d).", oneLine(q.Text, 80),
			strings.Join(q.Answer, ", "), short(q.ID), q.IncidentID))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// questionOpen is for templates: whether the question can be answered.
func questionOpen(q domain.Question) bool { return q.Status == domain.QuestionOpen }
