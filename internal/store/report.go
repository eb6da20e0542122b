package store

import (
	"context"
	"fmt"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// ReportWindow bounds what a report reads: times in [Since, Until), and,
// for a reader scoped to device groups, only their incidents and actions
// (the rule of IncidentQuery.Scope and ActionQuery.Scope).
type ReportWindow struct {
	Since, Until time.Time
	// Scope is the reader's device groups; empty means every group.
	Scope []string
}

// incidentScope is the condition and arguments that keep the incidents
// whose id is the SQL expression idExpr to the window's scope, and leave
// exercises' incidents out: reports are about real incidents.
func (s *Store) incidentScope(idExpr string, scope []string) (string, []any) {
	if len(scope) == 0 {
		return notExercise(idExpr), nil
	}
	return notExercise(idExpr) + ` AND ` + s.incidentInGroupsSQL(idExpr, len(scope)), lowerAll(scope)
}

// actionScope is the condition and arguments that keep the actions aliased
// a to the scope, and leave exercises' actions out.
func (s *Store) actionScope(scope []string) (string, []any) {
	if len(scope) == 0 {
		return notExercise("a.incident_id"), nil
	}
	g := lowerAll(scope)
	return notExercise("a.incident_id") + ` AND ` + s.actionInGroupsSQL(len(scope)), append(append([]any{}, g...), g...)
}

// deviceGroupOf is the SQL for the device group of the entity aliased e
// as the alert said it (case kept), "" when it has none.
func (s *Store) deviceGroupOf(e string) string {
	if s.dialect == Postgres {
		return `COALESCE(` + e + `.attrs::jsonb ->> 'deviceGroup', '')`
	}
	return `COALESCE(json_extract(` + e + `.attrs, '$.deviceGroup'), '')`
}

// ReportIncident is an incident as the reports list it.
type ReportIncident struct {
	ID             int64                 `json:"id" db:"id"`
	DisplayName    string                `json:"displayName" db:"display_name"`
	Severity       domain.Severity       `json:"severity" db:"severity"`
	Status         domain.IncidentStatus `json:"status" db:"status"`
	Classification string                `json:"classification" db:"classification"`
	AssignedTo     string                `json:"assignedTo,omitempty" db:"assigned_to"`
	AlertCount     int                   `json:"alertCount" db:"alert_count"`
	CreatedAt      time.Time             `json:"createdDateTime" db:"created_at"`
	AcknowledgedAt *time.Time            `json:"acknowledgedDateTime,omitempty" db:"acknowledged_at"`
	ResolvedAt     *time.Time            `json:"resolvedDateTime,omitempty" db:"resolved_at"`
}

const reportIncidentColumns = `i.id, i.display_name, i.severity, i.status, i.classification, i.assigned_to,
	i.alert_count, i.created_at, i.acknowledged_at, i.resolved_at`

// OpenAt returns the incidents open at a moment — created by then and
// active or in progress, or resolved only after it — and those
// acknowledged in [ackSince, at]: what the daily report's queue and SLA
// breaches are computed from. An incident's status before its last change
// is not kept, so one resolved before the moment and reopened since counts
// as open. Merged-away (redirected) incidents are left out.
func (s *Store) OpenAt(ctx context.Context, at, ackSince time.Time, scope []string) ([]ReportIncident, error) {
	cond, args := s.incidentScope("i.id", scope)
	q := fmt.Sprintf(`SELECT %s FROM incidents i WHERE i.created_at <= ? AND i.status <> ? AND (
			i.status IN (?, ?) OR (i.status = ? AND i.resolved_at > ?)
			OR (i.acknowledged_at >= ? AND i.acknowledged_at <= ?))
		AND %s ORDER BY i.created_at, i.id LIMIT %d`, reportIncidentColumns, cond, MaxMetricRows)
	a := utc(at)
	all := append([]any{a, domain.IncidentRedirected, domain.IncidentActive, domain.IncidentInProgress,
		domain.IncidentResolved, a, utc(ackSince), a}, args...)
	out := []ReportIncident{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("read open incidents: %w", err)
	}
	return out, nil
}

// PendingAt returns the actions waiting for a decision at a moment —
// created by then and pending still, or decided only after it — oldest
// first, with their incident's name.
func (s *Store) PendingAt(ctx context.Context, at time.Time, scope []string) ([]records.ActionRow, error) {
	cond, args := s.actionScope(scope)
	q := fmt.Sprintf(`SELECT a.*, i.display_name AS incident_name FROM actions a JOIN incidents i ON i.id = a.incident_id
		WHERE a.created_at <= ? AND (a.status = ? OR a.decided_at > ?) AND %s
		ORDER BY a.created_at, a.id LIMIT %d`, cond, MaxMetricRows)
	t := utc(at)
	out := []records.ActionRow{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), append([]any{t, domain.ActionPending, t}, args...)...); err != nil {
		return nil, fmt.Errorf("read pending actions: %w", err)
	}
	return out, nil
}

// ResponseTimesIn is ResponseTimes over a window: the incidents with a
// milestone (acknowledged, contained, resolved) in it.
func (s *Store) ResponseTimesIn(ctx context.Context, w ReportWindow) ([]IncidentTimes, error) {
	cond, args := s.incidentScope("i.id", w.Scope)
	q := fmt.Sprintf(`SELECT i.id, i.created_at, i.acknowledged_at, i.contained_at, i.resolved_at FROM incidents i
		WHERE ((i.acknowledged_at >= ? AND i.acknowledged_at < ?) OR (i.contained_at >= ? AND i.contained_at < ?)
			OR (i.resolved_at >= ? AND i.resolved_at < ?)) AND %s
		ORDER BY i.id DESC LIMIT %d`, cond, MaxMetricRows)
	a, b := utc(w.Since), utc(w.Until)
	out := []IncidentTimes{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), append([]any{a, b, a, b, a, b}, args...)...); err != nil {
		return nil, fmt.Errorf("read response times: %w", err)
	}
	return out, nil
}

// ExecutedCount counts the remediation actions of one type, on targets of
// one device group, started in a window, and those among them no person
// decided (the rule of ExecutedActions).
type ExecutedCount struct {
	Type string `json:"type" db:"type"`
	// DeviceGroup is the target device's group; "" for a target that is
	// no device or has no group.
	DeviceGroup string `json:"deviceGroup" db:"device_group"`
	ActionRun
}

// ExecutedIn counts, by action type and target device group, the
// remediation actions started in the window, and the automated ones among
// them, as ExecutedActions counts them.
func (s *Store) ExecutedIn(ctx context.Context, w ReportWindow) ([]ExecutedCount, error) {
	cond, args := s.actionScope(w.Scope)
	group := s.deviceGroupOf("te")
	q := fmt.Sprintf(`SELECT a.type, %s AS device_group, COUNT(*) AS executed,
			COALESCE(SUM(CASE WHEN %s THEN 1 ELSE 0 END), 0) AS automated
		FROM actions a LEFT JOIN entities te ON te.key = a.target_key AND te.kind = 'device'
		WHERE a.started_at IS NOT NULL AND a.started_at >= ? AND a.started_at < ? AND a.type <> ? AND %s
		GROUP BY a.type, %s ORDER BY a.type, device_group`, group, automatedSQL, cond, group)
	out := []ExecutedCount{}
	all := append([]any{utc(w.Since), utc(w.Until), expandScope}, args...)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("count executed actions by type: %w", err)
	}
	return out, nil
}

// DecidedAction is an action a person decided, or that expired, with its
// target's device group.
type DecidedAction struct {
	records.ActionRow
	DeviceGroup string `json:"deviceGroup" db:"device_group"`
}

// DecidedIn returns the actions a person approved or rejected, or that
// expired, in the window, oldest decision first; undo actions (approved
// by whoever asked) and policy's own approvals are left out.
func (s *Store) DecidedIn(ctx context.Context, w ReportWindow) ([]DecidedAction, error) {
	cond, args := s.actionScope(w.Scope)
	q := fmt.Sprintf(`SELECT a.*, i.display_name AS incident_name, %s AS device_group
		FROM actions a JOIN incidents i ON i.id = a.incident_id
		LEFT JOIN entities te ON te.key = a.target_key AND te.kind = 'device'
		WHERE a.decided_at >= ? AND a.decided_at < ? AND a.undo_of = '' AND a.decided_by <> ''
			AND (a.decided_by NOT LIKE 'system:%%' OR a.status = ?) AND %s
		ORDER BY a.decided_at, a.id LIMIT %d`, s.deviceGroupOf("te"), cond, MaxMetricRows)
	out := []DecidedAction{}
	all := append([]any{utc(w.Since), utc(w.Until), domain.ActionExpired}, args...)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("read decided actions: %w", err)
	}
	return out, nil
}

// UndoneAction is an action undone, and the undo that did it.
type UndoneAction struct {
	records.ActionRow
	UndoID     string    `json:"undoId" db:"undo_id"`
	UndoneBy   string    `json:"undoneBy" db:"undone_by"`
	UndoneAt   time.Time `json:"undoneAt" db:"undone_at"`
	UndoReason string    `json:"undoReason,omitempty" db:"undo_reason"`
	UndoStatus string    `json:"undoStatus" db:"undo_status"`
}

// UndoneIn returns the actions whose undo was asked for in the window,
// oldest undo first.
func (s *Store) UndoneIn(ctx context.Context, w ReportWindow) ([]UndoneAction, error) {
	cond, args := s.actionScope(w.Scope)
	q := fmt.Sprintf(`SELECT a.*, i.display_name AS incident_name, u.id AS undo_id, u.requested_by AS undone_by,
			u.created_at AS undone_at, u.reason AS undo_reason, u.status AS undo_status
		FROM actions u JOIN actions a ON a.id = u.undo_of JOIN incidents i ON i.id = a.incident_id
		WHERE u.undo_of <> '' AND u.created_at >= ? AND u.created_at < ? AND %s
		ORDER BY u.created_at, u.id LIMIT %d`, cond, MaxMetricRows)
	out := []UndoneAction{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), append([]any{utc(w.Since), utc(w.Until)}, args...)...); err != nil {
		return nil, fmt.Errorf("read undone actions: %w", err)
	}
	return out, nil
}

// DetectorIncident says that an alert of a detector is in an incident.
type DetectorIncident struct {
	IncidentID     int64  `db:"incident_id"`
	Classification string `db:"classification"`
	// Detector is the alerts' detectorId; "" when the provider gave none.
	Detector string `db:"detector"`
	Title    string `db:"title"`
}

// DetectorsIn returns, for the incidents created in the window (merged-away
// ones left out), which detectors (and alert titles) their alerts came
// from: one row per incident, detector and title.
func (s *Store) DetectorsIn(ctx context.Context, w ReportWindow) ([]DetectorIncident, error) {
	cond, args := s.incidentScope("i.id", w.Scope)
	q := fmt.Sprintf(`SELECT DISTINCT i.id AS incident_id, i.classification, al.detector, al.title
		FROM incidents i JOIN alerts al ON al.incident_id = i.id
		WHERE i.created_at >= ? AND i.created_at < ? AND i.status <> ? AND %s
		ORDER BY i.id, al.detector, al.title LIMIT %d`, cond, MaxMetricRows)
	out := []DetectorIncident{}
	all := append([]any{utc(w.Since), utc(w.Until), domain.IncidentRedirected}, args...)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("read detectors of incidents: %w", err)
	}
	return out, nil
}

// CountCreated counts the incidents created in the window, merged-away
// ones left out.
func (s *Store) CountCreated(ctx context.Context, w ReportWindow) (int, error) {
	cond, args := s.incidentScope("i.id", w.Scope)
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM incidents i
		WHERE i.created_at >= ? AND i.created_at < ? AND i.status <> ? AND `+cond),
		append([]any{utc(w.Since), utc(w.Until), domain.IncidentRedirected}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("count incidents created: %w", err)
	}
	return n, nil
}

// BiggestIn returns the n incidents created in the window with the most
// alerts, then the highest severity, then the oldest.
func (s *Store) BiggestIn(ctx context.Context, w ReportWindow, n int) ([]ReportIncident, error) {
	cond, args := s.incidentScope("i.id", w.Scope)
	q := fmt.Sprintf(`SELECT %s FROM incidents i WHERE i.created_at >= ? AND i.created_at < ? AND i.status <> ? AND %s
		ORDER BY i.alert_count DESC, %s DESC, i.id LIMIT %d`, reportIncidentColumns, cond, severityRankSQL, n)
	out := []ReportIncident{}
	all := append([]any{utc(w.Since), utc(w.Until), domain.IncidentRedirected}, args...)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("read biggest incidents: %w", err)
	}
	return out, nil
}

// AlertKinds counts alerts with one category and one list of techniques.
type AlertKinds struct {
	Category string `db:"category"`
	// Techniques is the alerts' MITRE technique ids as a JSON array.
	Techniques string `db:"techniques"`
	Alerts     int    `db:"alerts"`
}

// AlertKindsIn counts the alerts of the incidents created in the window
// (merged-away ones left out) by category and list of techniques, for the
// tactics and techniques a report shows.
func (s *Store) AlertKindsIn(ctx context.Context, w ReportWindow) ([]AlertKinds, error) {
	cond, args := s.incidentScope("i.id", w.Scope)
	q := fmt.Sprintf(`SELECT al.category, al.techniques, COUNT(*) AS alerts FROM alerts al JOIN incidents i ON i.id = al.incident_id
		WHERE i.created_at >= ? AND i.created_at < ? AND i.status <> ? AND %s
		GROUP BY al.category, al.techniques ORDER BY alerts DESC LIMIT %d`, cond, MaxMetricRows)
	out := []AlertKinds{}
	all := append([]any{utc(w.Since), utc(w.Until), domain.IncidentRedirected}, args...)
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("count alerts by tactic: %w", err)
	}
	return out, nil
}
