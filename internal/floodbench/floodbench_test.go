package floodbench

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Budgets of the regression guard. The targets of docs/performance.md are
// for 600,000 alerts (peak RSS ≤ 1 GB, final ≤ 500 MB, AIR's heap ≤ 150 MB,
// the embedded server's ≤ 250 MB); the growth budget is per 100,000 alerts
// from the first round's end to the second's, where the leaks this guards
// against (every pass loading every alert, unbounded histories) grew the
// worker by 700–800 MB.
const (
	maxPeakRSSMB      = 1024
	maxFinalRSSMB     = 500
	maxHeapAIRMB      = 150
	maxHeapServerMB   = 250
	maxGrowthPer100MB = 150
)

// TestFloodMemoryStaysBounded is issue #19's regression guard: a real
// worker -dev (its own process, SQLite, the embedded Temporal server) takes
// a small flood of the worst shape twice through HTTP ingest, correlation,
// workflow signals and running investigations, and its memory must stay
// within the budgets above, the second round included.
func TestFloodMemoryStaysBounded(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/airsoc/air/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Worker: bin, Alerts: 25_000, Devices: 150, Rounds: 2, Batch: 1000, Settle: 5 * time.Second,
		Progress: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	for i, r := range res.Rounds {
		if r.Alerts != 25_000 || r.Incidents < 100 || r.Signals < r.Incidents {
			t.Errorf("round %d: %d alerts, %d incidents, %d signals: not the flood asked for", i+1, r.Alerts, r.Incidents, r.Signals)
		}
		if r.PeakRSSMB > maxPeakRSSMB || r.FinalRSSMB > maxFinalRSSMB {
			t.Errorf("round %d: RSS peak %.0f MB, final %.0f MB; budget %d and %d", i+1, r.PeakRSSMB, r.FinalRSSMB, maxPeakRSSMB, maxFinalRSSMB)
		}
		if r.HeapAIRMB > maxHeapAIRMB || r.HeapServerMB > maxHeapServerMB {
			t.Errorf("round %d: heap AIR %.0f MB, Temporal %.0f MB; budget %d and %d", i+1, r.HeapAIRMB, r.HeapServerMB, maxHeapAIRMB, maxHeapServerMB)
		}
	}
	if g := res.GrowthPer100k(); g > maxGrowthPer100MB {
		t.Errorf("RSS grew %.0f MB per 100,000 alerts from round 1 to round 2; budget %d", g, maxGrowthPer100MB)
	}
}

// logWriter sends the benchmark's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestGrowthPer100k: growth is counted from the first round's end over the
// later rounds' alerts, and from idle when there is one round.
func TestGrowthPer100k(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Result
		want float64
	}{
		{"none", Result{IdleRSSMB: 200}, 0},
		{"one round from idle", Result{IdleRSSMB: 200, Rounds: []Round{{Alerts: 50_000, FinalRSSMB: 300}}}, 200},
		{"warm rounds", Result{IdleRSSMB: 200, Rounds: []Round{{Alerts: 50_000, FinalRSSMB: 300},
			{Alerts: 25_000, FinalRSSMB: 310}, {Alerts: 25_000, FinalRSSMB: 320}}}, 40},
	} {
		if got := tt.r.GrowthPer100k(); got != tt.want {
			t.Errorf("%s: %v MB per 100k, want %v", tt.name, got, tt.want)
		}
	}
}
