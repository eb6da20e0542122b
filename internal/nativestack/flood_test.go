package nativestack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/store"
)

// floodConfig is one flood: incidents × alertsPerIncident alerts, each
// incident a malicious device to isolate under automation full, sent in
// batches through apis API processes to workers worker processes.
type floodConfig struct {
	incidents, alertsPerIncident int
	apis, workers                int
	// kill SIGKILLs the first API process and the first worker process
	// once half the batches are acknowledged.
	kill bool
	// backlog starts the workers only once every batch is acknowledged,
	// so that they find a fixed set of investigations waiting: finished
	// is then timed from their start.
	backlog bool
}

type floodResult struct {
	alerts, incidents int
	// ingest is from the first batch sent to the last acknowledged;
	// finished from the first batch sent to every investigation finished.
	ingest, finished time.Duration
	// resent counts batches sent again after a failure.
	resent int
}

var floods atomic.Int32

// flood runs one flood on a fresh deployment and checks that nothing was
// lost (every alert stored, every incident investigated to the end) and
// nothing doubled (one isolation per device, carried out once in the lab
// tenant, as TestWorkerCrashes checks it).
func flood(t testing.TB, s *Stack, cfg floodConfig) floodResult {
	t.Helper()
	air := s.NewAIR(t, fmt.Sprintf("flood%d", floods.Add(1)), "-automation", "full", "-rate-limit", "-1")
	var apis, workers []*Node
	for i := range cfg.apis {
		apis = append(apis, air.Start(t, fmt.Sprintf("api-%d", i+1), "api"))
	}
	startWorkers := func() {
		for i := range cfg.workers {
			workers = append(workers, air.Start(t, fmt.Sprintf("worker-%d", i+1), "worker"))
		}
	}
	if !cfg.backlog {
		startWorkers()
	}
	token := air.Token(t)
	// Stopped here rather than when the test ends: a benchmark runs many
	// floods, and their processes would hold PostgreSQL's connections.
	defer func() {
		for _, n := range append(apis, workers...) {
			n.Stop()
		}
	}()

	batches := floodBatches(cfg, 25)
	var acked, resent atomic.Int32
	half := make(chan struct{})
	var once sync.Once
	failed := make(chan error, 1)
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				// A client spreads batches over the API processes and sends
				// one that got no acknowledgement to the next process.
				for try := g; ; try++ {
					c := Client{Base: apis[(b+try)%len(apis)].URL, Token: token}
					code, err := c.Do("POST", "/api/v1/alerts", batches[b], nil)
					if code == http.StatusOK {
						break
					}
					if code >= 400 && code < 500 || time.Now().After(deadline) {
						select {
						case failed <- fmt.Errorf("batch %d: %d %v", b, code, err):
						default:
						}
						return
					}
					resent.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
				if int(acked.Add(1)) >= len(batches)/2 {
					once.Do(func() { close(half) })
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for b := range batches {
			work <- b
		}
	}()
	if cfg.kill {
		select {
		case <-half:
		case err := <-failed:
			t.Fatal(err)
		}
		apis[0].Kill(t)
		workers[0].Kill(t)
		t.Logf("killed %s and %s with %d of %d batches acknowledged", apis[0].Name, workers[0].Name, acked.Load(), len(batches))
	}
	wg.Wait()
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	r := floodResult{alerts: cfg.incidents * cfg.alertsPerIncident, incidents: cfg.incidents, ingest: time.Since(start), resent: int(resent.Load())}
	if cfg.backlog {
		start = time.Now()
		startWorkers()
	}

	ctx := context.Background()
	st, err := store.Open(ctx, air.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var incs []domain.Incident
	WaitFor(t, "every investigation to finish", 4*time.Minute, func() (bool, error) {
		var err error
		incs, err = st.ListIncidents(ctx, store.IncidentFilter{Limit: 100000})
		done := 0
		for _, inc := range incs {
			if inc.InvestigationState == domain.InvestigationSuccessfullyRemediated {
				done++
			}
		}
		return err == nil && done >= cfg.incidents, err
	})
	r.finished = time.Since(start)
	checkFlood(t, st, cfg, incs)
	return r
}

// floodBatches makes the flood's alerts in batches of size. Device i's
// alerts are a second apart and its incident 30 hours after device i-1's,
// so each device is one incident; batches interleave the devices, as a
// flood from many sensors would.
func floodBatches(cfg floodConfig, size int) [][]byte {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var alerts []string
	for j := range cfg.alertsPerIncident {
		for i := range cfg.incidents {
			at := base.Add(time.Duration(i)*30*time.Hour + time.Duration(j)*time.Second).Format(time.RFC3339)
			alerts = append(alerts, fmt.Sprintf(`{"id":"flood-%d-%d","title":"Malware on dev%d","severity":"high","category":"Execution",`+
				`"createdDateTime":%q,"evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence",`+
				`"mdeDeviceId":"dev%d","deviceDnsName":"ws%d.corp.example","osPlatform":"Windows11","verdict":"malicious"}]}`, i, j, i, at, i, i))
		}
	}
	var out [][]byte
	for len(alerts) > 0 {
		n := min(size, len(alerts))
		out = append(out, []byte("["+strings.Join(alerts[:n], ",")+"]"))
		alerts = alerts[n:]
	}
	return out
}

// checkFlood checks that no alert was lost or stored twice and that each
// device was isolated exactly once, as one succeeded action and one lab
// operation that changed something.
func checkFlood(t testing.TB, st *store.Store, cfg floodConfig, incs []domain.Incident) {
	t.Helper()
	ctx := context.Background()
	if len(incs) != cfg.incidents {
		t.Errorf("%d incidents, want %d", len(incs), cfg.incidents)
	}
	for _, inc := range incs {
		if inc.AlertCount != cfg.alertsPerIncident {
			t.Errorf("incident %d holds %d alerts, want %d", inc.ID, inc.AlertCount, cfg.alertsPerIncident)
		}
	}
	for i := range cfg.incidents {
		for _, j := range []int{0, cfg.alertsPerIncident - 1} {
			if _, err := st.AlertIncident(ctx, fmt.Sprintf("flood-%d-%d", i, j)); err != nil {
				t.Errorf("alert flood-%d-%d: %v", i, j, err)
			}
		}
	}
	acts, err := st.ListActions(ctx, store.ActionFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	done, noop, err := LabIsolations(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	CheckOncePerDevice(t, acts, done, noop, cfg.incidents)
}

// BenchmarkScaleOut measures the native stack's two sides apart. Each
// round ingests a flood through 2 API processes with no worker running
// (alerts/s through the API, Temporal's SignalWithStart included), then
// starts 1 or 2 worker processes on the backlog of investigations it left
// and times them to the last one finished (investigations/s); the ratio of
// the two is what a second worker process buys (docs/deployment.md).
//
//	go test ./internal/nativestack -run '^$' -bench ScaleOut -benchtime 3x
func BenchmarkScaleOut(b *testing.B) {
	s := Start(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var alerts, incidents int
			var ingest, finished time.Duration
			for range b.N {
				r := flood(b, s, floodConfig{incidents: 300, alertsPerIncident: 20, apis: 2, workers: workers, backlog: true})
				alerts, incidents = alerts+r.alerts, incidents+r.incidents
				ingest, finished = ingest+r.ingest, finished+r.finished
			}
			b.ReportMetric(float64(alerts)/ingest.Seconds(), "alerts/s")
			b.ReportMetric(float64(incidents)/finished.Seconds(), "investigations/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
