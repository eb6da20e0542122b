package correlate

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/decode"
	"github.com/airsoc/air/internal/domain"
)

// The shared AIT scenarios (../shared/data/ait, not in the repository):
// AIR_AIT_DATA names their directory; tests and benchmarks that read them
// skip with a message where they are absent, as the other tests of shared
// data do.
var aitScenarios = []string{"russellmitchell", "shaw"}

var updateDecisions = flag.Bool("update-decisions", false, "rewrite testdata/ait-decisions.sha256 from the current engine")

func aitDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("AIR_AIT_DATA")
	if dir == "" {
		dir = "../../../shared/data/ait"
	}
	if _, err := os.Stat(filepath.Join(dir, "shaw.ndjson.gz")); err != nil {
		tb.Skip("shared AIT data not found; set AIR_AIT_DATA to the directory of shaw.ndjson.gz")
	}
	return dir
}

func readAIT(tb testing.TB, dir, name string) []*domain.Alert {
	tb.Helper()
	rd, err := decode.OpenFile(filepath.Join(dir, name+".ndjson.gz"), 1)
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Close()
	var alerts []*domain.Alert
	for {
		part, err := rd.Next(10000)
		if err != nil {
			tb.Fatal(err)
		}
		if len(part) == 0 {
			return alerts
		}
		alerts = append(alerts, part...)
	}
}

// writeDecisions writes every decision of a run, one alert a block: its
// id, outcome, incident (as decided and now), the merges and refusals it
// caused, new keys and its reasons.
func writeDecisions(w io.Writer, m *Memory, ds []Decision) {
	for _, d := range ds {
		fmt.Fprintf(w, "%s %s %d→%d new=%t routine=%t rk=%q anchor=%s mal=%d tactic=%t\n", d.AlertID, d.Outcome,
			d.Incident, m.IncidentOf(d.AlertID), d.NewIncident, d.Routine, d.RoutineKey, d.Anchor, d.NewMalicious, d.NewTactic)
		for _, mg := range d.Merges {
			fmt.Fprintf(w, "  merge %d←%d %s\n", mg.Target, mg.Source, mg.Why)
		}
		for _, mg := range d.Refused {
			fmt.Fprintf(w, "  refused %d←%d %s\n", mg.Target, mg.Source, mg.Why)
		}
		for _, k := range d.NewKeys {
			fmt.Fprintf(w, "  key %s\n", k)
		}
		for _, r := range d.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	fmt.Fprintf(w, "incidents %d merges %d\n", m.Incidents(), len(m.Merges))
}

// TestMemoryAITDecisions replays the shared AIT scenarios through Memory
// and compares a SHA-256 of every decision (alert → incident, reasons,
// merges) with testdata/ait-decisions.sha256, so that a change to the
// engine that moves one alert or rewords one reason is caught. After an
// intended change of behaviour, rewrite the file:
//
//	AIR_AIT_DATA=../shared/data/ait go test ./internal/correlate -run AITDecisions -update-decisions
func TestMemoryAITDecisions(t *testing.T) {
	dir := aitDir(t)
	const file = "testdata/ait-decisions.sha256"
	want := map[string]string{}
	if b, err := os.ReadFile(file); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if sum, name, ok := strings.Cut(line, "  "); ok {
				want[name] = sum
			}
		}
	}
	var out strings.Builder
	for _, name := range aitScenarios {
		alerts := readAIT(t, dir, name)
		m := NewMemory(Rules{})
		ds, err := m.Ingest(alerts)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		w := bufio.NewWriter(h)
		writeDecisions(w, m, ds)
		w.Flush()
		got := hex.EncodeToString(h.Sum(nil))
		fmt.Fprintf(&out, "%s  %s\n", got, name)
		if !*updateDecisions && got != want[name] {
			t.Errorf("%s: decisions hash %s, want %s (%d alerts → %d incidents): the engine's behaviour changed", name, got, want[name], len(alerts), m.Incidents())
		}
	}
	if *updateDecisions {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkMemory measures the in-memory engine alone on each AIT
// scenario (decoding is done before the timer): alerts/s is the figure of
// issue #15 (target 100,000 on 2 cores).
//
//	AIR_AIT_DATA=../shared/data/ait go test ./internal/correlate -run '^$' -bench Memory -benchmem -count 3
func BenchmarkMemory(b *testing.B) {
	dir := aitDir(b)
	for _, name := range aitScenarios {
		b.Run(name, func(b *testing.B) {
			alerts := readAIT(b, dir, name)
			var engine, cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				batch := cloneAlerts(alerts) // UnifyHosts rewrites evidence
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				m := NewMemory(Rules{})
				if _, err := m.Ingest(batch); err != nil {
					b.Fatal(err)
				}
				engine += time.Since(start)
				cpu += cpuTime() - cpu0
			}
			b.ReportMetric(float64(len(alerts)*b.N)/engine.Seconds(), "alerts/s")
			if cpu > 0 {
				b.ReportMetric(float64(len(alerts)*b.N)/cpu.Seconds(), "alerts/cpu-s")
			}
		})
	}
}

// cloneAlerts copies the alerts and their evidence lists (what UnifyHosts
// may rewrite), not the entities.
func cloneAlerts(alerts []*domain.Alert) []*domain.Alert {
	out := make([]*domain.Alert, len(alerts))
	for i, a := range alerts {
		c := *a
		c.Evidence = append([]domain.Evidence(nil), a.Evidence...)
		out[i] = &c
	}
	return out
}
