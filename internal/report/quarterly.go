package report

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/intel"
	"github.com/airsoc/air/internal/review"
	"github.com/airsoc/air/internal/store"
)

// Quarterly is the quarterly report for a CISO.
type Quarterly struct {
	Period Period `json:"period"`
	// Months are the quarter's months (so far), each with its figures.
	Months []MonthFigures `json:"months"`
	// Tactics and Techniques are the MITRE ATT&CK tactics and techniques
	// the alerts of the quarter's incidents named most (at most TopN each).
	Tactics    []TacticCount    `json:"tactics"`
	Techniques []TechniqueCount `json:"techniques"`
	// Biggest are the quarter's incidents with the most alerts, then the
	// highest severity (at most TopN).
	Biggest     []store.ReportIncident `json:"biggest"`
	How         map[string]string      `json:"how"`
	Scoped      bool                   `json:"scoped,omitempty"`
	GeneratedAt time.Time              `json:"generatedAt"`
}

// MonthFigures are one month's figures.
type MonthFigures struct {
	Period            Period            `json:"period"`
	Incidents         int               `json:"incidents"`
	TimeToAcknowledge review.Stat       `json:"timeToAcknowledge"`
	TimeToContain     review.Stat       `json:"timeToContain"`
	TimeToResolve     review.Stat       `json:"timeToResolve"`
	Automation        review.Automation `json:"automation"`
}

// TacticCount is a tactic (an alert category) and its alerts.
type TacticCount struct {
	Category string `json:"category"`
	ID       string `json:"id,omitempty"`   // ATT&CK id, e.g. TA0006
	Name     string `json:"name,omitempty"` // ATT&CK's name, when a feed is imported
	Alerts   int    `json:"alerts"`
}

// TechniqueCount is a technique and its alerts.
type TechniqueCount struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Alerts int    `json:"alerts"`
}

// QuarterlyReport reads and computes the quarterly report.
func QuarterlyReport(ctx context.Context, st Store, p Period, scope []string, now time.Time) (*Quarterly, error) {
	q := &Quarterly{Period: p, Scoped: len(scope) > 0, GeneratedAt: now.UTC(), How: QuarterlyHow}
	for m := p.Since; m.Before(p.Until); m = m.AddDate(0, 1, 0) {
		mp := period(m.Format("2006-01"), m, m.AddDate(0, 1, 0), p.Until)
		w := mp.window(scope)
		f := MonthFigures{Period: mp}
		var err error
		if f.Incidents, err = st.CountCreated(ctx, w); err != nil {
			return nil, err
		}
		times, err := st.ResponseTimesIn(ctx, w)
		if err != nil {
			return nil, err
		}
		f.TimeToAcknowledge, f.TimeToContain, f.TimeToResolve = review.ResponseTimes(times, mp.Since, mp.Until)
		exec, err := st.ExecutedIn(ctx, w)
		if err != nil {
			return nil, err
		}
		var run store.ActionRun
		for _, e := range exec {
			run.Executed += e.Executed
			run.Automated += e.Automated
		}
		f.Automation = review.AutomationOf(run)
		q.Months = append(q.Months, f)
	}
	w := p.window(scope)
	kinds, err := st.AlertKindsIn(ctx, w)
	if err != nil {
		return nil, err
	}
	q.Tactics, q.Techniques = countKinds(kinds)
	var tids, tqs []string
	for _, t := range q.Tactics {
		if t.ID != "" {
			tids = append(tids, t.ID)
		}
	}
	for _, t := range q.Techniques {
		tqs = append(tqs, t.ID)
	}
	attack, err := st.AttackKnowledge(ctx, tids, tqs)
	if err != nil {
		return nil, err
	}
	Name(q.Tactics, q.Techniques, attack)
	if q.Biggest, err = st.BiggestIn(ctx, w, TopN); err != nil {
		return nil, err
	}
	return q, nil
}

// QuarterlyHow says how each of the quarterly report's figures is
// computed.
var QuarterlyHow = map[string]string{
	"incidents":     "Incidents created in the month, merged-away ones left out.",
	"mtta":          "Mean of acknowledgement − creation over the incidents first acknowledged (first human act) in the month, as on the dashboard.",
	"timeToContain": "Mean of containment − creation over the incidents whose first containment action succeeded in the month.",
	"mttr":          "Mean of resolution − creation over the incidents resolved in the month and not reopened since.",
	"automation":    "Share of the remediation actions started in the month that no person approved (policy did).",
	"tactics":       "Alerts of the incidents created in the quarter per category (the MITRE tactic), named by the imported ATT&CK feed where it knows them.",
	"techniques":    "Alerts of the incidents created in the quarter naming each MITRE technique, named by the imported ATT&CK feed where it knows them.",
	"biggest":       "Incidents created in the quarter with the most alerts, then the highest severity.",
}

// countKinds turns alert counts by category and technique list into the
// top tactics and techniques.
func countKinds(kinds []store.AlertKinds) ([]TacticCount, []TechniqueCount) {
	tactics, techniques := map[string]int{}, map[string]int{}
	for _, k := range kinds {
		if c := strings.TrimSpace(k.Category); c != "" {
			tactics[c] += k.Alerts
		}
		var ids []string
		_ = json.Unmarshal([]byte(k.Techniques), &ids) // a malformed list names no technique
		seen := map[string]bool{}
		for _, id := range ids {
			if id = strings.TrimSpace(id); id != "" && !seen[id] {
				seen[id] = true
				techniques[id] += k.Alerts
			}
		}
	}
	ta := []TacticCount{}
	for c, n := range tactics {
		ta = append(ta, TacticCount{Category: c, ID: review.TacticID(c), Alerts: n})
	}
	slices.SortFunc(ta, func(a, b TacticCount) int {
		if a.Alerts != b.Alerts {
			return b.Alerts - a.Alerts
		}
		return strings.Compare(a.Category, b.Category)
	})
	tq := []TechniqueCount{}
	for id, n := range techniques {
		tq = append(tq, TechniqueCount{ID: id, Alerts: n})
	}
	slices.SortFunc(tq, func(a, b TechniqueCount) int {
		if a.Alerts != b.Alerts {
			return b.Alerts - a.Alerts
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ta[:min(len(ta), TopN)], tq[:min(len(tq), TopN)]
}

// Name adds ATT&CK's names to tactics and techniques an imported feed
// knows; a sub-technique no feed describes takes its parent's name.
func Name(tactics []TacticCount, techniques []TechniqueCount, k *store.Attack) {
	if k == nil {
		return
	}
	for i := range tactics {
		if t, ok := k.Tactics[tactics[i].ID]; ok {
			tactics[i].Name = t.Name
		}
	}
	for i := range techniques {
		if t, ok := k.Techniques[techniques[i].ID]; ok {
			techniques[i].Name = t.Name
		} else if t, ok := k.Techniques[intel.Parent(techniques[i].ID)]; ok {
			techniques[i].Name = t.Name + " (parent technique)"
		}
	}
}
