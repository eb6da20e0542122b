package records

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// IncidentQuery selects incidents for the queue (SPEC §3): filters combine
// with AND, the values inside one filter with OR. The zero value lists
// every incident, last updated first, 50 at a time; the queue's defaults
// (open, high to low severity, last week) are api.ParseIncidentQuery's.
type IncidentQuery struct {
	Statuses   []domain.IncidentStatus
	Severities []domain.Severity
	// AssignedTo matches the assignee exactly; "" matches unassigned.
	AssignedTo []string
	// Tags match custom or system tags.
	Tags                                         []string
	ServiceSources, DetectionSources, Categories []string
	// Classifications and Determinations take canonical names
	// (domain.CanonicalDetermination resolves aliases).
	Classifications, Determinations []string
	InvestigationStates             []domain.InvestigationState
	// DeviceGroups keeps incidents with a device in one of these groups.
	DeviceGroups []string
	// Entity keeps incidents with this entity: its key (device:ws-042) or
	// its name, without regard to case.
	Entity string
	// EntityKeys keeps incidents with any of these entities, by exact key
	// (the entity page: an entity and its aliases).
	EntityKeys []domain.EntityKey
	// MultipleServiceSources, when set, keeps incidents whose alerts came
	// from more than one service source (true) or from one at most (false).
	MultipleServiceSources *bool
	// Since and Until bound lastUpdateDateTime (inclusive, exclusive); zero
	// means unbounded.
	Since, Until time.Time
	// Search matches the incident's name (substring), its id (exactly), or
	// an impacted asset (a name starting with it, or an entity key), all
	// without regard to case.
	Search string
	// Sort is a column's JSON name from SortableIncidentColumns, "-" first
	// for descending; "" means "-lastUpdateDateTime". The id breaks ties in
	// the same direction, so that pages never overlap.
	Sort string
	// Offset skips rows; Limit caps the page: 0 means 50, at most 1000
	// (the store's EachIncident: 0 means every row).
	Offset, Limit int
	// Scope limits the answer to a principal's device groups (the rule of
	// DeviceGroups), in SQL, before the limit; nil means unscoped.
	Scope []string
}

// Paging limits of the queue (the store's QueryIncidents).
const (
	DefaultIncidentPage = 50
	MaxIncidentPage     = 1000
)

// sortableIncidentColumns are the queue's sort keys: the JSON names of
// IncidentRow's columns. The store maps each to SQL, and its tests check
// that it maps every one of them.
var sortableIncidentColumns = []string{"id", "displayName", "severity", "status", "priorityScore", "assignedTo",
	"alertCount", "firstActivityDateTime", "lastActivityDateTime", "createdDateTime", "lastUpdateDateTime",
	"classification", "determination", "investigationState"}

// SortableIncidentColumns lists the queue's sort keys, sorted.
func SortableIncidentColumns() []string {
	out := slices.Clone(sortableIncidentColumns)
	slices.Sort(out)
	return out
}

// IncidentRow is an incident as the queue shows it: the incident and what
// AIR derived from its alerts (the JSON names of Derived).
type IncidentRow struct {
	domain.Incident
	PriorityScore    int                `json:"priorityScore"`
	PriorityFactors  []correlate.Factor `json:"priorityFactors"`
	ServiceSources   []string           `json:"serviceSources"`
	DetectionSources []string           `json:"detectionSources"`
	Categories       []string           `json:"categories"`
	MitreTechniques  []string           `json:"mitreTechniques"`
	ImpactedAssets   ImpactedAssets     `json:"impactedAssets"`
	ActiveAlerts     int                `json:"activeAlertCount"`
	SystemTags       []string           `json:"systemTags"`
}

// IncidentPage is one page of the queue and the count of every match.
type IncidentPage struct {
	Value  []IncidentRow `json:"value"`
	Total  int           `json:"total"`
	Offset int           `json:"offset"`
	Limit  int           `json:"limit"`
}

// IncidentChange is what an analyst changes on an incident (SPEC §3,
// Manage): nil pointers and empty strings leave a field alone. It is the
// JSON body of PATCH /api/v1/incidents/{id}.
type IncidentChange struct {
	DisplayName *string `json:"displayName,omitempty"`
	Description *string `json:"description,omitempty"`
	// AssignedTo assigns the incident and its alerts; "" unassigns.
	AssignedTo *string  `json:"assignedTo,omitempty"`
	AddTags    []string `json:"addTags,omitempty"`
	RemoveTags []string `json:"removeTags,omitempty"`
	// Comment is added to the incident's comments.
	Comment string `json:"comment,omitempty"`
	// Status active or inProgress reopens a resolved incident; resolved
	// resolves its active alerts too. redirected is the merge's alone.
	Status *domain.IncidentStatus `json:"status,omitempty"`
	// Classification and Determination must fit each other
	// (domain.CheckClassification); one alone is checked against the
	// incident's other.
	Classification *string `json:"classification,omitempty"`
	Determination  *string `json:"determination,omitempty"`
	// ResolvingComment goes with status resolved, or alone on an incident
	// that is resolved (conflict otherwise).
	ResolvingComment string `json:"resolvingComment,omitempty"`
	// Severity set by hand stays: ingest no longer derives it.
	Severity *domain.Severity `json:"severity,omitempty"`
}

// Limits of an incident change, in bytes.
const (
	MaxIncidentName    = 256
	MaxIncidentText    = 10000 // a description, a comment, a resolving comment
	MaxTag             = 100
	MaxTagsPerIncident = 100
)

// Empty reports whether the change changes nothing.
func (ch *IncidentChange) Empty() bool {
	return ch.DisplayName == nil && ch.Description == nil && ch.AssignedTo == nil && len(ch.AddTags) == 0 &&
		len(ch.RemoveTags) == 0 && ch.Comment == "" && ch.Status == nil && ch.Classification == nil &&
		ch.Determination == nil && ch.ResolvingComment == "" && ch.Severity == nil
}

// Check validates what can be validated without the incident, naming the
// field at fault: enums, lengths, and that a resolving comment comes with
// status resolved. The store's ManageIncident calls it too.
func (ch *IncidentChange) Check() error {
	if ch.Empty() {
		return domain.Invalid("", "nothing to change: set displayName, description, assignedTo, addTags, removeTags, "+
			"comment, status, classification, determination, resolvingComment or severity")
	}
	text := func(field, v string, max int) error {
		if len(v) > max {
			return domain.Invalid(field, "want at most %d bytes, got %d", max, len(v))
		}
		if !utf8.ValidString(v) {
			return domain.Invalid(field, "not valid UTF-8")
		}
		return nil
	}
	if ch.DisplayName != nil {
		if strings.TrimSpace(*ch.DisplayName) == "" {
			return domain.Invalid("displayName", "must not be empty")
		}
		if err := text("displayName", *ch.DisplayName, MaxIncidentName); err != nil {
			return err
		}
	}
	if ch.Description != nil {
		if err := text("description", *ch.Description, MaxIncidentText); err != nil {
			return err
		}
	}
	if ch.AssignedTo != nil {
		if err := text("assignedTo", *ch.AssignedTo, MaxIncidentName); err != nil {
			return err
		}
	}
	for field, tags := range map[string][]string{"addTags": ch.AddTags, "removeTags": ch.RemoveTags} {
		for i, t := range tags {
			f := fmt.Sprintf("%s[%d]", field, i)
			if strings.TrimSpace(t) == "" {
				return domain.Invalid(f, "a tag must not be empty")
			}
			if err := text(f, t, MaxTag); err != nil {
				return err
			}
		}
	}
	if err := text("comment", ch.Comment, MaxIncidentText); err != nil {
		return err
	}
	if err := text("resolvingComment", ch.ResolvingComment, MaxIncidentText); err != nil {
		return err
	}
	if ch.Status != nil {
		if *ch.Status == domain.IncidentRedirected {
			return domain.Invalid("status", "redirected is set when incidents merge, not by hand; want active, inProgress or resolved")
		}
		if _, err := domain.ParseEnum("status", string(*ch.Status), []domain.IncidentStatus{domain.IncidentActive,
			domain.IncidentInProgress, domain.IncidentResolved}, false); err != nil {
			return err
		}
	}
	if ch.ResolvingComment != "" && ch.Status != nil && *ch.Status != domain.IncidentResolved {
		return domain.Invalid("resolvingComment", "goes with status resolved, or alone on a resolved incident")
	}
	if ch.Classification != nil {
		if _, err := domain.ParseClassification("classification", *ch.Classification); err != nil {
			return err
		}
	}
	if ch.Determination != nil {
		if _, err := domain.CanonicalDetermination("determination", *ch.Determination); err != nil {
			return err
		}
	}
	if ch.Severity != nil {
		if _, err := domain.ParseEnum("severity", string(*ch.Severity), domain.Severities, false); err != nil {
			return err
		}
	}
	return nil
}

// Derived is what AIR derives from an incident's alerts, beside the fields
// of domain.Incident: impacted assets, sources, tactics and techniques, the
// priority score with its factors, and the flood counters.
type Derived struct {
	IncidentID       int64              `json:"incidentId"`
	Categories       []string           `json:"categories"`
	MitreTechniques  []string           `json:"mitreTechniques"`
	ServiceSources   []string           `json:"serviceSources"`
	DetectionSources []string           `json:"detectionSources"`
	ImpactedAssets   ImpactedAssets     `json:"impactedAssets"`
	ActiveAlerts     int                `json:"activeAlertCount"`
	PriorityScore    int                `json:"priorityScore"`
	PriorityFactors  []correlate.Factor `json:"priorityFactors"`
	SystemTags       []string           `json:"systemTags"`
	// Routine is set on an incident that gathers the recurring noise of one
	// entity: the entity's key.
	Routine string `json:"routine,omitempty"`
	// QuietAlerts counts alerts that joined without a material change and so
	// were not signalled to the investigation.
	QuietAlerts int64 `json:"quietAlerts"`
}

// ImpactedAssets lists an incident's devices, users, mailboxes and apps by
// display name (the first 50 of each) with exact counts.
type ImpactedAssets struct {
	Devices      []string `json:"devices"`
	Users        []string `json:"users"`
	Mailboxes    []string `json:"mailboxes"`
	Apps         []string `json:"apps"`
	DeviceCount  int      `json:"deviceCount"`
	UserCount    int      `json:"userCount"`
	MailboxCount int      `json:"mailboxCount"`
	AppCount     int      `json:"appCount"`
}

// VerdictChange is an analyst's verdict on one of an incident's entities:
// Verdict is malicious, suspicious or noThreatsFound, or "" to go back to
// the provider's; Reason says why (required for a verdict).
type VerdictChange struct {
	Verdict domain.Verdict `json:"verdict"`
	Reason  string         `json:"reason"`
}

// Check refuses a verdict AIR does not decide and a verdict without its
// reason, naming the field.
func (c VerdictChange) Check() error {
	switch c.Verdict {
	case "":
	case domain.VerdictMalicious, domain.VerdictSuspicious, domain.VerdictNoThreatsFound:
		if c.Reason == "" {
			return domain.Invalid("reason", "required: say why the entity is %s (it is audited and shown beside the verdict)", c.Verdict)
		}
	default:
		return domain.Invalid("verdict", "want malicious, suspicious, noThreatsFound, or empty to go back to the provider's verdict; got %q", c.Verdict)
	}
	return nil
}

// EvidenceLink is one edge of an incident's investigation graph: Entity
// was found from From by a playbook step.
type EvidenceLink struct {
	IncidentID int64            `json:"incidentId" db:"incident_id"`
	Entity     domain.EntityKey `json:"entity" db:"entity_key"`
	From       domain.EntityKey `json:"from" db:"from_key"`
	Step       string           `json:"step" db:"step"` // playbook/step
	Reason     string           `json:"reason" db:"reason"`
	// MergedIncident is the open incident that held Entity and was merged
	// into this one, when there was one.
	MergedIncident *int64    `json:"mergedIncident,omitempty" db:"merged_incident"`
	At             time.Time `json:"at" db:"found_at"`
}
