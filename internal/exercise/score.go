// Package exercise holds breach exercises' pure parts: reading a labelled
// attack scenario (an AIT alert file with its labels, or AIR's scenario
// file) and scoring what AIR made of it — the grouping of alerts into
// incidents with the figures of the shared score_correlation.py, the
// times to acknowledge and contain per attack phase, and what automation
// did alone. The store supplies the facts; nothing here reads a clock or
// a database.
package exercise

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// Label is one alert's ground truth.
type Label struct {
	Label string // domain.LabelAttack or domain.LabelBenign
	Phase string
}

// Grouping scores an assignment of alerts (by id) to incidents against the
// labels, as score_correlation.py's score() does, figure for figure and
// rounded to four places like it: a labelled alert missing from assign
// counts as an incident of its own. Phases are the attack alerts' phases;
// each weighs the same in phase_p, phase_r and story.
func Grouping(labels map[string]Label, assign map[string]int64) domain.GroupingScore {
	// Incidents are keyed by a string so that a missing alert can be an
	// incident of its own ("missing:<id>") as in the script.
	att, ben := map[string]int{}, map[string]int{}
	byPhase := map[string]map[string]int{}
	missing := 0
	real := map[string]bool{}
	for id, l := range labels {
		inc, ok := "", false
		if n, found := assign[id]; found {
			inc, ok = incKey(n), true
		}
		if !ok {
			missing++
			inc = "missing:" + id
		} else {
			real[inc] = true
		}
		if l.Label == domain.LabelAttack {
			att[inc]++
			if byPhase[l.Phase] == nil {
				byPhase[l.Phase] = map[string]int{}
			}
			byPhase[l.Phase][inc]++
		} else {
			ben[inc]++
		}
	}
	both, totalAttack := 0, 0
	for _, a := range att {
		both += pairs(a)
		totalAttack += a
	}
	involving := both
	for i, a := range att {
		involving += a * ben[i]
	}
	precision := ratio(both, involving)
	recall := 1.0
	if totalAttack > 1 {
		recall = float64(both) / float64(pairs(totalAttack))
	}
	var pr, rc []float64
	for _, cnt := range byPhase {
		n, kept := 0, 0
		share := 0.0
		for i, c := range cnt {
			n += c
			kept += pairs(c)
			share += float64(c) * float64(att[i]) / float64(att[i]+ben[i])
		}
		if n > 1 {
			rc = append(rc, float64(kept)/float64(pairs(n)))
		} else {
			rc = append(rc, 1)
		}
		pr = append(pr, share/float64(n))
	}
	pp, pc := mean(pr), mean(rc)
	names := make([]string, 0, len(byPhase))
	for p := range byPhase {
		names = append(names, p)
	}
	slices.Sort(names)
	meet, met := 0, 0
	for k, a := range names {
		for _, b := range names[k+1:] {
			meet++
			for i := range byPhase[a] {
				if byPhase[b][i] > 0 {
					met++
					break
				}
			}
		}
	}
	story := 1.0
	if meet > 0 {
		story = float64(met) / float64(meet)
	}
	return domain.GroupingScore{
		Alerts: len(labels), Missing: missing, Incidents: len(real), AttackInc: len(att),
		Precision: round4(precision), Recall: round4(recall), F1: round4(harmonic(precision, recall)),
		PhaseP: round4(pp), PhaseR: round4(pc), PhaseF1: round4(harmonic(pp, pc)), Story: round4(story),
	}
}

func incKey(id int64) string { return strconv.FormatInt(id, 10) }

func pairs(n int) int { return n * (n - 1) / 2 }

// ratio is a/b, and 1 for nothing to measure (b == 0), as the script has it.
func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func harmonic(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// round4 rounds half to even at four places, as Python's round() does
// for the values these figures take.
func round4(x float64) float64 { return math.RoundToEven(x*1e4) / 1e4 }

// Replayed is one alert of an exercise as the store knows it: its
// ground truth, when it reached AIR, and the incident it is in now (0:
// none).
type Replayed struct {
	ID       string
	Label    Label
	SentAt   time.Time
	Incident int64
}

// IncidentTimes are an incident's response milestones (nil: not yet).
type IncidentTimes struct {
	Acknowledged, Contained *time.Time
}

// Phases returns, per attack phase in name order, its attack alerts, the
// incidents holding them, and the time from its first alert's arrival to
// the first acknowledgement and the first containment of one of those
// incidents. An incident acknowledged or contained before the phase's
// first alert arrived counts as zero: a person was already on it.
func Phases(alerts []Replayed, incidents map[int64]IncidentTimes) []domain.PhaseScore {
	by := map[string]*domain.PhaseScore{}
	for _, a := range alerts {
		if a.Label.Label != domain.LabelAttack {
			continue
		}
		p := by[a.Label.Phase]
		if p == nil {
			p = &domain.PhaseScore{Phase: a.Label.Phase, FirstAlert: a.SentAt, Incidents: []int64{}}
			by[a.Label.Phase] = p
		}
		p.Alerts++
		if a.SentAt.Before(p.FirstAlert) {
			p.FirstAlert = a.SentAt
		}
		if a.Incident != 0 && !slices.Contains(p.Incidents, a.Incident) {
			p.Incidents = append(p.Incidents, a.Incident)
		}
	}
	out := make([]domain.PhaseScore, 0, len(by))
	for _, p := range by {
		slices.Sort(p.Incidents)
		for _, id := range p.Incidents {
			t := incidents[id]
			p.Acknowledged = earliest(p.Acknowledged, t.Acknowledged)
			p.Contained = earliest(p.Contained, t.Contained)
		}
		p.TimeToAcknowledge = since(p.FirstAlert, p.Acknowledged)
		p.TimeToContain = since(p.FirstAlert, p.Contained)
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b domain.PhaseScore) int { return strings.Compare(a.Phase, b.Phase) })
	return out
}

func earliest(a, b *time.Time) *time.Time {
	if b == nil || (a != nil && !b.Before(*a)) {
		return a
	}
	t := b.UTC()
	return &t
}

func since(from time.Time, to *time.Time) *float64 {
	if to == nil {
		return nil
	}
	s := max(to.Sub(from).Seconds(), 0)
	return &s
}

// Action is an exercise action as the score needs it.
type Action struct {
	Type   string
	Status domain.ActionStatus
	// DecidedBy is who decided it: "" or "system:…" when no person did.
	DecidedBy string
}

// Actions counts actions by what people had to do with them (see
// domain.ExerciseAction), in total and per type in name order.
func Actions(actions []Action) domain.ExerciseAction {
	out := domain.ExerciseAction{ByType: []domain.TypeActionCounts{}}
	at := map[string]int{}
	for _, a := range actions {
		i, ok := at[a.Type]
		if !ok {
			i = len(out.ByType)
			at[a.Type] = i
			out.ByType = append(out.ByType, domain.TypeActionCounts{Type: a.Type})
		}
		count(&out.ActionCounts, a)
		count(&out.ByType[i].ActionCounts, a)
	}
	slices.SortFunc(out.ByType, func(a, b domain.TypeActionCounts) int { return strings.Compare(a.Type, b.Type) })
	return out
}

func count(c *domain.ActionCounts, a Action) {
	switch {
	case a.Status == domain.ActionPending:
		c.Waiting++
	case a.Status == domain.ActionRejected || a.Status == domain.ActionExpired:
		c.Refused++
	default: // decided to run: by whom

		if Automated(a.DecidedBy) {
			c.Automated++
		} else {
			c.Approved++
		}
	}
}

// Automated reports whether a decision was no person's: policy or AIR
// itself (the rule of the store's automation rate).
func Automated(decidedBy string) bool {
	return decidedBy == "" || strings.HasPrefix(decidedBy, "system:")
}

// Score puts an exercise's figures together from what the store recorded.
func Score(e domain.Exercise, alerts []Replayed, incidents map[int64]IncidentTimes, actions []Action) domain.ExerciseScore {
	labels, assign := map[string]Label{}, map[string]int64{}
	for _, a := range alerts {
		labels[a.ID] = a.Label
		if a.Incident != 0 {
			assign[a.ID] = a.Incident
		}
	}
	return domain.ExerciseScore{Exercise: e, Grouping: Grouping(labels, assign), Phases: Phases(alerts, incidents), Actions: Actions(actions)}
}

// AlertID is the id an alert of a scenario is stored under in an exercise:
// the scenario's own, prefixed by the exercise, so that replaying a
// scenario twice makes two exercises' alerts rather than updates of the
// first, and no exercise alert is taken for a real one.
func AlertID(exercise int64, id string) string {
	return "x" + strconv.FormatInt(exercise, 10) + "-" + id
}
