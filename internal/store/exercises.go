package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/exercise"
	"github.com/airsoc/air/internal/records"
)

// Breach exercises (migration 0540): an exercise's incidents carry its id.
// The ingest batch correlates each exercise apart (batch.exercise), the
// queue, metrics and reports leave exercise incidents out (notExercise),
// and the remediation of an exercise incident goes to the lab tenant
// (IncidentExercise, read by the ExecuteAction activity).

// notExercise is the condition keeping the incident whose id is the SQL
// expression idExpr out of everything real: queue, metrics, reports.
func notExercise(idExpr string) string {
	return `NOT EXISTS (SELECT 1 FROM incidents xi WHERE xi.id = ` + idExpr + ` AND xi.exercise_id IS NOT NULL)`
}

// exerciseOf returns the exercise an incident belongs to (0: none, or no
// such incident).
func exerciseOf(ctx context.Context, q sqlx.ExtContext, incidentID int64) (int64, error) {
	var ex *int64
	err := sqlx.GetContext(ctx, q, &ex, q.Rebind(`SELECT exercise_id FROM incidents WHERE id = ?`), incidentID)
	if err != nil && !isNoRows(err) {
		return 0, fmt.Errorf("read exercise of incident %d: %w", incidentID, err)
	}
	if ex == nil {
		return 0, nil
	}
	return *ex, nil
}

// IncidentExercise returns the exercise an incident belongs to, 0 for a
// real incident. An incident never changes exercise (merges and moves stay
// inside one), so the answer may be read at any attempt of an activity.
func (s *Store) IncidentExercise(ctx context.Context, incidentID int64) (int64, error) {
	return exerciseOf(ctx, s.db, incidentID)
}

// CreateExercise records a new exercise, in the audit log as actor's.
func (s *Store) CreateExercise(ctx context.Context, name, source string, speed float64, actor string) (*domain.Exercise, error) {
	if name == "" {
		return nil, domain.Invalid("name", "required")
	}
	if speed <= 0 {
		return nil, domain.Invalid("speed", "want more than 0 (1 is real time), got %g", speed)
	}
	now := utc(time.Now())
	var id int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		q := `INSERT INTO exercises (name, source, speed, created_by, created_at) VALUES (?, ?, ?, ?, ?)`
		args := []any{name, source, speed, actor, now}
		if s.dialect == Postgres {
			if err := tx.GetContext(ctx, &id, tx.Rebind(q+" RETURNING id"), args...); err != nil {
				return fmt.Errorf("create exercise: %w", err)
			}
		} else {
			r, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("create exercise: %w", err)
			}
			if id, err = r.LastInsertId(); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, records.AuditEntry{At: now, Actor: actor, Verb: "exercise.created",
			Object: fmt.Sprintf("exercise:%d", id), After: fmt.Sprintf("%s (speed %g)", name, speed)})
	})
	if err != nil {
		return nil, err
	}
	return s.GetExercise(ctx, id)
}

const exerciseSelect = `SELECT e.id, e.name, e.source, e.speed, e.created_by, e.created_at, e.finished_at,
	(SELECT COUNT(*) FROM exercise_alerts x WHERE x.exercise_id = e.id) AS alerts,
	(SELECT COUNT(*) FROM incidents i WHERE i.exercise_id = e.id AND i.status <> 'redirected') AS incidents
	FROM exercises e`

// GetExercise returns one exercise with its counts of alerts and incidents.
func (s *Store) GetExercise(ctx context.Context, id int64) (*domain.Exercise, error) {
	var e domain.Exercise
	err := s.db.GetContext(ctx, &e, s.db.Rebind(exerciseSelect+` WHERE e.id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "exercise %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read exercise %d: %w", id, err)
	}
	return &e, nil
}

// ListExercises returns the exercises, newest first.
func (s *Store) ListExercises(ctx context.Context) ([]domain.Exercise, error) {
	out := []domain.Exercise{}
	if err := s.db.SelectContext(ctx, &out, exerciseSelect+` ORDER BY e.id DESC`); err != nil {
		return nil, fmt.Errorf("list exercises: %w", err)
	}
	return out, nil
}

// FinishExercise marks an exercise's replay done (the first time only).
func (s *Store) FinishExercise(ctx context.Context, id int64) (*domain.Exercise, error) {
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE exercises SET finished_at = ? WHERE id = ? AND finished_at IS NULL`),
		utc(time.Now()), id); err != nil {
		return nil, fmt.Errorf("finish exercise %d: %w", id, err)
	}
	return s.GetExercise(ctx, id)
}

// ExerciseAlert is one replayed alert's ground truth as recorded.
type ExerciseAlert struct {
	AlertID string
	Label   exercise.Label
	SentAt  time.Time
}

// RecordExerciseAlerts keeps the ground truth of alerts replayed into an
// exercise. An alert sent again keeps its first arrival time.
func (s *Store) RecordExerciseAlerts(ctx context.Context, id int64, alerts []ExerciseAlert) error {
	if len(alerts) == 0 {
		return nil
	}
	rows := make([][]any, len(alerts))
	for i, a := range alerts {
		rows[i] = []any{id, a.AlertID, a.Label.Label, a.Label.Phase, utc(a.SentAt)}
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		return insertRows(ctx, tx, "exercise_alerts", "exercise_id, alert_id, label, phase, sent_at",
			`ON CONFLICT (exercise_id, alert_id) DO NOTHING`, rows)
	})
}

// ExerciseFacts are what an exercise's score is computed from.
type ExerciseFacts struct {
	Alerts    []exercise.Replayed
	Incidents map[int64]exercise.IncidentTimes
	Actions   []exercise.Action
}

// ExerciseFacts reads an exercise's replayed alerts with the incident each
// is in now (merges move alerts), its incidents' milestones, and its
// remediation actions (not scope expansions nor undo actions).
func (s *Store) ExerciseFacts(ctx context.Context, id int64) (*ExerciseFacts, error) {
	out := &ExerciseFacts{Incidents: map[int64]exercise.IncidentTimes{}}
	var alerts []struct {
		ID       string    `db:"alert_id"`
		Label    string    `db:"label"`
		Phase    string    `db:"phase"`
		SentAt   time.Time `db:"sent_at"`
		Incident *int64    `db:"incident_id"`
	}
	if err := s.db.SelectContext(ctx, &alerts, s.db.Rebind(`SELECT x.alert_id, x.label, x.phase, x.sent_at, a.incident_id
		FROM exercise_alerts x LEFT JOIN alerts a ON a.id = x.alert_id WHERE x.exercise_id = ? ORDER BY x.sent_at, x.alert_id`), id); err != nil {
		return nil, fmt.Errorf("read exercise %d alerts: %w", id, err)
	}
	for _, a := range alerts {
		r := exercise.Replayed{ID: a.ID, Label: exercise.Label{Label: a.Label, Phase: a.Phase}, SentAt: a.SentAt.UTC()}
		if a.Incident != nil {
			r.Incident = *a.Incident
		}
		out.Alerts = append(out.Alerts, r)
	}
	var incs []struct {
		ID           int64      `db:"id"`
		Acknowledged *time.Time `db:"acknowledged_at"`
		Contained    *time.Time `db:"contained_at"`
	}
	if err := s.db.SelectContext(ctx, &incs, s.db.Rebind(`SELECT id, acknowledged_at, contained_at FROM incidents WHERE exercise_id = ?`), id); err != nil {
		return nil, fmt.Errorf("read exercise %d incidents: %w", id, err)
	}
	for _, i := range incs {
		out.Incidents[i.ID] = exercise.IncidentTimes{Acknowledged: i.Acknowledged, Contained: i.Contained}
	}
	var acts []struct {
		Type      string              `db:"type"`
		Status    domain.ActionStatus `db:"status"`
		DecidedBy string              `db:"decided_by"`
	}
	if err := s.db.SelectContext(ctx, &acts, s.db.Rebind(`SELECT a.type, a.status, a.decided_by FROM actions a
		JOIN incidents i ON i.id = a.incident_id WHERE i.exercise_id = ? AND a.type <> ? AND a.undo_of = ''
		ORDER BY a.created_at, a.id`), id, expandScope); err != nil {
		return nil, fmt.Errorf("read exercise %d actions: %w", id, err)
	}
	for _, a := range acts {
		out.Actions = append(out.Actions, exercise.Action{Type: a.Type, Status: a.Status, DecidedBy: a.DecidedBy})
	}
	return out, nil
}

// ExerciseIncidents returns the ids of an exercise's incidents (not the
// merged-away ones), lowest first.
func (s *Store) ExerciseIncidents(ctx context.Context, id int64) ([]int64, error) {
	out := []int64{}
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT id FROM incidents WHERE exercise_id = ? AND status <> 'redirected' ORDER BY id`), id); err != nil {
		return nil, fmt.Errorf("read exercise %d incidents: %w", id, err)
	}
	return out, nil
}
