package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// severityRankSQL orders severities by rank, not by name; migration 0007
// indexes the same expression.
const severityRankSQL = `(CASE i.severity WHEN 'high' THEN 4 WHEN 'medium' THEN 3 WHEN 'low' THEN 2 WHEN 'informational' THEN 1 ELSE 0 END)`

// incidentSortSQL maps the queue's sort keys
// (records.SortableIncidentColumns) to SQL.
var incidentSortSQL = map[string]string{
	"id":                    "i.id",
	"displayName":           "i.display_name",
	"severity":              severityRankSQL,
	"status":                "i.status",
	"priorityScore":         "i.priority_score",
	"assignedTo":            "i.assigned_to",
	"alertCount":            "i.alert_count",
	"firstActivityDateTime": "i.first_activity",
	"lastActivityDateTime":  "i.last_activity",
	"createdDateTime":       "i.created_at",
	"lastUpdateDateTime":    "i.updated_at",
	"classification":        "i.classification",
	"determination":         "i.determination",
	"investigationState":    "i.investigation_state",
}

// incidentColumns are the incidents columns domain.Incident holds, named
// rather than * so that a later migration's column does not break the scan.
const incidentColumns = `i.id, i.display_name, i.severity, i.status, i.classification, i.determination, i.assigned_to,
	i.investigation_state, i.redirect_incident_id, i.custom_tags, i.alert_count, i.first_activity, i.last_activity,
	i.created_at, i.updated_at, i.description, i.resolving_comment, i.last_modified_by, i.acknowledged_at,
	i.contained_at, i.resolved_at`

const queueSelect = `SELECT ` + incidentColumns + `,
	COALESCE(s.priority_score, 0) AS "q.priority_score", COALESCE(s.priority_factors, '[]') AS "q.priority_factors",
	COALESCE(s.service_sources, '[]') AS "q.service_sources", COALESCE(s.detection_sources, '[]') AS "q.detection_sources",
	COALESCE(s.categories, '[]') AS "q.categories", COALESCE(s.techniques, '[]') AS "q.techniques",
	COALESCE(s.devices, '[]') AS "q.devices", COALESCE(s.users, '[]') AS "q.users", COALESCE(s.mailboxes, '[]') AS "q.mailboxes",
	COALESCE(s.apps, '[]') AS "q.apps", COALESCE(s.device_count, 0) AS "q.device_count", COALESCE(s.user_count, 0) AS "q.user_count",
	COALESCE(s.mailbox_count, 0) AS "q.mailbox_count", COALESCE(s.app_count, 0) AS "q.app_count",
	COALESCE(s.active_alerts, 0) AS "q.active_alerts", COALESCE(s.system_tags, '[]') AS "q.system_tags"`

const queueFrom = ` FROM incidents i LEFT JOIN incident_summary s ON s.incident_id = i.id`

// queueRow is what queueSelect reads: the incident and the summary
// columns the queue shows (prefixed q. so they do not clash with the
// incident's own).
type queueRow struct {
	domain.Incident
	Sum summary `db:"q"`
}

func (r *queueRow) row() (records.IncidentRow, error) {
	d, err := r.Sum.derived(r.ID)
	if err != nil {
		return records.IncidentRow{}, err
	}
	out := records.IncidentRow{Incident: r.Incident, PriorityScore: d.PriorityScore, PriorityFactors: d.PriorityFactors,
		ServiceSources: d.ServiceSources, DetectionSources: d.DetectionSources, Categories: d.Categories,
		MitreTechniques: d.MitreTechniques, ImpactedAssets: d.ImpactedAssets, ActiveAlerts: d.ActiveAlerts,
		SystemTags: d.SystemTags}
	if out.CustomTags == nil {
		out.CustomTags = domain.StringList{}
	}
	return out, nil
}

// QueryIncidents returns the page of the queue the query selects and the
// count of every match. Filters, scope, sort and paging all run in SQL.
func (s *Store) QueryIncidents(ctx context.Context, q records.IncidentQuery) (*records.IncidentPage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = records.DefaultIncidentPage
	case limit < 0 || limit > records.MaxIncidentPage:
		return nil, domain.Invalid("limit", "want from 1 to %d, got %d", records.MaxIncidentPage, limit)
	}
	where, args, order, err := s.incidentSQL(q)
	if err != nil {
		return nil, err
	}
	page := &records.IncidentPage{Value: []records.IncidentRow{}, Offset: q.Offset, Limit: limit}
	if err := s.db.GetContext(ctx, &page.Total, s.db.Rebind(`SELECT COUNT(*)`+queueFrom+where), args...); err != nil {
		return nil, fmt.Errorf("count incidents: %w", err)
	}
	if q.Offset >= page.Total {
		return page, nil
	}
	// The page's ids first, the wide rows for those alone: a deep offset
	// then skips index entries, not joined rows.
	var rows []queueRow
	sql := queueSelect + queueFrom + ` WHERE i.id IN (SELECT i.id` + queueFrom + where + order +
		fmt.Sprintf(` LIMIT %d OFFSET %d)`, limit, q.Offset) + order
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(sql), args...); err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	for i := range rows {
		r, err := rows[i].row()
		if err != nil {
			return nil, err
		}
		page.Value = append(page.Value, r)
	}
	return page, nil
}

// EachIncident calls fn with every incident the query selects, in its
// order, streaming from the database (for CSV export): Limit 0 means every
// row. fn's error stops the walk and is returned.
func (s *Store) EachIncident(ctx context.Context, q records.IncidentQuery, fn func(*records.IncidentRow) error) error {
	if q.Limit < 0 {
		return domain.Invalid("limit", "want 0 or more, got %d", q.Limit)
	}
	where, args, order, err := s.incidentSQL(q)
	if err != nil {
		return err
	}
	sql := queueSelect + queueFrom + where + order
	if q.Limit > 0 || q.Offset > 0 {
		lim := int64(q.Limit)
		if lim == 0 {
			lim = 1 << 62
		}
		sql += fmt.Sprintf(` LIMIT %d OFFSET %d`, lim, q.Offset)
	}
	rows, err := s.db.QueryxContext(ctx, s.db.Rebind(sql), args...)
	if err != nil {
		return fmt.Errorf("export incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var qr queueRow
		if err := rows.StructScan(&qr); err != nil {
			return fmt.Errorf("export incidents: %w", err)
		}
		r, err := qr.row()
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export incidents: %w", err)
	}
	return nil
}

// jsonElem is v as a JSON array (as StringList stores it) holds it, quotes
// included: found in the array's text, it is a whole element.
func jsonElem(v string) string {
	b, _ := json.Marshal(v) // the same encoding StringList.Value writes
	return string(b)
}

// incidentSQL builds the WHERE and ORDER BY clauses of a queue query.
func (s *Store) incidentSQL(q records.IncidentQuery) (where string, args []any, order string, err error) {
	if q.Offset < 0 {
		return "", nil, "", domain.Invalid("offset", "want 0 or more, got %d", q.Offset)
	}
	var conds []string
	in := func(col string, vals []any) { whereIn(&conds, &args, col, vals) }
	in("i.status", anys(q.Statuses))
	in("i.severity", anys(q.Severities))
	in("i.assigned_to", anys(q.AssignedTo))
	in("i.classification", anys(q.Classifications))
	in("i.determination", anys(q.Determinations))
	in("i.investigation_state", anys(q.InvestigationStates))
	// JSON-array columns: any of the values, as a whole element, matched
	// exactly (case and all) on both databases — LIKE would ignore case on
	// SQLite only.
	find := "strpos(%s, ?) > 0"
	if s.dialect == SQLite {
		find = "instr(%s, ?) > 0"
	}
	anyElem := func(cols []string, vals []string) {
		if len(vals) == 0 {
			return
		}
		var or []string
		for _, v := range vals {
			for _, c := range cols {
				or = append(or, fmt.Sprintf(find, c))
				args = append(args, jsonElem(v))
			}
		}
		conds = append(conds, `(`+strings.Join(or, " OR ")+`)`)
	}
	if len(q.Tags) > 0 && s.dialect == Postgres {
		// As a set of ids, each part from a GIN index (migration 0007).
		var parts []string
		for _, t := range q.Tags {
			b, _ := json.Marshal([]string{t})
			parts = append(parts, `SELECT ti.id FROM incidents ti WHERE ti.custom_tags::jsonb @> CAST(? AS jsonb)`,
				`SELECT ts.incident_id FROM incident_summary ts WHERE ts.system_tags::jsonb @> CAST(? AS jsonb)`)
			args = append(args, string(b), string(b))
		}
		conds = append(conds, `i.id IN (`+strings.Join(parts, " UNION ")+`)`)
	} else {
		anyElem([]string{"i.custom_tags", "s.system_tags"}, q.Tags)
	}
	anyElem([]string{"s.service_sources"}, q.ServiceSources)
	anyElem([]string{"s.detection_sources"}, q.DetectionSources)
	anyElem([]string{"s.categories"}, q.Categories)
	if m := q.MultipleServiceSources; m != nil {
		// Service sources are Graph enum names: a comma separates two.
		if *m {
			conds = append(conds, `s.service_sources LIKE '%,%'`)
		} else {
			conds = append(conds, `(s.service_sources IS NULL OR s.service_sources NOT LIKE '%,%')`)
		}
	}
	if e := strings.TrimSpace(q.Entity); e != "" {
		conds = append(conds, `i.id IN (SELECT ie.incident_id FROM incident_entities ie JOIN entities e ON e.key = ie.entity_key
			WHERE e.key = ? OR lower(e.name) = ?)`)
		args = append(args, e, strings.ToLower(e))
	}
	if len(q.EntityKeys) > 0 {
		conds = append(conds, `i.id IN (SELECT kie.incident_id FROM incident_entities kie WHERE kie.entity_key IN (`+
			placeholders(len(q.EntityKeys))+`))`)
		args = append(args, anys(q.EntityKeys)...)
	}
	if !q.Since.IsZero() {
		conds = append(conds, `i.updated_at >= ?`)
		args = append(args, utc(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, `i.updated_at < ?`)
		args = append(args, utc(q.Until))
	}
	if term := strings.TrimSpace(q.Search); term != "" {
		// One set of matching ids, each part from its own index (the name's
		// trigram index where PostgreSQL has pg_trgm): an OR of the three
		// would scan every incident, and mislead the planner's estimate.
		low := strings.ToLower(term)
		set := `SELECT si.id FROM incidents si WHERE lower(si.display_name) LIKE ? ESCAPE '\'
			UNION SELECT ie.incident_id FROM entities e JOIN incident_entities ie ON ie.entity_key = e.key
				WHERE lower(e.name) LIKE ? ESCAPE '\' OR e.key = ?`
		args = append(args, "%"+likeEscape(low)+"%", likeEscape(low)+"%", term)
		if id, err := strconv.ParseInt(strings.TrimPrefix(term, "#"), 10, 64); err == nil {
			set += ` UNION SELECT CAST(? AS BIGINT)`
			args = append(args, id)
		}
		conds = append(conds, `i.id IN (`+set+`)`)
	}
	for _, groups := range [][]string{q.DeviceGroups, q.Scope} {
		if len(groups) > 0 {
			// The incidents with a device in the groups, as one set (the
			// expression index on entities finds the devices).
			conds = append(conds, `i.id IN (SELECT gie.incident_id FROM entities ge
				JOIN incident_entities gie ON gie.entity_key = ge.key
				WHERE ge.kind = 'device' AND `+s.deviceGroupExpr("ge")+` IN (`+placeholders(len(groups))+`))`)
			args = append(args, lowerAll(groups)...)
		}
	}
	// The queue is the real SOC's: exercises' incidents are on their
	// exercise's page (docs/secops.md).
	conds = append(conds, `i.exercise_id IS NULL`)
	where = ` WHERE ` + strings.Join(conds, " AND ")

	sort := q.Sort
	if sort == "" {
		sort = "-lastUpdateDateTime"
	}
	key, desc := strings.TrimPrefix(sort, "-"), strings.HasPrefix(sort, "-")
	col, ok := incidentSortSQL[key]
	if !ok {
		return "", nil, "", domain.Invalid("sort", "cannot sort by %q; want one of %s (prefix - for descending)",
			key, strings.Join(records.SortableIncidentColumns(), ", "))
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	order = fmt.Sprintf(` ORDER BY %s %s, i.id %s`, col, dir, dir)
	return where, args, order, nil
}

// getIncidentTx reads one incident in a transaction; lock takes its row
// lock on PostgreSQL (SQLite's transactions already hold the write lock).
func (s *Store) getIncidentTx(ctx context.Context, tx *sqlx.Tx, id int64, lock bool) (*domain.Incident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents i WHERE i.id = ?`
	if lock && s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var inc domain.Incident
	err := tx.GetContext(ctx, &inc, tx.Rebind(q), id)
	if isNoRows(err) {
		return nil, domain.Errorf(domain.KindNotFound, "incident %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read incident %d: %w", id, err)
	}
	return &inc, nil
}

// ExplainIncidentQuery returns the database's plan of a queue query's count
// and page (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite),
// for `starter bench queue --explain` and for choosing indexes.
func (s *Store) ExplainIncidentQuery(ctx context.Context, q records.IncidentQuery) (string, error) {
	where, args, order, err := s.incidentSQL(q)
	if err != nil {
		return "", err
	}
	limit := q.Limit
	if limit == 0 {
		limit = records.DefaultIncidentPage
	}
	prefix := `EXPLAIN (ANALYZE, BUFFERS) `
	if s.dialect == SQLite {
		prefix = `EXPLAIN QUERY PLAN `
	}
	var out strings.Builder
	for _, sql := range []string{`SELECT COUNT(*)` + queueFrom + where,
		queueSelect + queueFrom + where + order + fmt.Sprintf(` LIMIT %d OFFSET %d`, limit, q.Offset)} {
		rows, err := s.db.QueryContext(ctx, s.db.Rebind(prefix+sql), args...)
		if err != nil {
			return "", fmt.Errorf("explain: %w", err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintln(&out, vals[len(vals)-1])
		}
		rows.Close()
		out.WriteString("--\n")
	}
	return out.String(), nil
}
