package records

import (
	"time"
)

// AuditEntry is one line of the append-only audit log: who did what to
// which object, when, and the value before and after.
type AuditEntry struct {
	ID         int64     `json:"id" db:"id"`
	At         time.Time `json:"at" db:"at"`
	Actor      string    `json:"actor" db:"actor"`
	Verb       string    `json:"verb" db:"verb"`
	Object     string    `json:"object" db:"object"`
	IncidentID *int64    `json:"incidentId,omitempty" db:"incident_id"`
	Before     string    `json:"before,omitempty" db:"before"`
	After      string    `json:"after,omitempty" db:"after"`
}

// AuditQuery selects audit entries. The zero value lists the newest 100.
type AuditQuery struct {
	Actors []string
	// Verbs match exactly, or by prefix when they end in "." ("action.").
	Verbs []string
	// Object matches exactly ("action:3f1c…", "token:tok_…").
	Object     string
	IncidentID int64
	// Since and Until bound the time (inclusive, exclusive); zero means
	// unbounded.
	Since, Until time.Time
	// Ascending lists oldest first; the default is newest first.
	Ascending     bool
	Limit, Offset int // Limit 0 means 100
}

// AuditPage is one page of audit entries and the count of all matches.
type AuditPage struct {
	Value  []AuditEntry `json:"value"`
	Total  int          `json:"total"`
	Limit  int          `json:"limit"`
	Offset int          `json:"offset"`
}
