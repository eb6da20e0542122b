package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/auth"
	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/engine"
	ingestpkg "github.com/airsoc/air/internal/ingest"
	"github.com/airsoc/air/internal/logging"
	"github.com/airsoc/air/internal/store"
)

// BenchResult is one measured path of `starter bench ingest`.
type BenchResult struct {
	Path              string    `json:"path"`  // batch or http
	Store             string    `json:"store"` // sqlite or postgres
	Alerts            int       `json:"alerts"`
	Seconds           float64   `json:"seconds"`
	AlertsPerS        float64   `json:"alerts_per_s"`
	P50Ms             float64   `json:"p50_ms"` // per batch (batch path) or per request (http path)
	P99Ms             float64   `json:"p99_ms"`
	PeakRSSMB         float64   `json:"peak_rss_mb"`
	RSSMBAt           []float64 `json:"rss_mb_at_quarters"` // RSS after 25, 50, 75 and 100 % of the replay
	CeilingAlertsPerS float64   `json:"ceiling_alerts_per_s"`
	Incidents         int       `json:"incidents"`
	Notifications     int64     `json:"notifications"`   // workflow signals (one per incident per batch with a material change)
	NotifiedAlerts    int64     `json:"notified_alerts"` // alert ids those signals carried
	BatchSize         int       `json:"batch_size,omitempty"`
	Workers           int       `json:"workers,omitempty"`
	Included          string    `json:"included"`
}

const benchUsage = `starter bench ingest FILE [flags]

Replays an alert file (Graph, OCSF or Sentinel; one object, an array, a page or
NDJSON; .gz is read as gzip) through AIR's real ingest: decode, upsert,
correlation into incidents and the workflow notifications (batched per
incident, counted by a recording notifier instead of Temporal). It prints
alerts/s, p50/p99 latency and peak memory per path, and the raw PostgreSQL
insert rate of the same rows as the ceiling.

The temporal path is the batch path with the notifications really sent:
SignalWithStart of each incident's investigation on the Temporal frontend
--temporal names, on a task queue no worker polls (--task-queue), so that
the figure is ingest plus Temporal's signalling and nothing else:

  starter bench ingest shaw.ndjson.gz --path batch,temporal --temporal 127.0.0.1:7233
`

// bench runs `starter bench ingest`.
func bench(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "ingest" {
		return usageError{"bench: want `bench ingest FILE` or `bench queue` (bench e2e: go run ./worker bench e2e)"}
	}
	fs := newFlags(env, "bench ingest")
	fs.Usage = func() { fmt.Fprint(env.Stderr, benchUsage); fs.PrintDefaults() }
	kind := fs.String("store", "sqlite", "store to measure: sqlite or postgres")
	dsn := fs.String("db", "", "PostgreSQL URL (default $TEST_DATABASE_URL); a fresh schema is made and dropped")
	asJSON := fs.Bool("json", false, "print one JSON object per measured path")
	paths := fs.String("path", "batch,http", "paths to measure, comma-separated: batch, http, temporal (the batch path signalling Temporal)")
	temporalAddr := fs.String("temporal", "", "temporal path: the Temporal frontend HOST:PORT (e.g. a worker -dev's 127.0.0.1:7233)")
	namespace := fs.String("namespace", "default", "temporal path: the Temporal namespace")
	taskQueue := fs.String("task-queue", "air-bench-ingest", "temporal path: the task queue the investigations are started on; keep it one no worker polls")
	batchSize := fs.Int("batch", 1000, "alerts per batch on the batch path")
	workers := fs.Int("workers", 128, "concurrent senders on the HTTP path (many sensors posting one alert each)")
	repeat := fs.Int("repeat", 1, "batch path: replay the file this many times (ids suffixed, times shifted) for long runs")
	httpMax := fs.Int("http-max", 0, "send at most this many alerts on the HTTP path (0: all)")
	keep := fs.String("keep", "", "keep the batch path's store: a SQLite file path, or with postgres the schema name")
	export := fs.String("export", "", "write the batch path's alert,incident assignment CSV here")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run here")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"bench ingest: name one alert file"}
	}
	file := pos[0]
	if *kind != "sqlite" && *kind != "postgres" {
		return usageError{fmt.Sprintf("bench ingest: --store must be sqlite or postgres, got %q", *kind)}
	}
	if *dsn == "" {
		*dsn = os.Getenv("TEST_DATABASE_URL")
	}
	if *kind == "postgres" && *dsn == "" {
		return usageError{"bench ingest: --store postgres needs --db or TEST_DATABASE_URL"}
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var results []BenchResult
	for _, p := range strings.Split(*paths, ",") {
		p = strings.TrimSpace(p)
		if p != "batch" && p != "http" && p != "temporal" {
			return usageError{fmt.Sprintf("bench ingest: unknown path %q (batch, http, temporal)", p)}
		}
		var next ingestpkg.Notifier
		if p == "temporal" {
			if *temporalAddr == "" {
				return usageError{"bench ingest: the temporal path needs --temporal HOST:PORT"}
			}
			tc, err := client.Dial(client.Options{HostPort: *temporalAddr, Namespace: *namespace, Logger: logging.NewTemporal(logger)})
			if err != nil {
				return fmt.Errorf("bench ingest: Temporal at %s: %w", *temporalAddr, err)
			}
			defer tc.Close()
			next = &engine.Engine{Client: tc, TaskQueue: *taskQueue}
		}
		batchLike := p != "http"
		st, cleanup, err := benchStore(ctx, *kind, *dsn, batchLike, *keep)
		if err != nil {
			return err
		}
		var r BenchResult
		if batchLike {
			r, err = benchBatch(ctx, st, logger, file, *batchSize, *repeat, next)
			r.Path = p
		} else {
			r, err = benchHTTP(ctx, st, logger, file, *workers, *httpMax)
		}
		if err == nil && batchLike && *export != "" {
			err = exportTo(ctx, st, *export)
		}
		if err == nil {
			r.Incidents, err = countIncidents(ctx, st)
		}
		cleanup()
		if err != nil {
			return err
		}
		r.Store = *kind
		results = append(results, r)
	}

	// The ceiling: the same rows, raw into PostgreSQL.
	ceiling := 0.0
	if *dsn != "" {
		st, cleanup, err := benchStore(ctx, "postgres", *dsn, false, "")
		if err != nil {
			return err
		}
		rd, err := openAlerts(file, 1)
		if err != nil {
			cleanup()
			return err
		}
		spent, n, err := st.CeilingInsert(ctx, func() ([]*domain.Alert, error) { return rd.next(*batchSize) })
		rd.close()
		cleanup()
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		if spent > 0 {
			ceiling = float64(n) / spent.Seconds()
		}
	}
	for i := range results {
		results[i].CeilingAlertsPerS = round1(ceiling)
	}

	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "bench ingest %s (%s store)\n", file, *kind)
	for _, r := range results {
		fmt.Fprintf(env.Stdout, "  %-5s %8d alerts  %9.0f alerts/s  p50 %7.2f ms  p99 %7.2f ms  peak RSS %6.1f MB  RSS by quarter %v MB  %d incidents  %d signals (%d alert ids)\n",
			r.Path, r.Alerts, r.AlertsPerS, r.P50Ms, r.P99Ms, r.PeakRSSMB, r.RSSMBAt, r.Incidents, r.Notifications, r.NotifiedAlerts)
		fmt.Fprintf(env.Stdout, "        includes: %s\n", r.Included)
	}
	if ceiling > 0 {
		fmt.Fprintf(env.Stdout, "  ceiling: raw PostgreSQL insert of the same alert rows, same batch size: %.0f alerts/s\n", ceiling)
	} else {
		fmt.Fprintln(env.Stdout, "  ceiling: not measured (no PostgreSQL: set TEST_DATABASE_URL or --db)")
	}
	return nil
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// benchStore opens a fresh store: a SQLite file in a temporary directory,
// or a new PostgreSQL schema.
func benchStore(ctx context.Context, kind, dsn string, keepable bool, keep string) (*store.Store, func(), error) {
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

func exportTo(ctx context.Context, st *store.Store, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return st.ExportAssignments(ctx, f)
}

func countIncidents(ctx context.Context, st *store.Store) (int, error) {
	n, _, err := st.IncidentCounts(ctx)
	return n, err
}

// recorder is the workflow side for the benchmark: it counts the signals
// ingest would send, per incident per batch.
// recorder counts the workflow notifications, and passes them on to next
// when there is one (the temporal path).
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

// alertReader streams items of an alert file, decoded, so that memory stays
// flat however long the replay.
type alertReader struct {
	f       *os.File
	r       *bufio.Reader
	items   [][]byte // a non-NDJSON body, split at once
	repeat  int
	pass    int
	shift   time.Duration
	path    string
	decoded int
}

func openAlerts(path string, repeat int) (*alertReader, error) {
	rd := &alertReader{path: path, repeat: max(1, repeat)}
	if err := rd.open(); err != nil {
		return nil, err
	}
	return rd, nil
}

func (rd *alertReader) open() error {
	f, err := os.Open(rd.path)
	if err != nil {
		return err
	}
	rd.f = f
	var r io.Reader = f
	if strings.HasSuffix(rd.path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", rd.path, err)
		}
		r = gz
	}
	rd.r = bufio.NewReaderSize(r, 1<<20)
	first, err := rd.r.Peek(1)
	if err == nil && (first[0] == '[' || isSingleDoc(rd.r)) {
		body, err := io.ReadAll(rd.r)
		if err != nil {
			return err
		}
		items, err := splitItems(body)
		if err != nil {
			return err
		}
		rd.items = items
	}
	return nil
}

// isSingleDoc tells a pretty-printed single document or page from NDJSON
// by its first line.
func isSingleDoc(r *bufio.Reader) bool {
	b, _ := r.Peek(64 << 10)
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	return !json.Valid(bytes.TrimSpace(line))
}

func splitItems(body []byte) ([][]byte, error) {
	var out [][]byte
	alerts, problems, err := decode.Decode(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("item %d: %s: %s", problems[0].Index, problems[0].Field, problems[0].Reason)
	}
	for _, a := range alerts {
		out = append(out, a.Raw)
	}
	return out, nil
}

func (rd *alertReader) close() {
	if rd.f != nil {
		rd.f.Close()
	}
}

// nextRaw returns the next item's bytes, moving to the next pass of the
// file at its end; nil when every pass is done.
func (rd *alertReader) nextRaw() ([]byte, error) {
	for {
		if rd.items != nil {
			if len(rd.items) > 0 {
				it := rd.items[0]
				rd.items = rd.items[1:]
				return it, nil
			}
		} else {
			line, err := rd.r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				return bytes.TrimSpace(line), nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			if err == nil {
				continue
			}
		}
		rd.pass++
		rd.f.Close()
		if rd.pass >= rd.repeat {
			return nil, nil
		}
		rd.items = nil
		if err := rd.open(); err != nil {
			return nil, err
		}
	}
}

// shifted returns the item for the current pass: later passes get a new id
// and times moved past the file's span, so that they are new alerts.
func (rd *alertReader) shifted(raw []byte) (*domain.Alert, error) {
	a, _, derr := decode.Item(raw)
	if derr != nil {
		return nil, derr
	}
	if rd.pass > 0 {
		a.ID += "-r" + strconv.Itoa(rd.pass)
		d := time.Duration(rd.pass) * 30 * 24 * time.Hour
		a.CreatedDateTime = a.CreatedDateTime.Add(d)
		a.LastUpdateDateTime = a.LastUpdateDateTime.Add(d)
		for _, p := range []**time.Time{&a.FirstActivityDateTime, &a.LastActivityDateTime, &a.ResolvedDateTime} {
			if *p != nil {
				t := (**p).Add(d)
				*p = &t
			}
		}
	}
	rd.decoded++
	return a, nil
}

func (rd *alertReader) next(n int) ([]*domain.Alert, error) {
	out := make([]*domain.Alert, 0, n)
	for len(out) < n {
		raw, err := rd.nextRaw()
		if err != nil {
			return nil, err
		}
		if raw == nil {
			break
		}
		a, err := rd.shifted(raw)
		if err != nil {
			return nil, fmt.Errorf("alert %d: %w", rd.decoded, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// countItems counts a file's alerts for progress (RSS by quarter).
func countItems(path string, repeat int) (int, error) {
	rd, err := openAlerts(path, repeat)
	if err != nil {
		return 0, err
	}
	defer rd.close()
	n := 0
	for {
		raw, err := rd.nextRaw()
		if err != nil {
			return 0, err
		}
		if raw == nil {
			return n, nil
		}
		n++
	}
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

func benchBatch(ctx context.Context, st *store.Store, log *logrus.Logger, file string, size, repeat int, next ingestpkg.Notifier) (BenchResult, error) {
	total, err := countItems(file, repeat)
	if err != nil {
		return BenchResult{}, err
	}
	rd, err := openAlerts(file, repeat)
	if err != nil {
		return BenchResult{}, err
	}
	defer rd.close()
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
			batch, err := rd.next(size)
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
			return BenchResult{}, it.err
		}
		if len(it.batch) == 0 {
			break
		}
		t0 := time.Now()
		if _, err := p.Ingest(ctx, it.batch); err != nil {
			mem.finish()
			return BenchResult{}, err
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
	return BenchResult{Path: "batch", Alerts: n, Seconds: round1(el.Seconds()), AlertsPerS: round1(float64(n) / el.Seconds()),
		P50Ms: percentile(lat, 0.5), P99Ms: percentile(lat, 0.99), PeakRSSMB: mem.finish(), RSSMBAt: q.marks,
		Notifications: rec.calls.Load(), NotifiedAlerts: rec.ids.Load(), BatchSize: size,
		Included: "read + decode (one goroutine ahead) + upsert + correlation + derived incident fields + notification batching per incident (" + notified + "); latency is the store transaction + notifications per batch"}, nil
}

func benchHTTP(ctx context.Context, st *store.Store, log *logrus.Logger, file string, workers, maxN int) (BenchResult, error) {
	rec := &recorder{}
	svc := &auth.Service{Store: st}
	tok, err := svc.CreateToken(ctx, "bench", auth.NewToken{Name: "bench", Role: auth.Analyst})
	if err != nil {
		return BenchResult{}, fmt.Errorf("create bench token: %w", err)
	}
	srv := &api.Server{Store: st, Ingest: &ingestpkg.Pipeline{Store: st, Notifier: rec, Log: log}, Log: log,
		Auth: svc, Limiter: &auth.Limiter{Rate: auth.Rate{PerSecond: -1}}}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	total, err := countItems(file, 1)
	if err != nil {
		return BenchResult{}, err
	}
	if maxN > 0 {
		total = min(total, maxN)
	}
	rd, err := openAlerts(file, 1) // HTTP sends the items as they are: one pass
	if err != nil {
		return BenchResult{}, err
	}
	defer rd.close()
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
		raw, err := rd.nextRaw() // the client sends bytes; only the server decodes
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
		return BenchResult{}, firstErr
	}
	return BenchResult{Path: "http", Alerts: n, Seconds: round1(el.Seconds()), AlertsPerS: round1(float64(n) / el.Seconds()),
		P50Ms: percentile(lat, 0.5), P99Ms: percentile(lat, 0.99), PeakRSSMB: peak, RSSMBAt: q.marks,
		Notifications: rec.calls.Load(), NotifiedAlerts: rec.ids.Load(), Workers: workers,
		Included: "one alert per POST /api/v1/alerts through the real handler (token auth, rate limit off) over loopback HTTP: decode + upsert + correlation + derived fields + notification per incident (recorded); latency is per request"}, nil
}
