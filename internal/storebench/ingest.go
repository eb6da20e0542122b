// Package storebench measures AIR's paths that run on a store inside this
// process, for `starter bench ingest` and `starter bench queue`: an alert
// file replayed through the real ingest (batch, HTTP and Temporal paths),
// and the incident queue's queries on seeded incidents. Each measurement
// opens a fresh store (a SQLite file or a new PostgreSQL schema) and drops
// it afterwards unless asked to keep it. The command line parses flags and
// prints; this package opens the store and drives it, so that internal/cli
// does not import internal/store.
package storebench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sirupsen/logrus"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	ingestpkg "github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/store"
)

// IngestResult is one measured path of `starter bench ingest`.
type IngestResult struct {
	Path              string    `json:"path"`  // batch, http or temporal
	Store             string    `json:"store"` // sqlite or postgres
	Alerts            int       `json:"alerts"`
	Seconds           float64   `json:"seconds"`
	AlertsPerS        float64   `json:"alerts_per_s"`
	P50Ms             float64   `json:"p50_ms"` // per batch (batch path) or per request (http path)
	P99Ms             float64   `json:"p99_ms"`
	PeakRSSMB         float64   `json:"peak_rss_mb"`
	RSSMBAt           []float64 `json:"rss_mb_at_quarters"`   // RSS after 25, 50, 75 and 100 % of the replay
	CeilingAlertsPerS float64   `json:"ceiling_alerts_per_s"` // Ceiling's, set by the caller: one figure for every path
	Incidents         int       `json:"incidents"`
	Notifications     int64     `json:"notifications"`   // workflow signals (one per incident per batch with a material change)
	NotifiedAlerts    int64     `json:"notified_alerts"` // alert ids those signals carried
	BatchSize         int       `json:"batch_size,omitempty"`
	Workers           int       `json:"workers,omitempty"`
	Included          string    `json:"included"`
}

// Ingest is one measured path of `starter bench ingest`. Batch and
// temporal are batch-like: they read the file in batches of BatchSize
// through the ingest pipeline; http posts one alert per request.
type Ingest struct {
	File string
	// Path is batch, http or temporal (the batch path with Notifier set).
	Path string
	// Store is sqlite or postgres; DSN is the PostgreSQL URL a fresh
	// schema is made in.
	Store, DSN string
	BatchSize  int // batch-like paths: alerts per batch
	Repeat     int // batch-like paths: replays of the file (ids suffixed, times shifted)
	Workers    int // http path: concurrent senders
	HTTPMax    int // http path: at most this many alerts (0: all)
	// Keep keeps a batch-like path's store: a SQLite file path, or with
	// postgres the schema name; "" drops it.
	Keep string
	// Export, when set, is where a batch-like path writes its
	// alert,incident assignment CSV.
	Export string
	// Notifier receives the notifications after they are counted (the
	// temporal path's Temporal client); nil only counts them.
	Notifier ingestpkg.Notifier
}

// Run measures the path on a fresh store and counts the incidents it made.
func (in Ingest) Run(ctx context.Context) (IngestResult, error) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	batchLike := in.Path != "http"
	st, cleanup, err := openStore(ctx, in.Store, in.DSN, batchLike, in.Keep)
	if err != nil {
		return IngestResult{}, err
	}
	defer cleanup()
	var r IngestResult
	if batchLike {
		r, err = benchBatch(ctx, st, log, in.File, in.BatchSize, in.Repeat, in.Notifier)
		r.Path = in.Path
	} else {
		r, err = benchHTTP(ctx, st, log, in.File, in.Workers, in.HTTPMax)
	}
	if err == nil && batchLike && in.Export != "" {
		err = exportTo(ctx, st, in.Export)
	}
	if err == nil {
		r.Incidents, _, err = st.IncidentCounts(ctx)
	}
	if err != nil {
		return IngestResult{}, err
	}
	r.Store = in.Store
	return r, nil
}

// Ceiling is the raw PostgreSQL insert rate of the file's alert rows, in
// batches of batchSize, on a fresh schema at dsn: the bound no ingest path
// can pass.
func Ceiling(ctx context.Context, dsn, file string, batchSize int) (float64, error) {
	st, cleanup, err := openStore(ctx, "postgres", dsn, false, "")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	rd, err := decode.OpenFile(file, 1)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	spent, n, err := st.CeilingInsert(ctx, func() ([]*domain.Alert, error) { return rd.Next(batchSize) })
	if err != nil {
		return 0, fmt.Errorf("ceiling: %w", err)
	}
	if spent <= 0 {
		return 0, nil
	}
	return float64(n) / spent.Seconds(), nil
}

// ExportAssignments writes "alert_id,incident_id" CSV lines, header first,
// from the store at dsn (postgres://… or a SQLite file): the scoring input
// of a replay that `starter bench ingest --keep` left behind.
func ExportAssignments(ctx context.Context, dsn string, w io.Writer) error {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	return st.ExportAssignments(ctx, w)
}

func exportTo(ctx context.Context, st *store.Store, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return st.ExportAssignments(ctx, f)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// openStore opens a fresh store: a SQLite file in a temporary directory,
// or a new PostgreSQL schema.
func openStore(ctx context.Context, kind, dsn string, keepable bool, keep string) (*store.Store, func(), error) {
	if kind == "sqlite" {
		dir, err := os.MkdirTemp("", "air-bench-")
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, "air.db")
		if keepable && keep != "" {
			path = keep
		}
		st, err := store.Open(ctx, path)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return st, func() { st.Close(); os.RemoveAll(dir) }, nil
	}
	schema := fmt.Sprintf("bench_%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	if keepable && keep != "" {
		schema = keep
	}
	admin, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, nil, err
	}
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		admin.Close()
		return nil, nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := store.Open(ctx, u.String())
	if err != nil {
		admin.Close()
		return nil, nil, err
	}
	return st, func() {
		st.Close()
		if !(keepable && keep != "") {
			admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		}
		admin.Close()
	}, nil
}

// recorder is the workflow side for the benchmark: it counts the signals
// ingest sends, per incident per batch, and passes them on to next when
// there is one (the temporal path).
type recorder struct {
	calls, ids atomic.Int64
	next       ingestpkg.Notifier
}

func (r *recorder) AlertsJoined(ctx context.Context, incidentID int64, alertIDs []string) error {
	r.calls.Add(1)
	r.ids.Add(int64(len(alertIDs)))
	if r.next != nil {
		return r.next.AlertsJoined(ctx, incidentID, alertIDs)
	}
	return nil
}

// rss samples the process's resident set size.
type rss struct {
	mu   sync.Mutex
	peak float64
	stop chan struct{}
	done chan struct{}
}

func currentRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func sampleRSS() *rss {
	r := &rss{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			cur := currentRSSMB()
			r.mu.Lock()
			r.peak = max(r.peak, cur)
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

func (r *rss) finish() float64 {
	close(r.stop)
	<-r.done
	return round1(r.peak)
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return float64(d[i].Microseconds()/10) / 100
}

// quarters records RSS as the replay passes each quarter of total.
type quarters struct {
	total, done int
	marks       []float64
}

func (q *quarters) add(n int) {
	q.done += n
	for len(q.marks) < 4 && q.total > 0 && q.done*4 >= q.total*(len(q.marks)+1) {
		q.marks = append(q.marks, round1(currentRSSMB()))
	}
}

func benchBatch(ctx context.Context, st *store.Store, log *logrus.Logger, file string, size, repeat int, next ingestpkg.Notifier) (IngestResult, error) {
	total, err := decode.CountItems(file, repeat)
	if err != nil {
		return IngestResult{}, err
	}
	rd, err := decode.OpenFile(file, repeat)
	if err != nil {
		return IngestResult{}, err
	}
	defer rd.Close()
	rec := &recorder{next: next}
	p := &ingestpkg.Pipeline{Store: st, Notifier: rec, Log: log}
	q := &quarters{total: total}
	mem := sampleRSS()
	// Reading and decoding run ahead in their own goroutine, as request
	// handlers decode while an earlier batch is in the store.
	type item struct {
		batch []*domain.Alert
		err   error
	}
	feed := make(chan item, 2)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(feed)
		for {
			batch, err := rd.Next(size)
			select {
			case feed <- item{batch, err}:
			case <-bctx.Done():
				return
			}
			if err != nil || len(batch) == 0 {
				return
			}
		}
	}()
	var lat []time.Duration
	n := 0
	start := time.Now()
	for it := range feed {
		if it.err != nil {
			mem.finish()
			return IngestResult{}, it.err
		}
		if len(it.batch) == 0 {
			break
		}
		t0 := time.Now()
		if _, err := p.Ingest(ctx, it.batch); err != nil {
			mem.finish()
			return IngestResult{}, err
		}
		lat = append(lat, time.Since(t0))
		n += len(it.batch)
		q.add(len(it.batch))
	}
	el := time.Since(start)
	notified := "recorded, not sent to Temporal"
	if next != nil {
		notified = "sent to Temporal: SignalWithStart on a task queue no worker polls"
	}
	return IngestResult{Path: "batch", Alerts: n, Seconds: round1(el.Seconds()), AlertsPerS: round1(float64(n) / el.Seconds()),
		P50Ms: percentile(lat, 0.5), P99Ms: percentile(lat, 0.99), PeakRSSMB: mem.finish(), RSSMBAt: q.marks,
		Notifications: rec.calls.Load(), NotifiedAlerts: rec.ids.Load(), BatchSize: size,
		Included: "read + decode (one goroutine ahead) + upsert + correlation + derived incident fields + notification batching per incident (" + notified + "); latency is the store transaction + notifications per batch"}, nil
}

func benchHTTP(ctx context.Context, st *store.Store, log *logrus.Logger, file string, workers, maxN int) (IngestResult, error) {
	rec := &recorder{}
	svc := &auth.Service{Store: st}
	tok, err := svc.CreateToken(ctx, "bench", auth.NewToken{Name: "bench", Role: auth.Analyst})
	if err != nil {
		return IngestResult{}, fmt.Errorf("create bench token: %w", err)
	}
	srv := &api.Server{Store: st, Ingest: &ingestpkg.Pipeline{Store: st, Notifier: rec, Log: log}, Log: log,
		Auth: svc, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	total, err := decode.CountItems(file, 1)
	if err != nil {
		return IngestResult{}, err
	}
	if maxN > 0 {
		total = min(total, maxN)
	}
	rd, err := decode.OpenFile(file, 1) // HTTP sends the items as they are: one pass
	if err != nil {
		return IngestResult{}, err
	}
	defer rd.Close()
	type job struct{ body []byte }
	jobs := make(chan job, workers*4)
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}
	for range max(1, workers) {
		wg.Go(func() {
			for j := range jobs {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/api/v1/alerts", bytes.NewReader(j.body))
				req.Header.Set("Authorization", "Bearer "+tok.Secret)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("POST /api/v1/alerts: %s", resp.Status)
					}
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	q := &quarters{total: total}
	mem := sampleRSS()
	start := time.Now()
	n := 0
	for n < total {
		raw, err := rd.NextRaw() // the client sends bytes; only the server decodes
		if err != nil || raw == nil {
			if err != nil {
				firstErr = err
			}
			break
		}
		jobs <- job{body: raw}
		n++
		q.add(1)
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	peak := mem.finish()
	if firstErr != nil {
		return IngestResult{}, firstErr
	}
	return IngestResult{Path: "http", Alerts: n, Seconds: round1(el.Seconds()), AlertsPerS: round1(float64(n) / el.Seconds()),
		P50Ms: percentile(lat, 0.5), P99Ms: percentile(lat, 0.99), PeakRSSMB: peak, RSSMBAt: q.marks,
		Notifications: rec.calls.Load(), NotifiedAlerts: rec.ids.Load(), Workers: workers,
		Included: "one alert per POST /api/v1/alerts through the real handler (token auth, rate limit off) over loopback HTTP: decode + upsert + correlation + derived fields + notification per incident (recorded); latency is per request"}, nil
}
