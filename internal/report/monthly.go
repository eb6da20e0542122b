package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/internal/store"
)

// Monthly is the monthly automation review.
type Monthly struct {
	Period Period `json:"period"`
	// Automation is the month's automation rate over every action type.
	Automation review.Automation `json:"automation"`
	// ByType is the automation rate per action type; ByGroup per action
	// type and device group, for targets that have one.
	ByType  []AutomationLine `json:"byType"`
	ByGroup []AutomationLine `json:"byGroup"`
	// Decisions counts, per action type and device group, the approvals,
	// rejections and expiries; Comments lists the decisions that gave a
	// reason (at most MaxListed).
	Decisions []DecisionLine    `json:"decisions"`
	Comments  []DecisionComment `json:"comments"`
	// Undone are the actions undone in the month.
	Undone []store.UndoneAction `json:"undone"`
	// Detectors are those whose alerts were in the most incidents
	// created in the month (at most TopN).
	Detectors []Detector `json:"detectors"`
	// SettingsChanges are the month's configuration changes from the
	// audit log, oldest first.
	SettingsChanges []records.AuditEntry `json:"settingsChanges"`
	// Suggestions are what the counts support changing.
	Suggestions []Suggestion      `json:"suggestions"`
	How         map[string]string `json:"how"`
	Scoped      bool              `json:"scoped,omitempty"`
	GeneratedAt time.Time         `json:"generatedAt"`
}

// AutomationLine is the automation rate of one action type (in one device
// group).
type AutomationLine struct {
	Type        string `json:"type"`
	DeviceGroup string `json:"deviceGroup,omitempty"`
	review.Automation
}

// DecisionLine counts the decisions on one action type in one device
// group ("" for targets without one).
type DecisionLine struct {
	Type        string `json:"type"`
	DeviceGroup string `json:"deviceGroup,omitempty"`
	Approved    int    `json:"approved"`
	Rejected    int    `json:"rejected"`
	Expired     int    `json:"expired"`
	// ApprovalRate is Approved over all three (expired counts as
	// rejected).
	ApprovalRate float64 `json:"approvalRate"`
}

// Decided is the number of decisions the line counts.
func (l DecisionLine) Decided() int { return l.Approved + l.Rejected + l.Expired }

// DecisionComment is one decision with its reason.
type DecisionComment struct {
	At           time.Time `json:"at"`
	By           string    `json:"by"`
	Decision     string    `json:"decision"` // approved, rejected
	ActionID     string    `json:"actionId"`
	Type         string    `json:"type"`
	Target       string    `json:"target"`
	IncidentID   int64     `json:"incidentId"`
	IncidentName string    `json:"incidentName"`
	Comment      string    `json:"comment"`
}

// Detector is a detector and the incidents its alerts were in.
type Detector struct {
	// Detector is the alerts' detectorId, or their title when the
	// provider gave none.
	Detector string `json:"detector"`
	Title    string `json:"title"`
	// Incidents counts the month's incidents with an alert of it;
	// FalsePositives those among them classified falsePositive.
	Incidents      int     `json:"incidents"`
	FalsePositives int     `json:"falsePositives"`
	FPRate         float64 `json:"falsePositiveRate"`
}

// Suggestion is a change the month's counts support.
type Suggestion struct {
	Kind string `json:"kind"` // automate, approval-rule, tune-detector, review-step
	Text string `json:"text"`
	// Subject is what it is about: an action type (and group), a detector.
	Subject string `json:"subject"`
	// Count and Of are the figures behind it: Count of Of.
	Count int `json:"count"`
	Of    int `json:"of"`
}

// Thresholds of the suggestions.
const (
	// An action type approved at least AutomateRate of at least
	// AutomateMin decisions in a device group could run on its own there.
	AutomateRate = 0.95
	AutomateMin  = 20
	// A detector whose incidents were false positives at least TuneRate
	// of at least TuneMin times wants tuning.
	TuneRate = 0.80
	TuneMin  = 10
	// An action type undone at least UndoMin times and UndoRate of the
	// times it ran is proposed where it should not be.
	UndoRate = 0.20
	UndoMin  = 3
	// TopN bounds the detectors, tactics, techniques and incidents listed.
	TopN = 10
)

// MonthlyReport reads and computes the automation review of a month.
func MonthlyReport(ctx context.Context, st Store, p Period, scope []string, now time.Time) (*Monthly, error) {
	w := p.window(scope)
	f := MonthlyFacts{}
	var err error
	if f.Executed, err = st.ExecutedIn(ctx, w); err != nil {
		return nil, err
	}
	if f.Decided, err = st.DecidedIn(ctx, w); err != nil {
		return nil, err
	}
	if f.Undone, err = st.UndoneIn(ctx, w); err != nil {
		return nil, err
	}
	if f.Detectors, err = st.DetectorsIn(ctx, w); err != nil {
		return nil, err
	}
	// Settings are the tenant's; entity tags could name entities outside
	// a scoped reader's groups, so they see the settings changes only.
	verbs := []string{"settings.changed", "entity.tags"}
	if len(scope) > 0 {
		verbs = verbs[:1]
	}
	page, err := st.QueryAudit(ctx, records.AuditQuery{Verbs: verbs, Since: p.Since, Until: p.Until, Ascending: true, Limit: MaxListed})
	if err != nil {
		return nil, err
	}
	f.Settings = page.Value
	m := BuildMonthly(p, f, now)
	m.Scoped = len(scope) > 0
	return m, nil
}

// MonthlyFacts are what the monthly review is computed from.
type MonthlyFacts struct {
	Executed  []store.ExecutedCount
	Decided   []store.DecidedAction
	Undone    []store.UndoneAction
	Detectors []store.DetectorIncident
	Settings  []records.AuditEntry
}

// BuildMonthly computes the monthly review.
func BuildMonthly(p Period, f MonthlyFacts, now time.Time) *Monthly {
	m := &Monthly{Period: p, GeneratedAt: now.UTC(), ByType: []AutomationLine{}, ByGroup: []AutomationLine{},
		Decisions: []DecisionLine{}, Comments: []DecisionComment{}, Undone: f.Undone, Detectors: []Detector{},
		SettingsChanges: f.Settings, Suggestions: []Suggestion{}, How: map[string]string{
			"automation": "Remediation actions started in the month (scope expansions left out); automated are those no person " +
				"approved (policy did), as on the dashboard. By device group: the target device's group.",
			"decisions": "Actions a person approved or rejected in the month, and those that expired undecided (counted as " +
				"rejected in the approval rate); undo actions, which whoever asks approves, are left out.",
			"undone":    "Actions whose undo was asked for in the month, with who asked and why.",
			"detectors": "Incidents created in the month with an alert of the detector (its detectorId, else its title); false positives are those classified falsePositive.",
			"settings":  "Changes to settings (automation, playbook inputs, SLA) and entity tags in the audit log during the month.",
			"suggestions": fmt.Sprintf("An action type approved ≥ %.0f%% of ≥ %d decisions in a device group; a detector ≥ %.0f%% "+
				"false positives over ≥ %d incidents; an action type undone ≥ %d times and ≥ %.0f%% of its runs.",
				100*AutomateRate, AutomateMin, 100*TuneRate, TuneMin, UndoMin, 100*UndoRate),
		}}
	if m.Undone == nil {
		m.Undone = []store.UndoneAction{}
	}
	if m.SettingsChanges == nil {
		m.SettingsChanges = []records.AuditEntry{}
	}
	m.automation(f.Executed)
	m.decisions(f.Decided)
	m.detectors(f.Detectors)
	m.suggest(f.Executed)
	return m
}

func (m *Monthly) automation(rows []store.ExecutedCount) {
	var total store.ActionRun
	byType := map[string]store.ActionRun{}
	for _, r := range rows {
		total.Executed += r.Executed
		total.Automated += r.Automated
		t := byType[r.Type]
		t.Executed, t.Automated = t.Executed+r.Executed, t.Automated+r.Automated
		byType[r.Type] = t
		if r.DeviceGroup != "" {
			m.ByGroup = append(m.ByGroup, AutomationLine{Type: r.Type, DeviceGroup: r.DeviceGroup, Automation: review.AutomationOf(r.ActionRun)})
		}
	}
	m.Automation = review.AutomationOf(total)
	for typ, run := range byType {
		m.ByType = append(m.ByType, AutomationLine{Type: typ, Automation: review.AutomationOf(run)})
	}
	slices.SortFunc(m.ByType, func(a, b AutomationLine) int { return strings.Compare(a.Type, b.Type) })
}

func (m *Monthly) decisions(rows []store.DecidedAction) {
	idx := map[[2]string]int{}
	for _, a := range rows {
		key := [2]string{a.Type, a.DeviceGroup}
		i, ok := idx[key]
		if !ok {
			i = len(m.Decisions)
			idx[key] = i
			m.Decisions = append(m.Decisions, DecisionLine{Type: a.Type, DeviceGroup: a.DeviceGroup})
		}
		l := &m.Decisions[i]
		verb := "approved"
		switch a.Status {
		case domain.ActionRejected:
			l.Rejected++
			verb = "rejected"
		case domain.ActionExpired:
			l.Expired++
			verb = ""
		default:
			l.Approved++
		}
		if verb != "" && strings.TrimSpace(a.DecisionComment) != "" && len(m.Comments) < MaxListed {
			target := a.TargetName
			if target == "" {
				target = string(a.TargetKey)
			}
			m.Comments = append(m.Comments, DecisionComment{At: *a.DecidedAt, By: a.DecidedBy, Decision: verb, ActionID: a.ID,
				Type: a.Type, Target: target, IncidentID: a.IncidentID, IncidentName: a.IncidentName, Comment: a.DecisionComment})
		}
	}
	for i := range m.Decisions {
		l := &m.Decisions[i]
		l.ApprovalRate = float64(l.Approved) / float64(l.Decided())
	}
	slices.SortFunc(m.Decisions, func(a, b DecisionLine) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.DeviceGroup, b.DeviceGroup)
	})
}

func (m *Monthly) detectors(rows []store.DetectorIncident) {
	type acc struct {
		title     string
		incidents map[int64]bool
		fp        map[int64]bool
	}
	by := map[string]*acc{}
	for _, r := range rows {
		key := r.Detector
		if key == "" {
			key = r.Title
		}
		a := by[key]
		if a == nil {
			a = &acc{title: r.Title, incidents: map[int64]bool{}, fp: map[int64]bool{}}
			by[key] = a
		}
		a.incidents[r.IncidentID] = true
		if r.Classification == "falsePositive" {
			a.fp[r.IncidentID] = true
		}
	}
	for key, a := range by {
		d := Detector{Detector: key, Title: a.title, Incidents: len(a.incidents), FalsePositives: len(a.fp)}
		d.FPRate = float64(d.FalsePositives) / float64(d.Incidents)
		m.Detectors = append(m.Detectors, d)
	}
	slices.SortFunc(m.Detectors, func(a, b Detector) int {
		if a.Incidents != b.Incidents {
			return b.Incidents - a.Incidents
		}
		return strings.Compare(a.Detector, b.Detector)
	})
	// Suggestions look at every detector, the page at the top ones.
	for _, d := range m.Detectors {
		if d.Incidents >= TuneMin && d.FPRate >= TuneRate {
			m.Suggestions = append(m.Suggestions, Suggestion{Kind: "tune-detector", Subject: d.Detector, Count: d.FalsePositives, Of: d.Incidents,
				Text: fmt.Sprintf("Detector %q: %d of its %d incidents (%.0f%%) were false positives; consider tuning it or suppressing its known-benign cases.",
					d.Detector, d.FalsePositives, d.Incidents, 100*d.FPRate)})
		}
	}
	m.Detectors = m.Detectors[:min(len(m.Detectors), TopN)]
}

func (m *Monthly) suggest(executed []store.ExecutedCount) {
	for _, l := range m.Decisions {
		if l.Decided() < AutomateMin || l.ApprovalRate < AutomateRate {
			continue
		}
		s := Suggestion{Count: l.Approved, Of: l.Decided()}
		if l.DeviceGroup != "" {
			s.Kind, s.Subject = "automate", l.Type+" in "+l.DeviceGroup
			s.Text = fmt.Sprintf("%s in device group %q was approved %d of %d times (%.0f%%); consider automation level full there.",
				l.Type, l.DeviceGroup, l.Approved, l.Decided(), 100*l.ApprovalRate)
		} else {
			s.Kind, s.Subject = "approval-rule", l.Type
			s.Text = fmt.Sprintf("%s (targets without a device group) was approved %d of %d times (%.0f%%); consider an approval rule that lets it run on its own.",
				l.Type, l.Approved, l.Decided(), 100*l.ApprovalRate)
		}
		m.Suggestions = append(m.Suggestions, s)
	}
	ran := map[string]int{}
	for _, e := range executed {
		ran[e.Type] += int(e.Executed)
	}
	undone := map[string]int{}
	for _, u := range m.Undone {
		undone[u.Type]++
	}
	var types []string
	for t := range undone {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		n, of := undone[t], max(ran[t], undone[t])
		if n >= UndoMin && float64(n) >= UndoRate*float64(of) {
			m.Suggestions = append(m.Suggestions, Suggestion{Kind: "review-step", Subject: t, Count: n, Of: of,
				Text: fmt.Sprintf("%s was undone %d times for %d runs this month; review the playbook steps that propose it.", t, n, of)})
		}
	}
	slices.SortStableFunc(m.Suggestions, func(a, b Suggestion) int { return strings.Compare(a.Kind, b.Kind) })
}
