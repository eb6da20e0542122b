// Package review is AIR's post-incident review and its response metrics.
//
// Report is the review of one resolved incident: a timeline of its alerts,
// the investigation's stages and steps, its actions and the changes people
// made, who decided what, the MITRE tactics and techniques its alerts
// carried, and the times to acknowledge, contain and resolve it. Those
// times are measured on the investigation's Temporal workflow history —
// the durable, append-only record of what happened and when — and fall
// back to the incident's activity log only where the history lacks them
// (past retention, or a change whose signal failed). Every figure names
// its source, so a number on the page can be explained.
//
// Metrics are the same figures across incidents (MTTA, MTTR, mean time to
// contain, automation rate, how long actions waited for a decision), from
// the store's columns rather than from histories, so that the dashboard
// and /metrics stay cheap at any number of incidents.
//
// docs/review-and-metrics.md says how each figure is computed.
package review

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	historypb "go.temporal.io/api/history/v1"

	"github.com/airsoc/air/internal/actions"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Source says where a figure or a timeline entry comes from.
type Source string

// Sources.
const (
	// FromHistory is the investigation's Temporal workflow history: event
	// timestamps written by the Temporal server.
	FromHistory Source = "workflow history"
	// FromActivityLog is the incident's activity log (the audit log), the
	// fallback when the history lacks a figure.
	FromActivityLog Source = "activity log"
	// FromActions is the action center's records, which the workflow
	// writes (proposed, decided, started, finished).
	FromActions Source = "action records"
	// FromAlerts is the alerts as ingested.
	FromAlerts Source = "alerts"
	// FromIncident is the incident record itself (its creation time).
	FromIncident Source = "incident record"
)

// Report is the post-incident review of one resolved incident.
type Report struct {
	Incident domain.Incident `json:"incident"`
	// InvestigationStarted is when the clock starts: the first run of the
	// investigation's workflow (else the incident's creation).
	InvestigationStarted Milestone `json:"investigationStarted"`
	// TimeToAcknowledge is the first human act on the incident: a change
	// by hand, or a decision, undo or manual request on its actions.
	TimeToAcknowledge *Milestone `json:"timeToAcknowledge,omitempty"`
	// TimeToContain is the first containment action that succeeded
	// (actions.IsContainment): an isolation, a blocked indicator, a
	// disabled user...
	TimeToContain *Milestone `json:"timeToContain,omitempty"`
	// TimeToResolve is the last time the incident was set resolved.
	TimeToResolve *Milestone `json:"timeToResolve,omitempty"`
	// Timeline is everything that happened, oldest first.
	Timeline []Entry `json:"timeline"`
	// Decisions says who decided what: every decision on an action and
	// every change by hand to the incident's status, assignment or
	// classification, oldest first.
	Decisions []Decision `json:"decisions"`
	// Actions are the incident's actions, oldest first.
	Actions []domain.Action `json:"actions"`
	// Alerts are the incident's alerts, by activity time.
	Alerts []AlertLine `json:"alerts"`
	// ImpactedAssets are the devices, users, mailboxes and apps involved.
	ImpactedAssets records.ImpactedAssets `json:"impactedAssets"`
	// Tactics are the MITRE ATT&CK tactics the alerts' categories name, in
	// kill-chain order; categories that are no tactic (Malware,
	// SuspiciousActivity...) come last, without an id.
	Tactics []Tactic `json:"tactics"`
	// Techniques are the MITRE ATT&CK techniques the alerts name.
	Techniques []Technique `json:"techniques"`
	// Runs counts the workflow runs whose history the report read.
	Runs int `json:"runs"`
	// Notes say what the report could not measure from the history, and why.
	Notes []string `json:"notes,omitempty"`
	// GeneratedAt is when the report was made.
	GeneratedAt time.Time `json:"generatedAt"`
}

// Milestone is a moment of the response and how long after the start of
// the investigation it came.
type Milestone struct {
	At time.Time `json:"at"`
	// Seconds since InvestigationStarted (0 for the start itself; negative
	// if an analyst acted before the investigation started).
	Seconds float64 `json:"seconds"`
	// Duration is Seconds for people, e.g. "1h4m12s".
	Duration string `json:"duration"`
	// By is who did it: a person, or system:... for AIR itself.
	By string `json:"by,omitempty"`
	// What marked the moment, e.g. "status inProgress → resolved".
	What   string `json:"what"`
	Source Source `json:"source"`
}

// Entry is one line of the timeline.
type Entry struct {
	At time.Time `json:"at"`
	// Kind is alert, investigation, stage, step, action, decision, change
	// or comment.
	Kind string `json:"kind"`
	What string `json:"what"`
	By   string `json:"by,omitempty"`
	// Ref names what the entry is about: an alert or action id, a stage.
	Ref    string `json:"ref,omitempty"`
	Source Source `json:"source"`
}

// Timeline entry kinds.
const (
	KindAlert         = "alert"
	KindInvestigation = "investigation"
	KindStage         = "stage"
	KindStep          = "step"
	KindAction        = "action"
	KindDecision      = "decision"
	KindChange        = "change"
	KindComment       = "comment"
)

// Decision is one decision and who made it.
type Decision struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// Human is false for AIR's own decisions (policy, expiry).
	Human bool `json:"human"`
	// What was decided, e.g. "approved device.isolate on ws-042" or
	// "status active → inProgress".
	What string `json:"what"`
	// ActionID is set for decisions on actions.
	ActionID string `json:"actionId,omitempty"`
	Comment  string `json:"comment,omitempty"`
	Source   Source `json:"source"`
}

// AlertLine is an alert as the review lists it.
type AlertLine struct {
	ID              string          `json:"id"`
	Title           string          `json:"title"`
	Severity        domain.Severity `json:"severity"`
	Category        string          `json:"category,omitempty"`
	MitreTechniques []string        `json:"mitreTechniques,omitempty"`
	ServiceSource   string          `json:"serviceSource,omitempty"`
	DetectionSource string          `json:"detectionSource,omitempty"`
	// ActivityAt is the alert's first activity (its creation when the
	// provider gave none).
	ActivityAt time.Time `json:"activityAt"`
}

// Tactic is a MITRE ATT&CK tactic (or another alert category) seen.
type Tactic struct {
	Name string `json:"name"`         // the Graph category, e.g. CredentialAccess
	ID   string `json:"id,omitempty"` // the ATT&CK id, e.g. TA0006
	// Alerts counts the incident's alerts in it.
	Alerts int `json:"alerts"`
	// Title, Description and URL are ATT&CK's, when an imported ATT&CK
	// feed knows the tactic.
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Technique is a MITRE ATT&CK technique seen, described by ATT&CK when an
// imported ATT&CK feed knows it.
type Technique struct {
	ID     string `json:"id"` // e.g. T1003.001
	Alerts int    `json:"alerts"`
	Name   string `json:"name,omitempty"`
	// DescribedBy is the parent technique whose description stands in for
	// a sub-technique no feed describes (T1566 for T1566.002).
	DescribedBy string `json:"describedBy,omitempty"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	// Mitigations are the courses of action ATT&CK lists against it.
	Mitigations []intel.Mitigation `json:"mitigations,omitempty"`
}

// History reads the workflow histories of an incident's investigation:
// every run, oldest first, each run's events in order. engine.Engine
// implements it.
type History interface {
	IncidentHistory(ctx context.Context, incidentID int64) ([][]*historypb.HistoryEvent, error)
}

// Facts is what a report is made of, as read from the store and Temporal.
type Facts struct {
	Incident domain.Incident
	Alerts   []domain.Alert
	Derived  *records.Derived
	Actions  []domain.Action
	Comments []domain.Comment
	Activity []records.AuditEntry
	// Runs are the workflow histories (History.IncidentHistory); empty
	// when there are none.
	Runs [][]*historypb.HistoryEvent
	// HistoryErr is why the histories could not be read, or not all of
	// them (Runs then holds those that were).
	HistoryErr error
	// Attack is what the imported ATT&CK feeds say of the tactics and
	// techniques the alerts name; nil or empty when none is imported.
	Attack *store.Attack
	// Scoped says the reader is scoped to device groups: Actions and
	// Activity hold only what they may see, and the history is read with
	// the same limits.
	Scoped bool
}

// NotResolved is the conflict error for a review asked of an open incident.
func NotResolved(inc *domain.Incident) error {
	return domain.Errorf(domain.KindConflict,
		"incident %d is %s: post-incident review is for resolved incidents; resolve it first", inc.ID, inc.Status)
}

// Load reads the facts of an incident's review. Actions are limited to
// the device groups in scope (none: all). A history that cannot be read is
// no error: the report falls back to the activity log and says so.
func Load(ctx context.Context, st *store.Store, h History, incidentID int64, scope []string) (*Facts, error) {
	inc, err := st.GetIncident(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	f := &Facts{Incident: *inc}
	if f.Alerts, err = st.IncidentAlerts(ctx, incidentID); err != nil {
		return nil, err
	}
	if f.Derived, err = st.IncidentDerived(ctx, incidentID); err != nil {
		return nil, err
	}
	page, err := st.QueryActions(ctx, records.ActionQuery{IncidentIDs: []int64{incidentID}, Scope: scope,
		Sort: "createdAt", Limit: maxActions})
	if err != nil {
		return nil, err
	}
	for _, row := range page.Value {
		f.Actions = append(f.Actions, row.Action)
	}
	if f.Comments, err = st.IncidentComments(ctx, incidentID); err != nil {
		return nil, err
	}
	if f.Activity, err = st.IncidentActivity(ctx, incidentID); err != nil {
		return nil, err
	}
	if f.Attack, err = st.AttackKnowledge(ctx, alertTactics(f.Alerts), alertTechniques(f.Alerts)); err != nil {
		return nil, err
	}
	if h == nil {
		f.HistoryErr = fmt.Errorf("no workflow history reader configured")
	} else if f.Runs, err = h.IncidentHistory(ctx, incidentID); err != nil {
		f.HistoryErr = err
	}
	if len(scope) > 0 {
		f.Scoped = true
		f.Activity = store.WithoutHiddenActions(f.Activity, f.Actions)
	}
	return f, nil
}

// maxActions bounds the actions one report lists.
const maxActions = 1000

// Build makes the report. It refuses (conflict) an incident that is not
// resolved.
func Build(f *Facts, now time.Time) (*Report, error) {
	if f.Incident.Status != domain.IncidentResolved {
		return nil, NotResolved(&f.Incident)
	}
	r := &Report{Incident: f.Incident, Actions: f.Actions, GeneratedAt: now.UTC(),
		Timeline: []Entry{}, Decisions: []Decision{}, Alerts: []AlertLine{}, Tactics: []Tactic{}, Techniques: []Technique{}}
	if r.Actions == nil {
		r.Actions = []domain.Action{}
	}
	if f.Derived != nil {
		r.ImpactedAssets = f.Derived.ImpactedAssets
	}
	r.alerts(f.Alerts)
	r.describe(f.Attack)
	h := readHistory(f.Runs, f.Actions, f.Scoped)
	r.Runs = len(f.Runs)
	r.Notes = append(r.Notes, h.notes...)
	if f.HistoryErr != nil {
		what := "workflow history not read: "
		if len(f.Runs) > 0 {
			what = "workflow history read in part: "
		}
		r.Notes = append(r.Notes, what+f.HistoryErr.Error())
	}
	r.Timeline = append(r.Timeline, h.timeline...)
	r.actions(f.Actions, h)
	r.changes(f.Activity, h)
	for _, c := range f.Comments {
		r.Timeline = append(r.Timeline, Entry{At: c.CreatedDateTime, Kind: KindComment, What: c.Comment,
			By: c.CreatedByDisplayName, Source: FromIncident})
	}
	r.milestones(f, h)
	sort.SliceStable(r.Timeline, func(i, j int) bool { return r.Timeline[i].At.Before(r.Timeline[j].At) })
	sort.SliceStable(r.Decisions, func(i, j int) bool { return r.Decisions[i].At.Before(r.Decisions[j].At) })
	return r, nil
}

// alerts lists the alerts, their timeline entries and the tactics and
// techniques they name.
func (r *Report) alerts(alerts []domain.Alert) {
	tactics := map[string]int{}
	techniques := map[string]int{}
	for _, a := range alerts {
		at := a.CreatedDateTime
		if a.FirstActivityDateTime != nil && !a.FirstActivityDateTime.IsZero() {
			at = *a.FirstActivityDateTime
		}
		r.Alerts = append(r.Alerts, AlertLine{ID: a.ID, Title: a.Title, Severity: a.Severity, Category: a.Category,
			MitreTechniques: a.MitreTechniques, ServiceSource: a.ServiceSource, DetectionSource: a.DetectionSource, ActivityAt: at})
		what := fmt.Sprintf("alert %q (%s", a.Title, a.Severity)
		if a.Category != "" {
			what += ", " + a.Category
		}
		r.Timeline = append(r.Timeline, Entry{At: at, Kind: KindAlert, What: what + ")", By: a.ServiceSource,
			Ref: a.ID, Source: FromAlerts})
		if a.Category != "" {
			tactics[a.Category]++
		}
		seen := map[string]bool{}
		for _, t := range a.MitreTechniques {
			if t = strings.TrimSpace(t); t != "" && !seen[t] {
				seen[t] = true
				techniques[t]++
			}
		}
	}
	sort.SliceStable(r.Alerts, func(i, j int) bool { return r.Alerts[i].ActivityAt.Before(r.Alerts[j].ActivityAt) })
	for name, n := range tactics {
		r.Tactics = append(r.Tactics, Tactic{Name: name, ID: TacticID(name), Alerts: n})
	}
	slices.SortFunc(r.Tactics, func(a, b Tactic) int {
		ra, rb := tacticRank(a.Name), tacticRank(b.Name)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
	for id, n := range techniques {
		r.Techniques = append(r.Techniques, Technique{ID: id, Alerts: n})
	}
	slices.SortFunc(r.Techniques, func(a, b Technique) int { return strings.Compare(a.ID, b.ID) })
}

// alertTactics lists the ATT&CK ids of the tactics alerts name.
func alertTactics(alerts []domain.Alert) []string {
	var out []string
	for _, a := range alerts {
		if id := TacticID(a.Category); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// alertTechniques lists the techniques alerts name.
func alertTechniques(alerts []domain.Alert) []string {
	var out []string
	for _, a := range alerts {
		for _, t := range a.MitreTechniques {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// describe adds ATT&CK's words to the tactics and techniques seen: a
// technique's name, description and mitigations (a sub-technique no feed
// describes gets its parent's, and says so).
func (r *Report) describe(k *store.Attack) {
	if k == nil {
		return
	}
	for i := range r.Tactics {
		if t, ok := k.Tactics[r.Tactics[i].ID]; ok {
			r.Tactics[i].Title, r.Tactics[i].Description, r.Tactics[i].URL = t.Name, t.Description, t.URL
		}
	}
	for i := range r.Techniques {
		tq := &r.Techniques[i]
		t, ok := k.Techniques[tq.ID]
		if !ok {
			if t, ok = k.Techniques[intel.Parent(tq.ID)]; !ok {
				continue
			}
			tq.DescribedBy = t.ID
		}
		tq.Name, tq.Description, tq.URL, tq.Mitigations = t.Name, t.Description, t.URL, t.Mitigations
	}
}

// tactics are MITRE ATT&CK's enterprise tactics in kill-chain order, by
// the names Graph alerts use as their category.
var tactics = []struct{ name, id string }{
	{"Reconnaissance", "TA0043"}, {"ResourceDevelopment", "TA0042"}, {"InitialAccess", "TA0001"},
	{"Execution", "TA0002"}, {"Persistence", "TA0003"}, {"PrivilegeEscalation", "TA0004"},
	{"DefenseEvasion", "TA0005"}, {"CredentialAccess", "TA0006"}, {"Discovery", "TA0007"},
	{"LateralMovement", "TA0008"}, {"Collection", "TA0009"}, {"CommandAndControl", "TA0011"},
	{"Exfiltration", "TA0010"}, {"Impact", "TA0040"},
}

// TacticID returns the MITRE ATT&CK id of a tactic named as Graph alert
// categories name them (case and spaces ignored), or "" for a category
// that is no tactic.
func TacticID(category string) string {
	if i := tacticRank(category); i < len(tactics) {
		return tactics[i].id
	}
	return ""
}

func tacticRank(category string) int {
	norm := strings.ToLower(strings.NewReplacer(" ", "", "_", "", "-", "").Replace(category))
	for i, t := range tactics {
		if strings.ToLower(t.name) == norm {
			return i
		}
	}
	return len(tactics)
}

// actions adds each action's life to the timeline and its decision to the
// decisions, from the action records; the history adds who asked for
// decisions by Update, which the records carry too.
func (r *Report) actions(acts []domain.Action, h *history) {
	for _, a := range acts {
		target := a.TargetName
		if target == "" {
			target = string(a.TargetKey)
		}
		label := a.Type
		if target != "" {
			label += " on " + target
		}
		by := a.RequestedBy
		if a.Source == domain.SourceAutomated {
			by = "system:playbook:" + a.Playbook
		}
		proposed := "proposed " + label
		if a.UndoOf != "" {
			proposed = "undo of action " + a.UndoOf + ": " + label
		}
		r.Timeline = append(r.Timeline, Entry{At: a.CreatedAt, Kind: KindAction, What: proposed + " (" + a.Reason + ")",
			By: by, Ref: a.ID, Source: FromActions})
		if a.DecidedAt != nil && a.DecidedBy != "" {
			verb := map[domain.ActionStatus]string{domain.ActionRejected: "rejected", domain.ActionExpired: "expired"}[a.Status]
			if verb == "" {
				verb = "approved"
			}
			d := Decision{At: *a.DecidedAt, By: a.DecidedBy, Human: store.IsHuman(a.DecidedBy), What: verb + " " + label,
				ActionID: a.ID, Comment: a.DecisionComment, Source: FromActions}
			r.Decisions = append(r.Decisions, d)
			what := d.What
			if d.Comment != "" {
				what += ": " + d.Comment
			}
			r.Timeline = append(r.Timeline, Entry{At: d.At, Kind: KindDecision, What: what, By: d.By, Ref: a.ID, Source: FromActions})
		}
		if a.StartedAt != nil {
			r.Timeline = append(r.Timeline, Entry{At: *a.StartedAt, Kind: KindAction, What: "started " + label,
				By: "system:investigation", Ref: a.ID, Source: FromActions})
		}
		if a.FinishedAt != nil {
			what := string(a.Status) + " " + label
			switch {
			case a.Error != "":
				what += ": " + a.Error
			case a.Result != "":
				what += ": " + a.Result
			}
			r.Timeline = append(r.Timeline, Entry{At: *a.FinishedAt, Kind: KindAction, What: what,
				By: "system:investigation", Ref: a.ID, Source: FromActions})
		}
	}
}

// watched are the incident fields whose changes by hand are decisions.
var watched = []string{"status", "assignedTo", "classification", "determination"}

// changes adds the incident's changes by hand: from the history's
// incident-changed signals, and from the activity log for those the
// history lacks (a change whose signal failed, or before the signal
// existed).
func (r *Report) changes(activity []records.AuditEntry, h *history) {
	used := make([]bool, len(h.changes))
	for _, e := range activity {
		field, ok := strings.CutPrefix(e.Verb, "incident.")
		if !ok || !slices.Contains(watched, field) {
			continue
		}
		// The same change, signalled: the history has it, with its time.
		i := -1
		for j, c := range h.changes {
			if !used[j] && c.Field == field && c.To == e.After && c.By == e.Actor {
				i = j
				break
			}
		}
		if i >= 0 {
			used[i] = true
			continue
		}
		h.unsignalled[e.ID] = true
		h.logged = append(h.logged, change{At: e.At, Field: field, From: e.Before, To: e.After, By: e.Actor, Source: FromActivityLog})
	}
	all := append(slices.Clone(h.changes), h.logged...)
	for _, c := range all {
		what := fmt.Sprintf("%s %s → %s", c.Field, orNone(c.From), orNone(c.To))
		r.Timeline = append(r.Timeline, Entry{At: c.At, Kind: KindChange, What: what, By: c.By, Source: c.Source})
		r.Decisions = append(r.Decisions, Decision{At: c.At, By: c.By, Human: store.IsHuman(c.By), What: what, Source: c.Source})
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// milestones sets the start, acknowledgement, containment and resolution,
// from the history where it has them.
func (r *Report) milestones(f *Facts, h *history) {
	start := Milestone{At: f.Incident.CreatedDateTime, What: "incident created", Source: FromIncident}
	if !h.started.IsZero() {
		start = Milestone{At: h.started, By: "system:investigation", What: "investigation started", Source: FromHistory}
	} else {
		r.Notes = append(r.Notes, "the investigation's start is not in the workflow history: times count from the incident's creation")
	}
	start.Duration = "0s"
	r.InvestigationStarted = start
	since := func(m *Milestone) *Milestone {
		if m == nil {
			return nil
		}
		d := m.At.Sub(start.At)
		m.Seconds, m.Duration = d.Seconds(), d.Round(time.Second).String()
		return m
	}

	// Acknowledged: the first human act. The history has the changes the
	// API signals (status, assignment, classification) and the decisions;
	// the activity log alone has the other touches by hand (a comment, a
	// tag, a rename), which count when they came first, and everything
	// when the history is missing.
	ack := h.acknowledged
	for _, e := range f.Activity {
		if !store.IsHuman(e.Actor) {
			continue
		}
		field, _ := strings.CutPrefix(e.Verb, "incident.")
		signalled := strings.HasPrefix(e.Verb, "action.") || slices.Contains(watched, field) && !h.unsignalled[e.ID]
		if ack != nil && (signalled || !e.At.Before(ack.At)) {
			continue
		}
		ack = &Milestone{At: e.At, By: e.Actor, What: activityWhat(e), Source: FromActivityLog}
		break
	}
	if ack != nil && ack.Source != FromHistory {
		r.Notes = append(r.Notes, "acknowledgement taken from the activity log: "+ack.What+" is not in the workflow history")
	}
	r.TimeToAcknowledge = since(ack)

	// Contained: the first containment action that ran to success.
	cont := h.contained
	if cont == nil {
		types := map[string]domain.Action{}
		for _, a := range f.Actions {
			types["action:"+a.ID] = a
		}
		for _, e := range f.Activity {
			a, ok := types[e.Object]
			if ok && e.Verb == "action.status" && strings.HasPrefix(e.After, string(domain.ActionSucceeded)) && actions.IsContainment(a.Type) {
				cont = &Milestone{At: e.At, By: a.DecidedBy, What: fmt.Sprintf("%s on %s succeeded", a.Type, a.TargetName), Source: FromActivityLog}
				break
			}
		}
		if cont != nil {
			r.Notes = append(r.Notes, "containment is not in the workflow history: taken from the activity log")
		}
	}
	r.TimeToContain = since(cont)

	// Resolved: the last time someone set it resolved. A resolution the
	// history lacks but the activity log has, later than the history's, is
	// the one that counts.
	res := h.resolved
	for _, c := range h.logged {
		if c.Field == "status" && c.To == string(domain.IncidentResolved) && (res == nil || c.At.After(res.At)) {
			res = &Milestone{At: c.At, By: c.By, What: fmt.Sprintf("status %s → %s", orNone(c.From), c.To), Source: FromActivityLog}
		}
	}
	if res == nil && f.Incident.ResolvedDateTime != nil {
		res = &Milestone{At: *f.Incident.ResolvedDateTime, What: "incident resolved", Source: FromIncident}
	}
	if res != nil && res.Source != FromHistory {
		r.Notes = append(r.Notes, "resolution is not in the workflow history: taken from the "+string(res.Source))
	}
	r.TimeToResolve = since(res)
}

func activityWhat(e records.AuditEntry) string {
	what := strings.TrimPrefix(e.Verb, "incident.")
	if e.Before != "" || e.After != "" {
		what += fmt.Sprintf(" %s → %s", orNone(e.Before), orNone(e.After))
	}
	return what
}
