package e2ebench

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkEndToEnd runs a small end-to-end measurement; `starter bench
// e2e` runs the full one. Figures are reported as custom metrics.
func BenchmarkEndToEnd(b *testing.B) {
	for range b.N {
		r, err := Run(context.Background(), Options{Incidents: 20, Samples: 10, Rate: 5, Playbooks: "../../playbooks"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.IncidentsPerS, "incidents/s")
		b.ReportMetric(r.Ratio, "ratio")
		b.ReportMetric(r.PendingP50Ms, "pending-p50-ms")
	}
}

// TestRunSmall proves the benchmark measures something real: every
// incident finished and every sample became a pending action.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end measurement skipped in -short mode")
	}
	r, err := Run(context.Background(), Options{Incidents: 5, Samples: 3, Rate: 10, Playbooks: "../../playbooks"})
	if err != nil {
		t.Fatal(err)
	}
	if r.IncidentsPerS <= 0 || r.CeilingPerS <= 0 || r.PendingSamples != 3 || r.PendingP50Ms <= 0 {
		t.Errorf("result: %+v", r)
	}
	t.Log(r.String())
}

// TestRunOnAServerNeedsANamespace: measuring on a running Temporal server
// without a namespace of the run's own is refused before anything starts,
// since its workflows are named as real investigations are.
func TestRunOnAServerNeedsANamespace(t *testing.T) {
	_, err := Run(context.Background(), Options{Temporal: "127.0.0.1:1", Playbooks: "../../playbooks"})
	if err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("got %v, want an error naming the namespace", err)
	}
}
