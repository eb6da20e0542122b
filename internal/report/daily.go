package report

import (
	"context"
	"slices"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

// Daily is the daily report: the queue at the end of a day (or now, for
// today).
type Daily struct {
	Period Period `json:"period"`
	// At is the moment the queue is read at: the end of the day, or now.
	At time.Time `json:"at"`
	// Open is the incidents open at At.
	Open OpenQueue `json:"open"`
	// Pending is the actions waiting for a decision at At.
	Pending PendingActions `json:"pending"`
	// SLA is the setting the breaches were measured against.
	SLA SLA `json:"sla"`
	// Breaches are the incidents past their time to acknowledge, most
	// overdue first.
	Breaches []Breach `json:"breaches"`
	// How says, per section, how it was computed.
	How map[string]string `json:"how"`
	// Scoped says the figures cover only the reader's device groups.
	Scoped      bool      `json:"scoped,omitempty"`
	GeneratedAt time.Time `json:"generatedAt"`
}

// OpenQueue is the open incidents counted by severity and by age.
type OpenQueue struct {
	Total int `json:"total"`
	// BySeverity counts them per severity, highest first.
	BySeverity []Count `json:"bySeverity"`
	// ByAge counts them per age (At − creation), youngest first.
	ByAge []Count `json:"byAge"`
}

// AgeBuckets are the open queue's ages: upper bounds, exclusive; the last
// bucket (> 7 d) has none.
var AgeBuckets = []struct {
	Label string
	Below time.Duration
}{{"< 1 h", time.Hour}, {"1–4 h", 4 * time.Hour}, {"4–24 h", 24 * time.Hour}, {"1–7 d", 7 * 24 * time.Hour}, {"> 7 d", 0}}

// PendingActions are the actions waiting for a decision.
type PendingActions struct {
	Total int `json:"total"`
	// Oldest are the longest-waiting, oldest first (at most MaxListed).
	Oldest []PendingAction `json:"oldest"`
}

// PendingAction is one action waiting, and for how long.
type PendingAction struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Target       string    `json:"target"`
	IncidentID   int64     `json:"incidentId"`
	IncidentName string    `json:"incidentName"`
	CreatedAt    time.Time `json:"createdAt"`
	WaitedSecs   float64   `json:"waitedSeconds"`
	Waited       string    `json:"waited"`
	Reason       string    `json:"reason,omitempty"`
}

// Breach is an incident past its SLA time to acknowledge.
type Breach struct {
	store.ReportIncident
	SLA Duration `json:"sla"`
	// Acknowledged is false when nobody had acknowledged the incident by
	// the report's moment; true when someone did that day, late.
	Acknowledged bool `json:"acknowledged"`
	// OverSecs is how far past the SLA: to the acknowledgement, or to the
	// report's moment when none.
	OverSecs float64 `json:"overSeconds"`
	Over     string  `json:"over"`
}

// MaxListed bounds the rows a report lists in one table; the totals count
// them all.
const MaxListed = 100

// DailyReport reads and computes the daily report of a day for a reader
// scoped to the device groups in scope (none: all).
func DailyReport(ctx context.Context, st Store, p Period, sla SLA, scope []string, now time.Time) (*Daily, error) {
	at := p.Until
	incs, err := st.OpenAt(ctx, at, p.Since, scope)
	if err != nil {
		return nil, err
	}
	acts, err := st.PendingAt(ctx, at, scope)
	if err != nil {
		return nil, err
	}
	d := BuildDaily(p, incs, acts, sla, now)
	d.Scoped = len(scope) > 0
	return d, nil
}

// BuildDaily computes the daily report from the incidents open at the end
// of the period (or acknowledged in it) and the actions pending then.
func BuildDaily(p Period, incs []store.ReportIncident, acts []records.ActionRow, sla SLA, now time.Time) *Daily {
	at := p.Until
	d := &Daily{Period: p, At: at, SLA: sla, Breaches: []Breach{}, GeneratedAt: now.UTC(), How: map[string]string{
		"open": "Incidents created by the report's moment and active or in progress then (resolved later counts as open; " +
			"merged-away incidents are left out), by severity and by age since their creation.",
		"pending": "Actions created by the report's moment and not decided by then, oldest first; waited is the moment minus their creation.",
		"breaches": "Open incidents nobody acknowledged within the SLA time for their severity, and incidents acknowledged " +
			"that day later than it; acknowledged is the first human act on the incident.",
	}}
	sevs := map[domain.Severity]int{}
	ages := make([]int, len(AgeBuckets))
	for _, in := range incs {
		open := in.CreatedAt.Compare(at) <= 0 && (in.Status == domain.IncidentActive || in.Status == domain.IncidentInProgress ||
			in.Status == domain.IncidentResolved && in.ResolvedAt != nil && in.ResolvedAt.After(at))
		if open {
			d.Open.Total++
			sevs[in.Severity]++
			ages[ageBucket(at.Sub(in.CreatedAt))]++
		}
		if b, ok := breach(in, open, sla, p.Since, at); ok {
			d.Breaches = append(d.Breaches, b)
		}
	}
	for i := len(domain.Severities) - 1; i >= 0; i-- {
		sev := domain.Severities[i]
		if n := sevs[sev]; n > 0 || sev.Rank() >= domain.SeverityLow.Rank() {
			d.Open.BySeverity = append(d.Open.BySeverity, Count{Label: string(sev), Count: n})
		}
	}
	for i, b := range AgeBuckets {
		d.Open.ByAge = append(d.Open.ByAge, Count{Label: b.Label, Count: ages[i]})
	}
	slices.SortStableFunc(d.Breaches, func(a, b Breach) int { return -cmpFloat(a.OverSecs, b.OverSecs) })
	d.Pending.Total = len(acts)
	d.Pending.Oldest = []PendingAction{}
	for _, a := range acts[:min(len(acts), MaxListed)] {
		target := a.TargetName
		if target == "" {
			target = string(a.TargetKey)
		}
		w := at.Sub(a.CreatedAt)
		d.Pending.Oldest = append(d.Pending.Oldest, PendingAction{ID: a.ID, Type: a.Type, Target: target, IncidentID: a.IncidentID,
			IncidentName: a.IncidentName, CreatedAt: a.CreatedAt, WaitedSecs: w.Seconds(), Waited: human(w), Reason: a.Reason})
	}
	return d
}

func ageBucket(age time.Duration) int {
	for i, b := range AgeBuckets {
		if b.Below == 0 || age < b.Below {
			return i
		}
	}
	return len(AgeBuckets) - 1
}

// breach says whether the incident breached its SLA by the moment at:
// open and unacknowledged past it, or acknowledged in [since, at] late.
func breach(in store.ReportIncident, open bool, sla SLA, since, at time.Time) (Breach, bool) {
	limit, ok := sla.Acknowledge[in.Severity]
	if !ok || limit <= 0 {
		return Breach{}, false
	}
	due := in.CreatedAt.Add(time.Duration(limit))
	b := Breach{ReportIncident: in, SLA: limit}
	switch ack := in.AcknowledgedAt; {
	case ack != nil && !ack.After(at):
		if ack.Before(since) || !ack.After(due) {
			return Breach{}, false
		}
		b.Acknowledged, b.OverSecs, b.Over = true, ack.Sub(due).Seconds(), human(ack.Sub(due))
	case open && at.After(due):
		b.OverSecs, b.Over = at.Sub(due).Seconds(), human(at.Sub(due))
	default:
		return Breach{}, false
	}
	return b, true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
