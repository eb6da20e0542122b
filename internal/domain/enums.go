package domain

import (
	"slices"
	"strings"
)

// Severity of an alert or incident (Graph alertSeverity). Ordered.
type Severity string

// Severities, lowest first.
const (
	SeverityUnknown       Severity = "unknown"
	SeverityInformational Severity = "informational"
	SeverityLow           Severity = "low"
	SeverityMedium        Severity = "medium"
	SeverityHigh          Severity = "high"
)

// Severities lists every severity, lowest first.
var Severities = []Severity{SeverityUnknown, SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh}

// Rank orders severities; an unknown value ranks below "unknown".
func (s Severity) Rank() int { return slices.Index(Severities, s) }

// AlertStatus is Graph alertStatus.
type AlertStatus string

// Alert statuses.
const (
	AlertNew        AlertStatus = "new"
	AlertInProgress AlertStatus = "inProgress"
	AlertResolved   AlertStatus = "resolved"
)

// AlertStatuses lists every alert status.
var AlertStatuses = []AlertStatus{AlertNew, AlertInProgress, AlertResolved}

// IncidentStatus is Graph incidentStatus.
type IncidentStatus string

// Incident statuses.
const (
	IncidentActive     IncidentStatus = "active"
	IncidentInProgress IncidentStatus = "inProgress"
	IncidentResolved   IncidentStatus = "resolved"
	IncidentRedirected IncidentStatus = "redirected"
)

// IncidentStatuses lists every incident status.
var IncidentStatuses = []IncidentStatus{IncidentActive, IncidentInProgress, IncidentResolved, IncidentRedirected}

// Open reports whether alerts may still join an incident in this status.
func (s IncidentStatus) Open() bool { return s == IncidentActive || s == IncidentInProgress }

// Verdict is Graph evidenceVerdict.
type Verdict string

// Verdicts.
const (
	VerdictUnknown        Verdict = "unknown"
	VerdictSuspicious     Verdict = "suspicious"
	VerdictMalicious      Verdict = "malicious"
	VerdictNoThreatsFound Verdict = "noThreatsFound"
)

// Verdicts lists every verdict.
var Verdicts = []Verdict{VerdictUnknown, VerdictSuspicious, VerdictMalicious, VerdictNoThreatsFound}

// RemediationStatus is Graph evidenceRemediationStatus.
type RemediationStatus string

// RemediationStatuses lists every remediation status.
var RemediationStatuses = []RemediationStatus{"none", "remediated", "prevented", "blocked", "notFound",
	"active", "pendingApproval", "declined", "unremediated", "running", "partiallyRemediated"}

// InvestigationState is Graph investigationState.
type InvestigationState string

// Investigation states.
const (
	InvestigationQueued                 InvestigationState = "queued"
	InvestigationRunning                InvestigationState = "running"
	InvestigationPendingApproval        InvestigationState = "pendingApproval"
	InvestigationPendingResource        InvestigationState = "pendingResource"
	InvestigationSuccessfullyRemediated InvestigationState = "successfullyRemediated"
	InvestigationPartiallyRemediated    InvestigationState = "partiallyRemediated"
	InvestigationBenign                 InvestigationState = "benign"
	InvestigationFailed                 InvestigationState = "failed"
	InvestigationPartiallyInvestigated  InvestigationState = "partiallyInvestigated"
	InvestigationTerminatedByUser       InvestigationState = "terminatedByUser"
	InvestigationTerminatedBySystem     InvestigationState = "terminatedBySystem"
	InvestigationUnsupportedAlertType   InvestigationState = "unsupportedAlertType"
)

// InvestigationStates lists every investigation state.
var InvestigationStates = []InvestigationState{InvestigationQueued, InvestigationRunning, InvestigationPendingApproval,
	InvestigationPendingResource, InvestigationSuccessfullyRemediated, InvestigationPartiallyRemediated,
	InvestigationBenign, InvestigationFailed, InvestigationPartiallyInvestigated, InvestigationTerminatedByUser,
	InvestigationTerminatedBySystem, InvestigationUnsupportedAlertType}

// ActionStatus is the lifecycle state of an action in the action center.
type ActionStatus string

// Action statuses (SPEC §1, Action).
const (
	ActionPending   ActionStatus = "pending"
	ActionApproved  ActionStatus = "approved"
	ActionRejected  ActionStatus = "rejected"
	ActionExpired   ActionStatus = "expired"
	ActionRunning   ActionStatus = "running"
	ActionSucceeded ActionStatus = "succeeded"
	ActionFailed    ActionStatus = "failed"
	ActionUndone    ActionStatus = "undone"
)

// ActionStatuses lists every action status.
var ActionStatuses = []ActionStatus{ActionPending, ActionApproved, ActionRejected, ActionExpired,
	ActionRunning, ActionSucceeded, ActionFailed, ActionUndone}

// Decided reports whether the action left pending one way or the other.
func (s ActionStatus) Decided() bool { return s != ActionPending }

// Final reports whether nothing more will happen to the action on its own.
func (s ActionStatus) Final() bool {
	switch s {
	case ActionRejected, ActionExpired, ActionSucceeded, ActionFailed, ActionUndone:
		return true
	}
	return false
}

// ActionSource says who asked for an action.
type ActionSource string

// Action sources.
const (
	SourceAutomated ActionSource = "automated"
	SourceManual    ActionSource = "manual"
)

// ParseEnum checks that v is one of allowed (exact, case-sensitive as Graph
// is) and names the field and the allowed values when it is not. The empty
// string is accepted when allowEmpty is set.
func ParseEnum[T ~string](field, v string, allowed []T, allowEmpty bool) (T, error) {
	if v == "" && allowEmpty {
		return "", nil
	}
	for _, a := range allowed {
		if string(a) == v {
			return a, nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", Invalid(field, "unknown value %q, want one of %s", v, strings.Join(names, ", "))
}
