// Package e2ebench measures AIR end to end on one Temporal server: how many
// incidents per second go from an ingested alert to a finished
// investigation, how long an alert takes to become a pending action in the
// action center, and — in the same run, on the same server — the ceiling:
// a bare workflow doing the same number of no-op activities.
//
// It runs everything in-process: the embedded, file-backed Temporal dev
// server (as `worker -dev` does), a SQLite or PostgreSQL store, the real
// ingest pipeline, engine, workflow and activities, and the lab tenant.
package e2ebench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	tlog "go.temporal.io/server/common/log"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/devserver"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/engine"
	"github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/labtenant"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/playbook"
	"github.com/airsoc/air/internal/policy"
	"github.com/airsoc/air/internal/store"
	"github.com/airsoc/air/workflows"
)

// Options configure a run. The zero value measures 200 incidents and 100
// pending-latency samples at 5 incidents/s on SQLite.
type Options struct {
	Incidents   int           // throughput phase size; 0 means 200
	Rate        float64       // new incidents per second in the latency phase; 0 means 5
	Samples     int           // latency samples; 0 means 100
	DatabaseURL string        // postgres://… or empty for a SQLite file in a temporary directory
	Playbooks   string        // playbook directory; empty means the shipped set built into the binary
	Timeout     time.Duration // per phase; 0 means 5 minutes
	Progress    io.Writer     // progress lines; nil means none
	// Temporal is the frontend (host:port) of a running Temporal server to
	// measure on, instead of the embedded file-backed one; Namespace, which
	// must then be given and registered, is where the run's workflows go
	// (one of their own: they are named incident-N as real investigations).
	Temporal, Namespace string
	// Compression is the gRPC compression of the calls to Temporal, as
	// the worker's -temporal-compression; empty means the worker's
	// default, none.
	Compression string
	// Phase, when set, is called as each measurement starts ("throughput",
	// "ceiling", "latency") and when the run ends ("end"), for a caller
	// that accounts resources per phase.
	Phase func(name string)
}

// Result is what a run measured.
type Result struct {
	Store           string  `json:"store"`
	Incidents       int     `json:"incidents"`
	IncidentsPerS   float64 `json:"incidents_per_s"`
	CeilingPerS     float64 `json:"ceiling_per_s"`
	Ratio           float64 `json:"ratio"`
	Activities      int     `json:"activities_per_incident"`
	PendingSamples  int     `json:"pending_samples"`
	PendingRate     float64 `json:"pending_rate_per_s"`
	PendingP50Ms    float64 `json:"pending_p50_ms"`
	PendingP99Ms    float64 `json:"pending_p99_ms"`
	PendingMaxMs    float64 `json:"pending_max_ms"`
	TemporalStorage string  `json:"temporal_storage"`
}

const taskQueue = "air-bench"

// Run performs the three measurements.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Incidents <= 0 {
		o.Incidents = 200
	}
	if o.Rate <= 0 {
		o.Rate = 5
	}
	if o.Samples <= 0 {
		o.Samples = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	phase := func(name string) {
		if o.Phase != nil {
			o.Phase(name)
		}
	}
	say := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	dir, err := os.MkdirTemp("", "air-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	hostPort, storage, stopServer, err := temporalServer(ctx, o, dir, say)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	dsn := o.DatabaseURL
	if dsn == "" {
		dsn = filepath.Join(dir, "air.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	log := logrus.New()
	log.SetOutput(io.Discard)
	compression, err := engine.Compression(o.Compression)
	if err != nil {
		return nil, err
	}
	tc, err := client.Dial(client.Options{HostPort: hostPort, Namespace: o.Namespace, Logger: logging.NewTemporal(log),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: compression}})
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	books, err := playbook.Load(o.Playbooks)
	if err != nil {
		return nil, err
	}
	var sources []activities.PlaybookSource
	for _, b := range books {
		sources = append(sources, activities.PlaybookSource{File: b.File, Source: b.Source})
	}
	w := worker.New(tc, taskQueue, workflows.WorkerOptions)
	w.RegisterWorkflow(workflows.IncidentWorkflow)
	// The lab enriches as it does under worker -dev, so that analysis
	// steps cost what they cost there.
	lab := &labtenant.Tenant{Store: st}
	w.RegisterActivity(&activities.Activities{Store: st, Executor: lab, Vendors: lab, Playbooks: sources, Log: log})
	w.RegisterWorkflow(BareWorkflow)
	w.RegisterActivity(noop)
	if err := w.Start(); err != nil {
		return nil, err
	}
	defer w.Stop()
	eng := &engine.Engine{Client: tc, TaskQueue: taskQueue}
	pipe := &ingest.Pipeline{Store: st, Notifier: eng, Log: log}

	res := &Result{Store: string(st.Dialect()), Incidents: o.Incidents, TemporalStorage: storage}

	// 1. Throughput: every incident auto-remediated (automation full).
	if err := st.PutSetting(ctx, activities.SettingsKey, policy.Settings{Default: policy.Full}, "bench"); err != nil {
		return nil, err
	}
	say("throughput: %d incidents from alert to finished investigation (automation full)", o.Incidents)
	phase("throughput")
	t0 := time.Now()
	incidents, err := ingestAll(ctx, pipe, "tp", o.Incidents)
	if err != nil {
		return nil, err
	}
	if err := waitFinished(ctx, tc, st, incidents, o.Timeout, say); err != nil {
		return nil, err
	}
	res.IncidentsPerS = float64(o.Incidents) / time.Since(t0).Seconds()
	if res.Activities, err = countActivities(ctx, tc, st); err != nil {
		return nil, err
	}

	// 2. Ceiling: the same number of bare workflows with as many no-op
	// activities (all but one local), started the same way — as many at
	// a time as alerts are ingested, each starter going on to the next
	// once its workflow started — and waited for the same way.
	say("ceiling: %d bare workflows with %d no-op activities each", o.Incidents, res.Activities)
	phase("ceiling")
	t0 = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, o.Incidents)
	runs := make([]client.WorkflowRun, o.Incidents)
	sem := make(chan struct{}, ingesters)
	for i := range o.Incidents {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			run, err := tc.SignalWithStartWorkflow(ctx, fmt.Sprintf("bare-%d", i), workflows.SignalAlertsAdded,
				workflows.AlertsAdded{AlertIDs: []string{"x"}},
				client.StartWorkflowOptions{TaskQueue: taskQueue}, BareWorkflow, res.Activities)
			if err != nil {
				errs <- err
				return
			}
			runs[i] = run
		})
	}
	wg.Wait()
	for _, run := range runs {
		if run != nil {
			wg.Go(func() {
				if err := run.Get(ctx, nil); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("bare workflow: %w", err)
	}
	res.CeilingPerS = float64(o.Incidents) / time.Since(t0).Seconds()
	res.Ratio = res.IncidentsPerS / res.CeilingPerS

	// 3. Latency from ingest to a pending action at a steady rate.
	if err := st.PutSetting(ctx, activities.SettingsKey, policy.Settings{Default: policy.SemiAll}, "bench"); err != nil {
		return nil, err
	}
	say("latency: %d alerts at %.1f new incidents/s until their action is pending (automation semi-all)", o.Samples, o.Rate)
	phase("latency")
	lat, err := pendingLatency(ctx, pipe, st, o)
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	res.PendingSamples, res.PendingRate = len(lat), o.Rate
	res.PendingP50Ms = ms(lat[len(lat)/2])
	res.PendingP99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
	res.PendingMaxMs = ms(lat[len(lat)-1])
	phase("end")
	return res, nil
}

// temporalServer is the server a run measures on: the one o names, or an
// embedded file-backed one started in dir (stop stops it).
func temporalServer(ctx context.Context, o Options, dir string, say func(string, ...any)) (hostPort, storage string, stop func(), err error) {
	if o.Temporal != "" {
		if o.Namespace == "" {
			return "", "", nil, fmt.Errorf("a namespace of the run's own is required with a Temporal server (%s): its workflows are named as real investigations", o.Temporal)
		}
		say("measuring on the Temporal server at %s, namespace %s", o.Temporal, o.Namespace)
		return o.Temporal, "server at " + o.Temporal, func() {}, nil
	}
	say("starting the file-backed Temporal dev server in %s", dir)
	srv, err := devserver.Start(ctx, devserver.Config{DatabaseFile: filepath.Join(dir, "temporal.db"), Logger: tlog.NewNoopLogger()})
	if err != nil {
		return "", "", nil, err
	}
	return srv.HostPort(), "sqlite file", func() { srv.Stop() }, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// alert is a high-severity malware alert on a device of its own, so each
// opens an incident whose investigation proposes one isolation.
func alert(prefix string, i int) *domain.Alert {
	// Days apart, so that correlation keeps each in an incident of its own.
	now := time.Now().UTC().Add(-time.Duration(i) * 72 * time.Hour)
	dev := fmt.Sprintf("%s-dev-%d", prefix, i)
	return &domain.Alert{ID: fmt.Sprintf("%s-%d", prefix, i), Title: "Malware detected", Status: domain.AlertNew,
		Severity: domain.SeverityHigh, Category: "Execution", ServiceSource: "microsoftDefenderForEndpoint",
		CreatedDateTime: now, LastUpdateDateTime: now,
		Evidence: []domain.Evidence{{Type: "deviceEvidence", Verdict: domain.VerdictMalicious, Entity: &domain.Entity{
			Key: domain.EntityKey("device:" + dev), Kind: domain.KindDevice, Name: dev + ".bench.example",
			Verdict: domain.VerdictMalicious, Attrs: map[string]string{"mdeDeviceId": dev, "osPlatform": "Windows11"}}}}}
}

// ingestAll ingests n alerts, each opening an incident, and returns the
// incidents.
func ingestAll(ctx context.Context, pipe *ingest.Pipeline, prefix string, n int) ([]int64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	incidents := make([]int64, n)
	sem := make(chan struct{}, ingesters)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := pipe.Ingest(ctx, []*domain.Alert{alert(prefix, i)})
			if err == nil && len(r) != 1 {
				err = fmt.Errorf("ingest of alert %d answered %d results", i, len(r))
			}
			if err != nil {
				errs <- err
				return
			}
			incidents[i] = r[0].IncidentID
		})
	}
	wg.Wait()
	close(errs)
	return incidents, <-errs
}

// ingesters is how many alerts (or bare workflows) are sent at a time.
const ingesters = 16

// countActivities counts, in the history of the first incident's
// investigation, the activities it ran: local ones (markers) and regular
// ones. The ceiling runs as many no-ops.
func countActivities(ctx context.Context, tc client.Client, st *store.Store) (int, error) {
	incs, err := st.ListIncidents(ctx, store.IncidentFilter{Limit: 1})
	if err != nil || len(incs) == 0 {
		return 0, fmt.Errorf("no incident to count activities of: %v", err)
	}
	it := tc.GetWorkflowHistory(ctx, domain.WorkflowID(incs[0].ID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, err
		}
		if m := ev.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "LocalActivity" {
			n++
		}
		if ev.GetActivityTaskScheduledEventAttributes() != nil {
			n++
		}
	}
	return n, nil
}

// waitFinished waits until the incidents' investigations completed, as
// the ceiling waits for its bare workflows (Temporal tells each waiter;
// nothing polls the store meanwhile), then checks in the store that each
// one remediated its incident.
func waitFinished(ctx context.Context, tc client.Client, st *store.Store, incidents []int64, timeout time.Duration, say func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	done := 0
	for _, id := range incidents {
		wg.Go(func() {
			err := tc.GetWorkflow(ctx, domain.WorkflowID(id), "").Get(ctx, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("investigation of incident %d: %w", id, err)
			}
			if done++; done%50 == 0 {
				say("  %d/%d finished", done, len(incidents))
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	incs, err := st.ListIncidents(ctx, store.IncidentFilter{Limit: len(incidents)})
	if err != nil {
		return err
	}
	for _, inc := range incs {
		if inc.InvestigationState != domain.InvestigationSuccessfullyRemediated {
			return fmt.Errorf("incident %d ended %s, not %s", inc.ID, inc.InvestigationState, domain.InvestigationSuccessfullyRemediated)
		}
	}
	if len(incs) != len(incidents) {
		return fmt.Errorf("%d incidents in the store, %d ingested", len(incs), len(incidents))
	}
	return nil
}

// pendingLatency ingests o.Samples alerts at o.Rate per second and measures,
// for each, the time until its action is pending in the store.
func pendingLatency(ctx context.Context, pipe *ingest.Pipeline, st *store.Store, o Options) ([]time.Duration, error) {
	var mu sync.Mutex
	samples := map[int64]time.Time{}
	var lat []time.Duration
	stop := make(chan struct{})
	watcherDone := make(chan error, 1)
	go func() { // polls the action center, as an analyst's page would
		for {
			select {
			case <-stop:
				watcherDone <- nil
				return
			default:
			}
			acts, err := st.ListActions(ctx, store.ActionFilter{Statuses: []domain.ActionStatus{domain.ActionPending}, Limit: 1000})
			if err != nil {
				watcherDone <- err
				return
			}
			now := time.Now()
			mu.Lock()
			for _, a := range acts {
				if t, ok := samples[a.IncidentID]; ok {
					lat = append(lat, now.Sub(t))
					delete(samples, a.IncidentID)
				}
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	interval := time.Duration(float64(time.Second) / o.Rate)
	next := time.Now()
	for i := range o.Samples {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		start := time.Now()
		go func() {
			r, err := pipe.Ingest(ctx, []*domain.Alert{alert("lat", i)})
			if err != nil || len(r) == 0 {
				return
			}
			mu.Lock()
			samples[r[0].IncidentID] = start
			mu.Unlock()
		}()
	}
	deadline := time.Now().Add(o.Timeout)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= o.Samples || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	if err := <-watcherDone; err != nil {
		return nil, err
	}
	if len(lat) < o.Samples {
		return nil, fmt.Errorf("only %d of %d alerts became pending actions within %s", len(lat), o.Samples, o.Timeout)
	}
	return lat, nil
}

// BareWorkflow is the ceiling: it is started like an incident workflow and
// runs n no-op activities, all local but the last.
func BareWorkflow(ctx workflow.Context, n int) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for range n - 1 {
		if err := workflow.ExecuteLocalActivity(lctx, noop).Get(ctx, nil); err != nil {
			return err
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	return workflow.ExecuteActivity(actx, noop).Get(ctx, nil)
}

func noop(context.Context) error { return nil }

// JSON renders a result as one JSON object.
func (r *Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// String renders a result for people.
func (r *Result) String() string {
	return fmt.Sprintf(`store %s, Temporal on a %s
  incidents/s, alert to finished investigation:  %.1f  (%d incidents, %d activities each)
  ceiling, bare workflows with as many no-ops:    %.1f
  ratio:                                          %.0f%%
  alert to pending action at %.1f incidents/s:    p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%d samples)
`, r.Store, r.TemporalStorage, r.IncidentsPerS, r.Incidents, r.Activities, r.CeilingPerS, 100*r.Ratio,
		r.PendingRate, r.PendingP50Ms, r.PendingP99Ms, r.PendingMaxMs, r.PendingSamples)
}
