package records

import (
	"slices"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// ActionQuery selects actions for the action center: filters combine with
// AND, values inside one filter with OR. The zero value lists every action,
// newest first, 100 at a time.
type ActionQuery struct {
	Statuses    []domain.ActionStatus
	NotStatuses []domain.ActionStatus // e.g. history: everything but pending
	Types       []string
	Sources     []domain.ActionSource
	IncidentIDs []int64
	// TargetKeys keeps actions on any of these entities.
	TargetKeys []domain.EntityKey
	// DeviceGroups keeps actions on a device of one of these groups, and
	// actions on other targets whose incident has such a device.
	DeviceGroups []string
	DecidedBy    []string
	// CreatedAfter and CreatedBefore bound the creation time (exclusive,
	// inclusive); zero means unbounded. Age filters become these.
	CreatedAfter, CreatedBefore time.Time
	// Scope limits the answer to a principal's device groups (same rule as
	// DeviceGroups); empty means unscoped.
	Scope []string
	// Sort is a column name from SortableActionColumns; "" means createdAt.
	Sort string
	Desc bool
	// Limit caps the page (0 means 100); Offset skips rows.
	Limit, Offset int
}

// ActionRow is an action with what the action center shows beside it.
type ActionRow struct {
	domain.Action
	IncidentName string `json:"incidentName" db:"incident_name"`
	// ExerciseID is the breach exercise the action's incident belongs to,
	// so that an analyst deciding it knows it is a drill; 0 for real work.
	ExerciseID int64 `json:"exerciseId,omitempty" db:"exercise_id"`
}

// ActionPage is one page of a query's answer and the count of all matches.
type ActionPage struct {
	Value  []ActionRow `json:"value"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

// sortableActionColumns are the action center's sort keys. The store maps
// each to a column, and its tests check that it maps every one of them.
var sortableActionColumns = []string{"createdAt", "decidedAt", "finishedAt", "type", "status", "source",
	"incidentId", "target", "decidedBy"}

// SortableActionColumns lists the action center's sort keys, sorted.
func SortableActionColumns() []string {
	out := slices.Clone(sortableActionColumns)
	slices.Sort(out)
	return out
}
