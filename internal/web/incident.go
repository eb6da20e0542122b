package web

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// incidentTabs are the incident page's tabs, in order: one link each
// (?tab=…), so that they work without script.
var incidentTabs = []struct{ Key, Label string }{
	{"summary", "Summary"}, {"alerts", "Alerts"}, {"devices", "Devices"}, {"users", "Users"},
	{"mailboxes", "Mailboxes"}, {"investigations", "Investigations"}, {"response", "Evidence and response"},
	{"story", "Story"},
}

type tab struct {
	Key, Label, Link string
	Count            int
	HasCount         bool
	Current          bool
}

// incidentView is what the incident page shows.
type incidentView struct {
	*api.IncidentDetail
	Derived  records.Derived
	Tab      string
	Tabs     []tab
	Timeline []event
	// Entities are every entity of the incident with its verdict,
	// remediation status and actions; Devices, Users and Mailboxes the
	// entities of those kinds.
	Entities                  []entityRow
	Devices, Users, Mailboxes []entityRow
	// Other are the actions on targets that are none of its entities.
	Other []domain.Action
	// Back is this tab, where a decision or a change returns.
	Back      string
	CanDecide bool
	// CanStop offers a responder to stop an investigation that still runs.
	CanStop    bool
	Redirected bool
	Resolved   bool
	Manage     manageForm
	// Activity is the activity log, newest first.
	Activity []records.AuditEntry
	// Questions are the incident's questions, open ones with their
	// answer forms.
	Questions *questionsView
	// Story is the Story tab's drawing (on that tab only).
	Story *storyView
}

// entityRow is an entity as the incident page lists it.
type entityRow struct {
	domain.Entity
	Remediation string
	Actions     []domain.Action
	Pending     int
	Alerts      int
	// Facts are what analysis steps learned about it, in words.
	Facts []factLine
}

// event is one line of an incident's timeline.
type event struct {
	At         time.Time
	Kind, Text string
	Who        string
	// Count is how many identical entries in a row this one stands for
	// (a detector firing 21 times reads "21 × …"); Until is the last one's time.
	Count int
	Until time.Time
}

// manageForm is the manage panel: the incident's values and the choices.
type manageForm struct {
	// Classification and Determination as the selects show them.
	Classification, Determination string

	Statuses        []domain.IncidentStatus
	Severities      []domain.Severity
	Classifications []string
	Determinations  []choiceGroup
}

func (p *pages) incident(w http.ResponseWriter, r *http.Request) error {
	pr := auth.FromContext(r.Context())
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	tabKey := r.URL.Query().Get("tab")
	if tabKey == "" {
		tabKey = "summary"
	}
	if !slices.ContainsFunc(incidentTabs, func(t struct{ Key, Label string }) bool { return t.Key == tabKey }) {
		return domain.Invalid("tab", "unknown tab %q", tabKey)
	}
	d, err := p.Incidents.Incident(r.Context(), pr, id)
	if err != nil {
		return err
	}
	v := &incidentView{IncidentDetail: d, Tab: tabKey, CanDecide: pr.Role.AtLeast(auth.Responder),
		Redirected: d.Status == domain.IncidentRedirected, Resolved: d.Status == domain.IncidentResolved,
		Back: fmt.Sprintf("/incidents/%d?tab=%s", id, tabKey),
		Manage: manageForm{Statuses: []domain.IncidentStatus{domain.IncidentActive, domain.IncidentInProgress, domain.IncidentResolved},
			Severities:      []domain.Severity{domain.SeverityHigh, domain.SeverityMedium, domain.SeverityLow, domain.SeverityInformational},
			Classifications: domain.Classifications, Determinations: determinationOptions()}}
	if d.Derived != nil {
		v.Derived = *d.Derived
	}
	v.Manage.Classification, v.Manage.Determination = cmp.Or(d.Classification, "unknown"), cmp.Or(d.Determination, "unknown")
	v.Entities, v.Other = entityRows(d)
	for _, e := range v.Entities {
		switch e.Kind {
		case domain.KindDevice:
			v.Devices = append(v.Devices, e)
		case domain.KindUser:
			v.Users = append(v.Users, e)
		case domain.KindMailbox:
			v.Mailboxes = append(v.Mailboxes, e)
		}
	}
	counts := map[string]int{"alerts": len(d.Alerts), "devices": len(v.Devices), "users": len(v.Users),
		"mailboxes": len(v.Mailboxes), "response": len(v.Entities)}
	for _, t := range incidentTabs {
		n, has := counts[t.Key]
		v.Tabs = append(v.Tabs, tab{Key: t.Key, Label: t.Label, Link: fmt.Sprintf("/incidents/%d?tab=%s", id, t.Key),
			Count: n, HasCount: has, Current: t.Key == tabKey})
	}
	v.Timeline = timeline(d)
	if tabKey == "story" {
		v.Story = buildStory(d.ID, d.Alerts, d.Entities)
	}
	v.CanStop = pr.Role.AtLeast(auth.Responder) && !v.Redirected && investigating(d.InvestigationState)
	v.Activity = slices.Clone(d.Activity)
	slices.Reverse(v.Activity)
	if v.Questions, err = p.questionsFor(r, records.QuestionQuery{IncidentIDs: []int64{id}}, v.Back); err != nil {
		return err
	}
	p.render(w, r, http.StatusOK, "incident", &view{Title: fmt.Sprintf("#%d %s", d.ID, d.DisplayName), Nav: "incidents", Live: fmt.Sprintf("incident:%d", d.ID),
		Principal: pr, CSRF: auth.CSRFToken(secretOf(r)), CanManage: pr.Role.AtLeast(auth.Analyst) && !v.Redirected,
		CanDecide: v.CanDecide, Incident: v})
	return nil
}

func incidentID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.Errorf(domain.KindNotFound, "no incident %q", r.PathValue("id"))
	}
	return id, nil
}

// actionLineView is one action on the response tab.
type actionLineView struct {
	Action    domain.Action
	CanDecide bool
}

func actionLine(a domain.Action, v *view) actionLineView {
	return actionLineView{Action: a, CanDecide: v.CanDecide}
}

// entityRows joins the incident's entities with the actions on them and
// the alerts that name them, and works out each one's remediation status.
func entityRows(d *api.IncidentDetail) (rows []entityRow, other []domain.Action) {
	byKey := map[domain.EntityKey]int{}
	for _, e := range d.Entities {
		byKey[e.Key] = len(rows)
		rows = append(rows, entityRow{Entity: e})
	}
	for _, a := range d.Alerts {
		seen := map[domain.EntityKey]bool{}
		for _, ev := range a.Evidence {
			if ev.Entity == nil {
				continue
			}
			k := ev.Entity.Key
			if i, ok := byKey[k]; ok && !seen[k] {
				seen[k] = true
				rows[i].Alerts++
			}
		}
	}
	// Oldest first, so that each entity's actions read as a story.
	acts := slices.Clone(d.Actions)
	slices.SortStableFunc(acts, func(a, b domain.Action) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, a := range acts {
		i, ok := byKey[a.TargetKey]
		if !ok {
			other = append(other, a)
			continue
		}
		rows[i].Actions = append(rows[i].Actions, a)
		if a.Status == domain.ActionPending {
			rows[i].Pending++
		}
	}
	for i := range rows {
		rows[i].Remediation = string(d.Remediation[rows[i].Key])
	}
	for _, f := range d.Facts {
		if i, ok := byKey[f.Entity]; ok {
			rows[i].Facts = append(rows[i].Facts, factOf(f))
		}
	}
	// What needs a decision first, then by verdict.
	slices.SortStableFunc(rows, func(a, b entityRow) int {
		return cmp.Or(cmp.Compare(b.Pending, a.Pending), cmp.Compare(verdictRank(b.Verdict), verdictRank(a.Verdict)))
	})
	return rows, other
}

func verdictRank(v domain.Verdict) int {
	return map[domain.Verdict]int{domain.VerdictMalicious: 3, domain.VerdictSuspicious: 2, domain.VerdictNoThreatsFound: 1}[v]
}

// timeline merges the incident's alerts, actions, milestones and changes
// by hand into one list, oldest first.
func timeline(d *api.IncidentDetail) []event {
	var out []event
	add := func(at *time.Time, kind, who, format string, args ...any) {
		if at != nil && !at.IsZero() {
			out = append(out, event{At: *at, Kind: kind, Who: who, Text: fmt.Sprintf(format, args...)})
		}
	}
	add(&d.CreatedDateTime, "milestone", "", "Incident created")
	for _, a := range d.Alerts {
		at := a.CreatedDateTime
		if f := a.FirstActivityDateTime; f != nil && !f.IsZero() && at.Sub(*f) > time.Minute {
			add(f, "alert", "", "Activity begins: %s", a.Title)
		}
		add(&at, "alert", domain.SourceName(a.DetectionSource), "%s alert: %s", label(a.Severity), a.Title)
	}
	for _, a := range d.Actions {
		who := a.RequestedBy
		what := actions.Label(a.Type)
		add(&a.CreatedAt, "action", actorName(who), "%s on %s — %s", what, a.TargetName, map[bool]string{true: "requested", false: "proposed"}[a.Source == domain.SourceManual])
		switch a.Status {
		case domain.ActionRejected, domain.ActionExpired:
			add(a.DecidedAt, "action", a.DecidedBy, "%s on %s — %s", what, a.TargetName, label(a.Status))
		default:
			if a.DecidedBy != "" {
				add(a.DecidedAt, "action", actorName(a.DecidedBy), "%s on %s — approved", what, a.TargetName)
			}
		}
		if a.FinishedAt != nil {
			res := string(a.Status)
			if a.Error != "" {
				res = "failed: " + a.Error
			} else if a.Status == domain.ActionUndone {
				res = "succeeded (since undone)"
			}
			add(a.FinishedAt, "action", "", "%s on %s — %s", what, a.TargetName, res)
		}
	}
	add(d.AcknowledgedDateTime, "milestone", "", "Acknowledged")
	add(d.ContainedDateTime, "milestone", "", "Contained")
	add(d.ResolvedDateTime, "milestone", "", "Resolved")
	for _, e := range d.Activity {
		if !strings.HasPrefix(e.Verb, "incident.") || e.Verb == "incident.comment" || e.Verb == "incident.created" {
			continue
		}
		field := label(strings.TrimPrefix(e.Verb, "incident."))
		switch {
		case e.Before != "" && e.After != "":
			add(&e.At, "change", actorName(e.Actor), "%s: %s → %s", field, pretty(e.Before), pretty(e.After))
		case e.After != "":
			add(&e.At, "change", actorName(e.Actor), "%s: %s", field, pretty(e.After))
		default:
			add(&e.At, "change", actorName(e.Actor), "%s cleared", field)
		}
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.At.Compare(b.At) })
	return groupRepeats(out)
}

// groupRepeats folds runs of identical entries (same kind, text and who,
// one after the other) into one with a count, so that a noisy detector
// reads "21 × …" instead of filling the timeline.
func groupRepeats(evs []event) []event {
	var out []event
	for _, e := range evs {
		if n := len(out); n > 0 && out[n-1].Kind == e.Kind && out[n-1].Text == e.Text && out[n-1].Who == e.Who {
			out[n-1].Count++
			out[n-1].Until = e.At
			continue
		}
		e.Count, e.Until = 1, e.At
		out = append(out, e)
	}
	return out
}

// incidentForm reads which incident a form of the incident page acts on,
// for whom (who must hold role), and where to return: the incident, on the
// tab the form was sent from.
func incidentForm(r *http.Request, role auth.Role) (*auth.Principal, int64, string, error) {
	pr := auth.FromContext(r.Context())
	id, err := incidentID(r)
	if err != nil {
		return nil, 0, "", err
	}
	if err := pr.Require(role); err != nil {
		return nil, 0, "", err
	}
	back := fmt.Sprintf("/incidents/%d", id)
	if t := r.PostFormValue("tab"); slices.ContainsFunc(incidentTabs, func(x struct{ Key, Label string }) bool { return x.Key == t }) {
		back += "?tab=" + url.QueryEscape(t)
	}
	return pr, id, back, nil
}

// manage applies the incident page's forms. Only what the user changed is
// sent: each field comes with the value the page showed ("was-…"), so
// that a change made meanwhile by someone else to another field stands.
func (p *pages) manage(w http.ResponseWriter, r *http.Request) error {
	pr, id, back, err := incidentForm(r, auth.Analyst)
	if err != nil {
		return err
	}
	form := r.PostForm
	changed := edited(form)
	var ch records.IncidentChange
	if v, ok := changed("displayName"); ok {
		ch.DisplayName = &v
	}
	if v, ok := changed("assignedTo"); ok {
		ch.AssignedTo = &v
	}
	ch.AddTags = splitTags(form.Get("addTags"))
	for _, t := range form["hadTag"] {
		if !slices.Contains(form["keepTag"], t) {
			ch.RemoveTags = append(ch.RemoveTags, t)
		}
	}
	status, statusChanged := changed("status")
	if statusChanged {
		s := domain.IncidentStatus(status)
		ch.Status = &s
	}
	if v, ok := changed("severity"); ok {
		s := domain.Severity(v)
		ch.Severity = &s
	}
	c, cOK := changed("classification")
	d, dOK := changed("determination")
	if cOK || dOK {
		ch.Classification, ch.Determination = &c, &d
	}
	if v, ok := changed("resolvingComment"); ok && v != "" {
		ch.ResolvingComment = v // alone, the store refuses it unless the incident is still resolved
	}
	ch.Comment = strings.TrimSpace(form.Get("comment"))
	if ch.Empty() {
		p.setFlash(w, r, "error", "Nothing changed.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	results, err := p.Incidents.ManageIncidents(r.Context(), pr, []int64{id}, ch)
	if err == nil && len(results) == 1 && !results[0].OK {
		err = &domain.Error{Kind: domain.ErrorKind(results[0].Error.Kind), Field: strings.TrimPrefix(results[0].Error.Field, "change."),
			Message: results[0].Error.Message}
	}
	return p.formDone(w, r, back, err, func() string { return fmt.Sprintf("Incident %d: %s.", id, describeChange(&ch)) },
		fmt.Sprintf("Incident %d not changed", id))
}

// edited reads a form whose fields each come with the value the page
// showed ("was-…"): it returns a field's value and whether the person
// changed it, so that only their changes are sent and a change made
// meanwhile by someone else to another field stands.
func edited(form url.Values) func(k string) (string, bool) {
	return func(k string) (string, bool) {
		if _, ok := form[k]; !ok {
			return "", false
		}
		v := strings.TrimSpace(form.Get(k))
		return v, v != strings.TrimSpace(form.Get("was-"+k))
	}
}

// formDone ends a form of the incident page: back where it came from, with
// a flash saying what was done (ok) or why not (failed: the reason). A
// refusal the page must not pass over — forbidden, not found — is the
// error page instead.
func (p *pages) formDone(w http.ResponseWriter, r *http.Request, back string, err error, ok func() string, failed string) error {
	switch k := domain.KindOf(err); {
	case err == nil:
		p.setFlash(w, r, "ok", ok())
	case k == domain.KindForbidden || k == domain.KindNotFound:
		return err
	default:
		p.setFlash(w, r, "error", failed+": "+p.message(err))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// describeChange says in a few words what a change did, for the flash.
func describeChange(ch *records.IncidentChange) string {
	var parts []string
	if ch.DisplayName != nil {
		parts = append(parts, "renamed")
	}
	if ch.AssignedTo != nil {
		if *ch.AssignedTo == "" {
			parts = append(parts, "unassigned")
		} else {
			parts = append(parts, "assigned to "+*ch.AssignedTo)
		}
	}
	if len(ch.AddTags) > 0 || len(ch.RemoveTags) > 0 {
		parts = append(parts, "tags updated")
	}
	if ch.Status != nil {
		parts = append(parts, "status "+label(*ch.Status))
	}
	if ch.Severity != nil {
		parts = append(parts, "severity "+string(*ch.Severity))
	}
	if ch.Classification != nil {
		parts = append(parts, "classified "+label(*ch.Classification)+" ("+label(*ch.Determination)+")")
	}
	if ch.ResolvingComment != "" {
		parts = append(parts, "resolving comment saved")
	}
	if ch.Comment != "" {
		parts = append(parts, "comment added")
	}
	return strings.Join(parts, ", ")
}

// investigating reports whether an investigation in state s may still be
// stopped: it has not finished.
func investigating(s domain.InvestigationState) bool {
	switch s {
	case domain.InvestigationQueued, domain.InvestigationRunning, domain.InvestigationPendingApproval,
		domain.InvestigationPendingResource:
		return true
	}
	return false
}

// stop stops the incident's investigation with the reason the responder
// gave, through the API's StopInvestigation (the workflow's stop Update),
// and returns to the incident with a flash saying what happened.
func (p *pages) stop(w http.ResponseWriter, r *http.Request) error {
	pr, id, back, err := incidentForm(r, auth.Responder)
	if err != nil {
		return err
	}
	st, err := p.Incidents.StopInvestigation(r.Context(), pr, id, r.PostFormValue("reason"))
	switch domain.KindOf(err) {
	case "":
		if err != nil {
			return err
		}
		rejected := 0
		for _, a := range st.Actions {
			if a.Status == domain.ActionRejected && a.DecidedBy == pr.Name {
				rejected++
			}
		}
		msg := "Stopped the investigation: no further step will run."
		if rejected > 0 {
			msg += fmt.Sprintf(" %d pending %s rejected with your reason.", rejected, plural(rejected, "action was", "actions were"))
		}
		p.setFlash(w, r, "ok", msg)
	case domain.KindInvalid, domain.KindConflict:
		p.setFlash(w, r, "error", "Not stopped: "+err.Error())
	default:
		return err
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
