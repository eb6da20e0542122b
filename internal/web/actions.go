package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// filterValues are the filter form's current values.
type filterValues struct {
	Type, Status, Source, IncidentID, DeviceGroup, DecidedBy, OlderThan, NewerThan, Sort string
}

type option struct{ Value, Label string }

// row is one action as a list shows it.
type row struct {
	records.ActionRow
	Undoable bool
}

type pager struct {
	Total, From, To int
	Prev, Next      string
}

var (
	ages = []option{{"", "any time"}, {"1h", "over 1 hour"}, {"4h", "over 4 hours"}, {"24h", "over 1 day"},
		{"72h", "over 3 days"}}
	ranges = []option{{"", "any time"}, {"1d", "last day"}, {"3d", "last 3 days"}, {"1w", "last week"},
		{"30d", "last 30 days"}, {"26w", "last 6 months"}}
	pendingSorts = []option{{"createdAt", "oldest first"}, {"-createdAt", "newest first"}, {"type", "type"},
		{"incidentId", "incident"}, {"target", "target"}}
	historySorts = []option{{"-createdAt", "newest first"}, {"createdAt", "oldest first"},
		{"-decidedAt", "last decided first"}, {"type", "type"}, {"status", "status"}, {"incidentId", "incident"},
		{"decidedBy", "decided by"}}
)

// pageFilters are the query parameters the list pages pass on to the
// action center's query (api.ParseActionQuery); others are ignored.
var pageFilters = []string{"type", "status", "source", "incidentId", "deviceGroup", "decidedBy", "olderThan",
	"newerThan", "sort", "offset"}

func (p *pages) pending(w http.ResponseWriter, r *http.Request) error {
	return p.list(w, r, "pending", "Pending actions", pendingSorts)
}

func (p *pages) history(w http.ResponseWriter, r *http.Request) error {
	return p.list(w, r, "history", "History", historySorts)
}

func (p *pages) list(w http.ResponseWriter, r *http.Request, nav, title string, sorts []option) error {
	pr := auth.FromContext(r.Context())
	in := r.URL.Query()
	vals := url.Values{}
	for _, k := range pageFilters {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			vals.Set(k, v)
		}
	}
	if vals.Get("sort") == "" {
		vals.Set("sort", sorts[0].Value)
	}
	vals.Set("view", nav)
	vals.Set("limit", strconv.Itoa(pageSize))
	q, err := api.ParseActionQuery(vals, p.now())
	if err != nil {
		return err
	}
	page, err := p.Center.Actions(r.Context(), pr, q)
	if err != nil {
		return err
	}
	path := "/actions"
	if nav == "history" {
		path = "/actions/history"
	}
	v := &view{Title: title, Nav: nav, Live: "actions", Principal: pr, CSRF: auth.CSRFToken(secretOf(r)), Path: path,
		CanDecide: pr.Role.AtLeast(auth.Responder), Ages: ages, Ranges: ranges, Sorts: sorts,
		Statuses: slices.DeleteFunc(slices.Clone(domain.ActionStatuses), func(s domain.ActionStatus) bool { return s == domain.ActionPending }),
		Sources:  []domain.ActionSource{domain.SourceAutomated, domain.SourceManual},
		Filter: filterValues{Type: vals.Get("type"), Status: vals.Get("status"), Source: vals.Get("source"),
			IncidentID: vals.Get("incidentId"), DeviceGroup: vals.Get("deviceGroup"), DecidedBy: vals.Get("decidedBy"),
			OlderThan: vals.Get("olderThan"), NewerThan: vals.Get("newerThan"), Sort: vals.Get("sort")},
	}
	for _, spec := range actions.All() {
		if spec.Remediation {
			v.Types = append(v.Types, spec.Type)
		}
	}
	for _, a := range page.Value {
		v.Rows = append(v.Rows, row{ActionRow: a, Undoable: api.Undoable(&a.Action)})
	}
	if nav == "pending" {
		if v.Questions, err = p.questionsFor(r, records.QuestionQuery{Statuses: []domain.QuestionStatus{domain.QuestionOpen}}, ""); err != nil {
			return err
		}
	}
	back := url.Values{}
	for k, vs := range vals {
		if k != "view" && k != "limit" {
			back[k] = vs
		}
	}
	v.Back = path + "?" + back.Encode()
	if v.Questions != nil {
		v.Questions.Back = v.Back
	}
	export := url.Values{}
	for k, vs := range vals {
		if k != "offset" && k != "limit" {
			export[k] = vs
		}
	}
	export.Set("format", "csv")
	v.ExportQuery = export.Encode()
	v.Page = pager{Total: page.Total, From: page.Offset + 1, To: page.Offset + len(page.Value)}
	link := func(offset int) string {
		b := url.Values{}
		for k, vs := range back {
			b[k] = vs
		}
		b.Set("offset", strconv.Itoa(offset))
		return path + "?" + b.Encode()
	}
	if page.Offset > 0 {
		v.Page.Prev = link(max(0, page.Offset-pageSize))
	}
	if page.Offset+len(page.Value) < page.Total {
		v.Page.Next = link(page.Offset + pageSize)
	}
	p.render(w, r, http.StatusOK, nav, v)
	return nil
}

func secretOf(r *http.Request) string {
	s, _ := r.Context().Value(secretKey{}).(string)
	return s
}

// backTo returns the list page a form came from, only ever a path of these
// pages (never another site).
func backTo(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	if (strings.HasPrefix(b, "/actions?") || strings.HasPrefix(b, "/actions/history?") || strings.HasPrefix(b, "/incidents/")) &&
		!strings.ContainsAny(b, "\\\r\n") {
		return b
	}
	return def
}

// decide handles the pending page's form: a row's Approve or Reject
// button ("one" = "approve:ID"), or a bulk decision on the checked rows.
func (p *pages) decide(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	back := backTo(r, "/actions")
	if one := r.PostFormValue("one"); one != "" {
		verb, id, _ := strings.Cut(one, ":")
		d, err := decision(verb)
		if err != nil {
			return err
		}
		a, err := p.Center.Decide(r.Context(), pr, id, d, strings.TrimSpace(r.PostFormValue("comment-"+id)), "")
		if err != nil {
			p.setFlash(w, r, "error", fmt.Sprintf("Could not %s action %s: %s", verb, short(id), p.message(err)))
		} else {
			p.setFlash(w, r, "ok", fmt.Sprintf("%s %s on %s (action %s).", pastTense(a.Status), a.Type, a.TargetName, short(a.ID)))
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	d, err := decision(r.PostFormValue("decision"))
	if err != nil {
		return err
	}
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		p.setFlash(w, r, "error", "Select one or more actions of one type first.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	results, err := p.Center.DecideMany(r.Context(), pr, ids, d, strings.TrimSpace(r.PostFormValue("comment")))
	if err != nil {
		p.setFlash(w, r, "error", "Nothing decided: "+p.message(err))
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	var failed []string
	for _, res := range results {
		if !res.OK {
			failed = append(failed, short(res.ID)+": "+res.Error.Message)
		}
	}
	verb := map[domain.Decision]string{domain.DecisionApprove: "Approved", domain.DecisionReject: "Rejected"}[d]
	if len(failed) == 0 {
		p.setFlash(w, r, "ok", fmt.Sprintf("%s %d actions.", verb, len(results)))
	} else {
		p.setFlash(w, r, "error", fmt.Sprintf("%s %d of %d actions; not decided: %s", verb, len(results)-len(failed),
			len(results), strings.Join(failed, "; ")))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func (p *pages) undo(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	back := backTo(r, "/actions/history")
	a, err := p.Center.Undo(r.Context(), auth.FromContext(r.Context()), id, strings.TrimSpace(r.PostFormValue("comment")))
	if err != nil {
		p.setFlash(w, r, "error", fmt.Sprintf("Could not undo action %s: %s", short(id), p.message(err)))
	} else {
		p.setFlash(w, r, "ok", fmt.Sprintf("Undo requested: %s on %s (action %s, %s).", a.Type, a.TargetName, short(a.ID), a.Status))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

func decision(v string) (domain.Decision, error) {
	switch d := domain.Decision(v); d {
	case domain.DecisionApprove, domain.DecisionReject:
		return d, nil
	}
	return "", domain.Invalid("decision", "want approve or reject, got %q", v)
}

func pastTense(s domain.ActionStatus) string {
	switch s {
	case domain.ActionApproved:
		return "Approved"
	case domain.ActionRejected:
		return "Rejected"
	}
	return "Decided (" + string(s) + ")"
}

// message is what a person is shown of an error: a domain error's text;
// anything else stays in the log.
func (p *pages) message(err error) string {
	if domain.KindOf(err) != "" {
		return err.Error()
	}
	p.Log.WithError(err).Error("action center page")
	return "internal error; see the worker's log"
}

func short(id string) string { return id[:min(len(id), 10)] }
