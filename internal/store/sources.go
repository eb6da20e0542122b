package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
)

// SourceState returns the stored state of a pull source (JSON, as
// PutSourceState wrote it) and whether there is one.
func (s *Store) SourceState(ctx context.Context, name string) ([]byte, bool, error) {
	var v string
	err := s.db.GetContext(ctx, &v, s.db.Rebind(`SELECT state FROM source_state WHERE name = ?`), name)
	if isNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read source %s: %w", name, err)
	}
	return []byte(v), true, nil
}

// PutSourceState stores a pull source's state.
func (s *Store) PutSourceState(ctx context.Context, name string, state []byte) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO source_state (name, state, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`),
		name, string(state), utc(time.Now()).Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("write source %s: %w", name, err)
	}
	return nil
}

// SourceStates returns every stored source state by name.
func (s *Store) SourceStates(ctx context.Context) (map[string][]byte, error) {
	var rows []struct {
		Name  string `db:"name"`
		State string `db:"state"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT name, state FROM source_state ORDER BY name`); err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	out := make(map[string][]byte, len(rows))
	for _, r := range rows {
		out[r.Name] = []byte(r.State)
	}
	return out, nil
}

// WriteBackEntry is one outcome of writing a change back to a provider.
type WriteBackEntry struct {
	AlertID string    `db:"alert_id" json:"alertId"`
	Source  string    `db:"source" json:"source"`
	Outcome string    `db:"outcome" json:"outcome"` // written, conflict, failed, skipped
	Detail  string    `db:"detail" json:"detail"`
	At      time.Time `db:"-" json:"at"`
	AtText  string    `db:"at" json:"-"`
}

// AppendWriteBack records a write-back outcome.
func (s *Store) AppendWriteBack(ctx context.Context, e WriteBackEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO writeback_log (alert_id, source, outcome, detail, at) VALUES (?, ?, ?, ?, ?)`),
		e.AlertID, e.Source, e.Outcome, e.Detail, utc(e.At).Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("record write-back of %s: %w", e.AlertID, err)
	}
	return nil
}

// WriteBacks returns the newest write-back outcomes, for alertID when set.
func (s *Store) WriteBacks(ctx context.Context, alertID string, limit int) ([]WriteBackEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q, args := `SELECT alert_id, source, outcome, detail, at FROM writeback_log`, []any{}
	if alertID != "" {
		q += ` WHERE alert_id = ?`
		args = append(args, alertID)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	var out []WriteBackEntry
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("read write-backs: %w", err)
	}
	for i := range out {
		out[i].At, _ = time.Parse(time.RFC3339Nano, out[i].AtText)
	}
	return out, nil
}

// SetAlertSource records which pull source brought the alerts (the first
// source to bring an alert keeps it).
func (s *Store) SetAlertSource(ctx context.Context, source string, alertIDs []string) error {
	if len(alertIDs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		stmt := tx.Rebind(`INSERT INTO alert_source (alert_id, source) VALUES (?, ?) ON CONFLICT (alert_id) DO NOTHING`)
		for _, id := range alertIDs {
			if _, err := tx.ExecContext(ctx, stmt, id, source); err != nil {
				return fmt.Errorf("record source of alert %s: %w", id, err)
			}
		}
		return nil
	})
}

// SourcedAlert is an alert a pull source brought, with that source.
type SourcedAlert struct {
	Source string
	Alert  domain.Alert
}

// SourcedAlerts returns up to limit alerts of an incident that pull
// sources brought, for write-back.
func (s *Store) SourcedAlerts(ctx context.Context, incidentID int64, limit int) ([]SourcedAlert, error) {
	var rows []struct {
		Source string `db:"source"`
		Doc    string `db:"doc"`
	}
	err := s.db.SelectContext(ctx, &rows, s.db.Rebind(fmt.Sprintf(`SELECT src.source, a.doc FROM alerts a
		JOIN alert_source src ON src.alert_id = a.id WHERE a.incident_id = ? ORDER BY a.id LIMIT %d`, max(limit, 1))), incidentID)
	if err != nil {
		return nil, fmt.Errorf("read sourced alerts of incident %d: %w", incidentID, err)
	}
	out := make([]SourcedAlert, len(rows))
	for i, r := range rows {
		out[i].Source = r.Source
		if err := json.Unmarshal([]byte(r.Doc), &out[i].Alert); err != nil {
			return nil, fmt.Errorf("decode alert of incident %d: %w", incidentID, err)
		}
	}
	return out, nil
}
