package domain

import (
	"encoding/json"
	"time"
)

// Alert is a Graph security alert (alerts_v2) as AIR keeps it. Raw holds the
// document as received so that nothing a provider sent is lost.
type Alert struct {
	ID                    string          `json:"id"`
	ProviderAlertID       string          `json:"providerAlertId,omitempty"`
	IncidentID            int64           `json:"incidentId,omitempty"` // AIR's incident, not the provider's
	Status                AlertStatus     `json:"status"`
	Severity              Severity        `json:"severity"`
	Classification        string          `json:"classification,omitempty"`
	Determination         string          `json:"determination,omitempty"`
	ServiceSource         string          `json:"serviceSource,omitempty"`
	DetectionSource       string          `json:"detectionSource,omitempty"`
	ProductName           string          `json:"productName,omitempty"`
	DetectorID            string          `json:"detectorId,omitempty"`
	Title                 string          `json:"title"`
	Description           string          `json:"description,omitempty"`
	RecommendedActions    string          `json:"recommendedActions,omitempty"`
	Category              string          `json:"category,omitempty"`
	MitreTechniques       []string        `json:"mitreTechniques,omitempty"`
	AssignedTo            string          `json:"assignedTo,omitempty"`
	CreatedDateTime       time.Time       `json:"createdDateTime"`
	LastUpdateDateTime    time.Time       `json:"lastUpdateDateTime"`
	FirstActivityDateTime *time.Time      `json:"firstActivityDateTime,omitempty"`
	LastActivityDateTime  *time.Time      `json:"lastActivityDateTime,omitempty"`
	ResolvedDateTime      *time.Time      `json:"resolvedDateTime,omitempty"`
	Evidence              []Evidence      `json:"evidence,omitempty"`
	Raw                   json.RawMessage `json:"-"`
	// Exercise is the breach exercise the alert was replayed into (0: a
	// real alert). Only the exercise API sets it, never a provider's
	// document; the store correlates each exercise's alerts apart.
	Exercise int64 `json:"-"`
}

// ActivityTime is when the alert's activity happened, for correlation windows:
// the last activity when known, else the creation time.
func (a *Alert) ActivityTime() time.Time {
	if a.LastActivityDateTime != nil && !a.LastActivityDateTime.IsZero() {
		return *a.LastActivityDateTime
	}
	return a.CreatedDateTime
}

// Evidence is one item of an alert's evidence: its Graph type, the base fields
// every type has, and the entity it denotes (nil for evidence without a key,
// e.g. an unknown type, which is still kept in the alert's raw document).
type Evidence struct {
	Type              string            `json:"type"` // Graph type without the namespace, e.g. "deviceEvidence"
	Verdict           Verdict           `json:"verdict,omitempty"`
	RemediationStatus RemediationStatus `json:"remediationStatus,omitempty"`
	Roles             []string          `json:"roles,omitempty"`
	Entity            *Entity           `json:"entity,omitempty"`
}

// EntityKind names what an entity is; it prefixes the entity key.
type EntityKind string

// Entity kinds AIR correlates and acts on.
const (
	KindDevice  EntityKind = "device"
	KindUser    EntityKind = "user"
	KindMailbox EntityKind = "mailbox"
	KindFile    EntityKind = "file"
	KindProcess EntityKind = "process"
	KindIP      EntityKind = "ip"
	KindURL     EntityKind = "url"
	KindMessage EntityKind = "message"
	// KindOAuthApp is an OAuth application (an Entra app registration and
	// its service principal in the tenant), keyed by its application
	// (client) id: consent grants are revoked and the enterprise app is
	// disabled on it.
	KindOAuthApp EntityKind = "oauthApp"
)

// Entity is a thing evidence points at, identified by a normalised key such
// as "device:73e7e2de…" or "user:alice@contoso.com". Two alerts that name the
// same entity, however spelled, yield the same key.
type Entity struct {
	Key     EntityKey  `json:"key"`
	Kind    EntityKind `json:"kind"`
	Name    string     `json:"name"`              // display name
	Verdict Verdict    `json:"verdict,omitempty"` // AIR's verdict when one was decided, else the provider's
	// ProviderVerdict is the strongest verdict the alerts' evidence gave,
	// set beside Verdict when AIR decided another one (Decision).
	ProviderVerdict Verdict `json:"providerVerdict,omitempty"`
	// Decision says who decided Verdict in AIR, why and when; nil when the
	// verdict is the provider's.
	Decision *VerdictDecision `json:"verdictDecision,omitempty"`
	// Attrs carries the kind's notable fields: deviceGroup, osPlatform,
	// hostName, upn, sha256, … Keys are Graph field names.
	Attrs map[string]string `json:"attrs,omitempty"`
	// Tags are what an administrator said of the entity ("critical").
	Tags []string `json:"tags,omitempty"`
}

// EntityKey is "<kind>:<normalised identifier>".
type EntityKey string

// verdictRank orders verdicts by how much they call for action.
func verdictRank(v Verdict) int {
	switch v {
	case VerdictMalicious:
		return 3
	case VerdictSuspicious:
		return 2
	case VerdictNoThreatsFound:
		return 1
	}
	return 0
}

// StrongerVerdict returns whichever of a and b calls for more action.
func StrongerVerdict(a, b Verdict) Verdict {
	if verdictRank(b) > verdictRank(a) {
		return b
	}
	return a
}

// VerdictDecision is the provenance of a verdict AIR decided on an entity
// (SPEC "Facts and verdicts"): an analyst's, or a playbook rule's.
type VerdictDecision struct {
	// Source is "analyst" (or "rule", for a playbook rule).
	Source string    `json:"source"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}
