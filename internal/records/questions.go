package records

import (
	"github.com/airsoc/air/internal/domain"
)

// QuestionQuery selects questions: filters combine with AND, values inside
// one with OR. The zero value lists every question, newest first, 100 at a
// time.
type QuestionQuery struct {
	Statuses    []domain.QuestionStatus
	Audiences   []domain.Audience
	IncidentIDs []int64
	// Scope limits the answer to the incidents a principal scoped to these
	// device groups sees; empty means unscoped.
	Scope []string
	// Limit caps the page (0 means 100); Offset skips rows.
	Limit, Offset int
}

// QuestionRow is a question with its incident's name.
type QuestionRow struct {
	domain.Question
	IncidentName string `json:"incidentName" db:"incident_name"`
}

// QuestionPage is one page of a query's answer and the count of all
// matches.
type QuestionPage struct {
	Value  []QuestionRow `json:"value"`
	Total  int           `json:"total"`
	Limit  int           `json:"limit"`
	Offset int           `json:"offset"`
}
