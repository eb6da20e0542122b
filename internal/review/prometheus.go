package review

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airsoc/air/internal/store"
)

// DefaultWindow is the window of the /metrics gauges that are averages
// (MTTA, MTTR, mean time to contain, automation ratio): 30 days.
const DefaultWindow = 30 * 24 * time.Hour

// Collector exposes AIR's response figures to Prometheus, read from the
// store at each scrape: counts by status, the window's averages as
// gauges, and all-time counters and the pending-time histogram, from which
// PromQL computes rates over any window (docs/review-and-metrics.md).
type Collector struct {
	Store *store.Store
	// Window is the gauges' window; 0 means DefaultWindow.
	Window time.Duration
	// Timeout bounds one scrape's queries; 0 means 10 s.
	Timeout time.Duration
}

var (
	descIncidents = prometheus.NewDesc("air_incidents", "Incidents by status.", []string{"status"}, nil)
	descActions   = prometheus.NewDesc("air_actions", "Actions in the action center by status.", []string{"status"}, nil)
	descAlerts    = prometheus.NewDesc("air_alerts", "Alerts ingested, by status.", []string{"status"}, nil)
	descMTTA      = prometheus.NewDesc("air_mtta_seconds",
		"Mean time to acknowledge (first human act) over the incidents acknowledged in the window.", nil, nil)
	descMTTC = prometheus.NewDesc("air_mttc_seconds",
		"Mean time to contain (first containment action succeeded) over the incidents contained in the window.", nil, nil)
	descMTTR = prometheus.NewDesc("air_mttr_seconds",
		"Mean time to resolve over the incidents resolved in the window.", nil, nil)
	descRatio = prometheus.NewDesc("air_automation_ratio",
		"Share of the remediation actions started in the window that ran without a human decision.", nil, nil)
	descWindow = prometheus.NewDesc("air_metrics_window_seconds",
		"The window of air_mtta_seconds, air_mttc_seconds, air_mttr_seconds and air_automation_ratio.", nil, nil)
	descExecuted = prometheus.NewDesc("air_actions_executed_total",
		"Remediation actions that ran, ever.", nil, nil)
	descAutomated = prometheus.NewDesc("air_actions_automated_total",
		"Remediation actions that ran without a human decision, ever.", nil, nil)
	descPending = prometheus.NewDesc("air_action_pending_seconds",
		"How long actions waited for a decision (decided or expired; policy approvals and undos left out).", nil, nil)
)

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIncidents, descActions, descAlerts, descMTTA, descMTTC, descMTTR,
		descRatio, descWindow, descExecuted, descAutomated, descPending} {
		ch <- d
	}
}

// Collect reads the figures from the store. A query that fails makes its
// metrics invalid (the scrape reports the error) without hiding the others.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	timeout, window := c.Timeout, c.Window
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if window <= 0 {
		window = DefaultWindow
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	now := time.Now()

	if counts, err := c.Store.CountByStatus(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descIncidents, err)
	} else {
		for desc, m := range map[*prometheus.Desc]map[string]int64{descIncidents: counts.Incidents,
			descActions: counts.Actions, descAlerts: counts.Alerts} {
			for status, n := range m {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), status)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descWindow, prometheus.GaugeValue, window.Seconds())
	if m, err := ComputeMetrics(ctx, c.Store, now.Add(-window), now); err != nil {
		ch <- prometheus.NewInvalidMetric(descMTTA, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descMTTA, prometheus.GaugeValue, m.TimeToAcknowledge.MeanSeconds)
		ch <- prometheus.MustNewConstMetric(descMTTC, prometheus.GaugeValue, m.TimeToContain.MeanSeconds)
		ch <- prometheus.MustNewConstMetric(descMTTR, prometheus.GaugeValue, m.TimeToResolve.MeanSeconds)
		ch <- prometheus.MustNewConstMetric(descRatio, prometheus.GaugeValue, m.Automation.Ratio)
	}
	if run, err := c.Store.ExecutedActions(ctx, time.Time{}); err != nil {
		ch <- prometheus.NewInvalidMetric(descExecuted, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descExecuted, prometheus.CounterValue, float64(run.Executed))
		ch <- prometheus.MustNewConstMetric(descAutomated, prometheus.CounterValue, float64(run.Automated))
	}
	if h, err := c.Store.PendingHistogram(ctx, PendingBounds); err != nil {
		ch <- prometheus.NewInvalidMetric(descPending, err)
	} else {
		b := make(map[float64]uint64, len(h.Bounds))
		for i, le := range h.Bounds {
			b[le] = h.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(descPending, h.Count, h.Sum, b)
	}
}
