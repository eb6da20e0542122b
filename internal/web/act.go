package web

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// rowAction is an action an analyst can take from an entity's row: a
// remediation on that kind of entity that needs no parameter beyond those
// with a default (the API and the CLI take the others).
type rowAction struct {
	Type, Label, Risk string
}

// rowActions lists, by entity kind, the actions the incident page offers
// on an entity's row, in the registry's order.
var rowActions = func() map[domain.EntityKind][]rowAction {
	out := map[domain.EntityKind][]rowAction{}
	for _, s := range actions.All() {
		if !s.Remediation || s.Target == "" {
			continue
		}
		plain := true
		for _, p := range s.Params {
			if p.Required && p.Default == nil {
				plain = false
			}
		}
		if plain {
			out[s.Target] = append(out[s.Target], rowAction{Type: s.Type, Label: actions.Label(s.Type), Risk: s.Risk()})
		}
	}
	return out
}()

// requestAction takes a manual action on one of the incident's entities
// from its row (responder): through the API's RequestAction, so that it
// waits for approval like any other, and back to the tab it came from.
func (p *pages) requestAction(w http.ResponseWriter, r *http.Request) error {
	pr, id, back, err := incidentForm(r, auth.Responder)
	if err != nil {
		return err
	}
	body := api.ManualActionBody{Type: strings.TrimSpace(r.PostFormValue("type")),
		Target: domain.EntityKey(strings.TrimSpace(r.PostFormValue("target"))), Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	a, err := p.Incidents.RequestAction(r.Context(), pr, id, body)
	return p.formDone(w, r, back, err, func() string {
		what := fmt.Sprintf("%s on %s", actions.Label(a.Type), a.TargetName)
		if a.Status == domain.ActionPending {
			return fmt.Sprintf("Requested %s: it waits for approval (%s).", what, a.Reason)
		}
		return fmt.Sprintf("Requested %s: %s.", what, label(a.Status))
	}, "No action taken")
}

// manageAlert changes one alert of the incident from its row (analyst):
// status, classification with determination, assignment and a comment,
// through the API's ManageAlert. As with the incident's form, only the
// fields the analyst changed from what the page showed are sent.
func (p *pages) manageAlert(w http.ResponseWriter, r *http.Request) error {
	pr, id, back, err := incidentForm(r, auth.Analyst)
	if err != nil {
		return err
	}
	alertID := r.PathValue("alert")
	form := r.PostForm
	changed := edited(form)
	var ch records.AlertChange
	if v, ok := changed("status"); ok {
		s := domain.AlertStatus(v)
		ch.Status = &s
	}
	c, cOK := changed("classification")
	d, dOK := changed("determination")
	if cOK || dOK {
		ch.Classification, ch.Determination = &c, &d
	}
	if v, ok := changed("assignedTo"); ok {
		ch.AssignedTo = &v
	}
	ch.Comment = strings.TrimSpace(form.Get("comment"))
	if ch == (records.AlertChange{}) {
		p.setFlash(w, r, "error", "Nothing changed on the alert.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return nil
	}
	a, err := p.Incidents.ManageAlert(r.Context(), pr, alertID, ch)
	if err == nil && a.IncidentID != id {
		// The alert belongs elsewhere now: say so rather than pretend.
		back = fmt.Sprintf("/incidents/%d?tab=alerts", a.IncidentID)
	}
	return p.formDone(w, r, back, err, func() string { return fmt.Sprintf("Alert %q: %s.", a.Title, describeAlertChange(&ch)) },
		"Alert not changed")
}

// describeAlertChange says in a few words what an alert change did, in
// the incident change's words.
func describeAlertChange(ch *records.AlertChange) string {
	var parts []string
	if ch.Status != nil {
		parts = append(parts, "status "+label(*ch.Status))
	}
	rest := describeChange(&records.IncidentChange{Classification: ch.Classification, Determination: ch.Determination,
		AssignedTo: ch.AssignedTo, Comment: ch.Comment})
	if rest != "" {
		parts = append(parts, rest)
	}
	return strings.Join(parts, ", ")
}

// rowActCell is an entity's row with what the analyst may do from it: N
// names the form its controls point at (forms sit outside the table, so
// that a row may be inside another form).
type rowActCell struct {
	entityRow
	N       string
	Choices []rowAction
	CanAct  bool
}

func rowAct(e entityRow, prefix string, n int, v *view) rowActCell {
	return rowActCell{entityRow: e, N: fmt.Sprintf("%s%d", prefix, n), Choices: rowActions[e.Kind], CanAct: v.CanDecide}
}

// rowActFormsView are the forms the rows' controls post with.
type rowActFormsView struct {
	ID        int64
	Tab, CSRF string
	Prefix    string
	Rows      []entityRow
	CanAct    bool
}

func rowActForms(rows []entityRow, prefix string, v *view) rowActFormsView {
	return rowActFormsView{ID: v.Incident.ID, Tab: v.Incident.Tab, CSRF: v.CSRF, Prefix: prefix, Rows: rows, CanAct: v.CanDecide}
}

// alertFormView is an alert row's manage form: the alert, its values as
// the selects show them, and the choices.
type alertFormView struct {
	Alert                         domain.Alert
	IncidentID                    int64
	CSRF                          string
	Classification, Determination string
	Statuses                      []domain.AlertStatus
	Classifications               []string
	Determinations                []choiceGroup
}

func alertForm(a domain.Alert, v *view) alertFormView {
	return alertFormView{Alert: a, IncidentID: v.Incident.ID, CSRF: v.CSRF,
		Classification: cmp.Or(a.Classification, "unknown"), Determination: cmp.Or(a.Determination, "unknown"),
		Statuses: domain.AlertStatuses, Classifications: domain.Classifications, Determinations: determinationOptions()}
}

// setVerdict records an analyst's verdict on one of the incident's
// entities from its row (analyst), through the API's SetVerdict: with a
// reason, or back to the provider's verdict.
func (p *pages) setVerdict(w http.ResponseWriter, r *http.Request) error {
	pr, id, back, err := incidentForm(r, auth.Analyst)
	if err != nil {
		return err
	}
	body := api.VerdictBody{Entity: domain.EntityKey(strings.TrimSpace(r.PostFormValue("target"))),
		VerdictChange: records.VerdictChange{Verdict: domain.Verdict(strings.TrimSpace(r.PostFormValue("verdict"))),
			Reason: strings.TrimSpace(r.PostFormValue("reason"))}}
	e, err := p.Incidents.SetVerdict(r.Context(), pr, id, body)
	return p.formDone(w, r, back, err, func() string {
		if e.Decision == nil {
			return fmt.Sprintf("%s: back to the provider's verdict, %s.", e.Name, label(cmp.Or(e.Verdict, domain.VerdictUnknown)))
		}
		return fmt.Sprintf("%s: %s, by you.", e.Name, label(e.Verdict))
	}, "Verdict not changed")
}
