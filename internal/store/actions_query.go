package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// actionSortSQL maps the action center's sort keys
// (records.SortableActionColumns) to columns.
var actionSortSQL = map[string]string{
	"createdAt":  "a.created_at",
	"decidedAt":  "a.decided_at",
	"finishedAt": "a.finished_at",
	"type":       "a.type",
	"status":     "a.status",
	"source":     "a.source",
	"incidentId": "a.incident_id",
	"target":     "a.target_name",
	"decidedBy":  "a.decided_by",
}

// QueryActions returns the page of actions the query selects.
func (s *Store) QueryActions(ctx context.Context, q records.ActionQuery) (*records.ActionPage, error) {
	where, args := s.actionWhere(q)
	col := "a.created_at"
	if q.Sort != "" {
		c, ok := actionSortSQL[q.Sort]
		if !ok {
			return nil, domain.Invalid("sort", "cannot sort by %q", q.Sort)
		}
		col = c
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if q.Offset < 0 {
		return nil, domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	page := &records.ActionPage{Value: []records.ActionRow{}, Limit: limit, Offset: q.Offset}
	from := ` FROM actions a JOIN incidents i ON i.id = a.incident_id WHERE ` + where
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+from), args...); err != nil {
		return nil, fmt.Errorf("count actions: %w", err)
	}
	// NULLs (not yet decided or finished) sort last both ways, in both
	// dialects; the id breaks ties so that pages do not overlap.
	sql := `SELECT a.*, i.display_name AS incident_name, COALESCE(i.exercise_id, 0) AS exercise_id` + from +
		fmt.Sprintf(` ORDER BY (%s IS NULL), %s %s, a.id %s LIMIT %d OFFSET %d`, col, col, dir, dir, limit, q.Offset)
	if err := s.db.SelectContext(ctx, &page.Value, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("query actions: %w", err)
	}
	return page, nil
}

// ActionInScope reports whether the action is in one of the device groups
// (by the rule of ActionQuery.DeviceGroups).
func (s *Store) ActionInScope(ctx context.Context, id string, groups []string) (bool, error) {
	if len(groups) == 0 {
		return true, nil
	}
	where, args := s.actionWhere(records.ActionQuery{Scope: groups})
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM actions a WHERE a.id = ? AND `+where),
		append([]any{id}, args...)...)
	if err != nil {
		return false, fmt.Errorf("scope action %s: %w", id, err)
	}
	return n > 0, nil
}

func (s *Store) actionWhere(q records.ActionQuery) (string, []any) {
	conds := []string{"1 = 1"}
	var args []any
	in := func(col string, vals []any) { whereIn(&conds, &args, col, vals) }
	in("a.status", anys(q.Statuses))
	if len(q.NotStatuses) > 0 {
		conds = append(conds, `a.status NOT IN (`+placeholders(len(q.NotStatuses))+`)`)
		args = append(args, anys(q.NotStatuses)...)
	}
	in("a.type", anys(q.Types))
	in("a.source", anys(q.Sources))
	in("a.incident_id", anys(q.IncidentIDs))
	in("a.target_key", anys(q.TargetKeys))
	in("a.decided_by", anys(q.DecidedBy))
	if !q.CreatedAfter.IsZero() {
		conds = append(conds, `a.created_at > ?`)
		args = append(args, utc(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		conds = append(conds, `a.created_at <= ?`)
		args = append(args, utc(q.CreatedBefore))
	}
	for _, groups := range [][]string{q.DeviceGroups, q.Scope} {
		if len(groups) > 0 {
			conds = append(conds, s.actionInGroupsSQL(len(groups)))
			g := lowerAll(groups)
			args = append(args, g...)
			args = append(args, g...)
		}
	}
	return strings.Join(conds, " AND "), args
}

func anys[T any](vals []T) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// whereIn adds the condition `col IN (…)` on vals to a WHERE clause's
// conditions and arguments; no condition when vals is empty.
func whereIn(conds *[]string, args *[]any, col string, vals []any) {
	if len(vals) > 0 {
		*conds = append(*conds, col+` IN (`+placeholders(len(vals))+`)`)
		*args = append(*args, vals...)
	}
}
