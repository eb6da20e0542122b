package api

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

var auditFilters = []string{"actor", "verb", "object", "incidentId", "since", "until", "order", "limit", "offset", "format"}

// ParseAuditQuery turns GET /api/v1/audit's parameters into a store query:
//
//	actor, verb          lists; a verb ending in "." matches as a prefix ("action.")
//	object, incidentId   one each
//	since, until         RFC 3339 times or dates
//	order=asc            oldest first (default newest first)
//	limit, offset        paging (format=csv allows up to 10000 rows)
func ParseAuditQuery(r *http.Request) (records.AuditQuery, error) {
	v := r.URL.Query()
	var q records.AuditQuery
	for name := range v {
		if !slices.Contains(auditFilters, name) {
			return q, domain.Invalid(name, "unknown filter; want one of %s", strings.Join(auditFilters, ", "))
		}
	}
	q.Actors = splitList(v["actor"])
	q.Verbs = splitList(v["verb"])
	q.Object = v.Get("object")
	if s := v.Get("incidentId"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, domain.Invalid("incidentId", "want a positive integer, got %q", s)
		}
		q.IncidentID = n
	}
	var err error
	if q.Since, err = parseTime("since", v.Get("since")); err != nil {
		return q, err
	}
	if q.Until, err = parseTime("until", v.Get("until")); err != nil {
		return q, err
	}
	switch o := v.Get("order"); o {
	case "asc":
		q.Ascending = true
	case "", "desc":
	default:
		return q, domain.Invalid("order", "want asc or desc, got %q", o)
	}
	max := MaxPage
	if v.Get("format") == "csv" {
		max = MaxExport
	}
	if q.Limit, err = intValue(v, "limit", 1, max); err != nil {
		return q, err
	}
	if q.Limit == 0 && v.Get("format") == "csv" {
		q.Limit = MaxExport
	}
	if q.Offset, err = intValue(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	return q, nil
}

// listAudit answers GET /api/v1/audit (admin): the append-only log of every
// decision and change, as JSON pages or a CSV export.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if err := auth.FromContext(r.Context()).Require(auth.Admin); err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return domain.Invalid("format", "want json or csv, got %q", format)
	}
	q, err := ParseAuditQuery(r)
	if err != nil {
		return err
	}
	page, err := s.Store.QueryAudit(r.Context(), q)
	if err != nil {
		return err
	}
	if format != "csv" {
		return writeJSON(w, http.StatusOK, page)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "at", "actor", "verb", "object", "incidentId", "before", "after"})
	for _, e := range page.Value {
		inc := ""
		if e.IncidentID != nil {
			inc = strconv.FormatInt(*e.IncidentID, 10)
		}
		cw.Write(csvCells(strconv.FormatInt(e.ID, 10), timeCell(&e.At), e.Actor, e.Verb, e.Object, inc, e.Before, e.After))
	}
	cw.Flush()
	return cw.Error()
}
