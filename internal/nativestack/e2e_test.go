package nativestack

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/airsoc/air/internal/e2ebench"
)

// BenchmarkE2E runs `worker bench e2e` on the native stack's Temporal
// server (on PostgreSQL), as issue #14 asks: incidents/s from alert to
// finished investigation against the bare-workflow ceiling on the same
// server, and the alert-to-pending latency, with AIR's store on
// PostgreSQL too. A deployment's first process registers the namespace
// and is stopped; the measurement runs in this process. It also reports
// the processor time of the stack's processes per incident and per bare
// workflow (SampleCPU): steadier than the rates on a shared machine.
// AIR_TEMPORAL_COMPRESSION=gzip measures with the SDK's default compression
// instead of the worker's (none).
//
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test ./internal/nativestack -run '^$' -bench E2E -benchtime 3x -timeout 30m -v
func BenchmarkE2E(b *testing.B) {
	s := Start(b)
	for range b.N {
		air := s.NewAIR(b, fmt.Sprintf("e2e%d", floods.Add(1)))
		air.Start(b, "api-1", "api").Stop() // registers the namespace, migrates the store
		u, err := url.Parse(air.DB)
		if err != nil {
			b.Fatal(err)
		}
		cpu := map[string]CPU{}
		r, err := e2ebench.Run(context.Background(), e2ebench.Options{Temporal: s.Temporal.Address, Namespace: air.Namespace,
			Compression: os.Getenv("AIR_TEMPORAL_COMPRESSION"), DatabaseURL: air.DB, Playbooks: moduleRoot(b) + "/playbooks", Progress: os.Stderr,
			Phase: func(name string) { cpu[name] = s.SampleCPU(strings.TrimPrefix(u.Path, "/")) }})
		if err != nil {
			b.Fatal(err)
		}
		// Processor time per incident and per bare workflow, by process: a
		// steadier figure than the rates on a shared machine.
		perIncident := cpu["ceiling"].MsPer(cpu["throughput"], r.Incidents)
		perBare := cpu["latency"].MsPer(cpu["ceiling"], r.Incidents)
		b.ReportMetric(perIncident["all"], "cpu-ms/incident")
		b.ReportMetric(perBare["all"], "cpu-ms/bare")
		b.Logf("CPU ms per incident: %s\nCPU ms per bare workflow: %s", formatMs(perIncident), formatMs(perBare))
		b.ReportMetric(r.IncidentsPerS, "incidents/s")
		b.ReportMetric(r.CeilingPerS, "ceiling/s")
		b.ReportMetric(100*r.Ratio, "%-of-ceiling")
		b.ReportMetric(r.PendingP50Ms, "pending-p50-ms")
		b.ReportMetric(r.PendingP99Ms, "pending-p99-ms")
		b.ReportMetric(0, "ns/op")
		b.Log(r.String())
	}
}
