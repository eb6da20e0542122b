package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// reportScheduleRow is a report_schedules row: the JSON columns as text.
type reportScheduleRow struct {
	domain.ReportSchedule
	CalendarJSON string `db:"calendar"`
	ChannelsJSON string `db:"channels"`
}

func (r reportScheduleRow) schedule() (domain.ReportSchedule, error) {
	s := r.ReportSchedule
	if r.CalendarJSON != "" {
		s.Calendar = &domain.ReportCalendar{}
		if err := json.Unmarshal([]byte(r.CalendarJSON), s.Calendar); err != nil {
			return s, fmt.Errorf("decode calendar of report schedule %s: %w", s.ID, err)
		}
	}
	s.Channels = []string{}
	if err := json.Unmarshal([]byte(r.ChannelsJSON), &s.Channels); err != nil {
		return s, fmt.Errorf("decode channels of report schedule %s: %w", s.ID, err)
	}
	s.CreatedAt = s.CreatedAt.UTC()
	return s, nil
}

const reportScheduleColumns = `id, kind, cron, calendar, time_zone, channels, catchup_secs, created_by, created_at`

// scheduleJSON is a schedule's JSON columns: its calendar ("" when given
// as cron) and its channels.
func scheduleJSON(rs domain.ReportSchedule) (cal, chans string, err error) {
	if rs.Calendar != nil {
		b, err := json.Marshal(rs.Calendar)
		if err != nil {
			return "", "", err
		}
		cal = string(b)
	}
	b, err := json.Marshal(nonNil(rs.Channels))
	return cal, string(b), err
}

// CreateReportSchedule stores a report schedule and audits it as
// report.schedule.created. An id already taken is a conflict.
func (s *Store) CreateReportSchedule(ctx context.Context, rs domain.ReportSchedule) error {
	cal, chans, err := scheduleJSON(rs)
	if err != nil {
		return err
	}
	if rs.CreatedAt.IsZero() {
		rs.CreatedAt = time.Now()
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, tx.Rebind(`SELECT COUNT(*) FROM report_schedules WHERE id = ?`), rs.ID); err != nil {
			return fmt.Errorf("read report schedule %s: %w", rs.ID, err)
		}
		if n > 0 {
			return domain.Errorf(domain.KindConflict, "report schedule %s exists", rs.ID)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO report_schedules (`+reportScheduleColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), rs.ID, rs.Kind, rs.Cron, cal, rs.TimeZone, chans,
			rs.CatchupSeconds, rs.CreatedBy, utc(rs.CreatedAt)); err != nil {
			return fmt.Errorf("write report schedule %s: %w", rs.ID, err)
		}
		after, _ := json.Marshal(rs)
		return appendAudit(ctx, tx, records.AuditEntry{At: rs.CreatedAt, Actor: rs.CreatedBy, Verb: "report.schedule.created",
			Object: "report-schedule:" + rs.ID, After: string(after)})
	})
}

// ReportSchedules lists the report schedules, oldest first.
func (s *Store) ReportSchedules(ctx context.Context) ([]domain.ReportSchedule, error) {
	var rows []reportScheduleRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+reportScheduleColumns+` FROM report_schedules ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("read report schedules: %w", err)
	}
	out := make([]domain.ReportSchedule, 0, len(rows))
	for _, r := range rows {
		rs, err := r.schedule()
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, nil
}

// ReportSchedule reads one report schedule; an unknown id is not found.
func (s *Store) ReportSchedule(ctx context.Context, id string) (*domain.ReportSchedule, error) {
	var r reportScheduleRow
	err := s.db.GetContext(ctx, &r, s.db.Rebind(`SELECT `+reportScheduleColumns+` FROM report_schedules WHERE id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "no report schedule %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read report schedule %s: %w", id, err)
	}
	rs, err := r.schedule()
	return &rs, err
}

// UpdateReportSchedule replaces a report schedule's spec, time zone,
// channels and catch-up window with rs's and audits it as
// report.schedule.updated with both versions. An unknown id is not found.
func (s *Store) UpdateReportSchedule(ctx context.Context, rs domain.ReportSchedule, actor string) error {
	cal, chans, err := scheduleJSON(rs)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r reportScheduleRow
		err := tx.GetContext(ctx, &r, tx.Rebind(`SELECT `+reportScheduleColumns+` FROM report_schedules WHERE id = ?`), rs.ID)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "no report schedule %s", rs.ID)
		}
		if err != nil {
			return fmt.Errorf("read report schedule %s: %w", rs.ID, err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE report_schedules SET cron = ?, calendar = ?, time_zone = ?,
			channels = ?, catchup_secs = ? WHERE id = ?`), rs.Cron, cal, rs.TimeZone, chans, rs.CatchupSeconds, rs.ID); err != nil {
			return fmt.Errorf("update report schedule %s: %w", rs.ID, err)
		}
		old, _ := r.schedule()
		before, _ := json.Marshal(old)
		after, _ := json.Marshal(rs)
		return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "report.schedule.updated",
			Object: "report-schedule:" + rs.ID, Before: string(before), After: string(after)})
	})
}

// DeleteReportSchedule removes a report schedule and audits it as
// report.schedule.deleted; the reports it made stay. An unknown id is not
// found.
func (s *Store) DeleteReportSchedule(ctx context.Context, id, actor string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r reportScheduleRow
		err := tx.GetContext(ctx, &r, tx.Rebind(`SELECT `+reportScheduleColumns+` FROM report_schedules WHERE id = ?`), id)
		if isNoRows(err) {
			return domain.Errorf(domain.KindNotFound, "no report schedule %s", id)
		}
		if err != nil {
			return fmt.Errorf("read report schedule %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM report_schedules WHERE id = ?`), id); err != nil {
			return fmt.Errorf("delete report schedule %s: %w", id, err)
		}
		rs, _ := r.schedule()
		before, _ := json.Marshal(rs)
		return appendAudit(ctx, tx, records.AuditEntry{Actor: actor, Verb: "report.schedule.deleted",
			Object: "report-schedule:" + id, Before: string(before)})
	})
}

// reportRunRow is a report_runs row: the JSON columns as text.
type reportRunRow struct {
	domain.ReportRun
	ChannelsJSON string `db:"channels"`
	DataJSON     string `db:"data"`
}

const reportRunListColumns = `id, kind, period, since, until, schedule_id, channels, generated_at, generated_by`

func (r reportRunRow) run() (domain.ReportRun, error) {
	run := r.ReportRun
	run.Channels = []string{}
	if err := json.Unmarshal([]byte(r.ChannelsJSON), &run.Channels); err != nil {
		return run, fmt.Errorf("decode channels of report run %d: %w", run.ID, err)
	}
	if r.DataJSON != "" {
		run.Data = json.RawMessage(r.DataJSON)
	}
	run.Since, run.Until, run.GeneratedAt = run.Since.UTC(), run.Until.UTC(), run.GeneratedAt.UTC()
	return run, nil
}

// AddReportRun keeps a report under key and returns its id. The same key
// kept again (a retried activity) keeps nothing new and returns the id of
// the first, with created false.
func (s *Store) AddReportRun(ctx context.Context, key string, run domain.ReportRun) (id int64, created bool, err error) {
	chans, err := json.Marshal(nonNil(run.Channels))
	if err != nil {
		return 0, false, err
	}
	if run.GeneratedAt.IsZero() {
		run.GeneratedAt = time.Now()
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id, tx.Rebind(`SELECT id FROM report_runs WHERE run_key = ?`), key)
		if err == nil {
			return nil
		}
		if !isNoRows(err) {
			return fmt.Errorf("read report run %s: %w", key, err)
		}
		if err := tx.GetContext(ctx, &id, tx.Rebind(`INSERT INTO report_runs (run_key, kind, period, since, until, schedule_id,
			channels, generated_at, generated_by, html, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			key, run.Kind, run.Period, utc(run.Since), utc(run.Until), run.ScheduleID, string(chans),
			utc(run.GeneratedAt), run.GeneratedBy, run.HTML, string(run.Data)); err != nil {
			return fmt.Errorf("keep report run %s: %w", key, err)
		}
		created = true
		return nil
	})
	return id, created, err
}

// ReportRuns lists kept reports, newest first, without their HTML and data.
func (s *Store) ReportRuns(ctx context.Context, q records.ReportRunQuery) (*records.ReportRunPage, error) {
	if q.Offset < 0 {
		return nil, domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := ` FROM report_runs WHERE 1 = 1`, []any{}
	if q.Kind != "" {
		where += ` AND kind = ?`
		args = append(args, q.Kind)
	}
	if q.ScheduleID != "" {
		where += ` AND schedule_id = ?`
		args = append(args, q.ScheduleID)
	}
	page := &records.ReportRunPage{Value: []domain.ReportRun{}, Limit: limit, Offset: q.Offset}
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+where), args...); err != nil {
		return nil, fmt.Errorf("count report runs: %w", err)
	}
	var rows []reportRunRow
	sql := `SELECT ` + reportRunListColumns + where + fmt.Sprintf(` ORDER BY generated_at DESC, id DESC LIMIT %d OFFSET %d`, limit, q.Offset)
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("read report runs: %w", err)
	}
	for _, r := range rows {
		run, err := r.run()
		if err != nil {
			return nil, err
		}
		page.Value = append(page.Value, run)
	}
	return page, nil
}

// ReportRun reads one kept report with its HTML, data and deliveries (the
// outbox rows of its message); an unknown id is not found.
func (s *Store) ReportRun(ctx context.Context, id int64) (*domain.ReportRun, error) {
	var r reportRunRow
	err := s.db.GetContext(ctx, &r, s.db.Rebind(`SELECT `+reportRunListColumns+`, html, data FROM report_runs WHERE id = ?`), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "no kept report %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read report run %d: %w", id, err)
	}
	run, err := r.run()
	if err != nil {
		return nil, err
	}
	var sent []domain.Notification
	if err := s.db.SelectContext(ctx, &sent, s.db.Rebind(`SELECT `+notificationColumns+` FROM notify_outbox
		WHERE event_key = ? AND rule = '' ORDER BY channel`), domain.ReportDeliveryKey(id)); err != nil {
		return nil, fmt.Errorf("read deliveries of report run %d: %w", id, err)
	}
	for _, n := range sent {
		run.Deliveries = append(run.Deliveries, domain.ReportDelivery{Channel: n.Channel, Status: n.Status,
			Attempts: n.Attempts, LastError: n.LastError, SentAt: n.SentAt})
	}
	return &run, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ReportRunByKey reads the run kept under key, nil when none is.
func (s *Store) ReportRunByKey(ctx context.Context, key string) (*domain.ReportRun, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, s.db.Rebind(`SELECT id FROM report_runs WHERE run_key = ?`), key)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read report run %s: %w", key, err)
	}
	return s.ReportRun(ctx, id)
}
