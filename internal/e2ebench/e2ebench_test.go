package e2ebench

import (
	"context"
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
