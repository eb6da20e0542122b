package records

import (
	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// AlertChange is what an analyst changes on one alert: the JSON body of
// PATCH /api/v1/alerts/{id}. Nil pointers and an empty comment leave a
// field alone.
type AlertChange struct {
	Status *domain.AlertStatus `json:"status,omitempty"`
	// Classification and Determination must fit each other
	// (domain.CheckClassification); one alone is checked against the
	// alert's other.
	Classification *string `json:"classification,omitempty"`
	Determination  *string `json:"determination,omitempty"`
	// AssignedTo assigns the alert; "" unassigns.
	AssignedTo *string `json:"assignedTo,omitempty"`
	// Comment goes to the incident's activity log, on the alert.
	Comment string `json:"comment,omitempty"`
}

// Check validates what can be validated without the alert, naming the
// field at fault.
func (ch *AlertChange) Check() error {
	if ch.Status == nil && ch.Classification == nil && ch.Determination == nil && ch.AssignedTo == nil && ch.Comment == "" {
		return domain.Invalid("", "nothing to change: set status, classification, determination, assignedTo or comment")
	}
	if ch.Status != nil {
		if _, err := domain.ParseEnum("status", string(*ch.Status), domain.AlertStatuses, false); err != nil {
			return err
		}
	}
	// The other fields follow an incident's rules: enums, lengths, encoding.
	if inc := (IncidentChange{Classification: ch.Classification, Determination: ch.Determination,
		AssignedTo: ch.AssignedTo, Comment: ch.Comment}); !inc.Empty() {
		return inc.Check()
	}
	return nil
}

// EntityAlertQuery selects the alerts that name any of some entities.
type EntityAlertQuery struct {
	Keys []domain.EntityKey
	// Scope limits the answer to alerts of incidents with a device in one
	// of these groups; empty means unscoped.
	Scope []string
	// Limit caps the answer, most recent activity first: 0 means 100, at
	// most 1000.
	Limit int
}

// AlertPage is the alerts a query selects, at most its limit, and the
// count of every match.
type AlertPage struct {
	Value []domain.Alert `json:"value"`
	Total int            `json:"total"`
}

// IngestResult reports what became of one alert.
type IngestResult struct {
	AlertID     string            `json:"id"`
	Outcome     correlate.Outcome `json:"outcome"`
	IncidentID  int64             `json:"incidentId"`
	NewIncident bool              `json:"newIncident,omitempty"`
	// Notify says the incident's investigation must hear of this alert: it
	// made a material change (a new incident, new entities, a higher
	// severity, a new tactic), an earlier material change was never
	// acknowledged (MarkNotified), or the investigation never started — so
	// a re-sent alert retries a failed start. Alerts that change nothing
	// material are only counted in the store (incident_summary.quiet_alerts):
	// a 100,000-alert flood costs the workflow one signal, not 100,000.
	Notify bool `json:"-"`
	// NotifySeq is the incident's material-change sequence number as of this
	// alert; pass it to MarkNotified once the investigation heard of it.
	NotifySeq int64 `json:"-"`
	// Merged lists incidents this alert caused to be merged into IncidentID.
	Merged []int64 `json:"merged,omitempty"`
}
