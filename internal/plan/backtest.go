package plan

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/airsoc/air/internal/playbook"
)

// Kinds of Difference, in the order a report lists them.
const (
	// DiffError: one of the two sets fails to plan the incident (Before
	// and After carry the errors).
	DiffError = "error"
	// DiffPlaybooks: other playbooks apply to the incident (by name;
	// a new version of the same playbook is no difference by itself).
	DiffPlaybooks = "playbooks"
	// DiffVerdict: the classification and determination the playbooks'
	// incident.classify or incident.resolve steps would set changed.
	DiffVerdict = "verdict"
	// DiffRemoved: the baseline takes a step the candidate does not.
	DiffRemoved = "removed"
	// DiffDecision: the same step on the same target is decided
	// otherwise: it runs on its own instead of waiting for approval, is
	// skipped by policy, and so on (Old.Outcome → New.Outcome).
	DiffDecision = "decision"
	// DiffReason: the same step waits (for approval) or asks in both, for
	// another reason: another approval rule, another question or assumed
	// answer.
	DiffReason = "reason"
	// DiffParams: the same step on the same target with other parameters.
	DiffParams = "params"
	// DiffWait: a wait step appears, disappears, or waits otherwise
	// (another condition or timeout, met now or not).
	DiffWait = "wait"
	// DiffAdded: the candidate takes a step the baseline does not.
	DiffAdded = "added"
)

var diffRank = map[string]int{DiffError: 0, DiffPlaybooks: 1, DiffVerdict: 2, DiffRemoved: 3, DiffDecision: 4,
	DiffReason: 5, DiffParams: 6, DiffWait: 7, DiffAdded: 8}

// Difference is one thing the candidate playbooks would do otherwise to
// an incident than the baseline. Step differences carry the baseline's
// step (Old), the candidate's (New) or both; the others say what changed
// in Before and After.
type Difference struct {
	Kind   string `json:"kind"`
	Old    *Step  `json:"old,omitempty"`
	New    *Step  `json:"new,omitempty"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Action is the action type a difference is about ("" for the incident's
// verdict, playbooks and errors).
func (d Difference) Action() string {
	switch {
	case d.New != nil:
		return d.New.Action
	case d.Old != nil:
		return d.Old.Action
	}
	return ""
}

// Change says in a few words what changed: "run → wait" for a decision,
// the verdicts or playbook lists for those; "" when the kind says it all.
func (d Difference) Change() string {
	switch {
	case d.Kind == DiffDecision:
		return d.Old.Outcome + " → " + d.New.Outcome
	case d.Kind == DiffWait && d.Old != nil && d.New != nil:
		return "condition or timeout"
	case d.Kind == DiffWait && d.Old != nil:
		return "removed"
	case d.Kind == DiffWait:
		return "added"
	case d.Before != "" || d.After != "":
		return orNone(d.Before) + " → " + orNone(d.After)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// IncidentDiff is what the candidate playbooks would do otherwise to one
// incident.
type IncidentDiff struct {
	IncidentID int64  `json:"incidentId"`
	Incident   string `json:"incident"`
	// Baseline and Candidate are the playbooks that apply with each set,
	// in order ("NAME vVERSION").
	Baseline    []string     `json:"baseline"`
	Candidate   []string     `json:"candidate"`
	Differences []Difference `json:"differences"`
}

// Count is how many differences of one kind, on one action type, with
// one change, a backtest found.
type Count struct {
	Kind   string `json:"kind"`
	Action string `json:"action,omitempty"`
	Change string `json:"change,omitempty"`
	Count  int    `json:"count"`
	// Incidents is how many incidents have at least one.
	Incidents int `json:"incidents"`
}

// Report is what a backtest found over many incidents.
type Report struct {
	Incidents int `json:"incidents"` // planned
	Changed   int `json:"changed"`   // with at least one difference
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"` // one of the two sets failed to plan it (a DiffError)
	// Totals count the differences by kind, action type and change,
	// most frequent first.
	Totals []Count `json:"totals"`
	// Results are the incidents with a difference, in the order planned;
	// with Verbose, every incident.
	Results []IncidentDiff `json:"results"`
}

// BacktestOptions change what Backtest plans and lists. The zero value is
// the default.
type BacktestOptions struct {
	// Options are what both plans assume (see MakeWith).
	Options
	// Verbose lists the incidents without a difference too.
	Verbose bool
}

// Backtest plans each incident, as load reads it, with the baseline and
// with the candidate playbooks and reports what the candidate would do
// otherwise. An incident that one set fails to plan is reported (DiffError)
// and the backtest goes on; an error of load or of ctx stops it.
func Backtest(ctx context.Context, baseline, candidate []*playbook.Playbook, ids []int64,
	load func(ctx context.Context, id int64) (*Incident, error), opts BacktestOptions) (*Report, error) {
	r := &Report{Totals: []Count{}, Results: []IncidentDiff{}}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in, err := load(ctx, id)
		if err != nil {
			return nil, err
		}
		r.Add(CompareIncident(baseline, candidate, *in, opts.Options), opts.Verbose)
	}
	return r, nil
}

// CompareIncident plans one incident with both sets of playbooks and
// compares the plans.
func CompareIncident(baseline, candidate []*playbook.Playbook, in Incident, opts Options) IncidentDiff {
	d := IncidentDiff{IncidentID: in.Incident.ID, Incident: in.Incident.DisplayName, Baseline: []string{}, Candidate: []string{}}
	old, oldErr := MakeWith(baseline, in, opts)
	cur, curErr := MakeWith(candidate, in, opts)
	if oldErr != nil || curErr != nil {
		d.Differences = []Difference{{Kind: DiffError, Before: errText(oldErr), After: errText(curErr)}}
		if old != nil {
			d.Baseline = old.Playbooks
		}
		if cur != nil {
			d.Candidate = cur.Playbooks
		}
		return d
	}
	d.Baseline, d.Candidate = old.Playbooks, cur.Playbooks
	d.Differences = Compare(old, cur)
	return d
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Add counts one incident's comparison into the report, and lists it when
// it differs (or verbose).
func (r *Report) Add(d IncidentDiff, verbose bool) {
	r.Incidents++
	if len(d.Differences) == 0 {
		r.Unchanged++
	} else {
		r.Changed++
	}
	if slices.ContainsFunc(d.Differences, func(x Difference) bool { return x.Kind == DiffError }) {
		r.Failed++
	}
	if len(d.Differences) > 0 || verbose {
		r.Results = append(r.Results, d)
	}
	seen := map[Count]bool{}
	for _, x := range d.Differences {
		c := Count{Kind: x.Kind, Action: x.Action(), Change: x.Change()}
		if x.Kind == DiffError {
			c.Change = "" // the messages differ from incident to incident
		}
		r.count(c, 1, !seen[c])
		seen[c] = true
	}
	r.sortTotals()
}

// Merge adds another report's counts and results to r (the command line
// backtests a long window in batches).
func (r *Report) Merge(o *Report) {
	r.Incidents += o.Incidents
	r.Changed += o.Changed
	r.Unchanged += o.Unchanged
	r.Failed += o.Failed
	r.Results = append(r.Results, o.Results...)
	for _, c := range o.Totals {
		key := Count{Kind: c.Kind, Action: c.Action, Change: c.Change}
		r.count(key, c.Count, false)
		r.Totals[r.find(key)].Incidents += c.Incidents
	}
	r.sortTotals()
}

func (r *Report) find(key Count) int {
	return slices.IndexFunc(r.Totals, func(c Count) bool {
		return c.Kind == key.Kind && c.Action == key.Action && c.Change == key.Change
	})
}

func (r *Report) count(key Count, n int, newIncident bool) {
	i := r.find(key)
	if i < 0 {
		r.Totals = append(r.Totals, key)
		i = len(r.Totals) - 1
	}
	r.Totals[i].Count += n
	if newIncident {
		r.Totals[i].Incidents++
	}
}

func (r *Report) sortTotals() {
	slices.SortStableFunc(r.Totals, func(a, b Count) int {
		if c := cmp.Compare(diffRank[a.Kind], diffRank[b.Kind]); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Action+a.Change, b.Action+b.Change)
	})
}

// Compare lists what the candidate plan of an incident does otherwise than
// the baseline plan: steps added or removed, decided otherwise, waiting or
// asking for another reason, with other parameters, wait steps changed,
// other playbooks applying, another verdict. Steps that do nothing
// (outcome none) are no steps here: a step whose when turns false is a
// step removed. Steps are matched by playbook, calling step, step id,
// action, target and item, so a playbook's new version compares with its
// old one; a renamed step is one removed and one added.
func Compare(baseline, candidate *Plan) []Difference {
	var out []Difference
	if b, c := names(baseline.Playbooks), names(candidate.Playbooks); b != c {
		out = append(out, Difference{Kind: DiffPlaybooks, Before: b, After: c})
	}
	if b, c := verdict(baseline), verdict(candidate); b != c {
		out = append(out, Difference{Kind: DiffVerdict, Before: b, After: c})
	}
	olds := map[string][]int{} // indexes into baseline.Steps by key, in order
	for i, s := range baseline.Steps {
		if s.Outcome != OutcomeNone {
			olds[s.key()] = append(olds[s.key()], i)
		}
	}
	matched := make([]bool, len(baseline.Steps))
	for _, s := range candidate.Steps {
		if s.Outcome == OutcomeNone {
			continue
		}
		k := s.key()
		if len(olds[k]) == 0 {
			out = append(out, stepDiff(DiffAdded, nil, &s))
			continue
		}
		i := olds[k][0]
		olds[k] = olds[k][1:]
		matched[i] = true
		o := baseline.Steps[i]
		if kind := changeOf(o, s); kind != "" {
			out = append(out, Difference{Kind: kind, Old: &o, New: &s})
		}
	}
	for i, s := range baseline.Steps {
		if s.Outcome != OutcomeNone && !matched[i] {
			out = append(out, stepDiff(DiffRemoved, &s, nil))
		}
	}
	slices.SortStableFunc(out, func(a, b Difference) int { return cmp.Compare(diffRank[a.Kind], diffRank[b.Kind]) })
	return out
}

// stepDiff is a step added or removed; a wait step's is a DiffWait.
func stepDiff(kind string, old, new *Step) Difference {
	s := new
	if s == nil {
		s = old
	}
	if s.Action == OutcomeWait && s.Outcome == OutcomeWait {
		kind = DiffWait
	}
	return Difference{Kind: kind, Old: old, New: new}
}

// changeOf says how one step planned by both sets changed: "" not at all.
func changeOf(o, s Step) string {
	wait := s.Action == OutcomeWait && s.Outcome == OutcomeWait
	switch {
	case wait && (o.Outcome != s.Outcome || o.Reason != s.Reason):
		return DiffWait
	case o.Outcome != s.Outcome:
		return DiffDecision
	case (s.Outcome == OutcomeWait || s.Outcome == OutcomeAsk) && o.Reason != s.Reason:
		return DiffReason
	case !sameParams(o.Params, s.Params):
		return DiffParams
	}
	return ""
}

func sameParams(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, errA := json.Marshal(a) // sorts map keys
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// names lists the playbooks' names without versions, in order.
func names(books []string) string {
	out := make([]string, len(books))
	for i, b := range books {
		out[i], _, _ = strings.Cut(b, " v")
	}
	return strings.Join(out, ", ")
}

// verdict is what the plan's last incident.classify or incident.resolve
// step that acts would set: "CLASSIFICATION/DETERMINATION", "" when none.
func verdict(p *Plan) string {
	v := ""
	for _, s := range p.Steps {
		if s.Action != "incident.classify" && s.Action != "incident.resolve" {
			continue
		}
		switch s.Outcome {
		case OutcomeNone, "skip", "rejected", "expired", "failed":
			continue
		}
		v = fmt.Sprintf("%v/%v", s.Params["classification"], s.Params["determination"])
	}
	return v
}
