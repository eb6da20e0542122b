package review

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/airsoc/air/internal/store"
)

// Metrics are the response figures across incidents over a time window,
// for the dashboard.
type Metrics struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Counts are the incidents, actions and alerts by status now (not
	// limited to the window).
	Counts store.StatusCounts `json:"counts"`
	// TimeToAcknowledge is over the incidents first acknowledged in the
	// window: acknowledgedDateTime − createdDateTime. Its mean is the MTTA.
	TimeToAcknowledge Stat `json:"timeToAcknowledge"`
	// TimeToContain is over the incidents contained in the window:
	// containedDateTime − createdDateTime.
	TimeToContain Stat `json:"timeToContain"`
	// TimeToResolve is over the incidents resolved in the window (and not
	// reopened since): resolvedDateTime − createdDateTime. Its mean is the
	// MTTR.
	TimeToResolve Stat `json:"timeToResolve"`
	// Automation is the share of remediation actions that ran without a
	// human decision, over the actions started in the window.
	Automation Automation `json:"automation"`
	// Pending is how long actions waited for a decision, over the actions
	// decided (or expired) in the window.
	Pending Pending `json:"pending"`
}

// Stat summarises durations.
type Stat struct {
	Count       int     `json:"count"`
	MeanSeconds float64 `json:"meanSeconds"`
	P50Seconds  float64 `json:"p50Seconds"`
	P90Seconds  float64 `json:"p90Seconds"`
	// Mean, P50 and P90 are the same for people, e.g. "12m30s"; empty
	// when Count is 0.
	Mean string `json:"mean,omitempty"`
	P50  string `json:"p50,omitempty"`
	P90  string `json:"p90,omitempty"`
}

// Automation is the automation rate.
type Automation struct {
	// Executed counts the remediation actions that ran (or run).
	Executed int64 `json:"executed"`
	// Automated counts those no person decided: policy approved them.
	Automated int64 `json:"automated"`
	// Ratio is Automated / Executed, 0 when nothing ran.
	Ratio float64 `json:"ratio"`
}

// Pending is the distribution of how long actions waited for a decision.
type Pending struct {
	Stat
	// Expired counts the actions that waited until they expired.
	Expired int64 `json:"expired"`
	// Buckets count the actions per waiting time, each bucket holding
	// those above the previous bound and at most its own (not cumulative:
	// one bar each); the last has no bound.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one bar of the pending-time distribution.
type Bucket struct {
	// LESeconds is the bucket's upper bound in seconds; 0 for the last,
	// unbounded one.
	LESeconds float64 `json:"leSeconds"`
	// Label says the range for people, e.g. "≤ 15m" or "> 7d".
	Label string `json:"label"`
	Count int    `json:"count"`
}

// PendingBounds are the upper bounds (seconds) of the pending-time
// buckets, here and in /metrics: 1 and 5 minutes, 15 minutes, 1, 4 and 12
// hours, 1, 3 and 7 days (the default approval expiry).
var PendingBounds = []float64{60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400}

// ComputeMetrics computes the figures over [since, now].
func ComputeMetrics(ctx context.Context, st *store.Store, since, now time.Time) (*Metrics, error) {
	m := &Metrics{Since: since.UTC(), Until: now.UTC()}
	counts, err := st.CountByStatus(ctx)
	if err != nil {
		return nil, err
	}
	m.Counts = *counts
	times, err := st.ResponseTimes(ctx, since)
	if err != nil {
		return nil, err
	}
	m.TimeToAcknowledge, m.TimeToContain, m.TimeToResolve = ResponseTimes(times, since, time.Time{})
	run, err := st.ExecutedActions(ctx, since)
	if err != nil {
		return nil, err
	}
	m.Automation = AutomationOf(run)
	waits, expired, err := st.PendingSeconds(ctx, since)
	if err != nil {
		return nil, err
	}
	m.Pending = Pending{Stat: Summarise(waits), Expired: expired, Buckets: buckets(waits)}
	return m, nil
}

// ResponseTimes computes the time to acknowledge, contain and resolve
// over the milestones in [since, until) (a zero until: no end) of the
// incidents given: each measured from the incident's creation, a
// negative one counted as 0. The dashboard and the reports use it.
func ResponseTimes(times []store.IncidentTimes, since, until time.Time) (acknowledge, contain, resolve Stat) {
	var ack, cont, res []float64
	inWindow := func(t *time.Time) bool { return t != nil && !t.Before(since) && (until.IsZero() || t.Before(until)) }
	for _, it := range times {
		if inWindow(it.AcknowledgedAt) {
			ack = append(ack, max(0, it.AcknowledgedAt.Sub(it.CreatedAt).Seconds()))
		}
		if inWindow(it.ContainedAt) {
			cont = append(cont, max(0, it.ContainedAt.Sub(it.CreatedAt).Seconds()))
		}
		if inWindow(it.ResolvedAt) {
			res = append(res, max(0, it.ResolvedAt.Sub(it.CreatedAt).Seconds()))
		}
	}
	return Summarise(ack), Summarise(cont), Summarise(res)
}

// AutomationOf is the automation rate of the counted actions.
func AutomationOf(run store.ActionRun) Automation {
	a := Automation{Executed: run.Executed, Automated: run.Automated}
	if run.Executed > 0 {
		a.Ratio = float64(run.Automated) / float64(run.Executed)
	}
	return a
}

// Summarise gives the count, mean, median and 90th percentile (nearest
// rank) of durations in seconds.
func Summarise(secs []float64) Stat {
	s := Stat{Count: len(secs)}
	if len(secs) == 0 {
		return s
	}
	sorted := slices.Clone(secs)
	slices.Sort(sorted)
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	s.MeanSeconds = sum / float64(len(sorted))
	s.P50Seconds, s.P90Seconds = percentile(sorted, 0.5), percentile(sorted, 0.9)
	s.Mean, s.P50, s.P90 = human(s.MeanSeconds), human(s.P50Seconds), human(s.P90Seconds)
	return s
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func human(secs float64) string {
	return (time.Duration(secs * float64(time.Second))).Round(time.Second).String()
}

func buckets(secs []float64) []Bucket {
	out := make([]Bucket, len(PendingBounds)+1)
	for i, b := range PendingBounds {
		out[i] = Bucket{LESeconds: b, Label: "≤ " + shortDuration(b)}
	}
	out[len(PendingBounds)].Label = "> " + shortDuration(PendingBounds[len(PendingBounds)-1])
	for _, v := range secs {
		i, _ := slices.BinarySearch(PendingBounds, v) // first bound ≥ v
		out[i].Count++
	}
	return out
}

// shortDuration writes a bucket bound as people do: 5m, 4h, 3d.
func shortDuration(secs float64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
