package domain

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Action is one remediation in the action center. The incident workflow owns
// its lifecycle; the store keeps a queryable copy written by activities.
type Action struct {
	ID              string       `json:"id" db:"id"`
	IncidentID      int64        `json:"incidentId" db:"incident_id"`
	InvestigationID string       `json:"investigationId" db:"investigation_id"` // workflow id
	Playbook        string       `json:"playbook" db:"playbook"`
	PlaybookVersion int          `json:"playbookVersion" db:"playbook_version"`
	Step            string       `json:"step" db:"step"`
	Type            string       `json:"type" db:"type"`
	TargetKey       EntityKey    `json:"targetKey" db:"target_key"`
	TargetName      string       `json:"targetName" db:"target_name"`
	Params          RawJSON      `json:"params" db:"params"`
	ParamsHash      string       `json:"paramsHash" db:"params_hash"`
	Source          ActionSource `json:"source" db:"source"`
	RequestedBy     string       `json:"requestedBy" db:"requested_by"`
	Status          ActionStatus `json:"status" db:"status"`
	Reason          string       `json:"reason" db:"reason"` // why it runs on its own or waits
	DecidedBy       string       `json:"decidedBy,omitempty" db:"decided_by"`
	DecisionComment string       `json:"decisionComment,omitempty" db:"decision_comment"`
	CreatedAt       time.Time    `json:"createdAt" db:"created_at"`
	DecidedAt       *time.Time   `json:"decidedAt,omitempty" db:"decided_at"`
	StartedAt       *time.Time   `json:"startedAt,omitempty" db:"started_at"`
	FinishedAt      *time.Time   `json:"finishedAt,omitempty" db:"finished_at"`
	Result          string       `json:"result,omitempty" db:"result"`
	Error           string       `json:"error,omitempty" db:"error"`
	UndoOf          string       `json:"undoOf,omitempty" db:"undo_of"`
	IdempotencyKey  string       `json:"idempotencyKey" db:"idempotency_key"`
	// Connectors are the connectors the playbook step asked for, in order
	// of preference (a step's connectors:); empty means the tenant's
	// routes decide.
	Connectors NameList `json:"connectors,omitempty" db:"connectors"`
	// Connector is the connector that carried the action out, and
	// ConnectorNote why the ones before it in Connectors were passed over
	// ("mde: not found: …"); both empty until it ran.
	Connector     string `json:"connector,omitempty" db:"connector"`
	ConnectorNote string `json:"connectorNote,omitempty" db:"connector_note"`
}

// IncidentTarget is the target key of an action on the incident itself (a
// case action: severity, classification, assignment, resolution). It is
// no entity key, and it names the incident so that two incidents' case
// actions are never taken for the same action.
func IncidentTarget(incidentID int64) EntityKey {
	return EntityKey(fmt.Sprintf("incident:%d", incidentID))
}

// HashParams is the hash an approval binds to: the action's type, target and
// canonical parameters. Any change to them voids an approval.
func HashParams(actionType string, target EntityKey, params RawJSON) string {
	h := sha256.New()
	h.Write([]byte(actionType))
	h.Write([]byte{0})
	h.Write([]byte(target))
	h.Write([]byte{0})
	h.Write(canonicalJSON(params))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// canonicalJSON re-encodes v with sorted object keys (encoding/json sorts map
// keys), so that equal parameters hash equally however they were spelled.
func canonicalJSON(raw RawJSON) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// PolicyActor is who decided an action that policy let run on its own.
const PolicyActor = "system:policy"

// Decision is an analyst's verdict on a pending action.
type Decision string

// Decisions.
const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
)

// RawJSON is a JSON document kept as bytes, which the store reads and
// writes as text.
type RawJSON []byte

// MarshalJSON returns the document itself ("null" when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the document.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// Scan reads the document from a text or blob column.
func (r *RawJSON) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*r = RawJSON(v)
	case []byte:
		*r = append(RawJSON(nil), v...)
	case nil:
		*r = nil
	default:
		return fmt.Errorf("scan %T into RawJSON", src)
	}
	return nil
}

// Value writes the document as text.
func (r RawJSON) Value() (driver.Value, error) {
	if len(r) == 0 {
		return "{}", nil
	}
	return string(r), nil
}

// Role is what a person may do (SPEC §5).
type Role string

// Roles, least to most privileged.
const (
	RoleViewer    Role = "viewer"    // read
	RoleAnalyst   Role = "analyst"   // manage incidents
	RoleResponder Role = "responder" // approve, reject, undo, manual actions
	RoleAdmin     Role = "admin"     // automation levels, guardrails, playbooks, tokens
)

// Roles lists every role, least privileged first.
var Roles = []Role{RoleViewer, RoleAnalyst, RoleResponder, RoleAdmin}

// AtLeast reports whether r has at least the privileges of min.
func (r Role) AtLeast(min Role) bool {
	ri, mi := -1, -1
	for i, x := range Roles {
		if x == r {
			ri = i
		}
		if x == min {
			mi = i
		}
	}
	return ri >= 0 && mi >= 0 && ri >= mi
}

// NameList is a short list of names kept as a JSON array in a text column.
// Unlike StringList, an empty list reads back as nil, so that an action
// without one compares equal before and after the store.
type NameList []string

// Scan reads the JSON array from a text column.
func (l *NameList) Scan(src any) error {
	var list StringList
	if err := list.Scan(src); err != nil {
		return err
	}
	*l = nil
	if len(list) > 0 {
		*l = NameList(list)
	}
	return nil
}

// Value writes the list as a JSON array.
func (l NameList) Value() (driver.Value, error) { return StringList(l).Value() }
