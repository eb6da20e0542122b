package nativestack

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/airsoc/air/internal/decode"
)

// BenchmarkAITFlood replays a labelled AIT scenario (real IDS and host
// alerts of a multi-step attack), repeated until it is a flood, through the
// HTTP API of 2 API processes into 2 worker processes on the native stack
// (Temporal on PostgreSQL), as issue #14 asks: alerts/s through the API
// with Temporal's signalling, incidents, workflow signals, Temporal history
// sizes, and the peak memory of every process.
//
//	AIR_AIT_FILE=../../../shared/data/ait/russellmitchell.ndjson.gz AIR_AIT_REPEAT=10 \
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test ./internal/nativestack -run '^$' -bench AITFlood -benchtime 1x -timeout 60m
//
// Pass p > 0 of the file gets ids suffixed "-rp" and times 30 days later per
// pass, so each pass is a new attack on the same network (new incidents,
// the detectors' routines already learnt).
//
// AIR_AIT_WORKERS=after starts the two worker processes only once the last
// alert is acknowledged: the alerts/s figure is then the API tier's ingest
// with Temporal's start and signal of every investigation and nothing else
// on the cores; the workers then drain the backlog before history is read.
func BenchmarkAITFlood(b *testing.B) {
	file := os.Getenv("AIR_AIT_FILE")
	if file == "" {
		file = filepath.Join(moduleRoot(b), "..", "shared", "data", "ait", "russellmitchell.ndjson.gz")
	}
	repeat := 10
	if v := os.Getenv("AIR_AIT_REPEAT"); v != "" {
		var err error
		if repeat, err = strconv.Atoi(v); err != nil || repeat < 1 {
			b.Fatalf("AIR_AIT_REPEAT=%q: want a positive count", v)
		}
	}
	workersAfter := false
	switch v := os.Getenv("AIR_AIT_WORKERS"); v {
	case "", "during":
	case "after":
		workersAfter = true
	default:
		b.Fatalf("AIR_AIT_WORKERS=%q: want during (the default) or after", v)
	}
	lines, err := decode.ReadItems(file)
	if err != nil {
		b.Fatal(err)
	}
	s := Start(b)
	for range b.N {
		air := s.NewAIR(b, fmt.Sprintf("ait%d", floods.Add(1)), "-automation", "full", "-rate-limit", "-1")
		nodes := []*Node{air.Start(b, "api-1", "api"), air.Start(b, "api-2", "api")}
		startWorkers := func() {
			nodes = append(nodes, air.Start(b, "worker-1", "worker"), air.Start(b, "worker-2", "worker"))
		}
		if !workersAfter {
			startWorkers()
		}
		token := air.Token(b)

		const batch, senders = 500, 4
		total := len(lines) * repeat
		work := make(chan []byte, senders)
		var sent, resent atomic.Int64
		var wg sync.WaitGroup
		failed := make(chan error, 1)
		start := time.Now()
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					n := int64(bytes.Count(body, []byte("\n")) + 1)
					for try := g; ; try++ {
						// Spread over both API processes; a batch that got no
						// 200 (a 503 says what to resend: all of it, ingest is
						// idempotent by id) goes again to the other.
						code, err := Client{Base: nodes[try%2].URL, Token: token}.Do("POST", "/api/v1/alerts", body, nil)
						if code == http.StatusOK {
							break
						}
						if code >= 400 && code < 500 && code != http.StatusTooManyRequests {
							select {
							case failed <- fmt.Errorf("batch refused: %d %v", code, err):
							default:
							}
							return
						}
						resent.Add(1)
						time.Sleep(200 * time.Millisecond)
					}
					if done := sent.Add(n); done/50000 != (done-n)/50000 {
						b.Logf("%d of %d alerts acknowledged, %.0f/s", done, total, float64(done)/time.Since(start).Seconds())
					}
				}
			}()
		}
		for p := range repeat {
			for i := 0; i < len(lines); i += batch {
				part := lines[i:min(i+batch, len(lines))]
				var buf bytes.Buffer
				buf.WriteByte('[')
				for j, l := range part {
					if j > 0 {
						buf.WriteString(",\n")
					}
					shifted, err := decode.ShiftRaw(l, p)
					if err != nil {
						b.Fatalf("%s item %d: %v", file, i+j, err)
					}
					buf.Write(shifted)
				}
				buf.WriteByte(']')
				select {
				case work <- buf.Bytes():
				case err := <-failed:
					b.Fatal(err)
				}
			}
		}
		close(work)
		wg.Wait()
		ingest := time.Since(start)
		select {
		case err := <-failed:
			b.Fatal(err)
		default:
		}

		db, err := sql.Open("postgres", air.DB)
		if err != nil {
			b.Fatal(err)
		}
		var alerts, incidents int
		if err := db.QueryRow(`SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM incidents)`).Scan(&alerts, &incidents); err != nil {
			b.Fatal(err)
		}
		db.Close()
		if alerts != total {
			b.Errorf("%d alerts stored, %d sent", alerts, total)
		}
		if workersAfter {
			startWorkers()
		}
		// Investigations go on after the last alert; give them time, then
		// read Temporal's side.
		hs := s.historyStats(b, air.Namespace, 10*time.Minute)
		b.ReportMetric(float64(total)/ingest.Seconds(), "alerts/s")
		b.ReportMetric(float64(incidents), "incidents")
		b.ReportMetric(float64(hs.signals), "signals")
		b.ReportMetric(float64(hs.maxEvents), "max-history-events")
		b.ReportMetric(float64(hs.maxBytes)/1e6, "max-history-MB")
		b.ReportMetric(0, "ns/op")
		when := "workers running beside it"
		if workersAfter {
			when = "workers started after the last alert"
		}
		b.Logf("%s: %d alerts in %s (%.0f/s, %d batches resent); %d incidents; %d workflows (%d still running after %s), %d signals, "+
			"history events max %d / mean %.0f, bytes max %.1f MB / total %.1f MB",
			when, total, ingest.Round(time.Second), float64(total)/ingest.Seconds(), resent.Load(), incidents, hs.workflows, hs.running, hs.waited.Round(time.Second),
			hs.signals, hs.maxEvents, float64(hs.events)/float64(max(1, hs.workflows)), float64(hs.maxBytes)/1e6, float64(hs.bytes)/1e6)
		for _, n := range nodes {
			b.Logf("%s: peak RSS %s, now %s", n.Name, rss(n.Proc, "VmHWM"), rss(n.Proc, "VmRSS"))
		}
		b.Logf("temporal server: peak RSS %s, now %s", rss(s.Temporal.proc, "VmHWM"), rss(s.Temporal.proc, "VmRSS"))
		for _, n := range nodes {
			n.Stop()
		}
	}
}

type historyStats struct {
	workflows, running         int
	signals, events, maxEvents int64
	bytes, maxBytes            int64
	waited                     time.Duration
}

// historyStats waits (up to within) for the namespace's investigations to
// stop running, then reads every workflow's history size and signals.
func (s *Stack) historyStats(t testing.TB, ns string, within time.Duration) historyStats {
	t.Helper()
	ctx := context.Background()
	c, err := client.Dial(client.Options{HostPort: s.Temporal.Address, Namespace: ns, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st historyStats
	start := time.Now()
	for {
		n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns, Query: "ExecutionStatus='Running'"})
		if err == nil && n.Count == 0 || time.Since(start) > within {
			if err == nil {
				st.running = int(n.Count)
			}
			break
		}
		time.Sleep(5 * time.Second)
	}
	st.waited = time.Since(start)
	var token []byte
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, PageSize: 1000, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Executions {
			st.workflows++
			st.events += e.HistoryLength
			st.bytes += e.HistorySizeBytes
			st.maxEvents = max(st.maxEvents, e.HistoryLength)
			st.maxBytes = max(st.maxBytes, e.HistorySizeBytes)
			it := c.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
					st.signals++
				}
			}
		}
		if token = page.NextPageToken; len(token) == 0 {
			return st
		}
	}
}

// rss reads a memory line (VmHWM: peak, VmRSS: now) of a running
// process's /proc status.
func rss(p *Proc, field string) string {
	if p == nil || p.cmd.Process == nil {
		return "?"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return "?"
}
