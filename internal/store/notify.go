package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// Notification storage (migration 0420): the change feed of incidents
// that the database writes by trigger (notify_events), and the outbox of
// messages to channels (notify_outbox) with its delivery history. Which
// event notifies whom is package notify's to decide; the store only keeps
// the rows and hands them out safely to several dispatchers at once.

// IncidentEvent is one row of the incident change feed.
type IncidentEvent struct {
	ID         int64           `db:"id"`
	Kind       string          `db:"kind"` // incident.created or incident.escalated
	IncidentID int64           `db:"incident_id"`
	Severity   domain.Severity `db:"severity"`
	Previous   domain.Severity `db:"previous"`
	At         time.Time       `db:"at"`
}

// Incident event kinds.
const (
	EventIncidentCreated   = "incident.created"
	EventIncidentEscalated = "incident.escalated"
)

// IncidentEvents returns up to limit of the oldest incident events not yet
// routed.
func (s *Store) IncidentEvents(ctx context.Context, limit int) ([]IncidentEvent, error) {
	var out []IncidentEvent
	err := s.db.SelectContext(ctx, &out, fmt.Sprintf(`SELECT id, kind, incident_id, severity, previous, at
		FROM notify_events ORDER BY id LIMIT %d`, max(limit, 1)))
	if err != nil {
		return nil, fmt.Errorf("read incident events: %w", err)
	}
	return out, nil
}

// RouteIncidentEvents queues the notifications the events amount to and
// removes the events, in one transaction. A notification whose key, rule
// and channel are queued already is left as it is, so that two routers
// that read the same events queue each message once.
func (s *Store) RouteIncidentEvents(ctx context.Context, eventIDs []int64, ns []domain.Notification) (queued int, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if queued, err = insertNotifications(ctx, tx, ns, time.Now()); err != nil {
			return err
		}
		for start := 0; start < len(eventIDs); start += 500 {
			part := eventIDs[start:min(start+500, len(eventIDs))]
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM notify_events WHERE id IN (`+placeholders(len(part))+`)`),
				anys(part)...); err != nil {
				return fmt.Errorf("remove routed incident events: %w", err)
			}
		}
		return nil
	})
	return queued, err
}

// EnqueueNotifications queues notifications, skipping any whose key, rule
// and channel are queued already, and returns how many it queued. A
// notification is due at its NextAttempt, else at its CreatedAt, else now.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []domain.Notification) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		n, err = insertNotifications(ctx, tx, ns, time.Now())
		return err
	})
	return n, err
}

func insertNotifications(ctx context.Context, tx *sqlx.Tx, ns []domain.Notification, now time.Time) (int, error) {
	now = utc(now)
	queued := 0
	stmt := tx.Rebind(`INSERT INTO notify_outbox (event_key, rule, channel, incident_id, subject, body, status,
		next_attempt, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_key, rule, channel) DO NOTHING`)
	for _, n := range ns {
		if n.Key == "" || n.Channel == "" {
			return 0, domain.Invalid("key", "a notification needs a key and a channel")
		}
		created, due := now, now
		if !n.CreatedAt.IsZero() {
			created, due = utc(n.CreatedAt), utc(n.CreatedAt)
		}
		if !n.NextAttempt.IsZero() {
			due = utc(n.NextAttempt)
		}
		r, err := tx.ExecContext(ctx, stmt, n.Key, n.Rule, n.Channel, n.IncidentID, n.Subject, n.Text,
			domain.NotificationQueued, due, created, created)
		if err != nil {
			return 0, fmt.Errorf("queue notification %s to %s: %w", n.Key, n.Channel, err)
		}
		if k, err := r.RowsAffected(); err == nil {
			queued += int(k)
		}
	}
	return queued, nil
}

// ClaimNotifications takes up to c.Limit queued notifications that are
// due, oldest due first, for c.Token: each one's attempts go up by one and
// its next attempt moves a lease ahead, so that no other dispatcher takes
// it unless the lease runs out. Two dispatchers never claim one row at
// once: on PostgreSQL the rows are locked and skipped by others, and the
// update checks again that each row is still due; SQLite has one writer.
func (s *Store) ClaimNotifications(ctx context.Context, c records.NotificationClaim) ([]domain.Notification, error) {
	if c.Token == "" || c.Lease <= 0 {
		return nil, domain.Invalid("token", "a claim needs a token and a positive lease")
	}
	now := utc(c.Now)
	due := `status = ? AND next_attempt <= ?`
	args := []any{domain.NotificationQueued, now}
	if len(c.SkipChannels) > 0 {
		due += ` AND channel NOT IN (` + placeholders(len(c.SkipChannels)) + `)`
		args = append(args, anys(c.SkipChannels)...)
	}
	pick := fmt.Sprintf(`SELECT id FROM notify_outbox WHERE %s ORDER BY next_attempt, id LIMIT %d`, due, max(c.Limit, 1))
	if s.dialect == Postgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	// The pick is a CTE, evaluated once: as an IN subquery PostgreSQL may
	// run it again per row and claim past the limit.
	q := `WITH picked AS (` + pick + `) UPDATE notify_outbox SET attempts = attempts + 1, claim = ?, next_attempt = ?, updated_at = ?
		WHERE id IN (SELECT id FROM picked) AND ` + due + ` RETURNING ` + notificationColumns
	all := append(slices.Clone(args), c.Token, utc(now.Add(c.Lease)), now)
	all = append(all, args...)
	var out []domain.Notification
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), all...); err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return out, nil
}

const notificationColumns = `id, event_key, rule, channel, incident_id, subject, body, status, attempts, last_error,
	next_attempt, claim, created_at, updated_at, sent_at`

// FinishNotification records the outcome of the attempt that claim holds.
// It reports false, changing nothing, when the claim no longer holds the
// row: its lease ran out and another dispatcher took it.
func (s *Store) FinishNotification(ctx context.Context, id int64, claim string, o records.NotificationOutcome) (bool, error) {
	at := utc(o.At)
	set := `status = ?, last_error = ?, updated_at = ?, claim = ''`
	args := []any{o.Status, truncate(o.Error, 2000), at}
	switch o.Status {
	case domain.NotificationSent:
		set += `, sent_at = ?`
		args = append(args, at)
	case domain.NotificationQueued:
		set += `, next_attempt = ?`
		args = append(args, utc(o.Next))
		if o.Uncount {
			set += `, attempts = attempts - 1`
		}
	case domain.NotificationFailed:
	default:
		return false, domain.Invalid("status", "unknown notification outcome %q", o.Status)
	}
	args = append(args, id, claim, domain.NotificationQueued)
	r, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE notify_outbox SET `+set+` WHERE id = ? AND claim = ? AND status = ?`), args...)
	if err != nil {
		return false, fmt.Errorf("record notification %d: %w", id, err)
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// QueryNotifications reads the delivery history, newest first.
func (s *Store) QueryNotifications(ctx context.Context, q records.NotificationQuery) (*domain.NotificationPage, error) {
	if q.Offset < 0 {
		return nil, domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	conds := []string{"1 = 1"}
	var args []any
	if len(q.Statuses) > 0 {
		conds = append(conds, `status IN (`+placeholders(len(q.Statuses))+`)`)
		args = append(args, anys(q.Statuses)...)
	}
	if len(q.Channels) > 0 {
		conds = append(conds, `channel IN (`+placeholders(len(q.Channels))+`)`)
		args = append(args, anys(q.Channels)...)
	}
	if len(q.Rules) > 0 {
		conds = append(conds, `rule IN (`+placeholders(len(q.Rules))+`)`)
		args = append(args, anys(q.Rules)...)
	}
	if q.IncidentID != 0 {
		conds = append(conds, `incident_id = ?`)
		args = append(args, q.IncidentID)
	}
	if q.Key != "" {
		conds = append(conds, `event_key = ?`)
		args = append(args, q.Key)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	where := ` FROM notify_outbox WHERE ` + strings.Join(conds, " AND ")
	page := &domain.NotificationPage{Value: []domain.Notification{}, Limit: limit, Offset: q.Offset}
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+where), args...); err != nil {
		return nil, fmt.Errorf("count notifications: %w", err)
	}
	sql := `SELECT ` + notificationColumns + where + fmt.Sprintf(` ORDER BY id DESC LIMIT %d OFFSET %d`, limit, q.Offset)
	if err := s.db.SelectContext(ctx, &page.Value, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("query notifications: %w", err)
	}
	return page, nil
}

// WaitingActions returns up to limit actions pending since before
// createdBefore, with ids after afterID (for paging; "" for the first
// page), in id order, that rule has not queued a notification about under
// the key prefix+action id.
func (s *Store) WaitingActions(ctx context.Context, rule, prefix string, createdBefore time.Time, afterID string, limit int) ([]domain.Action, error) {
	var out []domain.Action
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(fmt.Sprintf(`SELECT a.* FROM actions a
		WHERE a.status = ? AND a.created_at <= ? AND a.id > ?
		AND NOT EXISTS (SELECT 1 FROM notify_outbox o WHERE o.event_key = CAST(? AS TEXT) || a.id AND o.rule = ?)
		ORDER BY a.id LIMIT %d`, max(limit, 1))), domain.ActionPending, utc(createdBefore), afterID, prefix, rule)
	if err != nil {
		return nil, fmt.Errorf("read waiting actions: %w", err)
	}
	return out, nil
}

// IncidentBrief is what notification rules read of an incident and its
// messages show: the incident, and from its alerts and entities the
// service sources, system tags and device groups.
type IncidentBrief struct {
	domain.Incident
	ServiceSources domain.StringList `db:"service_sources"`
	SystemTags     domain.StringList `db:"system_tags"`
	PriorityScore  int               `db:"priority_score"`
	// DeviceGroups are the lower-cased device groups of its devices.
	DeviceGroups []string `db:"-"`
}

// IncidentBriefs returns the briefs of the incidents that exist among ids.
func (s *Store) IncidentBriefs(ctx context.Context, ids []int64) (map[int64]*IncidentBrief, error) {
	out := map[int64]*IncidentBrief{}
	for start := 0; start < len(ids); start += 500 {
		part := ids[start:min(start+500, len(ids))]
		var rows []IncidentBrief
		err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT `+incidentColumns+`,
			COALESCE(s.service_sources, '[]') AS service_sources, COALESCE(s.system_tags, '[]') AS system_tags,
			COALESCE(s.priority_score, 0) AS priority_score
			FROM incidents i LEFT JOIN incident_summary s ON s.incident_id = i.id
			WHERE i.id IN (`+placeholders(len(part))+`)`), anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("read incidents to notify: %w", err)
		}
		for i := range rows {
			out[rows[i].ID] = &rows[i]
		}
		var groups []struct {
			IncidentID int64  `db:"incident_id"`
			Group      string `db:"grp"`
		}
		err = s.db.SelectContext(ctx, &groups, s.db.Rebind(`SELECT DISTINCT ie.incident_id, `+s.deviceGroupExpr("e")+` AS grp
			FROM incident_entities ie JOIN entities e ON e.key = ie.entity_key
			WHERE e.kind = 'device' AND ie.incident_id IN (`+placeholders(len(part))+`)
			AND `+s.deviceGroupExpr("e")+` IS NOT NULL ORDER BY 1, 2`), anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("read device groups of incidents to notify: %w", err)
		}
		for _, g := range groups {
			if b := out[g.IncidentID]; b != nil && g.Group != "" {
				b.DeviceGroups = append(b.DeviceGroups, g.Group)
			}
		}
	}
	return out, nil
}
