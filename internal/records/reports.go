package records

import (
	"github.com/airsoc/air/internal/domain"
)

// ReportRunQuery selects kept reports, newest first.
type ReportRunQuery struct {
	Kind       domain.ReportKind // "" means every kind
	ScheduleID string            // "" means any
	Limit      int               // 0 means 100
	Offset     int
}

// ReportRunPage is one page of kept reports (without their HTML and data)
// and how many there are in all.
type ReportRunPage struct {
	Value  []domain.ReportRun `json:"value"`
	Total  int                `json:"total"`
	Limit  int                `json:"limit"`
	Offset int                `json:"offset"`
}
