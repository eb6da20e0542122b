package domain

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
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
	CustomTags         StringList         `json:"customTags" db:"custom_tags"`
	AlertCount         int                `json:"alertCount" db:"alert_count"`
	FirstActivity      time.Time          `json:"firstActivityDateTime" db:"first_activity"`
	LastActivity       time.Time          `json:"lastActivityDateTime" db:"last_activity"`
	CreatedDateTime    time.Time          `json:"createdDateTime" db:"created_at"`
	LastUpdateDateTime time.Time          `json:"lastUpdateDateTime" db:"updated_at"`
	Description        string             `json:"description,omitempty" db:"description"`
	ResolvingComment   string             `json:"resolvingComment,omitempty" db:"resolving_comment"`
	LastModifiedBy     string             `json:"lastModifiedBy,omitempty" db:"last_modified_by"`
	// AcknowledgedDateTime is the first human touch: a change by hand, a
	// decision on one of its actions or a manual action request.
	AcknowledgedDateTime *time.Time `json:"acknowledgedDateTime,omitempty" db:"acknowledged_at"`
	// ContainedDateTime is when the first containment action on it
	// succeeded (actions.IsContainment).
	ContainedDateTime *time.Time `json:"containedDateTime,omitempty" db:"contained_at"`
	// ResolvedDateTime is when it was last resolved; reopening clears it.
	ResolvedDateTime *time.Time `json:"resolvedDateTime,omitempty" db:"resolved_at"`
}

// WorkflowID is the id of the incident's Temporal workflow.
func WorkflowID(incidentID int64) string {
	return "incident-" + strconv.FormatInt(incidentID, 10)
}

// StringList is a list of strings that the store keeps as a JSON array.
type StringList []string

// Scan reads the JSON array from a text column.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*l = nil
		return nil
	default:
		return fmt.Errorf("scan %T into StringList", src)
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// Value writes the list as a JSON array.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Comment is a note on an incident.
type Comment struct {
	Comment              string    `json:"comment" db:"comment"`
	CreatedByDisplayName string    `json:"createdByDisplayName" db:"created_by"`
	CreatedDateTime      time.Time `json:"createdDateTime" db:"created_at"`
}
