package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/events"
	"github.com/airsoc/air/internal/records"
)

// maxBatch bounds how many alerts one transaction takes; IngestAlerts cuts
// longer slices. It keeps lock sets and statements of a sensible size.
const maxBatch = 1000

// IngestAlert upserts one alert and places it in an incident; it is
// IngestAlerts with a batch of one.
func (s *Store) IngestAlert(ctx context.Context, a *domain.Alert, rules correlate.Rules) (records.IngestResult, error) {
	res, err := s.IngestAlerts(ctx, []*domain.Alert{a}, rules)
	if err != nil {
		return records.IngestResult{}, err
	}
	return res[0], nil
}

// IngestAlerts upserts a batch of alerts by id and places each in an
// incident, in order, one transaction per (at most maxBatch) alerts: a
// newer lastUpdateDateTime replaces the stored version (status, severity,
// evidence), an older or equal one is ignored without error; a new alert is
// correlated by package correlate's rules into an open incident, or opens
// one, merging incidents it links.
//
// Concurrent ingesters are serialised on the batch's entity keys and
// detectors (advisory transaction locks taken in one sorted statement on
// PostgreSQL; SQLite's single writer elsewhere), so two related alerts
// arriving at once never open two incidents. PostgreSQL may still report a
// deadlock between two batches that merge the same incidents from opposite
// sides; such a batch is retried, so callers do not see it.
func (s *Store) IngestAlerts(ctx context.Context, alerts []*domain.Alert, rules correlate.Rules) ([]records.IngestResult, error) {
	if err := rules.Validate(); err != nil {
		return nil, err
	}
	for i, a := range alerts {
		if a == nil || strings.TrimSpace(a.ID) == "" {
			return nil, domain.Invalid(fmt.Sprintf("alerts[%d].id", i), "required")
		}
	}
	out := make([]records.IngestResult, 0, len(alerts))
	for start, end := 0, 0; start < len(alerts); start = end {
		// A batch holds one exercise's alerts (or only real ones): the
		// batch loads the correlation state of that exercise alone.
		end = start + 1
		for end < len(alerts) && end-start < maxBatch && alerts[end].Exercise == alerts[start].Exercise {
			end++
		}
		part := alerts[start:end]
		var res []records.IngestResult
		var err error
		for attempt := 0; ; attempt++ {
			res, err = s.ingestBatch(ctx, part, rules)
			if err == nil || attempt >= 4 || !retryable(err) {
				break
			}
		}
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// retryable reports PostgreSQL's deadlock and serialisation failures.
func retryable(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (s *Store) ingestBatch(ctx context.Context, alerts []*domain.Alert, rules correlate.Rules) ([]records.IngestResult, error) {
	var results []records.IngestResult
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		b := newBatch(ctx, s, tx, rules)
		b.exercise = alerts[0].Exercise
		if err := b.unifyHosts(alerts); err != nil {
			return err
		}
		if err := b.lock(alerts); err != nil {
			return err
		}
		if err := b.load(alerts); err != nil {
			return err
		}
		plan, err := b.rules.Run(b.st, alerts)
		if err != nil {
			return err
		}
		if results, err = b.apply(plan, alerts); err != nil {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
		for i := range results {
			st := b.incs[results[i].IncidentID]
			if st == nil {
				continue
			}
			results[i].NotifySeq = st.materialSeq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ingestEvents(results)...)
	return results, nil
}

// ingestEvents are the incident changes a committed batch made, one per
// incident: new ones marked Created, merged-away ones too. Alerts that
// changed nothing publish nothing.
func ingestEvents(results []records.IngestResult) []events.Event {
	var out []events.Event
	at := map[int64]int{}
	add := func(id int64, created bool) {
		if i, ok := at[id]; ok {
			out[i].Created = out[i].Created || created
			return
		}
		at[id] = len(out)
		out = append(out, events.Event{Kind: events.Incident, IncidentID: id, Created: created})
	}
	for _, r := range results {
		if r.Outcome == correlate.Unchanged || r.IncidentID == 0 {
			continue
		}
		add(r.IncidentID, r.NewIncident)
		for _, m := range r.Merged {
			add(m, false)
		}
	}
	return out
}

// lockID maps a lock name to a PostgreSQL advisory lock id.
func lockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// lockNames takes advisory transaction locks on names, in one statement and
// in sorted order (unnest yields an array in order), so that two transactions never wait on each other in a
// cycle.
func (s *Store) lockNames(ctx context.Context, tx *sqlx.Tx, names []string) error {
	if s.dialect != Postgres || len(names) == 0 {
		return nil // SQLite: the immediate transaction already holds the only write lock
	}
	ids := make([]int64, 0, len(names))
	for _, n := range names {
		ids = append(ids, lockID(n))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS id`,
		pq.Array(ids)); err != nil {
		return fmt.Errorf("lock entities: %w", err)
	}
	return nil
}

// lockKeys takes advisory transaction locks on keys (PostgreSQL; a no-op on
// SQLite, whose immediate transaction already holds the only write lock), in
// sorted order so that two transactions cannot deadlock on them.
func (s *Store) lockKeys(ctx context.Context, tx *sqlx.Tx, keys []string) error {
	return s.lockNames(ctx, tx, keys)
}

// alertCols are the columns of an alert row, in insert order.
const alertCols = `id, incident_id, status, severity, title, category, service_source, detection_source,
	created_at, last_update, activity_time, doc, raw, detector, techniques, routine`

func alertDoc(a *domain.Alert) (string, error) {
	b, err := json.Marshal(a)
	return string(b), err
}

func rawOf(a *domain.Alert) string {
	if len(a.Raw) == 0 {
		b, _ := json.Marshal(a)
		return string(b)
	}
	return string(a.Raw)
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// alertRow returns an alert's column values in alertCols order.
func alertRow(a *domain.Alert, incidentID int64, routine bool) ([]any, error) {
	doc, err := alertDoc(a)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, incidentID, a.Status, a.Severity, a.Title, a.Category, a.ServiceSource, a.DetectionSource,
		utc(a.CreatedDateTime), utc(a.LastUpdateDateTime), utc(a.ActivityTime()), doc, rawOf(a),
		correlate.Detector(a), jsonList(a.MitreTechniques), routine}, nil
}

// insertRows writes rows in multi-row INSERT statements of at most chunk
// rows; suffix is appended to each (an ON CONFLICT clause).
func insertRows(ctx context.Context, tx *sqlx.Tx, table, cols, suffix string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	chunk := max(1, 30000/width)
	row := "(" + placeholders(width) + ")"
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		args := make([]any, 0, len(part)*width)
		for i, r := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(row)
			args = append(args, r...)
		}
		q.WriteString(" " + suffix)
		if _, err := tx.ExecContext(ctx, tx.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// copyRows writes rows with PostgreSQL's COPY, several times faster than
// INSERT for the wide alert rows; for tables written without ON CONFLICT.
// Elsewhere it falls back to insertRows.
func (s *Store) copyRows(ctx context.Context, tx *sqlx.Tx, table, cols string, rows [][]any) error {
	if s.dialect != Postgres || len(rows) < 200 { // below that, one INSERT round trip beats COPY's two
		return insertRows(ctx, tx, table, cols, "", rows)
	}
	names := strings.Split(cols, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, names...))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// inChunks runs fn over args in slices small enough for one IN (...) list.
func inChunks[T any](args []T, fn func(part []T) error) error {
	for start := 0; start < len(args); start += 500 {
		if err := fn(args[start:min(start+500, len(args))]); err != nil {
			return err
		}
	}
	return nil
}

func anySlice[T any](v []T) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}
