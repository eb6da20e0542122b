package domain

import (
	"strconv"
	"time"
)

// Incident is a group of correlated alerts (Graph incident) with the fields
// AIR derives from them.
type Incident struct {
	ID                 int64              `json:"id" db:"id"`
	DisplayName        string             `json:"displayName" db:"display_name"`
	Severity           Severity           `json:"severity" db:"severity"`
	Status             IncidentStatus     `json:"status" db:"status"`
	Classification     string             `json:"classification" db:"classification"`
	Determination      string             `json:"determination" db:"determination"`
	AssignedTo         string             `json:"assignedTo,omitempty" db:"assigned_to"`
	InvestigationState InvestigationState `json:"investigationState" db:"investigation_state"`
	RedirectIncidentID *int64             `json:"redirectIncidentId,omitempty" db:"redirect_incident_id"`
	AlertCount         int                `json:"alertCount" db:"alert_count"`
	FirstActivity      time.Time          `json:"firstActivityDateTime" db:"first_activity"`
	LastActivity       time.Time          `json:"lastActivityDateTime" db:"last_activity"`
	CreatedDateTime    time.Time          `json:"createdDateTime" db:"created_at"`
	LastUpdateDateTime time.Time          `json:"lastUpdateDateTime" db:"updated_at"`
}

// WorkflowID is the id of the incident's Temporal workflow.
func WorkflowID(incidentID int64) string {
	return "incident-" + strconv.FormatInt(incidentID, 10)
}
