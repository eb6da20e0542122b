package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// QueryAudit reads the audit log. The log is append-only: the store has no
// method that changes or removes an entry, and the database refuses to
// (migration 0003 adds triggers).
func (s *Store) QueryAudit(ctx context.Context, q records.AuditQuery) (*records.AuditPage, error) {
	conds := []string{"1 = 1"}
	var args []any
	if len(q.Actors) > 0 {
		conds = append(conds, `actor IN (`+placeholders(len(q.Actors))+`)`)
		args = append(args, anys(q.Actors)...)
	}
	if len(q.Verbs) > 0 {
		var or []string
		for _, v := range q.Verbs {
			if strings.HasSuffix(v, ".") {
				or = append(or, `substr(verb, 1, ?) = ?`)
				args = append(args, len(v), v)
			} else {
				or = append(or, `verb = ?`)
				args = append(args, v)
			}
		}
		conds = append(conds, `(`+strings.Join(or, " OR ")+`)`)
	}
	if q.Object != "" {
		conds = append(conds, `object = ?`)
		args = append(args, q.Object)
	}
	if q.IncidentID != 0 {
		conds = append(conds, `incident_id = ?`)
		args = append(args, q.IncidentID)
	}
	if !q.Since.IsZero() {
		conds = append(conds, `at >= ?`)
		args = append(args, utc(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, `at < ?`)
		args = append(args, utc(q.Until))
	}
	if q.Offset < 0 {
		return nil, domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	where := ` FROM audit WHERE ` + strings.Join(conds, " AND ")
	page := &records.AuditPage{Value: []records.AuditEntry{}, Limit: limit, Offset: q.Offset}
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+where), args...); err != nil {
		return nil, fmt.Errorf("count audit entries: %w", err)
	}
	dir := "DESC"
	if q.Ascending {
		dir = "ASC"
	}
	sql := `SELECT id, at, actor, verb, object, incident_id, before, after` + where +
		fmt.Sprintf(` ORDER BY id %s LIMIT %d OFFSET %d`, dir, limit, q.Offset)
	if err := s.db.SelectContext(ctx, &page.Value, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return page, nil
}
