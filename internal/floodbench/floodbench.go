// Package floodbench measures the worker's memory under an alert flood
// through the real path: it starts `worker -dev` as a child process (so its
// resident memory is the worker's alone), sends a generated flood through
// HTTP ingest — correlation, workflow signals and running investigations
// included — and samples the worker's RSS, its Go heap (AIR's and the
// embedded Temporal server's, from /metrics) and the incident workflows'
// histories.
//
// The flood is shaped like a SOC's worst day: a few hundred devices, each
// hit many times by a few noisy detectors, so that every incident keeps a
// long-lived investigation busy with signals. Rounds replay it with new ids
// to show whether memory stays flat.
package floodbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airsoc/air/internal/decode"
)

// Options configure a run; zero values take the defaults shown.
type Options struct {
	Worker        string        // the worker binary; empty means this executable
	Alerts        int           // alerts per round; 0 means 500,000 (ignored with File)
	File          string        // replay this alert file each round instead of a generated flood
	Devices       int           // devices (about one incident each); 0 means 300
	Detectors     int           // noisy detectors; 0 means 5
	Rounds        int           // replays of the flood with new ids; 0 means 1
	Batch         int           // alerts per request; 0 means 2,000
	DatabaseURL   string        // AIR's store; empty means SQLite under the data directory
	WorkflowCache int           // the worker's -workflow-cache; 0 means its default
	Settle        time.Duration // wait after each round before reading final figures; 0 means 30 s
	Progress      io.Writer     // progress lines; nil means none
}

func (o *Options) defaults() {
	if o.Alerts <= 0 {
		o.Alerts = 500_000
	}
	if o.Devices <= 0 {
		o.Devices = 300
	}
	if o.Detectors <= 0 {
		o.Detectors = 5
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Batch <= 0 {
		o.Batch = 2000
	}
	if o.Settle <= 0 {
		o.Settle = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Round is what one replay of the flood measured.
type Round struct {
	Alerts          int     `json:"alerts"`
	Seconds         float64 `json:"seconds"`
	AlertsPerS      float64 `json:"alerts_per_s"`
	Incidents       int     `json:"incidents"`
	Signals         int     `json:"workflow_signals"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	FinalRSSMB      float64 `json:"final_rss_mb"`
	HeapAIRMB       float64 `json:"heap_air_mb"`
	HeapServerMB    float64 `json:"heap_temporal_server_mb"`
	MaxHistoryEvts  int64   `json:"max_history_events"`
	MaxHistoryBytes int64   `json:"max_history_bytes"`
}

// Result is a run's rounds.
type Result struct {
	Store         string  `json:"store"`
	WorkflowCache int     `json:"workflow_cache"`
	IdleRSSMB     float64 `json:"idle_rss_mb"` // the worker's RSS once healthy, before the flood
	Rounds        []Round `json:"rounds"`
}

// GrowthPer100k is how much the worker's resident memory grew per 100,000
// alerts once warm: from the end of the first round to the end of the
// last (from idle with one round). It is the figure the regression guard
// bounds: the leaks of issue #19 grew it by 700–800 MB, while a warm
// worker's caches and workflows are already in place after a round.
func (r *Result) GrowthPer100k() float64 {
	if len(r.Rounds) == 0 {
		return 0
	}
	from, counted := r.IdleRSSMB, r.Rounds
	if len(r.Rounds) > 1 {
		from, counted = r.Rounds[0].FinalRSSMB, r.Rounds[1:]
	}
	alerts := 0
	for _, x := range counted {
		alerts += x.Alerts
	}
	if alerts == 0 {
		return 0
	}
	return (r.Rounds[len(r.Rounds)-1].FinalRSSMB - from) / float64(alerts) * 100_000
}

// Run starts the worker, floods it, and stops it.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if o.Worker == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Worker = exe
	}
	var items [][]byte
	if o.File != "" {
		var err error
		if items, err = decode.ReadItems(o.File); err != nil {
			return nil, fmt.Errorf("read %s: %w", o.File, err)
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("%s holds no alerts", o.File)
		}
		o.Alerts = len(items)
	}
	dir, err := os.MkdirTemp("", "air-flood-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	temporalPort, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-dev", "-data", dir, "-http", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"-dev-temporal-port", strconv.Itoa(temporalPort), "-log-level", "warn", "-rate-limit", "-1"}
	if o.DatabaseURL != "" {
		args = append(args, "-db", o.DatabaseURL)
	}
	if o.WorkflowCache > 0 {
		args = append(args, "-workflow-cache", strconv.Itoa(o.WorkflowCache))
	}
	cmd := exec.CommandContext(ctx, o.Worker, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	fmt.Fprintf(o.Progress, "waiting for the worker (a first build of the embedded Temporal server takes a while)…\n")
	if err := waitHealthy(ctx, base, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("%w\nworker log:\n%s", err, logs.String())
	}
	token, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, items: items, base: base, token: strings.TrimSpace(string(token)), pid: cmd.Process.Pid, http: &http.Client{Timeout: 5 * time.Minute}}
	tc, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", temporalPort), Logger: quiet{}})
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	res := &Result{Store: "sqlite", WorkflowCache: o.WorkflowCache, IdleRSSMB: rssMB(cmd.Process.Pid)}
	if o.DatabaseURL != "" {
		res.Store = "postgres"
	}
	for r := range o.Rounds {
		round, err := b.round(ctx, tc, r)
		if err != nil {
			return res, fmt.Errorf("round %d: %w\nworker log (tail):\n%s", r+1, err, tail(logs.String(), 2000))
		}
		res.Rounds = append(res.Rounds, *round)
	}
	return res, nil
}

type bench struct {
	o     Options
	items [][]byte // the file replayed, or nil for a generated flood
	base  string
	token string
	pid   int
	http  *http.Client
}

// round sends one flood (ids suffixed with the round) and measures it.
func (b *bench) round(ctx context.Context, tc client.Client, r int) (*Round, error) {
	var peakKB atomic.Int64 // written by the sampler, read for progress
	peak := func() float64 { return float64(peakKB.Load()) / 1024 }
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := int64(rssMB(b.pid) * 1024); kb > peakKB.Load() {
				peakKB.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	incidents := map[int64]bool{}
	signals := 0
	start := time.Now()
	last := start
	batch := make([]json.RawMessage, 0, b.o.Batch)
	sent := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, _ := json.Marshal(batch)
		var resp struct {
			Accepted int `json:"accepted"`
			Results  []struct {
				IncidentID int64 `json:"incidentId"`
			} `json:"results"`
			Problems []json.RawMessage `json:"problems"`
		}
		if err := b.call(ctx, http.MethodPost, "/api/v1/alerts", body, &resp); err != nil {
			return err
		}
		if len(resp.Problems) > 0 {
			return fmt.Errorf("the worker rejected generated alerts: %s", resp.Problems[0])
		}
		perBatch := map[int64]bool{}
		for _, res := range resp.Results {
			incidents[res.IncidentID] = true
			perBatch[res.IncidentID] = true
		}
		signals += len(perBatch) // the pipeline signals each incident once per batch
		sent += len(batch)
		batch = batch[:0]
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(b.o.Progress, "round %d: %d/%d alerts, %.0f/s, rss %.0f MB (peak %.0f)\n",
				r+1, sent, b.o.Alerts, float64(sent)/time.Since(start).Seconds(), rssMB(b.pid), peak())
		}
		return nil
	}
	epoch := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(r) * 72 * time.Hour)
	for i := range b.o.Alerts {
		a, err := b.next(r, i, epoch)
		if err != nil {
			close(stop)
			return nil, err
		}
		batch = append(batch, a)
		if len(batch) == b.o.Batch {
			if err := flush(); err != nil {
				close(stop)
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		close(stop)
		return nil, err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(b.o.Progress, "round %d: %d alerts sent in %.0f s; settling %s…\n", r+1, sent, elapsed.Seconds(), b.o.Settle)
	select {
	case <-ctx.Done():
		close(stop)
		return nil, ctx.Err()
	case <-time.After(b.o.Settle):
	}
	close(stop)
	<-sampled
	out := &Round{Alerts: sent, Seconds: elapsed.Seconds(), AlertsPerS: float64(sent) / elapsed.Seconds(),
		Incidents: len(incidents), Signals: signals, PeakRSSMB: peak(), FinalRSSMB: rssMB(b.pid)}
	air, server, err := b.heap(ctx)
	if err != nil {
		return nil, err
	}
	out.HeapAIRMB, out.HeapServerMB = air/(1<<20), server/(1<<20)
	ids := make([]int64, 0, len(incidents))
	for id := range incidents {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		d, err := tc.DescribeWorkflowExecution(ctx, fmt.Sprintf("incident-%d", id), "")
		if err != nil {
			continue // a run that finished and was not restarted since: nothing held
		}
		info := d.GetWorkflowExecutionInfo()
		out.MaxHistoryEvts = max(out.MaxHistoryEvts, info.GetHistoryLength())
		out.MaxHistoryBytes = max(out.MaxHistoryBytes, info.GetHistorySizeBytes())
	}
	return out, nil
}

// next is the i-th alert of round r: the file's, moved to the round's pass
// (new id, times 30 days on per round), or a generated one.
func (b *bench) next(r, i int, epoch time.Time) (json.RawMessage, error) {
	if b.items == nil {
		return b.alert(r, i, epoch), nil
	}
	raw, err := decode.ShiftRaw(b.items[i], r)
	if err != nil {
		return nil, fmt.Errorf("%s item %d: %w", b.o.File, i+1, err)
	}
	return raw, nil
}

// alert makes the i-th alert of round r: device i mod Devices, detector i
// mod Detectors, one second apart per device so each device's alerts stay
// within the correlation window. Each device's detections carry their own
// detector id (one rule's instance per device, as with per-host custom
// detections), so that the campaign rule does not fold every device into
// one incident and the flood keeps hundreds of investigations busy.
func (b *bench) alert(r, i int, epoch time.Time) json.RawMessage {
	dev := i % b.o.Devices
	det := (i / b.o.Devices) % b.o.Detectors
	at := epoch.Add(time.Duration(i/b.o.Devices) * time.Second).Format(time.RFC3339Nano)
	sev := []string{"low", "medium", "high", "informational", "low"}[det%5]
	return json.RawMessage(fmt.Sprintf(`{"id":"flood-r%d-%d","status":"new","severity":%q,`+
		`"serviceSource":"microsoftDefenderForEndpoint","detectionSource":"microsoftDefenderForEndpoint",`+
		`"detectorId":"noisy-%d-%d","title":"Noisy detector %d fired","category":"SuspiciousActivity",`+
		`"createdDateTime":%q,"lastUpdateDateTime":%q,"evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence",`+
		`"verdict":"suspicious","mdeDeviceId":"flood-dev-%d","deviceDnsName":"flood-%d.corp.example","rbacGroupName":"Workstations"}]}`,
		r, i, sev, det, dev, det, at, at, dev, dev))
}

func (b *bench) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusMultiStatus {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// heap reads air_heap_inuse_bytes{part} from /metrics.
func (b *bench) heap(ctx context.Context) (air, server float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for part, dst := range map[string]*float64{`air_heap_inuse_bytes{part="air"} `: &air, `air_heap_inuse_bytes{part="temporal_server"} `: &server} {
			if v, ok := strings.CutPrefix(line, part); ok {
				*dst, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return air, server, sc.Err()
}

// rssMB reads a process's resident set from /proc (Linux).
func rssMB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func waitHealthy(ctx context.Context, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return errors.New("the worker did not answer /healthz in time")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// String renders the result as a table.
func (r *Result) String() string {
	var b strings.Builder
	cache := "default"
	if r.WorkflowCache > 0 {
		cache = strconv.Itoa(r.WorkflowCache)
	}
	fmt.Fprintf(&b, "worker -dev on %s, workflow cache %s, idle RSS %.0f MB\n", r.Store, cache, r.IdleRSSMB)
	fmt.Fprintf(&b, "%-6s %9s %8s %9s %8s %9s %9s %9s %10s %10s %10s\n", "round", "alerts", "alerts/s", "incidents", "signals",
		"peak RSS", "final RSS", "AIR heap", "Temporal", "max hist", "max hist")
	fmt.Fprintf(&b, "%-6s %9s %8s %9s %8s %9s %9s %9s %10s %10s %10s\n", "", "", "", "", "", "MB", "MB", "MB", "heap MB", "events", "KiB")
	for i, x := range r.Rounds {
		fmt.Fprintf(&b, "%-6d %9d %8.0f %9d %8d %9.0f %9.0f %9.0f %10.0f %10d %10d\n", i+1, x.Alerts, x.AlertsPerS, x.Incidents,
			x.Signals, x.PeakRSSMB, x.FinalRSSMB, x.HeapAIRMB, x.HeapServerMB, x.MaxHistoryEvts, x.MaxHistoryBytes/1024)
	}
	fmt.Fprintf(&b, "RSS growth once warm (round 1 to the last; from idle with one round): %.0f MB per 100,000 alerts\n", r.GrowthPer100k())
	return b.String()
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
