package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// IncidentTimes are an incident's response milestones as the incident row
// keeps them (ManageIncident, UpdateAction and RecordAction stamp them).
type IncidentTimes struct {
	ID             int64      `db:"id"`
	CreatedAt      time.Time  `db:"created_at"`
	AcknowledgedAt *time.Time `db:"acknowledged_at"`
	ContainedAt    *time.Time `db:"contained_at"`
	ResolvedAt     *time.Time `db:"resolved_at"`
}

// MaxMetricRows bounds the rows one metrics query reads into Go; past it
// the figures cover the most recent MaxMetricRows.
const MaxMetricRows = 100000

// ResponseTimes returns the incidents acknowledged, contained or resolved
// at or after since, with their milestones: what MTTA, mean time to
// contain and MTTR are computed from. A reopened incident has no
// resolution until it is resolved again.
func (s *Store) ResponseTimes(ctx context.Context, since time.Time) ([]IncidentTimes, error) {
	out := []IncidentTimes{}
	t := utc(since)
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(fmt.Sprintf(`SELECT id, created_at, acknowledged_at, contained_at, resolved_at
		FROM incidents WHERE (acknowledged_at >= ? OR contained_at >= ? OR resolved_at >= ?) AND exercise_id IS NULL
		ORDER BY id DESC LIMIT %d`, MaxMetricRows)), t, t, t)
	if err != nil {
		return nil, fmt.Errorf("read response times: %w", err)
	}
	return out, nil
}

// ActionRun counts executed remediation actions and those among them that
// ran without a human decision (approved by policy or by AIR itself).
type ActionRun struct {
	Executed  int64 `db:"executed"`
	Automated int64 `db:"automated"`
}

// ExecutedActions counts the remediation actions started at or after
// since (zero: ever) — succeeded, failed, undone or still running — and
// those among them no person decided: the automation rate. Scope
// expansions, which touch nothing outside, are left out.
func (s *Store) ExecutedActions(ctx context.Context, since time.Time) (ActionRun, error) {
	var out ActionRun
	err := s.db.GetContext(ctx, &out, s.db.Rebind(`SELECT COUNT(*) AS executed,
		COALESCE(SUM(CASE WHEN `+automatedSQL+` THEN 1 ELSE 0 END), 0) AS automated
		FROM actions a WHERE started_at IS NOT NULL AND started_at >= ? AND type <> ? AND `+notExercise("a.incident_id")), utc(since), expandScope)
	if err != nil {
		return out, fmt.Errorf("count executed actions: %w", err)
	}
	return out, nil
}

// automatedSQL is true for an action aliased a that no person decided:
// policy (or AIR itself) approved it. The automation rate counts these,
// here and in the reports (ExecutedIn).
const automatedSQL = `(a.decided_by = '' OR a.decided_by LIKE 'system:%')`

// expandScope is workflows.ExpandScope (the store does not import
// workflows).
const expandScope = "investigation.expand_scope"

// pendingWaited selects the actions that waited for a decision: decided by
// a person or expired, not approved by policy at creation, and not undo
// actions (approved by whoever asked, at once).
const pendingWaited = `decided_at IS NOT NULL AND decided_by <> '' AND decided_by <> ? AND undo_of = ''`

// pendingSeconds is, per dialect, the SQL for how long an action waited.
func (s *Store) pendingSeconds() string {
	if s.dialect == Postgres {
		return `EXTRACT(EPOCH FROM (decided_at - created_at))`
	}
	return `((julianday(decided_at) - julianday(created_at)) * 86400.0)`
}

// PendingSeconds returns how long each action decided at or after since
// waited for its decision (decided − created), in seconds, newest first:
// the actions a person decided or that expired (see pendingWaited).
// expired counts those that expired.
func (s *Store) PendingSeconds(ctx context.Context, since time.Time) (secs []float64, expired int64, err error) {
	var rows []struct {
		Secs    float64 `db:"secs"`
		Expired bool    `db:"expired"`
	}
	q := fmt.Sprintf(`SELECT %s AS secs, status = ? AS expired FROM actions WHERE %s AND decided_at >= ? AND %s
		ORDER BY decided_at DESC LIMIT %d`, s.pendingSeconds(), pendingWaited, notExercise("actions.incident_id"), MaxMetricRows)
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), domain.ActionExpired, domain.PolicyActor, utc(since)); err != nil {
		return nil, 0, fmt.Errorf("read pending times: %w", err)
	}
	secs = make([]float64, len(rows))
	for i, r := range rows {
		secs[i] = max(0, r.Secs)
		if r.Expired {
			expired++
		}
	}
	return secs, expired, nil
}

// Histogram is a cumulative histogram as Prometheus keeps one: Counts[i]
// observations were at most Bounds[i]; Count and Sum cover all.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// PendingHistogram aggregates, in the database, how long every action
// that ever waited for a decision waited, into the given upper bounds
// (seconds, ascending).
func (s *Store) PendingHistogram(ctx context.Context, bounds []float64) (*Histogram, error) {
	expr := s.pendingSeconds()
	var cols strings.Builder
	cols.WriteString(`COUNT(*), COALESCE(SUM(CASE WHEN secs > 0 THEN secs ELSE 0 END), 0)`)
	for _, b := range bounds {
		fmt.Fprintf(&cols, `, COALESCE(SUM(CASE WHEN secs <= %g THEN 1 ELSE 0 END), 0)`, b)
	}
	q := fmt.Sprintf(`SELECT %s FROM (SELECT %s AS secs FROM actions WHERE %s AND %s) t`, cols.String(), expr, pendingWaited,
		notExercise("actions.incident_id"))
	row := s.db.QueryRowxContext(ctx, s.db.Rebind(q), domain.PolicyActor)
	h := &Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds))}
	dest := []any{&h.Count, &h.Sum}
	for i := range h.Counts {
		dest = append(dest, &h.Counts[i])
	}
	if err := row.Scan(dest...); err != nil {
		return nil, fmt.Errorf("aggregate pending times: %w", err)
	}
	return h, nil
}

// StatusCounts counts the rows of incidents, actions and alerts by status.
type StatusCounts struct {
	Incidents map[string]int64 `json:"incidents"`
	Actions   map[string]int64 `json:"actions"`
	Alerts    map[string]int64 `json:"alerts"`
}

// CountByStatus counts incidents, actions and alerts by status, those of
// exercises left out.
func (s *Store) CountByStatus(ctx context.Context) (*StatusCounts, error) {
	out := &StatusCounts{}
	for _, t := range []struct {
		table, real string
		into        *map[string]int64
	}{{"incidents", "exercise_id IS NULL", &out.Incidents}, {"actions", notExercise("actions.incident_id"), &out.Actions},
		{"alerts", notExercise("alerts.incident_id"), &out.Alerts}} {
		var rows []struct {
			Status string `db:"status"`
			N      int64  `db:"n"`
		}
		if err := s.db.SelectContext(ctx, &rows, `SELECT status, COUNT(*) AS n FROM `+t.table+` WHERE `+t.real+` GROUP BY status`); err != nil {
			return nil, fmt.Errorf("count %s by status: %w", t.table, err)
		}
		m := map[string]int64{}
		for _, r := range rows {
			m[r.Status] = r.N
		}
		*t.into = m
	}
	return out, nil
}
